"""Code sequences under concurrent writers: several processes create golden records on PostgreSQL
at once; every code is given out once, the numbers have no duplicates and none is reused."""

from __future__ import annotations

import multiprocessing
from typing import Any
import re

import pytest
from sqlalchemy import select, text

from hub.core.db import open_database
from mdm.models import Code
from mdm.reference import latin_key
from mdm.rules import load_rules
from mdm.store import upsert

pytestmark = pytest.mark.integration
PROCESSES, EACH = 4, 12


def _distinct_sounds(count: int) -> list[str]:
    """Characters that all read differently in pinyin (homophone brands would rightly match)."""
    seen: dict[str, str] = {}
    for code in range(0x4E00, 0x9FA5):
        sound = latin_key(chr(code))
        if sound.isalpha() and sound not in seen:
            seen[sound] = chr(code)
        if len(seen) == count:
            break
    return list(seen.values())


CHARS = _distinct_sounds(2 * PROCESSES * EACH)


def _brand(proc: int, i: int) -> str:
    """Two characters no other record of the test uses (so every record founds its own golden record)."""
    k = 2 * (proc * EACH + i)
    return CHARS[k] + CHARS[k + 1]


def _writer(url: str, proc: int, start: multiprocessing.synchronize.Event) -> list[str]:  # type: ignore[name-defined]
    db = open_database(url, upgrade=False)
    rules = load_rules("customer")
    start.wait(10)
    codes = []
    for i in range(EACH):
        record = {"source_system": "erp", "source_id": f"P{proc}-{i}", "name": f"苏州{_brand(proc, i)}机械有限公司",
                  "industry": "机械", "status": "active", "updated_at": "2024-01-01T00:00:00Z"}
        with db.transaction() as session:
            result = upsert(session, rules, record, actor=f"writer-{proc}")
            codes.append(next(e.data["code"] for e in result.events if e.type.endswith("code_assigned.v1")))
    db.dispose()
    return codes


def test_concurrent_code_assignment_on_postgresql(pg_url: str) -> None:
    db = open_database(pg_url)
    with db.engine.begin() as conn:
        for table in ("mdm_quality_issue", "mdm_audit", "mdm_pair", "mdm_sequence", "mdm_code", "mdm_golden",
                      "mdm_block_key", "mdm_record"):
            conn.execute(text(f"DELETE FROM {table}"))
    db.dispose()
    context = multiprocessing.get_context("fork")
    start = context.Manager().Event()
    with context.Pool(PROCESSES) as pool:
        pending = [pool.apply_async(_writer, (pg_url, p, start)) for p in range(PROCESSES)]
        start.set()
        codes = [code for job in pending for code in job.get(timeout=120)]
    assert len(codes) == len(set(codes)) == PROCESSES * EACH
    numbers = sorted(int(re.fullmatch(r"机械-华东-(\d+)", code).group(1)) for code in codes)  # type: ignore[union-attr]
    assert numbers == list(range(1, PROCESSES * EACH + 1))  # no duplicate, none skipped or reused
    db = open_database(pg_url)
    with db.transaction() as session:
        stored = list(session.scalars(select(Code.code).where(Code.entity == "customer")))
        assert sorted(stored) == sorted(codes)
        last = session.execute(text("SELECT last_value FROM mdm_sequence WHERE scope = '机械-华东-#'")).scalar_one()
        assert last == PROCESSES * EACH
    db.dispose()


def _merge_in_process(url: str, left: str, right: str, actor: str, start: Any) -> str:
    """One steward's merge in its own process; returns "merged" or the refusal."""
    from hub.core.db import open_database
    from mdm import steward
    from mdm.rules import load_rules

    db = open_database(url, upgrade=False)
    start.wait(30)
    try:
        with db.transaction() as session:
            steward.merge(session, load_rules("customer"), left, right, actor, "same company")
        return "merged"
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        return type(exc).__name__
    finally:
        db.dispose()


def test_concurrent_merges_of_the_same_records_apply_once(pg_url: str) -> None:
    from sqlalchemy import select as select_

    from hub.core.db import open_database
    from mdm import steward, store
    from mdm.models import Audit, Golden
    from mdm.rules import load_rules

    rules = load_rules("customer")
    db = open_database(pg_url)
    with db.engine.begin() as conn:
        for table in ("mdm_quality_issue", "mdm_audit", "mdm_pair", "mdm_sequence", "mdm_code", "mdm_golden",
                      "mdm_block_key", "mdm_record"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    records = [{"source_system": "erp", "source_id": f"K{n}", "name": name, "status": "active",
                "updated_at": "2026-11-20T08:00:00+08:00", "address": {"city": "苏州市"}}
               for n, name in enumerate(("苏州华成机械有限公司", "无锡华成机械有限公司"))]
    with db.transaction() as session:
        left, right = (store.upsert(session, rules, r).golden_id for r in records)
        before = store.snapshot(session, session.get(Golden, right))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(2) as pool:
            pending = [pool.apply_async(_merge_in_process, (pg_url, left, right, f"steward-{n}", start))
                       for n in range(2)]
            start.set()
            outcomes = sorted(p.get(60) for p in pending)
    assert outcomes == ["MdmError", "merged"]  # one merge wins, the other sees it and refuses
    with db.transaction() as session:
        merges = session.scalars(select_(Audit).where(Audit.operation == "merge")).all()
        assert len(merges) == 1
        steward.unmerge(session, rules, left, right, "steward-3")
    with db.transaction() as session:
        after = store.snapshot(session, session.get(Golden, right))
        assert {k: v for k, v in after.items() if k not in ("version", "data")} == \
               {k: v for k, v in before.items() if k not in ("version", "data")}
    db.dispose()
