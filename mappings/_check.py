"""Lint of a whole mappings folder: every mapping file, every lookup table and every sample.

A mapping ships with `samples/<entity>.in.json` and `.out.json` beside it (one record, or a list
of records); the check maps the input, compares it with the expected output and validates the
result against the canonical schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.core.errors import HubError, MappingError
from hub.core.schemas import SchemaRegistry, registry
from mappings._compile import Mapping, compile_tree
from mappings._load import MAPPINGS_DIR, analyse, mapping_names
from mappings._lookups import store_for
from mappings._problems import Problems


def check_all(directory: Path | None = None, *, schemas: SchemaRegistry | None = None) -> list[str]:
    """Every problem in the folder as `file:line: message`; empty when all is well."""
    directory = (directory or MAPPINGS_DIR).resolve()
    schemas = schemas or registry()
    sink: list[tuple[str, int, str]] = []
    for name in mapping_names(directory):
        path = directory / f"{name}.yaml"
        problems = Problems(path, sink)
        before = len(sink)
        spec, tree = analyse(path, directory, schemas, problems)
        if spec is not None and tree is not None and len(sink) == before:
            check_samples(Mapping(spec, compile_tree(tree)), schemas, problems)
    lookups = store_for(directory / "lookups")
    for table in lookups.names():
        lookups.table(table, Problems(directory, sink))
    return Problems(directory, sink).lines()


def sample_paths(mapping_path: Path) -> tuple[Path, Path]:
    """`samples/<entity>.in.json` and `.out.json` beside a mapping file."""
    folder = mapping_path.parent / "samples"
    return folder / f"{mapping_path.stem}.in.json", folder / f"{mapping_path.stem}.out.json"


def check_samples(mapping: Mapping, schemas: SchemaRegistry, problems: Problems) -> None:
    """Map the sample input, compare with the expected output, validate against the schema."""
    sample_in, sample_out = sample_paths(mapping.path)
    if not sample_in.is_file() or not sample_out.is_file():
        problems.add(1, f"no sample: add samples/{mapping.path.stem}.in.json and .out.json")
        return
    records, expected = _read_json(sample_in, problems), _read_json(sample_out, problems)
    if records is None or expected is None:
        return
    pairs = list(zip(records, expected, strict=False)) if isinstance(records, list) else [(records, expected)]
    if isinstance(records, list) and (not isinstance(expected, list) or len(expected) != len(records)):
        problems.for_file(sample_out).add(1, "a list of sample records needs a list of as many outputs")
        return
    for index, (record, want) in enumerate(pairs):
        _check_one(mapping, record, want, schemas, problems.for_file(sample_in), index)


def _read_json(path: Path, problems: Problems) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems.for_file(path).add(exc.lineno, f"not valid JSON: {exc.msg}")
        return None


def _check_one(mapping: Mapping, record: Any, want: Any, schemas: SchemaRegistry, problems: Problems,
               index: int) -> None:
    where = f"sample record {index}: " if index else ""
    try:
        got = mapping.apply(record)
    except MappingError as exc:
        problems.add(1, f"{where}mapping fails: {exc} (rule {exc.rule})")
        return
    if got != want:
        problems.add(1, f"{where}output differs from the .out.json at {first_difference(got, want)}")
    try:
        schemas.validate(mapping.target, got)
    except HubError as exc:
        problems.add(1, f"{where}output does not validate against {mapping.target}: {exc}")


def first_difference(got: Any, want: Any, at: str = "") -> str:
    """The JSON Pointer of the first place two JSON values differ."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if got.get(key, ...) != want.get(key, ...):
                return first_difference(got.get(key), want.get(key), f"{at}/{key}")
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            if a != b:
                return first_difference(a, b, f"{at}/{i}")
    return at or "/"
