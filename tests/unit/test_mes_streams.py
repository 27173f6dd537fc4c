"""The MES work-order stream on SQLite: keyset paging on (updated_at, id) with many equal timestamps."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors import load_connector
from connectors.base import Cursor, Page, Stream
from connectors.testing.mes_db import BATCH_REPORT, MesDatabase, seed_rows
from hub.core.settings import load_settings


@pytest.fixture
def mes(tmp_path: Path) -> Iterator[MesDatabase]:
    database = MesDatabase(f"sqlite:///{tmp_path / 'mes.db'}").create(bad_rows=True)
    yield database
    database.dispose()


def stream_for(mes: MesDatabase, **options: Any) -> Stream:
    return load_connector("mes", load_settings(mes={"url": mes.url, "page_size": 4, **options})).stream("work_orders")


def keys(pages: list[Page]) -> list[str]:
    return [r.key for p in pages for r in p.records]


def last_cursor(pages: list[Page]) -> Cursor:
    return json.loads(json.dumps(pages[-1].cursor))


def test_many_rows_with_one_updated_at_are_neither_missed_nor_repeated(mes: MesDatabase) -> None:
    rows = mes.rows()
    assert Counter(r["updated_at"] for r in rows)[BATCH_REPORT] >= 14
    pages = list(stream_for(mes).read(None))
    assert all(len(p.records) + len(p.rejected) <= 4 for p in pages)
    assert sorted(keys(pages)) == sorted(r["wo_no"] for r in rows if r["wo_no"])
    assert len(keys(pages)) == len(set(keys(pages))) and sum(len(p.rejected) for p in pages) == 1


def test_every_page_boundary_inside_the_batch_resumes_exactly(mes: MesDatabase) -> None:
    s = stream_for(mes)
    pages = list(s.read(None))
    for n, page in enumerate(pages[:-1]):
        rest = keys(list(s.read(json.loads(json.dumps(page.cursor)))))
        assert rest == keys(pages[n + 1:]), f"after page {n}"


def test_rows_committed_late_in_the_same_instant_with_higher_ids_are_read(mes: MesDatabase) -> None:
    s = stream_for(mes)
    pages = list(s.read(None))
    cursor = last_cursor(pages)
    assert cursor["updated_at"].startswith("2026-11-20 08:00:00") and cursor["type"] == "text"
    mes.insert(*({**row, "wo_no": f"MO-202611-08{n:02d}", "updated_at": BATCH_REPORT}
                 for n, row in enumerate(seed_rows(3))))
    assert keys(list(s.read(cursor))) == ["MO-202611-0800", "MO-202611-0801", "MO-202611-0802"]


def test_an_update_is_read_once_with_a_new_version(mes: MesDatabase) -> None:
    s = stream_for(mes)
    pages = list(s.read(None))
    before = {r.key: r.version for p in pages for r in p.records}
    mes.update("MO-202611-0004", "MO-202611-0010", good_qty=2, status="生产中")
    changed = list(s.read(last_cursor(pages)))
    assert sorted(keys(changed)) == ["MO-202611-0004", "MO-202611-0010"]
    assert all(r.version != before[r.key] and r.payload["done_qty"] == "2" for p in changed for r in p.records)
    assert list(s.read(last_cursor(changed))) == []


def test_overlap_re_reads_recent_rows_with_their_versions(mes: MesDatabase, tmp_path: Path) -> None:
    pages = list(stream_for(mes).read(None))
    cursor = {**last_cursor(pages), "type": "datetime"}  # as PostgreSQL would store it
    cursor["updated_at"] = dt.datetime.fromisoformat(cursor["updated_at"]).isoformat()
    again = list(stream_for(mes, overlap_s=60).read(cursor))
    assert sorted(keys(again)) == sorted(r["wo_no"] for r in mes.rows() if r["updated_at"] == BATCH_REPORT and r["wo_no"])


def test_a_row_without_its_work_order_number_is_rejected_with_the_reason(mes: MesDatabase) -> None:
    rejected = [reason for p in stream_for(mes).read(None) for _raw, reason in p.rejected]
    assert len(rejected) == 1 and "without work_order_no" in rejected[0]


def test_the_stream_declares_its_full_event_type(mes: MesDatabase) -> None:
    s = stream_for(mes)
    assert getattr(s, "event_type", None) == "mes.workorder.progressed.v1" and s.cursor_field == "updated_at"
