"""The MDM store on SQLite and PostgreSQL: incremental matching keeps golden ids and codes stable;
merge / reject / unmerge write audit rows, restore exactly and never give a code out twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hub.core.db import Database
from hub.core.errors import MdmError
from hub.core.schemas import registry
from mdm import steward, store
from mdm.models import Audit, Golden, Pair
from mdm.quality import entity_counts
from mdm.rules import load_rules

pytestmark = pytest.mark.integration
RULES = load_rules("customer")
MDM_TABLES = ("mdm_quality_issue", "mdm_audit", "mdm_pair", "mdm_sequence", "mdm_code", "mdm_golden",
              "mdm_block_key", "mdm_record")


def customer(source_id: str, name: str, system: str = "erp", **extra: Any) -> dict[str, Any]:
    """A canonical customer.v1 record."""
    return {"source_system": system, "source_id": source_id, "name": name, "status": "active",
            "updated_at": extra.pop("updated_at", "2024-08-15T16:32:05+08:00"), **extra}


HUACHENG = customer("C1", "苏州华成机械有限公司", credit_code="91320500MA1MX3K71M", industry="通用设备制造业",
                    phone="0512-66881234", address={"province": "江苏省", "city": "苏州市", "street": "金枫南路1258号"})
HENGLI = customer("C2", "深圳恒力电子有限公司", industry="电子电器", phone="0755-86001234",
                  address={"province": "广东省", "city": "深圳市", "street": "宝安大道1号"})
WUXI = customer("C3", "无锡华成机械有限公司", industry="通用设备制造业", phone="0510-88776655",
                address={"city": "无锡市", "street": "长江路8号"})


@pytest.fixture
def mdb(db: Database) -> Iterator[Database]:
    """The db fixture with empty MDM tables (the PostgreSQL database is shared by the session)."""
    with db.engine.begin() as conn:
        for table in MDM_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    yield db


def apply(db: Database, *records: dict[str, Any]) -> list[store.UpsertResult]:
    with db.transaction() as session:
        return [store.upsert(session, RULES, r) for r in records]


def state(session: Session, golden_id: str) -> dict[str, Any]:
    """A golden record's full state without its version stamp."""
    snap = store.snapshot(session, session.get(Golden, golden_id))
    snap["data"] = {k: v for k, v in snap["data"].items() if k != "updated_at"}
    snap.pop("version")
    return snap


def validate(results: list[Any]) -> None:
    for result in results:
        for event in result.events:
            registry().validate("mdm/golden_customer.v1", event.data)


def test_incremental_matching_keeps_ids_and_codes_stable(mdb: Database) -> None:
    first = apply(mdb, HUACHENG, HENGLI)
    validate(first)
    assert [r.decision for r in first] == ["new", "new"]
    assert [e.type for e in first[0].events] == ["mdm.customer.upserted.v1", "mdm.customer.code_assigned.v1"]
    codes = [e.data["code"] for r in first for e in r.events[:1]]
    assert codes == ["机械-华东-001", "电子-华南-001"]
    more = apply(mdb, customer("S9", "蘇州華成機械股份有限公司", system="sap", phone="+86 512 6688 1234",
                               updated_at="2024-08-16T08:00:00+08:00"),
                 customer("E1", "Suzhou Huacheng Machinery Co., Ltd.", system="crm", phone="(0512)6688 1234"),
                 WUXI)
    validate(more)
    assert [r.decision for r in more[:2]] == ["auto", "auto"]
    assert {r.golden_id for r in more[:2]} == {first[0].golden_id}
    assert more[2].decision in ("new", "review") and more[2].golden_id != first[0].golden_id
    with mdb.transaction() as session:
        golden = session.get(Golden, first[0].golden_id)
        assert golden.code == "机械-华东-001" and len(golden.data["members"]) == 3
        assert golden.data["name"] == "苏州华成机械有限公司"  # simplified script wins the name
        assert session.get(Golden, first[1].golden_id).code == "电子-华南-001"  # untouched by unrelated data
        assert store.xref(session, "customer", "sap", "S9") == first[0].golden_id
        assert session.get(Golden, more[2].golden_id).code == "机械-华东-002"


def test_updates_refresh_the_golden_record_and_stale_ones_are_ignored(mdb: Database) -> None:
    [created] = apply(mdb, HUACHENG)
    [stale] = apply(mdb, {**HUACHENG, "phone": "0512-11112222", "updated_at": "2024-01-01T00:00:00+08:00"})
    assert stale.decision == "stale" and not stale.events
    [same] = apply(mdb, {**HUACHENG, "updated_at": "2024-09-01T00:00:00+08:00"})
    assert same.decision == "unchanged"
    [changed] = apply(mdb, {**HUACHENG, "phone": "0512-66889999", "updated_at": "2024-10-01T00:00:00+08:00"})
    assert changed.decision == "updated" and changed.golden_id == created.golden_id
    assert changed.events[0].data["phone"] == "+8651266889999"
    assert changed.events[0].data["updated_at"] > created.events[0].data["updated_at"]


