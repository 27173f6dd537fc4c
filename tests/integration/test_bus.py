"""The bus against the real RabbitMQ, on SQLite and PostgreSQL: outbox, relay, consumer, dead letters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pika
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.core import outbox
from hub.core.consumer import Consumer, noop_handler
from hub.core.db import Database
from hub.core.deadletter import DeadLetter
from hub.core.errors import SourceUnavailable
from hub.core.events import CanonicalEvent, make_event
from hub.core.models import InboxMessage, OutboxRow, ProcessedEvent
from hub.core.publisher import Message, Publisher
from hub.core.schemas import schema_id
from hub.core.settings import HubSettings
from hub.core.topology import Topology, apply, build_topology

pytestmark = pytest.mark.integration

RECEIVABLE = {
    "source_system": "erp", "source_id": "AR-1", "customer_source_id": "CUST-1", "currency": "CNY",
    "amount": "100.00", "received_amount": "0.00", "open_amount": "100.00", "document_date": "2026-11-01",
    "status": "open", "updated_at": "2026-11-01T00:00:00Z",
}


def receivable_event(n: int, type_: str = "src.erp.receivable.changed.v1") -> CanonicalEvent:
    data = dict(RECEIVABLE, source_id=f"AR-{n}")
    return make_event(system="erp", entity="receivable", type=type_, key=f"AR-{n}", version="1", data=data,
                      dataschema=schema_id("finance/receivable.v1"))


@pytest.fixture
def topology(hub_settings: HubSettings) -> Topology:
    topo = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topo)
    return topo


@pytest.fixture
def publisher(hub_settings: HubSettings) -> Iterator[Publisher]:
    with Publisher(hub_settings.bus) as pub:
        yield pub


def crm_queue(topology: Topology) -> str:
    return next(q.name for q in topology.queues if q.name.endswith(".crm"))


def inbox_handler(name: str):  # type: ignore[no-untyped-def]
    def handle(event: CanonicalEvent, session: Session) -> None:
        session.add(InboxMessage(consumer=name, event_id=event.id, type=event.type, subject=event.subject))
    return handle


def dead_messages(hub_settings: HubSettings, topology: Topology) -> list[tuple[dict, bytes]]:
    """Everything in the dead-letter queue (headers, body), acknowledged."""
    connection = pika.BlockingConnection(pika.URLParameters(hub_settings.bus.url.get_secret_value()))
    channel = connection.channel()
    out = []
    while True:
        method, props, body = channel.basic_get(topology.dead_queue.name, auto_ack=True)
        if method is None:
            break
        out.append((props.headers or {}, body))
    connection.close()
    return out


def publish_raw(hub_settings: HubSettings, topology: Topology, routing_key: str, body: bytes) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(hub_settings.bus.url.get_secret_value()))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(topology.events.name, routing_key, body, pika.BasicProperties(delivery_mode=2),
                          mandatory=True)
    connection.close()


def test_outbox_relay_consumer_delivers_once(db: Database, hub_settings: HubSettings, topology: Topology,
                                             publisher: Publisher) -> None:
    events = [receivable_event(n) for n in range(50)]
    with db.transaction() as session:
        outbox.add_events(session, events, topology)
        outbox.add_events(session, events[:10], topology)  # a re-sync publishes the same ids again
    result = outbox.Relay(db, publisher, topology, batch_size=16).drain()
    assert (result.sent, result.dead, result.failed) == (60, 0, 0)

    consumer = Consumer(hub_settings.bus, db, topology, crm_queue(topology), inbox_handler("crm"))
    stats = consumer.run(idle_timeout_s=0.5)
    assert (stats.received, stats.applied, stats.deduplicated, stats.dead_lettered) == (60, 50, 10, 0)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 50
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 50
        assert outbox.status(session).counts == {"sent": 60}


def test_unroutable_event_goes_to_dead_letters_and_others_flow(db: Database, hub_settings: HubSettings,
                                                                topology: Topology, publisher: Publisher) -> None:
    good = receivable_event(1)
    lost = receivable_event(2, type_="nobody.listens.here.v1")
    with db.transaction() as session:
        outbox.add_events(session, [good, lost, receivable_event(3)], topology)
    result = outbox.Relay(db, publisher, topology).drain()
    assert (result.sent, result.dead) == (2, 1)
    dead = dead_messages(hub_settings, topology)
    assert len(dead) == 1
    headers, body = dead[0]
    assert headers["x-hub-reason"] == "unroutable"
    assert headers["x-hub-original-routing-key"] == "nobody.listens.here.v1"
    assert body == lost.to_json()
    stats = Consumer(hub_settings.bus, db, topology, crm_queue(topology), noop_handler).run(idle_timeout_s=0.5)
    assert stats.applied == 2
    with db.transaction() as session:
        assert outbox.status(session).counts == {"sent": 2, "dead": 1}


def test_bad_messages_are_dead_lettered_with_reason_and_bytes(db: Database, hub_settings: HubSettings,
                                                              topology: Topology, publisher: Publisher) -> None:
    not_json = b"\xff\xfe<order>not json</order>"
    invalid = receivable_event(7)
    invalid_body = json.loads(invalid.to_json())
    invalid_body["data"]["amount"] = 100  # a number where the schema wants a decimal string
    invalid_bytes = json.dumps(invalid_body).encode()
    publish_raw(hub_settings, topology, "src.erp.receivable.changed.v1", not_json)
    publish_raw(hub_settings, topology, "src.erp.receivable.changed.v1", invalid_bytes)
    with db.transaction() as session:
        outbox.add_events(session, [receivable_event(8)], topology)
    outbox.Relay(db, publisher, topology).drain()

    stats = Consumer(hub_settings.bus, db, topology, crm_queue(topology), noop_handler).run(idle_timeout_s=0.5)
    assert (stats.received, stats.applied, stats.dead_lettered) == (3, 1, 2)
    dead = {h["x-hub-reason"]: (h, body) for h, body in dead_messages(hub_settings, topology)}
    assert dead["record_invalid"][1] == not_json
    assert "not JSON" in dead["record_invalid"][0]["x-hub-error"]
    assert dead["schema_invalid"][1] == invalid_bytes
    assert dead["schema_invalid"][0]["x-hub-error"].startswith("/data/amount")
    assert "100" not in dead["schema_invalid"][0]["x-hub-error"]


def test_poison_message_is_dead_lettered_after_the_delivery_limit(db: Database, hub_settings: HubSettings,
                                                                  topology: Topology,
                                                                  publisher: Publisher) -> None:
    calls: list[str] = []

    def always_down(event: CanonicalEvent, _session: Session) -> None:
        calls.append(event.subject)
        if event.subject == "AR-1":
            raise SourceUnavailable("ERP is down")

    with db.transaction() as session:
        outbox.add_events(session, [receivable_event(1), receivable_event(2)], topology)
    outbox.Relay(db, publisher, topology).drain()
    consumer = Consumer(hub_settings.bus, db, topology, crm_queue(topology), always_down, max_backoff_s=0.2)
    stats = consumer.run(idle_timeout_s=1.5)
    assert stats.applied == 1  # AR-2 went through although AR-1 kept failing beside it
    dead = dead_messages(hub_settings, topology)
    assert len(dead) == 1
    headers, body = dead[0]
    assert json.loads(body)["subject"] == "AR-1"
    assert headers["x-death"][0]["reason"] == "delivery_limit"
    assert calls.count("AR-1") == hub_settings.bus.delivery_limit + 1


def test_publisher_reports_confirmed_messages(hub_settings: HubSettings, topology: Topology,
                                              publisher: Publisher) -> None:
    messages = [Message(topology.events.name, "src.erp.x.changed.v1", b"{}", f"m{i}") for i in range(3)]
    messages.append(Message(topology.events.name, "none.x.changed.v1", b"{}", "m-lost"))
    outcomes = publisher.publish_batch(messages)
    assert [o.value for o in outcomes] == ["confirmed"] * 3 + ["unroutable"]


def test_outbox_rows_keep_event_bytes(db: Database, topology: Topology) -> None:
    event = receivable_event(5)
    with db.transaction() as session:
        outbox.add_events(session, [event], topology)
    with db.transaction() as session:
        row = session.scalars(select(OutboxRow)).one()
        assert row.body == event.to_json()
        assert row.event_id == event.id and row.message_type == event.type and row.timestamp
        assert row.routing_key == event.type


def test_a_claim_waits_for_a_concurrent_claim_of_the_same_event_and_counts_it_as_duplicate(
        db: Database, hub_settings: HubSettings, topology: Topology) -> None:
    """Two replicas of one consumer got the same event: the second waits for the first's transaction."""
    first = Consumer(hub_settings.bus, db, topology, crm_queue(topology), noop_handler, name="crm")
    second = Consumer(hub_settings.bus, db, topology, crm_queue(topology), noop_handler, name="crm")
    other = Consumer(hub_settings.bus, db, topology, crm_queue(topology), noop_handler, name="erp")
    claimed: dict[str, set[str]] = {}
    with db.transaction() as session:
        assert first._claim(session, ["e1", "e2", "e1"]) == {"e1", "e2"}
        waiter = threading.Thread(target=lambda: claimed.update(second=_claim_in_own_transaction(db, second)))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()  # blocked on the uncommitted claim, not answering from a stale view
    waiter.join(30)
    assert claimed["second"] == {"e3"}  # e1 and e2 were the first replica's
    with db.transaction() as session:
        assert other._claim(session, ["e1"]) == {"e1"}  # ids are per consumer
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 4


