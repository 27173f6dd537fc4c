"""A silent network stall between the hub and RabbitMQ is detected within two heartbeats; nothing hangs.

Afterwards the ledger (events numbered per source; the outbox; the queue or the inbox table)
shows every event delivered, none lost, no gap, none applied twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from hub.core import outbox
from hub.core.db import Database
from hub.core.errors import BrokerUnavailable
from hub.core.events import CanonicalEvent
from hub.core.models import OutboxRow
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings
from hub.core.topology import Topology, apply, build_topology
from tests.faults.ledger import RecordingConsumer, receivables
from tests.faults.proxy import StallingProxy
from tests.integration.test_bus import crm_queue, inbox_handler

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEARTBEAT_S = 1


@pytest.fixture
def proxy(amqp: str) -> Iterator[StallingProxy]:
    with StallingProxy(5672) as running:
        yield running


def via(settings: HubSettings, proxy: StallingProxy) -> HubSettings:
    bus = settings.bus.model_copy(update={
        "url": type(settings.bus.url)(f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F"),
        "heartbeat_s": HEARTBEAT_S, "confirm_timeout_s": 60.0, "connect_timeout_s": 3.0,
    })
    return settings.model_copy(update={"bus": bus})


@pytest.mark.timeout(90)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_publisher_detects_a_stall_and_reports_unconfirmed_messages(db: Database, hub_settings: HubSettings,
                                                                   proxy: StallingProxy) -> None:
    settings = via(hub_settings, proxy)
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    events, ledger = receivables(30)
    publisher = Publisher(settings.bus, max_backoff_s=0.5)
    relay = outbox.Relay(db, publisher, topology)
    try:
        write(db, events[:10], topology)
        assert relay.run_once().sent == 10
        proxy.stall()
        write(db, events[10:20], topology)  # the sync goes on writing while the network is silent
        started = time.monotonic()
        result = relay.run_once()
        waited = time.monotonic() - started
        assert (result.sent, result.failed) == (0, 10)  # not confirmed: the outbox keeps them for later
        assert waited <= 2 * HEARTBEAT_S + 2.5, f"stall noticed only after {waited:.1f}s"
        proxy.resume()
        write(db, events[20:], topology)
        deadline = time.monotonic() + 30
        while pending(db) and time.monotonic() < deadline:  # the publisher reconnects by itself
            relay.run_once()
            time.sleep(0.1)
        assert not pending(db), "publisher did not recover after the stall ended"
        assert publisher.reconnects >= 1
    finally:
        publisher.close()
    ledger.read_outbox(db)
    ledger.drain_queue(hub_settings.bus.url.get_secret_value(), crm_queue(topology))
    ledger.assert_clean()  # bytes held by the stalled proxy may arrive as well: a copy, never a gap


@pytest.mark.timeout(60)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_consumer_detects_a_stall_instead_of_hanging(db: Database, hub_settings: HubSettings,
                                                     proxy: StallingProxy) -> None:
    settings = via(hub_settings, proxy)
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    events, ledger = receivables(40)
    write(db, events[:20], topology)
    with Publisher(hub_settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()
    consumer = RecordingConsumer(settings.bus, db, topology, crm_queue(topology), inbox_handler("crm"),
                                 ledger=ledger)
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            consumer.run()
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while consumer.stats.applied < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert consumer.stats.applied == 20
    proxy.stall()
    stalled_at = time.monotonic()
    worker.join(2 * HEARTBEAT_S + 5)
    assert not worker.is_alive(), "consumer hung on a stalled connection"
    assert isinstance(errors[0], BrokerUnavailable)
    assert time.monotonic() - stalled_at <= 2 * HEARTBEAT_S + 5

    write(db, events[20:], topology)  # the rest arrives while the consumer is away
    with Publisher(hub_settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()
    proxy.resume()
    again = RecordingConsumer(settings.bus, db, topology, crm_queue(topology), inbox_handler("crm"),
                              ledger=ledger)
    assert again.run(idle_timeout_s=1).applied == 20
    ledger.read_outbox(db)
    ledger.read_inbox(db, "crm")
    ledger.assert_clean()


def write(db: Database, events: list[CanonicalEvent], topology: Topology) -> None:
    with db.transaction() as session:
        outbox.add_events(session, events, topology)


def pending(db: Database) -> int:
    with db.reading() as session:
        query = select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")
        return session.scalar(query) or 0