def test_review_pairs_have_explanations_and_rejects_are_remembered(mdb: Database) -> None:
    apply(mdb, HUACHENG)
    [typo] = apply(mdb, customer("X1", "华成机械", system="crm", phone="0512-11112222"))  # short name, other phone
    assert typo.decision == "review" and typo.proposed
    with mdb.transaction() as session:
        [item] = steward.review_queue(session, "customer")
        assert item.explanation["fields"]["brand"]["similarity"] is not None
        assert {item.left["source_id"], item.right["source_id"]} == {"C1", "X1"}
        result = steward.reject(session, RULES, item.pair_id, "steward-1", "different company")
        assert result.events == []
    with mdb.transaction() as session:
        assert steward.review_queue(session, "customer") == []
        recheck = steward.recheck(session, RULES)
        assert session.get(Pair, item.pair_id).status == "rejected"  # not proposed again
        assert steward.review_queue(session, "customer") == []
        audit = session.scalars(select(Audit).where(Audit.operation == "reject")).one()
        assert (audit.actor, audit.pair_id, audit.before, audit.after) == (
            "steward-1", item.pair_id, {"status": "open"}, {"status": "rejected"})
        assert recheck.records == 2
        with pytest.raises(MdmError):
            steward.reject(session, RULES, item.pair_id, "steward-1")


def test_merge_then_unmerge_restores_the_exact_state(mdb: Database) -> None:
    left, right = apply(mdb, HUACHENG, WUXI)
    with mdb.transaction() as session:
        before = {g: state(session, g) for g in (left.golden_id, right.golden_id)}
        merged = steward.merge(session, RULES, left.golden_id, right.golden_id, "steward-1", "same company")
        validate([merged])
        assert merged.events[0].type == "mdm.customer.merged.v1"
        assert merged.events[0].data["merged_from"] == [right.golden_id]
        assert merged.events[0].data["aliases"] == ["机械-华东-002"]
        assert store.resolve_code(session, "customer", "机械-华东-002") == left.golden_id
        assert session.get(Golden, right.golden_id).status == "merged"
        audit = session.get(Audit, merged.audit_id)
        assert audit.actor == "steward-1" and audit.before["merged"]["code"] == "机械-华东-002"
        assert audit.after["survivor"]["codes"] == [["机械-华东-001", "primary"], ["机械-华东-002", "alias"]]
    with mdb.transaction() as session:  # a merged-away code is never given out again
        [new] = [store.upsert(session, RULES, customer("N1", "苏州金鼎机械有限公司", address={"city": "苏州市"}))]
        assert session.get(Golden, new.golden_id).code == "机械-华东-003"
        with pytest.raises(MdmError):
            steward.merge(session, RULES, left.golden_id, right.golden_id, "steward-1")
    with mdb.transaction() as session:
        undone = steward.unmerge(session, RULES, left.golden_id, right.golden_id, "steward-2", "not the same")
        validate([undone])
        assert [e.type for e in undone.events] == ["mdm.customer.unmerged.v1", "mdm.customer.upserted.v1"]
        assert undone.events[0].data["split_from"] == left.golden_id
        assert {g: state(session, g) for g in before} == before
        assert session.get(Audit, undone.audit_id).operation == "unmerge"
        assert session.get(Audit, merged.audit_id).undone_by == undone.audit_id
        assert store.resolve_code(session, "customer", "机械-华东-002") == right.golden_id
        assert session.scalar(select(func.count()).select_from(Audit).where(Audit.operation.in_(
            ("merge", "unmerge")))) == 2


def test_unmerge_splits_one_source_record_off(mdb: Database) -> None:
    first, second = apply(mdb, HUACHENG, customer("S9", "蘇州華成機械股份有限公司", system="sap",
                                                  phone="+86 512 6688 1234"))
    assert second.golden_id == first.golden_id
    with mdb.transaction() as session:
        result = steward.unmerge(session, RULES, first.golden_id, "sap:S9", "steward-1", "wrong match")
        validate([result])
        split = session.get(Golden, result.golden_id)
        assert split.data["split_from"] == first.golden_id and split.code == "机械-华东-002"
        assert [m["source_id"] for m in session.get(Golden, first.golden_id).data["members"]] == ["C1"]
        assert store.xref(session, "customer", "sap", "S9") == result.golden_id
        with pytest.raises(MdmError):
            steward.unmerge(session, RULES, first.golden_id, "sap:nobody", "steward-1")


def test_quality_findings_are_stored_and_summarised(mdb: Database) -> None:
    apply(mdb, HUACHENG, customer("B1", "宁波金鼎汽车部件有限公司", credit_code="91320500MA1MX3K71N", phone="123"),
          customer("S9", "蘇州華成電子有限公司", system="sap", credit_code="91320500MA1MX3K71M"))
    with mdb.transaction() as session:
        summary = store.quality_summary(session, "customer")
        assert summary["invalid_credit_code"] == 1 and summary["invalid_phone"] == 1
        assert summary["conflicting_name"] == 2  # one credit code, two names (same golden via the code)
        assert summary["missing_address"] == 2
    counts = {c["entity"]: c for c in entity_counts(mdb)}
    assert counts["customer"]["total"] == 3 and counts["customer"]["valid"] == 2
    assert counts["customer"]["consistent"] == 1 and counts["product"]["total"] == 0
