"""Files in and out of the batch dedupe: CSV rows → canonical records, results → CSV rows.

Input columns per entity (any may be empty):

    customer  record_id, source, name, address, phone, credit_code, industry
    channel   record_id, source, name, channel_type, province, city, address, credit_code, contact_mobile
    product   record_id, source, name, model, specification, category, brand, drawing_no

Other rule files (profile `generic`, e.g. the FEBRL benchmark) read every column as it is.
Output: record_id, cluster_id (the first record of the cluster), golden_code, decision
(auto: merged automatically, review: the steward should look, single: no duplicate found).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from hub.core.errors import ConfigError
from mdm.engine import DedupeResult

Row = dict[str, str]
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": ("record_id", "source", "name", "address", "phone", "credit_code", "industry"),
    "channel": ("record_id", "source", "name", "channel_type", "province", "city", "address", "credit_code",
                "contact_mobile"),
    "product": ("record_id", "source", "name", "model", "specification", "category", "brand", "drawing_no"),
}
OUTPUT_COLUMNS = ("record_id", "cluster_id", "golden_code", "decision")
RowMapper = Callable[[Row], dict[str, Any]]
MAPPERS: dict[str, RowMapper] = {}


def mapper(entity: str) -> Callable[[RowMapper], RowMapper]:
    """Register the CSV row → canonical record mapping of an entity."""
    def register(fn: RowMapper) -> RowMapper:
        MAPPERS[entity] = fn
        return fn
    return register


def _common(row: Row) -> dict[str, Any]:
    return {"source_system": row.get("source") or "file", "source_id": row.get("record_id", ""),
            "name": row.get("name", "")}


@mapper("customer")
def customer_record(row: Row) -> dict[str, Any]:
    """A customer.v1-like record (the address as one line of text, parsed later)."""
    return {**_common(row), "address": row.get("address", ""), "phone": row.get("phone", ""),
            "credit_code": row.get("credit_code", ""), "industry": row.get("industry", ""),
            "province": row.get("province", ""), "city": row.get("city", "")}


@mapper("channel")
def channel_record(row: Row) -> dict[str, Any]:
    """A channel.v1-like record."""
    keys = ("channel_type", "province", "city", "address", "credit_code", "contact_mobile")
    return {**_common(row), **{k: row.get(k, "") for k in keys}}


@mapper("product")
def product_record(row: Row) -> dict[str, Any]:
    """A product.v1-like record."""
    keys = ("model", "specification", "category", "brand", "drawing_no")
    return {**_common(row), **{k: row.get(k, "") for k in keys}}


def read_records(path: Path, entity: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(record_id, canonical record) for every row; a file without record_id is a ConfigError."""
    to_record = MAPPERS.get(entity, dict)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if "record_id" not in (reader.fieldnames or []):
            raise ConfigError(f"{path.name}: the header has no record_id column")
        for row in reader:
            yield row["record_id"], to_record({k: (v or "").strip() for k, v in row.items() if k})


def count_rows(path: Path) -> int:
    """Data rows in a CSV file (for the progress bar)."""
    with path.open("rb") as handle:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1)


def write_result(result: DedupeResult, out: TextIO) -> int:
    """Write one row per record; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    ids, labels = result.data.ids, result.labels.tolist()
    for i, label in enumerate(labels):
        writer.writerow((ids[i], ids[label], result.codes.get(label, ""), result.decision[i]))
    return len(labels)
