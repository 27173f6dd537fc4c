"""A silent network stall between the hub and RabbitMQ is detected within two heartbeats; nothing hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from hub.core import outbox
from hub.core.consumer import Consumer, noop_handler
from hub.core.db import Database
from hub.core.errors import BrokerUnavailable
from hub.core.publisher import Message, Outcome, Publisher
from hub.core.settings import HubSettings
from hub.core.topology import apply, build_topology
from tests.faults.proxy import StallingProxy
from tests.integration.test_bus import crm_queue, receivable_event

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


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_publisher_detects_a_stall_and_reports_unconfirmed_messages(hub_settings: HubSettings,
                                                                   proxy: StallingProxy) -> None:
    settings = via(hub_settings, proxy)
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    publisher = Publisher(settings.bus, max_backoff_s=0.5)
    try:
        ok = publisher.publish_batch([Message(topology.events.name, "src.erp.x.changed.v1", b"{}", "m0")])
        assert ok == [Outcome.CONFIRMED]
        proxy.stall()
        started = time.monotonic()
        outcomes = publisher.publish_batch([Message(topology.events.name, "src.erp.x.changed.v1", b"{}", "m1")])
        waited = time.monotonic() - started
        assert outcomes == [Outcome.FAILED]  # not confirmed: the outbox keeps it for the next pass
        assert waited <= 2 * HEARTBEAT_S + 2.5, f"stall noticed only after {waited:.1f}s"
        proxy.resume()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the publisher reconnects by itself
            try:
                if publisher.publish_batch([Message(topology.events.name, "src.erp.x.changed.v1", b"{}", "m2")],
                                           timeout_s=5) == [Outcome.CONFIRMED]:
                    break
            except BrokerUnavailable:
                time.sleep(0.2)
        else:
            pytest.fail("publisher did not recover after the stall ended")
        assert publisher.reconnects >= 1
    finally:
        publisher.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_consumer_detects_a_stall_instead_of_hanging(db: Database, hub_settings: HubSettings,
                                                     proxy: StallingProxy) -> None:
    settings = via(hub_settings, proxy)
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    with db.transaction() as session:
        outbox.add_events(session, [receivable_event(n) for n in range(20)], topology)
    with Publisher(hub_settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()
    consumer = Consumer(settings.bus, db, topology, crm_queue(topology), noop_handler)
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
