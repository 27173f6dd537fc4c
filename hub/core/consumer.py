"""Bus consumer: idempotent receiver with manual acks, dead letters and retry by outcome.

A handler only says what the event does to the database; the consumer does the broker calls:

    parse + validate ──bad──► hub.dead (reason, original bytes) ──► ack
    already processed ──────► ack (counted as deduplicated)
    handler + processed id in ONE transaction ──commit──► ack
    retriable error ────────► wait (backoff) ──► nack + requeue; the quorum queue's delivery
                              limit dead-letters a message that keeps failing
    any other error ────────► hub.dead with the error class ──► ack

Messages are taken in small batches and applied in one transaction (one commit per batch, not
per message); when a handler fails in a batch, the batch is redone one message at a time so
only the failing message is affected.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import BasicProperties
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hub.core.amqp import blocking_connection, describe, failure
from hub.core.db import Database
from hub.core.deadletter import DeadLetter
from hub.core.errors import BrokerUnavailable, Disposition, RecordError, disposition_of
from hub.core.events import CanonicalEvent, parse_event
from hub.core.models import ProcessedEvent
from hub.core.schemas import SchemaRegistry, registry, short_name
from hub.core.settings import BusSettings
from hub.core.topology import Topology

if TYPE_CHECKING:
    from hub.core.metrics import HubMetrics

log = logging.getLogger(__name__)

Handler = Callable[[CanonicalEvent, Session], None]

_UPSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass
class ConsumerStats:
    """Counts since the consumer started; they always add up to `received`."""

    received: int = 0
    applied: int = 0
    deduplicated: int = 0
    dead_lettered: int = 0
    requeued: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Delivery:
    tag: int
    body: bytes
    routing_key: str
    properties: BasicProperties
    event: CanonicalEvent | None = None
    failure: BaseException | None = None


class Consumer:
    """Consumes one queue with a handler; `run()` until stopped or idle."""

    def __init__(self, bus: BusSettings, db: Database, topology: Topology, queue: str, handler: Handler, *,
                 name: str | None = None, schemas: SchemaRegistry | None = None, batch_size: int = 200,
                 validate: bool = True, max_backoff_s: float = 5.0,
                 metrics: HubMetrics | None = None) -> None:
        self.bus, self.db, self.topology, self.queue = bus, db, topology, queue
        self.metrics = metrics
        self.handler = handler
        self.name = name or queue
        self.schemas = schemas or registry()
        self.batch_size = min(batch_size, bus.prefetch)
        self.validate = validate
        self.max_backoff_s = max_backoff_s
        self.stats = ConsumerStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stop.set()

    def run(self, *, idle_timeout_s: float | None = None, max_messages: int | None = None) -> ConsumerStats:
        """Consume until stop(), `idle_timeout_s` without messages, or `max_messages` received."""
        try:
            connection = blocking_connection(self.bus)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"RabbitMQ at {describe(self.bus)} is unavailable: "
                                    f"{failure(exc)}") from exc
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self.bus.prefetch)
            dead_channel = connection.channel()
            dead_channel.confirm_delivery()
            self._loop(channel, dead_channel, idle_timeout_s, max_messages)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"lost RabbitMQ while consuming {self.queue}") from exc
        finally:
            if connection.is_open:
                connection.close()
        return self.stats

    def serve(self, max_backoff_s: float = 30.0) -> ConsumerStats:
        """Consume until stop(), reconnecting with backoff whenever the broker goes away.

        Messages in hand when a connection drops were not acknowledged, so the broker delivers
        them again; the processed ids make the second delivery a duplicate, not a second effect.
        """
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self.run()
                backoff = 0.5
            except BrokerUnavailable as exc:
                log.warning("consumer %s: %s; reconnecting in %.1fs", self.name, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
        return self.stats

    def _loop(self, channel: BlockingChannel, dead: BlockingChannel, idle: float | None, limit: int | None) -> None:
        batch: list[_Delivery] = []
        wait, idle_for = 0.05, 0.0
        for method, props, body in channel.consume(self.queue, inactivity_timeout=wait):
            if method is not None:
                batch.append(_Delivery(method.delivery_tag, body, method.routing_key, props))
                self.stats.received += 1
            full = len(batch) >= self.batch_size or (limit is not None and self.stats.received >= limit)
            if batch and (method is None or full):
                self._process(channel, dead, batch)
                batch = []
            idle_for = idle_for + wait if method is None else 0.0
            if idle is not None and idle_for >= idle:
                break
            if self._stop.is_set() or (limit is not None and self.stats.received >= limit):
                break
        if batch:
            self._process(channel, dead, batch)
        channel.cancel()

    # -- one batch ---------------------------------------------------------------------------

    def _process(self, channel: BlockingChannel, dead: BlockingChannel, batch: list[_Delivery]) -> None:
        for delivery in batch:
            self._parse(delivery)
        try:
            self._apply(batch)
        except OperationalError as exc:  # the database itself is gone: nothing can be applied now
            self._requeue_all(channel, batch, exc)
            return
        self._settle(channel, dead, batch)

    def _parse(self, delivery: _Delivery) -> None:
        try:
            event = parse_event(delivery.body)
            if self.validate:
                if not event.dataschema or event.dataschema not in self.schemas:
                    raise RecordError("dataschema names no known canonical schema", field="/dataschema")
                self.schemas.validate(short_name(event.dataschema), event.data, at="/data")
            delivery.event = event
        except RecordError as exc:
            delivery.failure = exc

    def _apply(self, batch: list[_Delivery]) -> None:
        """Apply every new event of the batch in one transaction.

        First without savepoints (the common case: nothing fails). If a handler raises, that
        transaction is rolled back and the batch is applied again with a savepoint per event,
        skipping the event that failed, so only it is affected and it ran once.
        """
        good = [d for d in batch if d.failure is None and d.event is not None]
        if not good:
            return
        try:
            self._apply_in_transaction(good, savepoints=False)
        except _HandlerFailed as failed:
            for delivery in good:
                if delivery is not failed.delivery:
                    delivery.failure = None
            self._apply_in_transaction(good, savepoints=True)

    def _apply_in_transaction(self, deliveries: list[_Delivery], *, savepoints: bool) -> None:
        try:
            with self.db.transaction() as session:
                todo = [d for d in deliveries if d.event is not None and d.failure is None]
                if savepoints:
                    for delivery in todo:
                        self._apply_with_savepoint(session, delivery)
                    return
                fresh = self._claim(session, [d.event.id for d in todo if d.event is not None])
                for delivery in todo:
                    assert delivery.event is not None
                    if delivery.event.id not in fresh:  # applied before, or earlier in this batch
                        delivery.failure = _Duplicate()
                        continue
                    fresh.discard(delivery.event.id)
                    try:
                        self.handler(delivery.event, session)
                    except OperationalError:
                        raise
                    except Exception as exc:
                        delivery.failure = exc
                        raise _HandlerFailed(delivery) from exc
        except IntegrityError as exc:  # another consumer applied one of them first: redo as duplicates
            raise OperationalError("concurrent apply", None, exc) from exc

    def _apply_with_savepoint(self, session: Session, delivery: _Delivery) -> None:
        """Claim and apply one event in a savepoint: a failing handler takes only its own claim back."""
        assert delivery.event is not None
        try:
            with session.begin_nested():
                if not self._claim(session, [delivery.event.id]):
                    delivery.failure = _Duplicate()
                    return
                self.handler(delivery.event, session)
        except OperationalError:
            raise
        except Exception as exc:
            delivery.failure = exc

    def _claim(self, session: Session, ids: list[str]) -> set[str]:
        """Record event ids as processed by this consumer; returns the ids that were new.

        One INSERT … ON CONFLICT DO NOTHING RETURNING on PostgreSQL and SQLite, so the primary
        key decides what is a duplicate. (A SELECT … IN first was planned as a scan of every id
        the consumer had ever processed once the table's statistics went stale: each batch got
        slower as the table grew.) A concurrent consumer's claim of the same id waits for its
        transaction and then counts as a duplicate here.
        """
        unique = list(dict.fromkeys(ids))
        if not unique:
            return set()
        values = [{"consumer": self.name, "event_id": i} for i in unique]
        upsert = _UPSERT.get(session.get_bind().dialect.name)
        if upsert is None:  # another database: look, then insert what is new
            done = set(session.scalars(select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == self.name, ProcessedEvent.event_id.in_(unique))))
            new = [v for v in values if v["event_id"] not in done]
            if new:
                session.execute(insert(ProcessedEvent), new)
            return {v["event_id"] for v in new}
        connection, fresh = session.connection(), set[str]()
        for start in range(0, len(values), 1000):  # well under both databases' bound-parameter limits
            statement = (upsert(ProcessedEvent).values(values[start:start + 1000]).on_conflict_do_nothing()
                         .returning(ProcessedEvent.event_id))
            fresh.update(connection.execute(statement).scalars())
        return fresh

    # -- broker side -------------------------------------------------------------------------

    def _settle(self, channel: BlockingChannel, dead: BlockingChannel, batch: list[_Delivery]) -> None:
        """Nack what is retried, dead-letter what failed, then ack everything else with ONE frame.

        `multiple=True` acknowledges every unsettled delivery up to the tag on this channel: the
        whole batch, whose effects just committed (an ack per message cost a round of socket
        I/O each). Retried deliveries are nacked first, so they are already settled.
        """
        retry = [d for d in batch if d.failure is not None and not isinstance(d.failure, _Duplicate)
                 and disposition_of(d.failure) is Disposition.RETRY]
        if retry:
            self._backoff(channel, retry)
        retried, last_ack = {id(d) for d in retry}, 0
        for delivery in batch:
            if id(delivery) in retried:
                channel.basic_nack(delivery.tag, requeue=True)
                self.stats.requeued += 1
                self._observe(delivery, "requeued")
            else:
                self._settle_one(dead, delivery)
                last_ack = max(last_ack, delivery.tag)
        if last_ack:
            channel.basic_ack(last_ack, multiple=True)

    def _settle_one(self, dead: BlockingChannel, d: _Delivery) -> None:
        """Count a delivery that is to be acknowledged; a failed one goes to dead letters first."""
        if isinstance(d.failure, _Duplicate):
            self.stats.deduplicated += 1
            self._observe(d, "deduplicated")
        elif d.failure is not None:
            self._dead_letter(dead, d)
            self.stats.dead_lettered += 1
            self._observe(d, "dead_lettered")
        else:
            self.stats.applied += 1
            assert d.event is not None
            self.stats.by_type[d.event.type] = self.stats.by_type.get(d.event.type, 0) + 1
            self._observe(d, "applied")

    def _observe(self, d: _Delivery, outcome: str) -> None:
        """Count a settled message; an applied one also gives its end-to-end latency."""
        if self.metrics is None:
            return
        event_type = d.event.type if d.event is not None else "invalid"  # never a raw routing key: unbounded
        latency = _age_s(d.event.time) if d.event is not None and outcome == "applied" else None
        self.metrics.consumer_settled(self.name, event_type, outcome, latency)

    def _dead_letter(self, dead: BlockingChannel, d: _Delivery) -> None:
        assert d.failure is not None
        letter = DeadLetter.from_error(d.body, d.failure, origin=f"consumer:{self.name}",
                                       routing_key=d.routing_key, message_id=d.properties.message_id or "")
        message = letter.to_message(self.topology.dead.name)
        dead.basic_publish(message.exchange, message.routing_key, message.body, message.properties(),
                           mandatory=True)
        log.warning("consumer %s: dead-lettered a message (%s)", self.name, letter.reason)

    def _requeue_all(self, channel: BlockingChannel, batch: list[_Delivery], exc: BaseException) -> None:
        log.warning("consumer %s: %s; requeueing %d message(s)", self.name, type(exc).__name__, len(batch))
        self._backoff(channel, batch)
        for delivery in batch:
            channel.basic_nack(delivery.tag, requeue=True)
            self._observe(delivery, "requeued")
        self.stats.requeued += len(batch)

    def _backoff(self, channel: BlockingChannel, deliveries: list[_Delivery]) -> None:
        """Wait longer the more often a message was delivered (quorum queues count for us)."""
        count = max(int((d.properties.headers or {}).get("x-delivery-count", 0)) for d in deliveries)
        channel.connection.sleep(min(0.1 * 2 ** count, self.max_backoff_s))


def _age_s(time: str) -> float | None:
    """Seconds since an event's `time` (when the hub made it), or None when it has none."""
    try:
        made = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if made.tzinfo is None:
        made = made.replace(tzinfo=dt.timezone.utc)
    return (dt.datetime.now(dt.timezone.utc) - made).total_seconds()


class _HandlerFailed(Exception):
    """A handler raised during the optimistic pass; the batch is redone with savepoints."""

    def __init__(self, delivery: _Delivery) -> None:
        super().__init__("handler failed")
        self.delivery = delivery


class _Duplicate(Exception):
    """Marks a delivery whose event id this consumer has already applied."""


def noop_handler(_event: CanonicalEvent, _session: Session) -> None:
    """A handler with no effect beyond recording the id (pure dedupe)."""
