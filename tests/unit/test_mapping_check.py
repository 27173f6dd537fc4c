"""Loading and checking mapping files: every kind of problem, reported at once, each with its line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hub.core.errors import ConfigError
from hub.core.schemas import SchemaRegistry
from mappings import check_all, load_mapping
from mappings._yaml import LineDict, YamlProblem, parse_yaml

TEXT = {"type": "string"}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://schemas.crm-hub.dev/test/thing.v1.json",
    "type": "object", "additionalProperties": False, "required": ["id"],
    "properties": {
        "id": TEXT, "name": TEXT, "code": TEXT,
        "status": {"enum": ["active", "blocked"]},
        "address": {"type": "object", "properties": {"city": TEXT}},
        "money": {"$ref": "#/$defs/money"},
        "lines": {"type": "array", "items": {"type": "object", "required": ["no"],
                                             "properties": {"no": {"type": "integer"}, "qty": TEXT}}},
    },
    "$defs": {"money": {"type": "object", "required": ["amount", "currency"],
                        "properties": {"amount": TEXT, "currency": TEXT}}},
}
HEAD = 'mapping: src/thing\nversion: "1.0.0"\ntarget: test/thing.v1\nfields:\n  id: {from: ID}\n'  # lines 1-5
STATUS = "name: status\ndescription: test\nentries:\n  A: active\n  B: blocked\n"


def setup(tmp_path: Path, text: str, tables: dict[str, str] | None = None) -> tuple[Path, SchemaRegistry]:
    """A mappings folder with `src/thing.yaml` = text, the lookup tables, and the test schema's registry."""
    (tmp_path / "schemas" / "test").mkdir(parents=True, exist_ok=True)
    (tmp_path / "schemas" / "test" / "thing.v1.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    maps = tmp_path / "maps"
    (maps / "src").mkdir(parents=True, exist_ok=True)
    (maps / "lookups").mkdir(exist_ok=True)
    for name, body in {"status.yaml": STATUS, **(tables or {})}.items():
        (maps / "lookups" / name).write_text(body, encoding="utf-8")
    (maps / "src" / "thing.yaml").write_text(text, encoding="utf-8")
    return maps, SchemaRegistry(tmp_path / "schemas")


def problems_of(tmp_path: Path, text: str,
                tables: dict[str, str] | None = None) -> list[tuple[str, int, str]]:
    """(file name, line, message) of every problem the loader reports."""
    maps, schemas = setup(tmp_path, text, tables)
    with pytest.raises(ConfigError) as info:
        load_mapping("src/thing", maps, schemas=schemas)
    return [_split(p) for p in info.value.problems]


def _split(problem: str) -> tuple[str, int, str]:
    match = re.fullmatch(r"(?P<file>.+?):(?P<line>\d+): (?P<message>.*)", problem, re.DOTALL)
    assert match, problem
    return Path(match["file"]).name, int(match["line"]), match["message"]


EACH = "  lines:\n    from: L\n    each:\n      no: {from: N}\n"  # lines 6-9
CASES = [
    ("yaml syntax", HEAD + "  name: {from: N}}\n", 6, "YAML syntax error"),
    ("duplicate key", HEAD + "  id: {from: X}\n", 6, "duplicate key 'id' (first on line 5)"),
    ("unknown top key", "descripton: x\n" + HEAD, 1,
     "unknown key 'descripton' (did you mean 'description'?)"),
    ("rule key typo", HEAD + "  name: {from: N, tranforms: [trim]}\n", 6,
     "unknown key 'tranforms' in rule 'name' (did you mean 'transforms'?)"),
    ("unknown transform", HEAD + "  name:\n    from: N\n    transforms:\n      - trim\n      - uper\n", 10,
     "unknown transform 'uper' (did you mean 'upper'?)"),
    ("bad parameter", HEAD + "  code: {from: A, transforms: [{decimal: {scale: two}}]}\n", 6,
     "transform 'decimal': parameter 'scale' must be a whole number ≥ 0"),
    ("unknown parameter", HEAD + "  code: {from: A, transforms: [{decimal: {scael: 2}}]}\n", 6,
     "unknown parameter 'scael' (did you mean 'scale'?)"),
    ("bad time zone", HEAD + "  code:\n    from: T\n    transforms: [{datetime: {tz: Asia/Shanghia}}]\n", 8,
     "unknown time zone 'Asia/Shanghia' (did you mean 'Asia/Shanghai'?)"),
    ("target not in schema", HEAD + "  nmae: {from: N}\n", 6,
     "target field 'nmae' is not in test/thing.v1 (did you mean 'name'?)"),
    ("nested target not in schema", HEAD + "  address.citty: {from: C}\n", 6,
     "target field 'address.citty' is not in test/thing.v1 (did you mean 'city'?)"),
    ("item target not in schema", HEAD + EACH + "      qtty: {from: Q}\n", 10,
     "target field 'lines[].qtty' is not in test/thing.v1 (did you mean 'qty'?)"),
    ("required field unmapped", HEAD.replace("  id: {from: ID}\n", "  name: {from: N}\n"), 4,
     "required canonical field 'id' of test/thing.v1 is not mapped"),
    ("required nested field unmapped", HEAD + "  money.amount: {from: A}\n", 6,
     "required canonical field 'money.currency' of test/thing.v1 is not mapped"),
    ("required item field unmapped", HEAD + EACH.replace("no: {from: N}", "qty: {from: Q}"), 8,
     "required canonical field 'lines[].no' of test/thing.v1 is not mapped"),
    ("unknown lookup table", HEAD + "  status: {from: S, transforms: [{lookup: statu}]}\n", 6,
     "unknown lookup table 'statu' (did you mean 'status'?)"),
    ("malformed source path", HEAD + '  name: {from: "A..B"}\n', 6, "malformed source path 'A..B'"),
    ("malformed target path", HEAD + '  "name.": {from: N}\n', 6, "malformed target field 'name.'"),
    ("mapping name mismatch", HEAD.replace("src/thing", "src/other", 1), 1,
     "mapping 'src/other' must equal its path 'src/thing'"),
    ("unknown target schema", HEAD.replace("test/thing.v1", "test/thingy.v1"), 3,
     "unknown canonical schema 'test/thingy.v1' (did you mean 'test/thing.v1'?)"),
    ("version not text", HEAD.replace('"1.0.0"', "1.0"), 2, "'version' must be text (quote it)"),
    ("version not semver", HEAD.replace('"1.0.0"', '"v1"'), 2, 'version must be text like "1.0.0"'),
    ("const outside enum", HEAD + "  status: {const: actve}\n", 6,
     "const of 'status' does not fit test/thing.v1 (enum)"),
    ("default outside enum", HEAD + "  status: {from: S, default: actve}\n", 6,
     "default of 'status' does not fit test/thing.v1 (enum)"),
    ("lookup output outside enum", HEAD + "  status:\n    from: S\n    transforms:\n"
     "      - map_values: {values: {A: active, B: actve}}\n", 9, "can produce 'actve'"),
    ("conflicting targets", HEAD + "  address: {from: A}\n  address.city: {from: C}\n", 7,
     "'address.city' conflicts with the rule on line 6"),
    ("no value source", HEAD + "  name: {required: true}\n", 6,
     "rule 'name' needs one of from, const or concat"),
    ("two value sources", HEAD + "  name: {from: N, const: x}\n", 6, "rule 'name' takes only one of"),
    ("filter without each", HEAD + "  name: {from: N, filter: {present: N}}\n", 6,
     "filter belongs to an each rule"),
    ("each without from", HEAD + "  lines:\n    each:\n      no: {from: N}\n", 7, "an each rule needs from"),
    ("each over a wildcard", HEAD + EACH.replace("from: L", "from: 'L[*].X'"), 7, "no [*]"),
    ("each into a non-array", HEAD + "  name:\n    from: L\n    each:\n      x: {from: X}\n", 6,
     "'name' is not an array in test/thing.v1"),
    ("unknown condition", HEAD + "  name: {from: N, when: {presnt: N}}\n", 6,
     "unknown condition 'presnt' (did you mean 'present'?)"),
    ("condition with two keys", HEAD + "  name: {from: N, when: {present: N, absent: M}}\n", 6,
     "a condition is one key"),
    ("condition operand", HEAD + "  name: {from: N, when: {equals: {N: true}}}\n", 6, "compare with text"),
    ("condition regex", HEAD + "  name: {from: N, when: {matches: {N: '('}}}\n", 6,
     "invalid regular expression"),
    ("required with default", HEAD + "  name:\n    from: N\n    required: true\n    default: x\n", 9,
     "a required rule cannot have a default"),
    ("transforms on const", HEAD + "  name: {const: x, transforms: [trim]}\n", 6, "transforms apply to from"),
    ("null const", HEAD + "  name: {const: null}\n", 6, "const must not be null"),
    ("rule not a mapping", HEAD + "  name: N\n", 6, "rule 'name' must be a mapping"),
    ("no fields", HEAD.replace("fields:\n  id: {from: ID}\n", ""), 1, "fields must be a non-empty mapping"),
    ("not a mapping file", "- a\n- b\n", 1, "a mapping file is a YAML mapping"),
]


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_reported_with_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    found = problems_of(tmp_path, text)
    assert any(f == "thing.yaml" and n == line and message in m for f, n, m in found), found


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = HEAD.replace("src/thing", "src/x", 1)
    text += "  nmae: {from: N}\n  code: {from: C, transforms: [uper]}\n"
    found = problems_of(tmp_path, text)
    assert [(n, m.split(" (")[0]) for _, n, m in found] == [
        (1, "mapping 'src/x' must equal its path 'src/thing'"),
        (6, "target field 'nmae' is not in test/thing.v1"),
        (7, "unknown transform 'uper'"),
    ]


TABLE_CASES = [
    ("bad.csv", "code,label\nA,x\n", "bad.csv", 1, "the first line must be the header key,value"),
    ("bad.csv", "key,value\nA,x\nA,y\n", "bad.csv", 3, "duplicate key 'A' (first on line 2)"),
    ("bad.csv", "key,value\nA,x,z\n", "bad.csv", 2, "exactly two cells"),
    ("bad.yaml", "name: other\ndescription: t\nentries:\n  A: x\n", "bad.yaml", 1, "name must be 'bad'"),
    ("bad.yaml", "name: bad\nentries:\n  A: x\n", "bad.yaml", 1, "description is required"),
    ("bad.yaml", "name: bad\ndescription: t\nentries:\n  A: x\n  A: y\n", "bad.yaml", 5, "duplicate key 'A'"),
    ("bad.yaml", "name: bad\ndescription: t\nentries:\n  A: [x]\n", "bad.yaml", 4, "the value must be text"),
    ("bad.yaml", "name: bad\ndescription: t\nentrys:\n  A: x\n", "bad.yaml", 3,
     "unknown key 'entrys' (did you mean 'entries'?)"),
]


@pytest.mark.parametrize(("file", "body", "where", "line", "message"), TABLE_CASES)
def test_broken_lookup_table_is_reported_in_its_own_file(tmp_path: Path, file: str, body: str, where: str,
                                                         line: int, message: str) -> None:
    found = problems_of(tmp_path, HEAD + "  code: {from: C, transforms: [{lookup: bad}]}\n", {file: body})
    assert any(f == where and n == line and message in m for f, n, m in found), found


def test_csv_table_with_bom_and_leading_zero_keys(tmp_path: Path) -> None:
    maps, schemas = setup(tmp_path, HEAD + "  code: {from: C, transforms: [{lookup: regions}]}\n",
                          {"regions.csv": "\ufeffkey,value\n 010 , 北京市 \n"})
    assert load_mapping("src/thing", maps, schemas=schemas).apply({"ID": "1", "C": "010"})["code"] == "北京市"


YAML_SCALARS = [
    ("a: 010", "010"), ("a: no", "no"), ("a: yes", "yes"), ("a: 2026-01-01", "2026-01-01"),
    ("a: 1.0.0", "1.0.0"),
    ("a: 12", 12), ("a: -3", -3), ("a: 1.5", 1.5), ("a: true", True), ("a: FALSE", False), ("a: ~", None),
    ("a: null", None), ("a: '010'", "010"), ("a: 0x1F", "0x1F"), ("a: 1_000", "1_000"),
]


@pytest.mark.parametrize(("text", "value"), YAML_SCALARS)
def test_yaml_reads_codes_as_text(text: str, value: object) -> None:
    doc, _ = parse_yaml(text)
    assert doc["a"] == value and type(doc["a"]) is type(value)


def test_yaml_keys_are_text_as_written_and_lines_are_kept() -> None:
    doc, problems = parse_yaml("x: 1\n010: a\nno: b\nlist:\n  - p\n  - {q: 1}\n")
    assert isinstance(doc, LineDict) and list(doc) == ["x", "010", "no", "list"]
    assert doc.line_of("no") == 3 and doc["list"].item_lines == [5, 6] and doc["list"][1].line == 6
    assert problems == []


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(YamlProblem) as info:
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n")
    assert info.value.line == 3 and "YAML syntax error" in info.value.message


def test_unknown_mapping_name_suggests_a_close_one(tmp_path: Path) -> None:
    maps, schemas = setup(tmp_path, HEAD)
    with pytest.raises(ConfigError, match="unknown mapping 'src/thign' \\(did you mean 'src/thing'\\?\\)"):
        load_mapping("src/thign", maps, schemas=schemas)


def _samples(maps: Path, record: object, expected: object) -> None:
    (maps / "src" / "samples").mkdir(exist_ok=True)
    (maps / "src" / "samples" / "thing.in.json").write_text(json.dumps(record), encoding="utf-8")
    (maps / "src" / "samples" / "thing.out.json").write_text(json.dumps(expected), encoding="utf-8")


def _check(tmp_path: Path, text: str, record: object = None,
           expected: object = None) -> list[tuple[str, int, str]]:
    maps, schemas = setup(tmp_path, text)
    if record is not None:
        _samples(maps, record, expected)
    return [_split(p) for p in check_all(maps, schemas=schemas)]


SAMPLE_CASES = [
    (HEAD, None, None, "thing.yaml", "no sample: add samples/thing.in.json and .out.json"),
    (HEAD + "  name: {from: N}\n", {"ID": "1", "N": "a"}, {"id": "1", "name": "b"}, "thing.in.json",
     "output differs from the .out.json at /name"),
    (HEAD, {"ID": ""}, {}, "thing.in.json", "mapping fails: /ID: required field is missing (rule id)"),
    (HEAD + "  code: {from: C, transforms: [int]}\n", {"ID": "1", "C": "5"}, {"id": "1", "code": 5},
     "thing.in.json", "output does not validate against test/thing.v1"),
    (HEAD, [{"ID": "1"}, {"ID": "2"}], [{"id": "1"}, {"id": "3"}], "thing.in.json",
     "sample record 1: output differs from the .out.json at /id"),
    (HEAD, [{"ID": "1"}], {"id": "1"}, "thing.out.json", "a list of sample records needs a list"),
    (HEAD + "  nmae: {from: N}\n", None, None, "thing.yaml", "target field 'nmae' is not in test/thing.v1"),
]


@pytest.mark.parametrize(("text", "record", "expected", "where", "message"), SAMPLE_CASES)
def test_check_all_runs_the_samples(tmp_path: Path, text: str, record: object, expected: object, where: str,
                                    message: str) -> None:
    found = _check(tmp_path, text, record, expected)
    assert any(f == where and message in m for f, _, m in found), found


def test_check_all_is_empty_for_a_good_folder_and_lists_unused_broken_tables(tmp_path: Path) -> None:
    assert _check(tmp_path, HEAD, {"ID": "1"}, {"id": "1"}) == []
    (tmp_path / "maps" / "lookups" / "unused.csv").write_text("nope\n", encoding="utf-8")
    assert [(f, n) for f, n, _ in _check(tmp_path, HEAD, {"ID": "1"}, {"id": "1"})] == [("unused.csv", 1)]
