"""Faults on the real broker: restarts and closed connections while publishing and consuming lose nothing.

Each scenario ends with its ledger (tests/faults/ledger.py): every event numbered per source,
read back from the outbox, the deliveries and the effect table; nothing lost, no gap, none twice.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.core import outbox
from hub.core.consumer import Handler
from hub.core.db import Database
from hub.core.events import CanonicalEvent
from hub.core.models import OutboxRow, ProcessedEvent
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings
from hub.core.topology import apply, build_topology
from tests.faults.ledger import Ledger, RecordingConsumer, receivables
from tests.integration.test_bus import crm_queue, inbox_handler

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 5000


class PacedRelay(outbox.Relay):
    """A relay slowed to ~1,500 events/s, so the broker restart lands in the middle of the publish."""

    def _finish(self, rows, batch):  # type: ignore[no-untyped-def]
        time.sleep(0.03)
        return super()._finish(rows, batch)


def _sent(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "sent")) or 0


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def _wait(condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_broker_restart_during_publish_loses_nothing(db: Database, hub_settings: HubSettings) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    events, ledger = receivables(EVENTS)
    with db.transaction() as session:
        outbox.add_events(session, events, topology)

    publisher = Publisher(hub_settings.bus, max_backoff_s=1.0)
    relay = PacedRelay(db, publisher, topology, batch_size=50, window=1)
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop, 0.05, 1.0))
    worker.start()
    try:
        assert _wait(lambda: _sent(db) >= 250, 60), "relay did not start publishing"
        _rabbitmqctl("stop_app")
        restarted_at = _sent(db)
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")
        assert _wait(lambda: _sent(db) == EVENTS, 180), f"only {_sent(db)} of {EVENTS} confirmed"
    finally:
        stop.set()
        worker.join(30)
        publisher.close()
    assert restarted_at < EVENTS, "the broker restarted after everything was sent: the test proved nothing"
    assert publisher.reconnects >= 1

    consumer = RecordingConsumer(hub_settings.bus, db, topology, crm_queue(topology), inbox_handler("crm"),
                                 ledger=ledger)
    stats = consumer.run(idle_timeout_s=2.0)
    with db.transaction() as session:
        distinct = session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert distinct == EVENTS  # every event arrived...
    assert stats.applied == EVENTS  # ...and was applied once; re-sent copies were dropped as duplicates
    assert stats.received == stats.applied + stats.deduplicated
    ledger.read_outbox(db)
    ledger.read_inbox(db, "crm")
    ledger.assert_clean()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_consumer_reconnects_when_its_connection_is_closed_mid_work(db: Database,
                                                                    hub_settings: HubSettings) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    topology = build_topology(hub_settings.bus)
    ledger = queued(db, hub_settings, 2000)
    consumer = RecordingConsumer(hub_settings.bus, db, topology, crm_queue(topology), slow_inbox(0.001),
                                 batch_size=50, ledger=ledger)
    worker = threading.Thread(target=consumer.serve, kwargs={"max_backoff_s": 1.0})
    worker.start()
    try:
        assert _wait(lambda: _processed(db) >= 200, 60)
        _rabbitmqctl("close_all_connections", "test: consumer reconnect")
        assert _wait(lambda: _processed(db) == 2000, 120), f"only {_processed(db)} of 2000 applied"
    finally:
        consumer.stop()
        worker.join(30)
    # Work whose ack was lost with the connection came again and was recognised as done.
    assert consumer.stats.applied + consumer.stats.deduplicated >= 2000
    assert consumer.stats.applied <= 2000
    ledger.read_outbox(db)
    ledger.read_inbox(db, "crm")
    ledger.assert_clean()


COUNT = 600  # events for the consumer while the broker is stopped and started


@pytest.mark.timeout(150)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_broker_stopped_and_started_while_consuming_applies_everything_once(db: Database,
                                                                           hub_settings: HubSettings) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    topology = build_topology(hub_settings.bus)
    ledger = queued(db, hub_settings, COUNT)
    # Past the first 100 events the handler holds its batch until the broker is down, so the stop
    # lands in the middle of the work however long rabbitmqctl takes.
    broker_down = threading.Event()
    consumer = RecordingConsumer(hub_settings.bus, db, topology, crm_queue(topology),
                                 held_inbox(after=100, until=broker_down), batch_size=50, ledger=ledger)
    worker = threading.Thread(target=consumer.serve, kwargs={"max_backoff_s": 1.0})
    worker.start()
    try:
        assert _wait(lambda: _processed(db) >= 50, 30), "consumer did not start"
        _rabbitmqctl("stop_app")
        stopped_at = _processed(db)
        broker_down.set()
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")
        assert _wait(lambda: _processed(db) == COUNT, 60), f"only {_processed(db)} of {COUNT} applied"
    finally:
        consumer.stop()
        worker.join(30)
    assert stopped_at < COUNT, "the broker stopped after everything was consumed: the test proved nothing"
    assert consumer.stats.applied <= COUNT  # work applied but not acknowledged came again as duplicates
    ledger.read_outbox(db)
    ledger.read_inbox(db, "crm")
    verdict = ledger.assert_clean()
    assert verdict.delivered == COUNT


def queued(db: Database, settings: HubSettings, count: int) -> Ledger:
    """`count` events through the outbox into the subscriber's queue; the ledger expecting them."""
    topology = build_topology(settings.bus)
    apply(settings.bus, topology)
    events, ledger = receivables(count)
    with db.transaction() as session:
        outbox.add_events(session, events, topology)
    with Publisher(settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()
    return ledger


def slow_inbox(pause_s: float) -> Handler:
    """The inbox effect, slow enough that a fault lands in the middle of the work."""
    inbox = inbox_handler("crm")

    def handle(event: CanonicalEvent, session: Session) -> None:
        time.sleep(pause_s)
        inbox(event, session)
    return handle


def held_inbox(after: int, until: threading.Event) -> Handler:
    """The inbox effect; from the `after`-th call on, each call first waits for `until` (at most 60 s)."""
    inbox, calls = inbox_handler("crm"), itertools.count(1)

    def handle(event: CanonicalEvent, session: Session) -> None:
        if next(calls) > after:
            until.wait(60)
        inbox(event, session)
    return handle


def _processed(db: Database) -> int:
    with db.reading() as session:  # a reader: a handler may hold the write transaction
        return session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0
