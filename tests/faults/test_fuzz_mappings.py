"""Every shipped mapping fuzzed from its own sample: each record maps to schema-valid data or is refused.

The records start from `mappings/<system>/samples/<entity>.in.json` (so they carry the field names
the mapping reads) and have values replaced by wrong types, None, huge or odd text, keys dropped
and keys added. What the pipeline does with a record must end in one of two ways: canonical data
that fits the target schema, or a RecordError whose field is a JSON Pointer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given

from hub.core.errors import RecordError
from hub.core.schemas import registry
from mappings import MAPPINGS_DIR, load_mapping, mapping_names
from mappings._check import sample_paths
from tests.faults.fuzzing import FUZZ, HUGE_TEXT, mutated_object

MAPPINGS = mapping_names(MAPPINGS_DIR)


def sample_record(name: str) -> dict[str, Any]:
    """The first sample input of a mapping."""
    sample_in, _ = sample_paths(load_mapping(name).path)
    loaded = json.loads(sample_in.read_text(encoding="utf-8"))
    return loaded[0] if isinstance(loaded, list) else loaded


def test_every_mapping_file_is_fuzzed() -> None:
    assert len(MAPPINGS) >= 15 and {n.split("/")[0] for n in MAPPINGS} >= {
        "soap_erp", "sap_rfc", "plm", "mes", "dealer_files", "wecom"}


@pytest.mark.parametrize("name", MAPPINGS)
def test_mapping_gives_schema_valid_data_or_a_record_error_with_a_pointer(name: str) -> None:
    mapping, schemas = load_mapping(name), registry()

    @FUZZ
    @given(record=mutated_object(sample_record(name)))
    def check(record: dict[str, Any]) -> None:
        try:
            data = mapping.apply(record)
        except RecordError as exc:
            assert exc.field is not None and exc.field.startswith("/"), exc
            return
        try:
            schemas.validate(mapping.target, data)
        except RecordError as exc:
            assert exc.field is not None, exc
            return
        orjson.dumps(data)  # what the outbox writes: valid data must be writable

    check()


ODD_VALUES: list[Any] = [None, True, 0, -1, 2**63, -(2**64), 1.5, float("nan"), float("inf"), [], {}, [None],
                         {"": 1},
                         "", " ", "\x00", "\ufffd", "NaN", "-Infinity", "1E+999999999", "1E+999999", "1e-999999",
                         "9" * 40, "１２３", "²", "0000-00-00", "2026-02-30", "99991231", "<x/>", HUGE_TEXT]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value in a sample, containers included."""
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from leaves(child, (*path, key))


def replaced(record: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(record) if isinstance(record, dict) else list(record)
    copy[path[0]] = replaced(record[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize("name", MAPPINGS)
def test_every_field_of_the_sample_takes_every_odd_value(name: str) -> None:
    mapping, schemas, sample = load_mapping(name), registry(), sample_record(name)
    for path in list(leaves(sample))[1:]:
        for value in ODD_VALUES:
            try:
                data = mapping.apply(replaced(sample, path, value))
                schemas.validate(mapping.target, data)
            except RecordError as exc:
                assert exc.field is not None and exc.field.startswith("/"), (path, value, exc)
                continue
            orjson.dumps(data)
