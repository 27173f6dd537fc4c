"""Faults on the real broker: a restart in the middle of a 5,000-event publish loses nothing."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest
from sqlalchemy import func, select

from hub.core import outbox
from hub.core.consumer import Consumer, noop_handler
from hub.core.db import Database
from hub.core.models import OutboxRow, ProcessedEvent
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings
from hub.core.topology import apply, build_topology
from tests.integration.test_bus import crm_queue, receivable_event

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
    with db.transaction() as session:
        outbox.add_events(session, [receivable_event(n) for n in range(EVENTS)], topology)

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

    consumer = Consumer(hub_settings.bus, db, topology, crm_queue(topology), noop_handler)
    stats = consumer.run(idle_timeout_s=2.0)
    with db.transaction() as session:
        distinct = session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert distinct == EVENTS  # every event arrived...
    assert stats.applied == EVENTS  # ...and was applied once; re-sent copies were dropped as duplicates
    assert stats.received == stats.applied + stats.deduplicated


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_consumer_reconnects_when_its_connection_is_closed_mid_work(db: Database,
                                                                    hub_settings: HubSettings) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    with db.transaction() as session:
        outbox.add_events(session, [receivable_event(n) for n in range(2000)], topology)
    with Publisher(hub_settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()

    def slow(_event, _session) -> None:  # type: ignore[no-untyped-def]
        time.sleep(0.001)  # long enough that the connection is closed in the middle

    consumer = Consumer(hub_settings.bus, db, topology, crm_queue(topology), slow, batch_size=50)
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


def _processed(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0
