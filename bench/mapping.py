"""Benchmark: the YAML mapping engine against a hand-written Python mapping doing the same work.

A 30-rule mapping (23 header fields, 7 fields per line, 5 lines per order) with trims, number,
date and time-zone transforms, lookups, a flag, a filter-free `each` and a `$.` root reference;
both paths end with the same `SchemaRegistry.validate` call (jsonschema-rs) on a bench-local
schema. Records come from a pool of 1,000 generated orders, cycled to 100,000, in one process
(one core). Prints one JSON line; besides the targets it reports the map-only rates, the cost of
validation alone, and `copy_and_validate_records_per_s`: copying the finished values into a fresh
output (no transform at all) and validating it, the ceiling of any per-record mapping here.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.core.errors import MappingError
from hub.core.schemas import SchemaRegistry
from mappings import load_mapping
from schemas import ID_PREFIX

TARGET_RPS = 50_000
TARGET_RATIO = 0.5

MAPPING_YAML = """\
mapping: bench/order
version: "1.0.0"
target: bench/order.v1
fields:
  source_system:      {const: erp}
  source_id:          {from: FBillNo, required: true, transforms: [trim]}
  order_date:         {from: FDate, transforms: [date]}
  customer_source_id: {from: FCustomerNumber, transforms: [trim]}
  customer_name:      {from: FCustomerName, transforms: [fullwidth_to_halfwidth, collapse_spaces]}
  contract_no:        {from: FContractNo, transforms: [trim]}
  currency:           {from: FCurrency, transforms: [trim, upper]}
  total_amount:       {from: FTotalAmount, transforms: [{currency_amount: {currency_field: FCurrency}}]}
  tax_amount:         {from: FTaxAmount, transforms: [{decimal: {scale: 2}}]}
  status:             {from: FDocumentStatus, transforms: [{lookup: document_status}]}
  delivery_status:    {from: FDeliveryStatus, transforms: [{lookup: delivery_status}]}
  invoice_status:     {from: FInvoiceStatus, transforms: [{lookup: invoice_status}]}
  payment_status:     {from: FPaymentStatus, transforms: [{lookup: payment_status}]}
  address.province:   {from: FProvince, transforms: [trim]}
  address.city:       {from: FCity, transforms: [trim]}
  region:             {from: FProvince, transforms: [trim, {lookup: {table: province_region, missing: skip}}]}
  plant:              {from: FStockOrg, transforms: [trim]}
  plant_region:       {from: FStockOrg, transforms: [{lookup: {table: plant_region, missing: skip}}]}
  sales_rep:          {from: FSalesman, transforms: [trim, lower]}
  priority:           {from: FPriority, transforms: [int]}
  urgent:             {from: FUrgent, transforms: [bool]}
  remark:             {from: FRemark, transforms: [collapse_spaces]}
  updated_at:
    from: FModifyDate
    transforms: [{datetime: {format: "%Y-%m-%dT%H:%M:%S", tz: Asia/Shanghai}}]
  lines:
    from: FEntries
    each:
      line_no:           {from: FSeq, transforms: [int]}
      product_source_id: {from: FMaterialNumber, transforms: [trim]}
      product_name:      {from: FMaterialName, transforms: [collapse_spaces]}
      quantity:          {from: FQty, transforms: [decimal]}
      unit:              {from: FUnit, transforms: [trim]}
      amount:            {from: FAmount, transforms: [{currency_amount: {currency_field: $.FCurrency}}]}
      delivery_date:     {from: FDeliveryDate, transforms: [date]}
