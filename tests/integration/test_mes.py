"""The MES connector through the sync pipeline, with the MES on SQLite and on PostgreSQL.

The hub's database runs on both backends too (the `db` fixture). An MES outage in the middle of
a sync (the SQLite file gone, the PostgreSQL database refusing connections) must leave the
checkpoint after the last committed page and publish nothing of the failed page; the next run
finishes with the same ids. Bad rows are dead-lettered with the reason; the batch goes on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text, update
from sqlalchemy.exc import DBAPIError

from connectors import load_connector
from connectors.base import Connector
from connectors.mes.client import MesClient
from connectors.testing.mes_db import BATCH_REPORT, MesDatabase, work_orders
from hub.app.pipeline import StreamSync, SyncResult, sync_stream
from hub.core import state
from hub.core.db import Database
from hub.core.errors import SourceAuthError, SourceRejected, SourceUnavailable
from hub.core.events import parse_event
from hub.core.models import Checkpoint, OutboxRow
from hub.core.settings import load_settings
from hub.core.topology import Topology, build_topology
from tests.conftest import PG_ADMIN_URL, require_service

PAGE = 4
TYPE = "mes.workorder.progressed.v1"


class Mes:
    """A seeded MES database and how to take it down and bring it back."""

    def __init__(self, url: str, down: Callable[[], None], up: Callable[[], None]) -> None:
        self.url, self.down, self.up = url, down, up
        self.db = MesDatabase(url).create(bad_rows=True)


@pytest.fixture(scope="module")
def pg_mes_database() -> Iterator[str]:
    """A PostgreSQL database for the MES, with a read-only role, dropped afterwards."""
    require_service("PostgreSQL", 5432)
    name = f"mes_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_switch(name: str, allow: bool) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"true" if allow else "false"}'))
        if not allow:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def mes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mes]:
    if request.param == "sqlite":
        path = tmp_path / "mes" / "mes.db"
        path.parent.mkdir()
        moved = path.with_suffix(".away")
        found = Mes(f"sqlite:///{path}", lambda: path.rename(moved), lambda: moved.rename(path))
    else:
        name = request.getfixturevalue("pg_mes_database")
        found = Mes(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", lambda: _pg_switch(name, False),
                    lambda: _pg_switch(name, True))
    yield found
    found.db.dispose()


@pytest.fixture
def connector(mes: Mes) -> Iterator[Connector]:
    built = load_connector("mes", load_settings(mes={"url": mes.url, "page_size": PAGE, "timeout_s": 5}))
    yield built
    built.close()


@pytest.fixture
def topology() -> Topology:
    return build_topology(load_settings().bus)


def outbox_rows(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.query(OutboxRow).order_by(OutboxRow.id))


def checkpoint(db: Database) -> Checkpoint | None:
    with db.transaction() as session:
        return session.get(Checkpoint, ("mes", "work_orders"))


def test_work_orders_sync_with_bad_rows_dead_lettered_and_no_new_ids_on_a_rerun(
        db: Database, mes: Mes, connector: Connector, topology: Topology) -> None:
    result = sync_stream(db, topology, connector, "work_orders")
    rows = mes.db.rows()
    assert result.received == len(rows) == result.published + result.dead_lettered
    assert result.dead_reasons == {"mapping_failed": 2, "record_invalid": 1}
    letters = {json.loads(r.body).get("wo_no") or json.loads(r.body).get("work_order_no"): r.headers
               for r in outbox_rows(db) if r.exchange == topology.dead.name}
    assert "planned_finish" in letters["MO-202611-9001"]["x-hub-error"]
    assert "mes_unit" in letters["MO-202611-9002"]["x-hub-error"]
    assert all(h["x-hub-original-routing-key"] == TYPE for h in letters.values())
    events = [parse_event(r.body) for r in outbox_rows(db) if r.exchange == topology.events.name]
    assert {e.type for e in events} == {TYPE} and {r.routing_key for r in outbox_rows(db)
                                                   if r.exchange == topology.events.name} == {TYPE}
    progress = next(e.data for e in events if e.subject == "MO-202611-0001")
    assert progress["sales_order_source_id"] == "SO-2026-000031" and progress["source_system"] == "mes"

    assert sync_stream(db, topology, connector, "work_orders").received == 0
    with db.transaction() as session:
        state.reset(session, "mes")
    sync_stream(db, topology, connector, "work_orders")
    ids = [r.event_id for r in outbox_rows(db) if r.exchange == topology.events.name]
    assert len(ids) == 2 * result.published and len(set(ids)) == result.published


def test_an_outage_mid_sync_keeps_the_checkpoint_and_the_next_run_finishes(
        db: Database, mes: Mes, connector: Connector, topology: Topology) -> None:
    committed: dict[str, Any] = {}

    def fail_after_two_pages(result: SyncResult) -> None:
        if result.pages == 2:
            cp = checkpoint(db)
            committed.update(cursor=cp.cursor if cp else None, rows=len(outbox_rows(db)))
            mes.down()

    sync = StreamSync(db, topology, connector, connector.stream("work_orders"), on_page=fail_after_two_pages)
    try:
        with pytest.raises(SourceUnavailable) as info:
            sync.run()
    finally:
        mes.up()
    assert "MES database" in str(info.value)
    cp = checkpoint(db)
    assert cp is not None and cp.cursor == committed["cursor"] and len(outbox_rows(db)) == committed["rows"] == 2 * PAGE
    finished = sync_stream(db, topology, connector, "work_orders")
    ids = [r.event_id for r in outbox_rows(db)]
    assert len(ids) == len(set(ids)) == len(mes.db.rows())
    assert finished.received == len(mes.db.rows()) - 2 * PAGE


# ----------------------------------------------------------------------------- PostgreSQL specifics


@pytest.fixture
def pg_mes(pg_mes_database: str) -> Iterator[MesDatabase]:
    database = MesDatabase(f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_mes_database}").create()
    yield database
    database.dispose()


def pg_client(pg_mes: MesDatabase, **options: Any) -> MesClient:
    return MesClient(load_settings(mes={"url": pg_mes.url, "page_size": PAGE, "timeout_s": 5, **options}).mes)


def test_postgres_keyset_paging_with_one_updated_at_for_many_rows(pg_mes: MesDatabase) -> None:
    connector = load_connector("mes", load_settings(mes={"url": pg_mes.url, "page_size": PAGE}))
    pages = list(connector.stream("work_orders").read(None))
    keys = [r.key for p in pages for r in p.records]
    assert sorted(keys) == sorted(r["wo_no"] for r in pg_mes.rows()) and len(keys) == len(set(keys))
    assert pages[-1].cursor["type"] == "datetime" and pages[-1].cursor["updated_at"] == BATCH_REPORT.isoformat()
    pg_mes.update("MO-202611-0002", "MO-202611-0039", at=BATCH_REPORT, status="已完工")  # same instant, lower ids
    late = [r.key for p in connector.stream("work_orders").read(pages[-1].cursor) for r in p.records]
    assert late == []  # behind the cursor: only an overlap re-reads them
    overlapping = load_connector("mes", load_settings(mes={"url": pg_mes.url, "page_size": PAGE, "overlap_s": 1}))
    again = [r.key for p in overlapping.stream("work_orders").read(pages[-1].cursor) for r in p.records]
    assert {"MO-202611-0002", "MO-202611-0039"} <= set(again)
    connector.close()
    overlapping.close()


def test_postgres_sessions_are_read_only(pg_mes: MesDatabase) -> None:
    client = pg_client(pg_mes)
    with client.engine.connect() as conn, pytest.raises(DBAPIError) as info:
        conn.execute(update(work_orders).values(status="已关闭"))
    error = client.translate(info.value)
    assert isinstance(error, SourceRejected) and "read-only" in str(error)
    client.close()


def test_postgres_wrong_user_or_closed_port_give_clear_errors_without_the_password(pg_mes: MesDatabase) -> None:
    wrong = MesClient(load_settings(mes={"url": "postgresql+psycopg://no_such_reader@127.0.0.1:5432/test",
                                         "password": "pw-never-shown-91", "timeout_s": 3}).mes)
    with pytest.raises(SourceAuthError) as auth:
        wrong.check()
    assert "no_such_reader" in str(auth.value) and "pw-never-shown-91" not in str(auth.value)
    closed = MesClient(load_settings(mes={"url": "postgresql+psycopg://postgres@127.0.0.1:1/mes",
                                          "password": "pw-never-shown-91", "timeout_s": 3}).mes)
    with pytest.raises(SourceUnavailable) as down:
        closed.check()
    assert "127.0.0.1:1" in str(down.value) and "pw-never-shown-91" not in str(down.value)
    assert "connection refused" in str(down.value)
