"""The mapping engine at run time: rules, missing values, `when`, arrays, lookups and error reporting."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hub.core.errors import MappingError
from hub.core.schemas import SchemaRegistry
from mappings import Mapping, clear_caches, load_mapping

CANARY = "SECRET-CANARY-123"
DECIMAL = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
TEXT = {"type": "string"}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://schemas.crm-hub.dev/test/thing.v1.json",
    "type": "object",
    "additionalProperties": False,
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": TEXT, "code": TEXT, "note": TEXT, "region": TEXT,
        "count": {"type": "integer"},
        "amount": {"$ref": "#/$defs/decimal"},
        "flag": {"type": "boolean"},
        "status": {"enum": ["active", "blocked"]},
        "updated_at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": TEXT},
        "address": {"type": "object", "additionalProperties": False,
                    "properties": {"city": TEXT, "zip": TEXT, "country": TEXT}},
        "money": {"$ref": "#/$defs/money"},
        "contacts": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {"name": TEXT, "mobile": TEXT}}},
        "lines": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["no"],
            "properties": {"no": {"type": "integer"}, "qty": DECIMAL, "unit": TEXT, "amount": DECIMAL,
                           "currency": TEXT}}},
    },
    "$defs": {
        "decimal": DECIMAL,
        "money": {"type": "object", "additionalProperties": False, "required": ["amount", "currency"],
                  "properties": {"amount": DECIMAL, "currency": TEXT}},
    },
}
TABLES = {
    "status.yaml": "name: status\ndescription: test\nentries:\n  A: active\n  B: blocked\n",
    "regions.csv": "key,value\n010,北京市\n100,江苏省\n",
}


def make(tmp_path: Path, fields: str, name: str = "src/thing") -> Mapping:
    """Write a mapping with these `fields` (YAML, dedented) next to the test schema and tables; load it."""
    (tmp_path / "schemas" / "test").mkdir(parents=True, exist_ok=True)
    (tmp_path / "schemas" / "test" / "thing.v1.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    maps = tmp_path / "maps"
    (maps / "lookups").mkdir(parents=True, exist_ok=True)
    for file, text in TABLES.items():
        (maps / "lookups" / file).write_text(text, encoding="utf-8")
    (maps / name).parent.mkdir(parents=True, exist_ok=True)
    head = f'mapping: {name}\nversion: "2.1.0"\ntarget: test/thing.v1\nfields:\n'
    body = textwrap.indent(textwrap.dedent(fields).strip("\n"), "  ")
    (maps / f"{name}.yaml").write_text(head + body + "\n", encoding="utf-8")
    return load_mapping(name, maps, schemas=SchemaRegistry(tmp_path / "schemas"))


ID = "id: {from: ID}\n"


def test_mapping_knows_name_version_target_and_is_cached(tmp_path: Path) -> None:
    mapping = make(tmp_path, ID)
    assert (mapping.name, mapping.version, mapping.target) == ("src/thing", "2.1.0", "test/thing.v1")
    again = load_mapping("src/thing", tmp_path / "maps", schemas=SchemaRegistry(tmp_path / "schemas"))
    assert again.apply({"ID": "1"}) == {"id": "1"}
    clear_caches()


RULES = [
    ("name: {const: fixed}", {}, {"name": "fixed"}),
    ("count: {const: 3}", {}, {"count": 3}),
    ("name: {from: N}", {"N": "x"}, {"name": "x"}),
    ("name: {from: N}", {"N": ""}, {}),
    ("name: {from: N}", {"N": None}, {}),
    ("name: {from: N}", {}, {}),
    ("name: {from: N, transforms: [trim]}", {"N": "   "}, {}),
    ("name: {from: N, default: none}", {"N": ""}, {"name": "none"}),
    ("name: {from: N, transforms: [trim], default: none}", {"N": "  "}, {"name": "none"}),
    ("name: {from: N, keep_empty: true}", {"N": ""}, {"name": ""}),
    ("flag: {from: F, transforms: [bool], keep_empty: true}", {"F": ""}, {"flag": False}),
    ("flag: {from: F, transforms: [bool], default: false}", {"F": ""}, {"flag": False}),
    ("flag: {from: F, transforms: [bool], default: false}", {"F": "X"}, {"flag": True}),
    ("name: {from: A.B}", {"A": {"B": "deep"}}, {"name": "deep"}),
    ("name: {from: A.B}", {"A": "text"}, {}),
    ("name: {from: 'L[1].X'}", {"L": [{"X": "a"}, {"X": "b"}]}, {"name": "b"}),
    ("name: {from: 'L[5].X'}", {"L": [{"X": "a"}]}, {}),
    ("name: {from: 'S[0]'}", {"S": "abc"}, {}),
    ("name: {from: 'L[*].X', transforms: [first]}", {"L": [{"X": ""}, {"X": "b"}]}, {"name": "b"}),
    ("name: {from: 'L[*].X', transforms: [{join: '/'}]}", {"L": [{"X": "a"}, {}, {"X": "c"}]},
     {"name": "a/c"}),
    ("name: {from: 'L[*].X', transforms: [{join: '/'}]}", {"L": ["", 5, None, ["X"], {"X": "c"}]},
     {"name": "c"}),  # elements that are not objects have no X
    ("tags: {from: T, transforms: [{split: ','}]}", {"T": "a, b"}, {"tags": ["a", "b"]}),
    ("name: {concat: [P, C]}", {"P": "江苏省", "C": "苏州市"}, {"name": "江苏省苏州市"}),
    ("name: {concat: {parts: [P, C], separator: ' '}}", {"P": "江苏省", "C": ""}, {"name": "江苏省"}),
    ("name: {concat: {parts: [P, {const: '-'}, C]}}", {"P": "a", "C": "b"}, {"name": "a-b"}),
    ("name: {concat: [P, C]}", {}, {}),
    ("name: {concat: [P, C], transforms: [upper]}", {"P": "a", "C": "b"}, {"name": "AB"}),
    ("status: {from: S, transforms: [{lookup: status}]}", {"S": "B"}, {"status": "blocked"}),
    ("region: {from: R, transforms: [{lookup: regions}]}", {"R": "010"}, {"region": "北京市"}),
    ("region: {from: R, transforms: [{lookup: {table: regions, missing: skip}}], default: 未知}",
     {"R": "999"}, {"region": "未知"}),
    ("region: {from: R, transforms: [{lookup: {table: regions, missing: pass}}]}", {"R": "999"},
     {"region": "999"}),
    ("region: {from: R, transforms: [{lookup: {table: regions, missing: default, value: 其他}}]}", {"R": "9"},
     {"region": "其他"}),
    ("count: {from: C, transforms: [int]}", {"C": 5}, {"count": 5}),
    ("name: {from: N, transforms: [trim, upper, {replace: {old: A, new: B}}]}", {"N": " a "}, {"name": "B"}),
]


@pytest.mark.parametrize(("rule", "record", "expected"), RULES, ids=[r[0][:50] for r in RULES])
def test_rule(tmp_path: Path, rule: str, record: dict[str, Any], expected: dict[str, Any]) -> None:
    assert make(tmp_path, ID + rule).apply({"ID": "1", **record}) == {"id": "1", **expected}


CONDITIONS = [
    ("{present: X}", {"X": "a"}, True),
    ("{present: X}", {"X": ""}, False),
    ("{absent: X}", {}, True),
    ("{absent: X}", {"X": "a"}, False),
    ("{equals: {X: B}}", {"X": "B"}, True),
    ("{equals: {X: B}}", {"X": "b"}, False),
    ("{equals: {X: 1}}", {"X": 1}, True),
    ("{equals: {X: '1'}}", {"X": "1"}, True),
    ("{in: {X: [C, D]}}", {"X": "D"}, True),
    ("{in: {X: [C, D]}}", {"X": "A"}, False),
    ("{in: {X: [C, D]}}", {}, False),
    ("{not_in: {X: [Z]}}", {"X": "A"}, True),
    ("{not_in: {X: [Z]}}", {"X": "Z"}, False),
    ("{not_in: {X: [Z]}}", {}, True),
    ("{matches: {X: '^9[0-9]'}}", {"X": "91A"}, True),
    ("{matches: {X: '^9[0-9]'}}", {"X": "19"}, False),
    ("{matches: {X: '^9'}}", {}, False),
    ("{all: [{present: X}, {equals: {Y: A}}]}", {"X": "1", "Y": "A"}, True),
    ("{all: [{present: X}, {equals: {Y: A}}]}", {"X": "1", "Y": "B"}, False),
    ("{any: [{equals: {X: A}}, {equals: {Y: A}}]}", {"X": "B", "Y": "A"}, True),
    ("{any: [{equals: {X: A}}, {equals: {Y: A}}]}", {}, False),
    ("{not: {present: X}}", {}, True),
    ("{equals: {A.B: x}}", {"A": {"B": "x"}}, True),
]


@pytest.mark.parametrize(("condition", "record", "holds"), CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_when_condition(tmp_path: Path, condition: str, record: dict[str, Any], holds: bool) -> None:
    mapping = make(tmp_path, ID + f"name: {{const: yes, when: {condition}}}")
    assert ("name" in mapping.apply({"ID": "1", **record})) is holds


def test_false_when_makes_the_value_missing_so_default_applies(tmp_path: Path) -> None:
    mapping = make(tmp_path, ID + "status: {const: blocked, when: {equals: {LOEVM: X}}, default: active}")
    assert mapping.apply({"ID": "1", "LOEVM": "X"})["status"] == "blocked"
    assert mapping.apply({"ID": "1", "LOEVM": ""})["status"] == "active"


def test_false_when_on_a_required_rule_is_an_error(tmp_path: Path) -> None:
    mapping = make(tmp_path, "id: {from: ID, when: {present: OK}}")
    with pytest.raises(MappingError, match="required field is missing \\(its when condition is false\\)"):
        mapping.apply({"ID": "1"})


LINES = """
lines:
  from: L
  filter: {not_in: {T: [text]}}
  each:
    no: {from: N, transforms: [int]}
    qty: {from: Q, transforms: [decimal]}
    currency: {from: $.CUR}
    amount: {from: A, transforms: [{currency_amount: {currency_field: $.CUR}}]}