"""

DECIMAL = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
TEXT = {"type": "string", "minLength": 1}
LINE_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["line_no", "product_source_id", "quantity", "unit", "amount"],
    "properties": {
        "line_no": {"type": "integer", "minimum": 1}, "product_source_id": TEXT, "product_name": TEXT,
        "quantity": DECIMAL, "unit": TEXT, "amount": DECIMAL,
        "delivery_date": {"type": "string", "format": "date"},
    },
}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{ID_PREFIX}bench/order.v1.json",
    "type": "object", "additionalProperties": False,
    "required": ["source_system", "source_id", "order_date", "customer_source_id", "currency", "total_amount",
                 "status", "delivery_status", "invoice_status", "payment_status", "lines", "updated_at"],
    "properties": {
        "source_system": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}, "source_id": TEXT,
        "order_date": {"type": "string", "format": "date"}, "customer_source_id": TEXT, "customer_name": TEXT,
        "contract_no": TEXT, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "total_amount": DECIMAL, "tax_amount": DECIMAL,
        "status": {"enum": ["draft", "submitted", "approved", "rejected", "cancelled"]},
        "delivery_status": {"enum": ["not_delivered", "partially_delivered", "delivered"]},
        "invoice_status": {"enum": ["not_invoiced", "partially_invoiced", "invoiced"]},
        "payment_status": {"enum": ["unpaid", "partially_paid", "paid"]},
        "address": {"type": "object", "additionalProperties": False,
                    "properties": {"province": TEXT, "city": TEXT}},
        "region": TEXT, "plant": TEXT, "plant_region": TEXT, "sales_rep": TEXT,
        "priority": {"type": "integer"}, "urgent": {"type": "boolean"}, "remark": TEXT,
        "updated_at": {"type": "string", "format": "date-time"},
        "lines": {"type": "array", "minItems": 1, "items": LINE_SCHEMA},
    },
}
LOOKUPS = {
    "document_status": {"A": "draft", "B": "submitted", "C": "approved", "D": "rejected", "Z": "cancelled"},
    "delivery_status": {"未发货": "not_delivered", "部分发货": "partially_delivered",
                        "全部发货": "delivered"},
    "invoice_status": {"未开票": "not_invoiced", "部分开票": "partially_invoiced", "全部开票": "invoiced"},
    "payment_status": {"未收款": "unpaid", "部分收款": "partially_paid", "全部收款": "paid"},
    "province_region": {"江苏省": "华东", "浙江省": "华东", "广东省": "华南", "四川省": "西南",
                        "北京市": "华北"},
    "plant_region": {"SZ01": "华东", "DG01": "华南", "TJ01": "华北"},
}
PROVINCES = {"江苏省": "苏州市", "浙江省": "宁波市", "广东省": "东莞市", "四川省": "成都市",
             "北京市": "北京市", "湖北省": "武汉市"}


def write_fixture(root: Path) -> tuple[Path, SchemaRegistry]:
    """Mapping, lookup tables and schema in a temporary folder; the registry of that schema."""
    (root / "maps" / "bench").mkdir(parents=True)
    (root / "maps" / "lookups").mkdir()
    (root / "maps" / "bench" / "order.yaml").write_text(MAPPING_YAML, encoding="utf-8")
    for name, entries in LOOKUPS.items():
        doc = {"name": name, "description": "bench", "entries": entries}
        (root / "maps" / "lookups" / f"{name}.yaml").write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    (root / "schemas" / "bench").mkdir(parents=True)
    (root / "schemas" / "bench" / "order.v1.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    return root / "maps", SchemaRegistry(root / "schemas")


def _line(rng: random.Random, seq: int) -> dict[str, str]:
    qty = rng.randint(1, 500)
    price = Decimal(rng.randint(100, 900_000)) / 100
    return {
        "FSeq": str(seq), "FMaterialNumber": f" MAT-{rng.randint(1, 9999):05d}",
        "FMaterialName": "不锈钢  泵体 DN50",
        "FQty": f"{qty}.000", "FUnit": rng.choice(["台", "件", "箱 "]), "FAmount": str(price * qty),
        "FDeliveryDate": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }


def make_record(rng: random.Random, n: int) -> dict[str, Any]:
    """One generated sales order as the SOAP ERP sends it (every value text)."""
    province = rng.choice(list(PROVINCES))
    return {
        "FBillNo": f" XSDD{n:010d} ", "FDate": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "FCustomerNumber": f"CUST-{rng.randint(1, 99999):06d}",
        "FCustomerName": "苏州华成机械（集团）有限公司　",
        "FContractNo": rng.choice(["", f"HT-2026-{n % 1000:04d}"]),
        "FCurrency": rng.choice(["CNY", "cny", "USD"]),
        "FTotalAmount": f"{rng.randint(1000, 9_000_000)}.{rng.randint(0, 999):03d}",
        "FTaxAmount": f"{rng.randint(100, 900_000)}.{rng.randint(0, 99):02d}",
        "FDocumentStatus": rng.choice("ABCDZ"),
        "FDeliveryStatus": rng.choice(list(LOOKUPS["delivery_status"])),
        "FInvoiceStatus": rng.choice(list(LOOKUPS["invoice_status"])),
        "FPaymentStatus": rng.choice(list(LOOKUPS["payment_status"])),
        "FProvince": province, "FCity": PROVINCES[province],
        "FStockOrg": rng.choice(["SZ01", "DG01", "TJ01", "WH01"]),
        "FSalesman": rng.choice(["ZhangWei", "LiNa ", "wangfang"]), "FPriority": str(rng.randint(1, 5)),
        "FUrgent": rng.choice(["是", "否", "Y", "N"]), "FRemark": rng.choice(["", "加急  发货", "含安装"]),
        "FModifyDate": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:1"
                       f"{rng.randint(0, 9)}",
        "FEntries": [_line(rng, i + 1) for i in range(5)],
    }


# ---------------------------------------------------------------------------------- hand-written baseline

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_CENT = Decimal("0.01")
_MINOR = {"CNY": _CENT, "USD": _CENT, "JPY": Decimal(1)}
_FULLWIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}
_TRUE, _FALSE = {"Y", "X", "是", "1", "true"}, {"N", "否", "0", "false", " ", ""}


def _money(text: str, currency: str) -> str:
    q = Decimal(text).quantize(_MINOR[currency], ROUND_HALF_UP)
    return format(abs(q) if q.is_zero() else q, "f")


def _plain(text: str) -> str:
    d = Decimal(text).normalize()
    return format(abs(d) if d.is_zero() else d, "f")


def _utc(text: str) -> str:
    dt = datetime.fromisoformat(text).replace(tzinfo=_SHANGHAI).astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat() + "Z"


def _flag(text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MappingError("not a yes/no flag", field="/FUrgent", rule="urgent")


def _put(out: dict[str, Any], key: str, value: str | None) -> None:
    if value:
        out[key] = value


def handwritten(rec: dict[str, Any]) -> dict[str, Any]:
    """The same mapping written by hand, as an engineer would without the engine."""
    lk = LOOKUPS
    currency = rec["FCurrency"].strip().upper()
    out: dict[str, Any] = {
        "source_system": "erp",
        "source_id": rec["FBillNo"].strip(),
        "order_date": date.fromisoformat(rec["FDate"]).isoformat(),
        "customer_source_id": rec["FCustomerNumber"].strip(),
        "customer_name": " ".join(rec["FCustomerName"].translate(_FULLWIDTH).split()),
        "currency": currency,
        "total_amount": _money(rec["FTotalAmount"], currency),
        "tax_amount": _money(rec["FTaxAmount"], "CNY"),
        "status": lk["document_status"][rec["FDocumentStatus"]],
        "delivery_status": lk["delivery_status"][rec["FDeliveryStatus"]],
        "invoice_status": lk["invoice_status"][rec["FInvoiceStatus"]],
        "payment_status": lk["payment_status"][rec["FPaymentStatus"]],
    }
    _put(out, "contract_no", (rec.get("FContractNo") or "").strip())
    province = (rec.get("FProvince") or "").strip()
    address = {k: v for k, v in (("province", province), ("city", (rec.get("FCity") or "").strip())) if v}
    if address:
        out["address"] = address
    _put(out, "region", lk["province_region"].get(province))
    _put(out, "plant", (rec.get("FStockOrg") or "").strip())
    _put(out, "plant_region", lk["plant_region"].get(rec.get("FStockOrg") or ""))
    _put(out, "sales_rep", (rec.get("FSalesman") or "").strip().lower())
    if rec.get("FPriority"):
        out["priority"] = int(rec["FPriority"])
    if rec.get("FUrgent"):
        out["urgent"] = _flag(rec["FUrgent"])
    _put(out, "remark", " ".join((rec.get("FRemark") or "").split()))
    out["updated_at"] = _utc(rec["FModifyDate"])
    out["lines"] = [_hand_line(line, currency) for line in rec["FEntries"]]
    return out


def _hand_line(line: dict[str, str], currency: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "line_no": int(line["FSeq"]),
        "product_source_id": line["FMaterialNumber"].strip(),
        "quantity": _plain(line["FQty"]),
        "unit": line["FUnit"].strip(),
        "amount": _money(line["FAmount"], currency),
    }
    _put(out, "product_name", " ".join((line.get("FMaterialName") or "").split()))
    if line.get("FDeliveryDate"):
        out["delivery_date"] = date.fromisoformat(line["FDeliveryDate"]).isoformat()
    return out


# ---------------------------------------------------------------------------------------------- timing


def measure(paths: dict[str, Callable[[dict[str, Any]], Any]], pool: list[dict[str, Any]], n: int,
            chunk: int = 1000) -> dict[str, float]:
    """Records/s of each path over `n` records, timed in interleaved chunks so that noise from other
    processes on the machine hits every path alike."""
    totals = dict.fromkeys(paths, 0.0)
    gc.collect()
    for start in range(0, n, chunk):
        batch = [pool[i % len(pool)] for i in range(start, min(n, start + chunk))]
        for name, fn in paths.items():
            began = time.perf_counter()
            for record in batch:
                fn(record)
            totals[name] += time.perf_counter() - began
    return {name: n / seconds for name, seconds in totals.items()}


def main() -> None:
    """Build the fixture, check both paths agree, time them, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(20261123)
    pool = [make_record(rng, i) for i in range(1000)]
    with tempfile.TemporaryDirectory() as tmp:
        directory, schemas = write_fixture(Path(tmp))
        apply = load_mapping("bench/order", directory, schemas=schemas).apply
        validate = schemas.fast_validator("bench/order.v1")  # compiled once, before timing
        for record in pool:  # the two paths must do the same work
            assert apply(record) == handwritten(record), record["FBillNo"]

        def engine(record: dict[str, Any]) -> None:
            schemas.validate("bench/order.v1", apply(record))

        def hand(record: dict[str, Any]) -> None:
            schemas.validate("bench/order.v1", handwritten(record))

        expected = {id(r): apply(r) for r in pool}

        def ceiling(record: dict[str, Any]) -> None:
            """No transform at all: copy the finished values into a fresh output, then validate it.
            What any per-record mapping (engine or by hand) can reach on this machine."""
            done = expected[id(record)]
            out = {key: value for key, value in done.items() if key != "lines"}
            out["lines"] = [dict(line) for line in done["lines"]]
            schemas.validate("bench/order.v1", out)

        rates = measure({"engine": engine, "hand": hand, "engine_map": apply, "hand_map": handwritten,
                         "ceiling": ceiling}, pool, args.records)
        outputs = list(expected.values())
        validate_us = 1e6 / measure({"validate": validate}, outputs, args.records // 10)["validate"]
    ratio = rates["engine"] / rates["hand"]
    print(json.dumps({
        "bench": "mapping", "records": args.records, "engine_records_per_s": round(rates["engine"]),
        "handwritten_records_per_s": round(rates["hand"]), "ratio": round(ratio, 3),
        "target_records_per_s": TARGET_RPS, "target_ratio": TARGET_RATIO,
        "pass": rates["engine"] >= TARGET_RPS and ratio >= TARGET_RATIO,
        "engine_map_only_records_per_s": round(rates["engine_map"]),
        "handwritten_map_only_records_per_s": round(rates["hand_map"]),
        "map_only_ratio": round(rates["engine_map"] / rates["hand_map"], 3),
        "validate_us_per_record": round(validate_us, 1),
        "copy_and_validate_records_per_s": round(rates["ceiling"]),
    }))


if __name__ == "__main__":
    main()
