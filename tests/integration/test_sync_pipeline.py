"""The sync pipeline end to end on SQLite and PostgreSQL: ERP simulator → mapping → outbox + checkpoint.

A source failure in the middle of a sync (SOAP fault, broken XML, timeout, XML bomb, external
entity) must leave the checkpoint after the last good page, publish nothing of the failed page,
leak nothing of local files, and a later run must finish the job with the same ids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from connectors import load_connector
from connectors.base import Connector
from connectors.testing.erp_data import seed
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.app.pipeline import StreamSync, SyncResult, sync_stream
from hub.core import state
from hub.core.db import Database
from hub.core.errors import SourceAuthError, SourceProtocolError, SourceUnavailable, is_retriable
from hub.core.models import Checkpoint, OutboxRow
from hub.core.settings import load_settings
from hub.core.topology import Topology, build_topology

PAGE = 5


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    with ErpSoapServer(data=seed(n_customers=23, bad_rows=True)) as server:
        yield server


@pytest.fixture
def connector(erp: ErpSoapServer) -> Iterator[Connector]:
    settings = load_settings(soap_erp={"wsdl_url": erp.wsdl_url, "password": DEMO_PASSWORD, "page_size": PAGE,
                                       "retries": 0, "timeout_s": 1.0})
    built = load_connector("soap_erp", settings)
    yield built
    built.close()


@pytest.fixture
def topology() -> Topology:
    return build_topology(load_settings().bus)


def outbox_rows(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def checkpoint(db: Database) -> Checkpoint | None:
    with db.transaction() as session:
        return session.get(Checkpoint, ("soap_erp", "customers"))


def test_sync_counts_add_up_and_bad_rows_are_dead_lettered(db: Database, connector: Connector,
                                                           topology: Topology, erp: ErpSoapServer) -> None:
    result = sync_stream(db, topology, connector, "customers")
    rows = outbox_rows(db)
    customers = len(erp.store.rows("customers"))
    assert result.received == customers == result.published + result.dead_lettered
    assert result.dead_lettered >= 1
    assert len(rows) == result.received
    dead = [r for r in rows if r.exchange == topology.dead.name]
    assert len(dead) == result.dead_lettered
    headers = dead[0].headers
    assert headers["x-hub-reason"] == "mapping_failed"
    assert headers["x-hub-original-routing-key"] == "src.erp.customer.changed.v1"
    assert json.loads(dead[0].body)["FNumber"].startswith("CUST-9")  # the original record, whole
    cp = checkpoint(db)
    assert cp is not None and cp.records_total == result.received and cp.last_success_at is not None

    again = sync_stream(db, topology, connector, "customers")  # nothing changed: nothing new
    assert again.received == 0 and len(outbox_rows(db)) == len(rows)


def test_rerun_of_the_same_interval_gives_the_same_event_ids(db: Database, connector: Connector,
                                                             topology: Topology) -> None:
    sync_stream(db, topology, connector, "customers")
    first = {r.event_id for r in outbox_rows(db) if r.exchange == topology.events.name}
    with db.transaction() as session:
        state.reset(session, "soap_erp", "customers")
    sync_stream(db, topology, connector, "customers")
    events = [r.event_id for r in outbox_rows(db) if r.exchange == topology.events.name]
    assert len(events) == 2 * len(first) and set(events) == first


FAULTS = [
    ("soap_fault", SourceUnavailable, "ERP"),
    ("malformed", SourceProtocolError, "malformed"),
    ("slow", SourceUnavailable, "ERP"),
    ("xml_bomb", SourceProtocolError, "unsafe"),
    ("external_entity", SourceProtocolError, "unsafe"),
    ("http_500", SourceUnavailable, "ERP"),
    ("auth", SourceAuthError, "credentials"),
]


@pytest.mark.parametrize(("fault", "error", "wording"), FAULTS, ids=[f[0] for f in FAULTS])
def test_source_failure_mid_sync_keeps_the_checkpoint_and_publishes_nothing_of_the_bad_page(
        db: Database, connector: Connector, topology: Topology, erp: ErpSoapServer, fault: str,
        error: type[Exception], wording: str, caplog: pytest.LogCaptureFixture) -> None:
    committed: dict[str, object] = {}

    def break_after_two_pages(result: SyncResult) -> None:
        if result.pages == 2:  # two good pages are committed: now the ERP misbehaves
            committed.update(cursor=checkpoint(db).cursor, rows=len(outbox_rows(db)))  # type: ignore[union-attr]
            erp.fault_next(fault, delay_s=3.0)
            committed["at"] = time.monotonic()

    sync = StreamSync(db, topology, connector, connector.stream("customers"), on_page=break_after_two_pages)
    with pytest.raises(error) as info:
        sync.run()
    started = committed["at"]
    assert time.monotonic() - started < 3.0  # type: ignore[operator]
    message = str(info.value)
    assert wording.lower() in message.lower()
    assert "root:" not in message and "root:" not in caplog.text  # /etc/passwd never leaks
    assert DEMO_PASSWORD not in message and DEMO_PASSWORD not in caplog.text
    assert checkpoint(db).cursor == committed["cursor"]  # type: ignore[union-attr]
    assert len(outbox_rows(db)) == committed["rows"] == 2 * PAGE

    erp.clear_faults()
    finished = sync_stream(db, topology, connector, "customers")  # the next run picks up where it stopped
    ids = [r.event_id for r in outbox_rows(db)]
    assert len(ids) == len(set(ids)) == len(erp.store.rows("customers"))
    assert finished.received == len(erp.store.rows("customers")) - 2 * PAGE


def test_a_rejected_request_is_fatal_not_retried(db: Database, connector: Connector, topology: Topology,
                                                 erp: ErpSoapServer) -> None:
    erp.fault_next("auth")
    with pytest.raises(SourceAuthError) as info:
        sync_stream(db, topology, connector, "customers")
    assert not is_retriable(info.value)
    assert erp.call_count("GetCustomers") == 1
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 0
        assert state.load_cursor(session, "soap_erp", "customers") is None