"""


def test_each_maps_filters_and_reads_the_root(tmp_path: Path) -> None:
    record = {"ID": "1", "CUR": "JPY", "L": [{"N": "1", "Q": "2.50", "A": "10.6"}, {"N": "2", "T": "text"},
                                            {"N": "3", "Q": "", "A": "3"}]}
    assert make(tmp_path, ID + LINES).apply(record)["lines"] == [
        {"no": 1, "qty": "2.5", "currency": "JPY", "amount": "11"},
        {"no": 3, "currency": "JPY", "amount": "3"}]


@pytest.mark.parametrize(("entries", "expected"), [
    ({"N": "7"}, [{"no": 7, "currency": "CNY"}]),  # one object where a list is expected: a list of one
    ([], None),                      # an empty list is missing
    ([{"N": "1", "T": "text"}], None),
])
def test_each_edge_cases(tmp_path: Path, entries: Any, expected: Any) -> None:
    data = make(tmp_path, ID + LINES).apply({"ID": "1", "CUR": "CNY", "L": entries})
    assert data.get("lines") == expected


def test_required_each_with_no_items_is_an_error(tmp_path: Path) -> None:
    mapping = make(tmp_path, ID + LINES.replace("  from: L\n", "  from: L\n  required: true\n"))
    with pytest.raises(MappingError) as info:
        mapping.apply({"ID": "1", "L": []})
    error = info.value
    assert (error.field, error.rule, error.message) == ("/L", "lines", "required field is missing")


def test_index_targets_build_elements_and_drop_empty_ones(tmp_path: Path) -> None:
    mapping = make(tmp_path, ID + textwrap.dedent("""
        contacts[0].name: {from: C1}
        contacts[0].mobile: {from: M1, when: {present: C1}}
        contacts[1].name: {from: C2}
        tags[0]: {from: T1}
        tags[1]: {from: T2}
    """))
    assert mapping.apply({"ID": "1", "C2": "李娜", "M1": "138", "T2": "b"}) == {
        "id": "1", "contacts": [{"name": "李娜"}], "tags": ["b"]}
    assert mapping.apply({"ID": "1", "M1": "138"}) == {"id": "1"}


def test_optional_object_is_written_only_with_a_sourced_value(tmp_path: Path) -> None:
    mapping = make(tmp_path, ID + textwrap.dedent("""
        address.city: {from: CITY}
        address.country: {const: CN}
        money.amount: {from: AMT, transforms: [{decimal: 2}]}
        money.currency: {from: CUR, default: CNY}
    """))
    assert mapping.apply({"ID": "1"}) == {"id": "1"}
    assert mapping.apply({"ID": "1", "CITY": "苏州市", "AMT": "5"}) == {
        "id": "1", "address": {"city": "苏州市", "country": "CN"},
        "money": {"amount": "5.00", "currency": "CNY"}}


def test_written_optional_object_needs_its_required_fields(tmp_path: Path) -> None:
    mapping = make(tmp_path, ID + "money.amount: {from: AMT}\nmoney.currency: {from: CUR}\n")
    with pytest.raises(MappingError) as info:
        mapping.apply({"ID": "1", "CUR": "CNY"})
    assert (info.value.field, info.value.rule, info.value.message) == ("/AMT", "money.amount",
                                                                         "required field is missing")


def test_schema_required_fields_are_required_of_the_source(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as info:
        make(tmp_path, ID).apply({"ID": ""})
    assert (info.value.field, info.value.rule) == ("/ID", "id")


def test_const_containers_are_not_shared_between_records(tmp_path: Path) -> None:
    mapping = make(tmp_path, ID + "tags: {const: [a]}")
    first = mapping.apply({"ID": "1"})
    first["tags"].append("changed")
    assert mapping.apply({"ID": "2"})["tags"] == ["a"]


ERRORS = [
    ("amount: {from: A, transforms: [decimal]}", {"A": CANARY}, "/A", "amount", "decimal: not a number"),
    ("name: {from: N, transforms: [trim]}", {"N": 12}, "/N", "name",
     "trim: cannot handle a value of type int"),
    ("name: {from: N, transforms: [trim, upper, {regex_extract: {pattern: '^X', missing: error}}]}",
     {"N": f" {CANARY} "}, "/N", "name", "regex_extract: does not match the pattern"),
    ("status: {from: S, transforms: [{lookup: status}]}", {"S": CANARY}, "/S", "status",
     "lookup: no entry in lookup table 'status' for this value"),
    ("updated_at: {from: U, transforms: [{datetime: {format: '%Y%m%d', tz: Asia/Shanghai}}]}",
     {"U": CANARY}, "/U", "updated_at", "datetime: not a date-time in format %Y%m%d"),
    ("name: {from: A.B, required: true}", {"A": {"B": ""}}, "/A/B", "name", "required field is missing"),
    ("name: {from: 'L[2].X', required: true}", {"L": []}, "/L/2/X", "name", "required field is missing"),
    ("amount: {from: Q, transforms: [{unit: {from_field: U, to: kg}}]}", {"Q": "1", "U": CANARY}, "/U",
     "amount", "unit: unknown unit"),
    ("name: {concat: [P, C], transforms: [int]}", {"P": CANARY}, "/P", "name", "int: not a number"),
    (LINES, {"CUR": "CNY", "L": [{"N": "1"}, {"N": "2", "T": "text"}, {"N": "3", "Q": CANARY}]}, "/L/2/Q",
     "lines[1].qty", "decimal: not a number"),
    (LINES, {"CUR": CANARY, "L": [{"N": "1", "A": "5"}]}, "/CUR", "lines[0].amount",
     "currency_amount: unknown ISO 4217 currency code"),
    (LINES, {"CUR": "CNY", "L": [{"Q": "1"}]}, "/L/0/N", "lines[0].no", "required field is missing"),
    (LINES, {"L": ["x", CANARY]}, "/L/0", "lines[0]", "expected an object"),
    (LINES, {"L": CANARY}, "/L", "lines", "expected a list"),
]


@pytest.mark.parametrize(("rule", "record", "field", "target", "message"), ERRORS,
                         ids=[f"{i}-{e[3]}" for i, e in enumerate(ERRORS)])
def test_errors_point_at_the_source_and_the_rule_without_the_value(tmp_path: Path, rule: str,
                                                                   record: dict[str, Any], field: str,
                                                                   target: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        make(tmp_path, ID + rule).apply({"ID": "1", **record})
    error = info.value
    assert (error.field, error.rule, error.message) == (field, target, message)
    assert CANARY not in str(error) and CANARY not in repr(error.args)
    assert error.__context__ is None and error.__cause__ is None  # the value cannot leak through a chain


def test_a_payload_that_is_not_an_object_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not a JSON object"):
        make(tmp_path, ID).apply([CANARY])  # type: ignore[arg-type]
