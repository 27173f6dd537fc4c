"""Every shipped mapping against its sample, the shipped lookup tables, and the README's coverage."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hub.core.schemas import registry
from mappings import MAPPINGS_DIR, TRANSFORMS, check_all, load_mapping, mapping_names
from mappings._check import sample_paths
from mappings._lookups import LookupStore
from mappings._problems import Problems

SHIPPED = ["sap_rfc/customer", "soap_erp/customer", "soap_erp/inventory", "soap_erp/order",
           "soap_erp/receivable"]


def test_the_shipped_mappings_are_all_there() -> None:
    assert set(SHIPPED) <= set(mapping_names(MAPPINGS_DIR))


@pytest.mark.parametrize("name", mapping_names(MAPPINGS_DIR))
def test_mapping_gives_its_expected_sample_output_and_it_is_schema_valid(name: str) -> None:
    mapping = load_mapping(name)
    sample_in, sample_out = sample_paths(mapping.path)
    records = json.loads(sample_in.read_text(encoding="utf-8"))
    expected = json.loads(sample_out.read_text(encoding="utf-8"))
    pairs = zip(records, expected, strict=True) if isinstance(records, list) else [(records, expected)]
    for record, want in pairs:
        got = mapping.apply(record)
        assert got == want
        registry().validate(mapping.target, got)
    assert mapping.name == name and re.fullmatch(r"\d+\.\d+\.\d+", mapping.version)


def test_check_all_finds_no_problem_in_the_shipped_folder() -> None:
    assert check_all() == []


def _table(name: str) -> dict[str, Any]:
    problems = Problems(MAPPINGS_DIR)
    table = LookupStore(MAPPINGS_DIR / "lookups").table(name, problems)
    assert table is not None and not problems, problems.lines()
    return table.entries


def test_province_region_covers_all_34_divisions_by_full_and_short_name() -> None:
    entries = _table("province_region")
    full = [k for k in entries if k.endswith(("省", "市", "自治区", "特别行政区"))]
    assert len(full) == 34 and len(entries) == 68
    assert set(entries.values()) == {"华东", "华南", "华北", "华中", "西南", "西北", "东北"}
    assert entries["江苏省"] == entries["江苏"] == "华东" and entries["四川"] == "西南"


def test_sap_region_codes_map_to_full_province_names() -> None:
    entries = _table("sap_region_province")
    assert entries["010"] == "北京市" and entries["100"] == "江苏省" and entries["310"] == "重庆市"
    assert all(re.fullmatch(r"\d{3}", k) for k in entries) and len(entries) == 31
    assert set(entries.values()) <= set(_table("province_region"))


@pytest.mark.parametrize(("table", "target", "field"), [
    ("kingdee_document_status", "sales/order.v1", "status"),
    ("kingdee_delivery_status", "sales/order.v1", "delivery_status"),
    ("kingdee_invoice_status", "sales/order.v1", "invoice_status"),
    ("kingdee_payment_status", "sales/order.v1", "payment_status"),
    ("kingdee_forbid_status", "customer/customer.v1", "status"),
    ("kingdee_receivable_status", "finance/receivable.v1", "status"),
])
def test_status_tables_give_only_values_the_schema_allows(table: str, target: str, field: str) -> None:
    allowed = registry().schema(target)["properties"][field]["enum"]
    assert set(_table(table).values()) <= set(allowed)


def test_readme_documents_every_transform() -> None:
    readme = (MAPPINGS_DIR / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#### `(\w+)`(?:, `(\w+)`)?", readme, re.MULTILINE))
    names = {n for pair in documented for n in pair if n}
    assert set(TRANSFORMS) <= names, set(TRANSFORMS) - names


def test_each_shipped_sample_pair_exists() -> None:
    for name in mapping_names(MAPPINGS_DIR):
        sample_in, sample_out = sample_paths(MAPPINGS_DIR / f"{name}.yaml")
        assert sample_in.is_file() and sample_out.is_file(), name


def test_mapping_file_names_match_their_mapping_key() -> None:
    for path in Path(MAPPINGS_DIR).glob("*/*.yaml"):
        if path.parent.name != "lookups":
            assert f"mapping: {path.parent.name}/{path.stem}\n" in path.read_text(encoding="utf-8")
