"""A small MDM store for the steward page tests, seeded through the MDM's own `upsert`.

Four companies as the ERP knows them (full records with valid credit codes), each with a
near-duplicate from another system that the matcher cannot decide alone (review band), and one
traditional-script copy from SAP with the same credit code that it merges automatically.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.testing.erp_data import make_uscc
from mdm.models import Pair
from mdm.rules import load_rules
from mdm.store import upsert_many

STAMP = "2026-11-20T08:00:00+08:00"


def _full(source_id: str, name: str, division: str, body: str, phone: str, province: str, city: str,
          street: str, industry: str) -> dict[str, Any]:
    return {"source_system": "erp", "source_id": source_id, "name": name, "credit_code": make_uscc(division, body),
            "phone": phone, "address": {"province": province, "city": city, "street": street},
            "industry": industry, "updated_at": STAMP}


def _variant(system: str, source_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"source_system": system, "source_id": source_id, "name": name, "updated_at": STAMP, **extra}


HUACHENG = _full("CUST-000101", "苏州华成机械有限公司", "320505", "12345678", "0512-6625 1234", "江苏省", "苏州市",
                 "虎丘区狮山路88号", "通用设备制造业")
HENGLI = _full("CUST-000102", "无锡恒力电子有限公司", "320214", "23456789", "0510-8520 3344", "江苏省", "无锡市",
               "新吴区长江路21号", "电子电器")
JINDING = _full("CUST-000103", "宁波金鼎机械有限公司", "330206", "34567890", "0574-8688 5566", "浙江省", "宁波市",
                "北仑区明州路168号", "通用设备制造业")
HONGDA = _full("CUST-000104", "佛山宏达电气有限公司", "440606", "45678901", "0757-2233 7788", "广东省", "佛山市",
               "顺德区新城路9号", "电气机械")

RECORDS: list[dict[str, Any]] = [
    HUACHENG, HENGLI, JINDING, HONGDA,
    _variant("crm", "C-2001", "苏州华成精密机械有限公司"),
    _variant("dms", "D-3002", "无锡市恒力电子设备有限公司"),
    _variant("crm", "C-2003", "宁波金鼎机械制造有限公司"),
    _variant("dms", "D-3004", "佛山宏达电气设备有限公司"),
    # Same credit code, traditional script: merged automatically (a golden record with two members).
    _variant("sap", "0000100101", "蘇州華成機械有限公司", credit_code=HUACHENG["credit_code"],
             phone="+86 512 6625 1234"),
]
PERSONAL = [str(v) for r in RECORDS for k, v in r.items() if k in ("name", "phone", "credit_code", "source_id")]


def seed(session: Session) -> list[int]:
    """Upsert the records; returns the ids of the open pairs they left for the steward, oldest first."""
    upsert_many(session, load_rules("customer"), RECORDS, actor="seed")
    session.flush()
    return list(session.scalars(select(Pair.id).where(Pair.status == "open").order_by(Pair.created_at, Pair.id)))