def _claim_in_own_transaction(db: Database, consumer: Consumer) -> set[str]:
    with db.transaction() as session:
        return consumer._claim(session, ["e1", "e2", "e3"])


def test_dead_letter_rows_keep_their_bytes_and_headers_through_the_outbox(
        db: Database, hub_settings: HubSettings, topology: Topology, publisher: Publisher) -> None:
    """Rows go in by COPY (PostgreSQL) or executemany (SQLite) and come out of the relay unchanged."""
    body = b"\x00\xff<bad>\t\\N\n\xe5\xae\xa2\xe6\x88\xb7"  # bytes COPY's text format must escape
    error = 'field /FName: "\\d" \t 客户 \n line 2'
    letter = DeadLetter(body, "record_invalid", error, origin="sync:erp/customers",
                        original_routing_key="src.erp.customer.changed.v1", original_message_id="m-1")
    with db.transaction() as session:
        outbox.add_rows(session, [outbox.dead_letter_row(letter, topology.dead.name)])
        outbox.add_events(session, [receivable_event(1)], topology)
    assert outbox.Relay(db, publisher, topology).drain().sent == 2
    [(headers, dead_body)] = dead_messages(hub_settings, topology)
    assert dead_body == body
    assert headers["x-hub-reason"] == "record_invalid" and headers["x-hub-error"] == error
    assert headers["x-hub-original-routing-key"] == "src.erp.customer.changed.v1"
