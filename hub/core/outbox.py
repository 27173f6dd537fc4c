"""Transactional outbox and its relay.

A sync batch (or a consumer's effect) adds its events to `hub_outbox` in the same transaction
as its checkpoint or processed id. The relay publishes pending rows with pipelined confirms and
marks them sent. Killed at any point, nothing is lost: unconfirmed rows stay pending and are
sent again with the same event id, which consumers drop as a duplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from hub.core.db import Database
from hub.core.deadletter import DeadLetter
from hub.core.errors import BrokerUnavailable, is_retriable
from hub.core.events import CanonicalEvent
from hub.core.models import OutboxRow
from hub.core.publisher import Message, Outcome, PendingBatch, Publisher
from hub.core.topology import Topology

if TYPE_CHECKING:
    from hub.core.metrics import HubMetrics

log = logging.getLogger(__name__)


def _row(message: Message) -> dict[str, Any]:
    return {
        "event_id": message.message_id, "exchange": message.exchange, "routing_key": message.routing_key,
        "message_type": message.type, "timestamp": message.timestamp, "content_type": message.content_type,
        "headers": message.headers or None, "body": message.body, "status": "pending", "attempts": 0,
    }


def event_row(event: CanonicalEvent, exchange: str) -> dict[str, Any]:
    """The outbox row of an event: structured-mode body, AMQP properties mirroring the envelope."""
    props = event.amqp_properties()
    return {
        "event_id": event.id, "exchange": exchange, "routing_key": event.routing_key, "message_type": props["type"],
        "timestamp": props["timestamp"], "content_type": props["content_type"], "headers": None,
        "body": event.to_json(), "status": "pending", "attempts": 0,
    }


def dead_letter_row(letter: DeadLetter, dead_exchange: str) -> dict[str, Any]:
    """The outbox row of a dead letter (so it commits with the batch that produced it)."""
    return _row(letter.to_message(dead_exchange))


def add_events(session: Session, events: Iterable[CanonicalEvent], topology: Topology) -> int:
    """Queue events for publishing in the caller's transaction; returns how many."""
    return add_rows(session, [event_row(event, topology.events.name) for event in events])


_ROW_COLUMNS = ("event_id", "exchange", "routing_key", "message_type", "timestamp", "content_type", "headers",
                "body", "status", "attempts")
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_COPY = f"COPY {OutboxRow.__tablename__} ({', '.join(_ROW_COLUMNS)}) FROM STDIN"


def add_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    """Queue rows made by `event_row` / `dead_letter_row` in the caller's transaction; returns how many.

    COPY on PostgreSQL (psycopg), one driver-level executemany with bound parameters on SQLite:
    SQLAlchemy's per-row parameter processing cost a third of a sync's outbox write, and psycopg's
    executemany four times COPY's client CPU. Other drivers take the portable insert.
    """
    if not rows:
        return 0
    connection = session.connection()
    dialect = connection.dialect
    values = (
        (r["event_id"], r["exchange"], r["routing_key"], r["message_type"], r["timestamp"], r["content_type"],
         None if r["headers"] is None else orjson.dumps(r["headers"]).decode(), r["body"], r["status"],
         r["attempts"])
        for r in rows
    )
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        # COPY in the caller's transaction: a quarter of executemany's client CPU per row.
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in values:
                copy.write_row(row)
        return len(rows)
    mark = _PLACEHOLDER.get(dialect.paramstyle)
    if mark is None:
        session.execute(OutboxRow.__table__.insert(), rows)
        return len(rows)
    statement = (f"INSERT INTO {OutboxRow.__tablename__} ({', '.join(_ROW_COLUMNS)}) "
                 f"VALUES ({', '.join(mark for _ in _ROW_COLUMNS)})")
    connection.exec_driver_sql(statement, list(values))
    return len(rows)


def add_dead_letters(session: Session, letters: Iterable[DeadLetter], topology: Topology) -> int:
    """Queue dead letters in the caller's transaction; returns how many."""
    rows = [dead_letter_row(letter, topology.dead.name) for letter in letters]
    if rows:
        session.execute(OutboxRow.__table__.insert(), rows)
    return len(rows)


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Counts per status and the age of the oldest pending row."""

    counts: dict[str, int]
    oldest_pending_age_s: float | None


def status(session: Session) -> OutboxStatus:
    """How many rows are pending, sent and dead, and how old the oldest pending one is."""
    counts = dict(session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())
    oldest = session.scalar(select(func.min(OutboxRow.created_at)).where(OutboxRow.status == "pending"))
    age = None
    if oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.timezone.utc)
        age = max(0.0, (dt.datetime.now(dt.timezone.utc) - oldest).total_seconds())
    return OutboxStatus({k: int(v) for k, v in counts.items()}, age)


_RELAY_COLUMNS = (OutboxRow.id, OutboxRow.event_id, OutboxRow.exchange, OutboxRow.routing_key,
                  OutboxRow.message_type, OutboxRow.timestamp, OutboxRow.content_type, OutboxRow.headers,
                  OutboxRow.body)

_PENDING_SQL = (f"SELECT {', '.join(c.name for c in _RELAY_COLUMNS)} FROM {OutboxRow.__tablename__} "
                "WHERE status = 'pending' AND id > {mark} ORDER BY id LIMIT {mark}")

# Marking a batch sent binds its ids as one parameter (an array, or a JSON list for SQLite) instead
# of one parameter per row: rendering thousands of IN (...) placeholders cost more than the update.
_SENT_AT = bindparam("now", type_=OutboxRow.__table__.c.sent_at.type)
_MARK_SENT = {
    "postgresql": text("UPDATE hub_outbox SET status = 'sent', sent_at = :now WHERE id = ANY(:ids)"),
    "sqlite": text("UPDATE hub_outbox SET status = 'sent', sent_at = :now "
                   "WHERE id IN (SELECT value FROM json_each(:ids))"),
}


def _mark_sent(session: Session, ids: list[int], now: dt.datetime) -> None:
    dialect = session.get_bind().dialect.name
    statement = _MARK_SENT.get(dialect)
    if statement is None:  # another database: the portable form
        session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(status="sent", sent_at=now))
        return
    session.execute(statement.bindparams(_SENT_AT),
                    {"now": now, "ids": ids if dialect == "postgresql" else orjson.dumps(ids).decode()})


def _message(row: Any) -> Message:
    _id, event_id, exchange, routing_key, message_type, timestamp, content_type, headers, body = row  # _RELAY_COLUMNS
    if isinstance(headers, str | bytes):  # JSON text from a driver-level read (SQLite)
        headers = orjson.loads(headers)
    return Message(exchange, routing_key, bytes(body), event_id, message_type, timestamp, content_type,
                   headers or {})


@dataclass
class RelayResult:
    """What one relay pass did."""

    sent: int = 0
    dead: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: RelayResult) -> None:
        """Accumulate another pass."""
        self.sent += other.sent
        self.dead += other.dead
        self.failed += other.failed
        self.errors += other.errors


class Relay:
    """Moves pending outbox rows to the broker with confirms."""

    def __init__(self, db: Database, publisher: Publisher, topology: Topology, batch_size: int = 1000,
                 window: int = 4, metrics: HubMetrics | None = None) -> None:
        self.db = db
        self.publisher = publisher
        self.topology = topology
        self.batch_size = batch_size
        self.window = window
        self.metrics = metrics
        self._submitted: dict[int, float] = {}  # id(batch) → when it was submitted (publish latency)

    def run_once(self, on_batch: Callable[[RelayResult], None] | None = None) -> RelayResult:
        """Publish everything pending now, keeping up to `window` batches in flight.

        Reading, publishing and marking are separate short transactions, so a sync writing new
        rows is never blocked by a publish in flight (SQLite allows one writer at a time). A
        second relay on the same database is safe but may publish duplicates (same ids).
        `on_batch` is called with each batch's result once its confirms are recorded.
        """
        total, inflight, after_id = RelayResult(), deque[tuple[list[Any], PendingBatch]](), 0
        while True:
            rows = self._pending_rows(after_id)
            if rows:
                submitted = time.monotonic()
                batch = self._submit(rows)
                if self.metrics is not None:
                    self._submitted[id(batch)] = submitted
                inflight.append((rows, batch))
                after_id = rows[-1].id
            if inflight and (not rows or len(inflight) >= self.window):
                result = self._finish(*inflight.popleft())
                total.add(result)
                if on_batch is not None:
                    on_batch(result)
                if result.failed:  # broker trouble: settle what is in flight, then stop this pass
                    while inflight:
                        total.add(self._finish(*inflight.popleft()))
                    return total
            if not rows and not inflight:
                return total

    def _pending_rows(self, after_id: int) -> list[Any]:
        with self.db.reading() as session:
            connection = session.connection()
            mark = _PLACEHOLDER.get(connection.dialect.paramstyle)
            if mark is None:  # another driver: the portable Core read
                return connection.execute(
                    select(*_RELAY_COLUMNS).where(OutboxRow.status == "pending", OutboxRow.id > after_id)
                    .order_by(OutboxRow.id).limit(self.batch_size)
                ).all()
            # A driver-level read: per-row result processing (the JSON column's) cost as much as the query.
            return connection.exec_driver_sql(_PENDING_SQL.format(mark=mark), (after_id, self.batch_size)).all()

    def _submit(self, rows: list[Any]) -> PendingBatch:
        try:
            return self.publisher.submit([_message(row) for row in rows])
        except BrokerUnavailable as exc:
            log.warning("relay: %s", exc)
            failed = PendingBatch([_message(row) for row in rows])
            failed.fail_open()
            return failed

    def _finish(self, rows: list[Any], batch: PendingBatch) -> RelayResult:
        """Wait for a batch's confirms and record them."""
        outcomes = batch.wait(self.publisher.confirm_timeout_s)
        dead_ids = self._dead_letter_unroutable([r for r, o in zip(rows, outcomes, strict=True)
                                                 if o is Outcome.UNROUTABLE])
        with self.db.transaction() as session:
            result = self._record(session, rows, outcomes, dead_ids)
        started = self._submitted.pop(id(batch), None)
        if self.metrics is not None and started is not None:
            self._observe(rows, outcomes, set(dead_ids), time.monotonic() - started)
        return result

    def _observe(self, rows: Sequence[Any], outcomes: Sequence[Outcome], dead_ids: set[int],
                 seconds: float) -> None:
        """Count the batch per message type and outcome (published, unroutable, not_confirmed)."""
        assert self.metrics is not None
        names = ["published" if o is Outcome.CONFIRMED
                 else "unroutable" if o is Outcome.UNROUTABLE and row.id in dead_ids else "not_confirmed"
                 for row, o in zip(rows, outcomes, strict=True)]
        self.metrics.relay_batch([row.message_type for row in rows], names, seconds)

    def drain(self, max_passes: int = 1_000_000,
              on_batch: Callable[[RelayResult], None] | None = None) -> RelayResult:
        """Publish until nothing is pending; raises BrokerUnavailable if a pass fails completely.

        `on_batch` sees the running total after each confirmed batch (progress displays).
        """
        total, running = RelayResult(), RelayResult()

        def batch_done(result: RelayResult) -> None:
            running.add(result)
            if on_batch is not None:
                on_batch(running)

        for _ in range(max_passes):
            result = self.run_once(batch_done)
            total.add(result)
            if result.failed and not result.sent:
                raise BrokerUnavailable(f"relay could not publish: {'; '.join(result.errors[:1])}")
            if result.sent + result.dead + result.failed == 0:
                break
        return total

    def run(self, stop: threading.Event, idle_poll_s: float = 0.5, max_backoff_s: float = 30.0) -> RelayResult:
        """Relay until `stop` is set, backing off while the broker is unavailable."""
        total, backoff = RelayResult(), 0.0
        while not stop.is_set():
            try:
                result = self.run_once()
            except Exception as exc:  # database gone for a moment: back off like the broker case
                if not is_retriable(exc):
                    raise
                result = RelayResult(failed=1, errors=[type(exc).__name__])
            total.add(result)
            if result.failed and not result.sent:
                backoff = min(max(backoff * 2, 0.2), max_backoff_s)
                log.warning("relay: publishing failed (%s); retrying in %.1fs", result.errors[:1], backoff)
                stop.wait(backoff)
            elif result.sent + result.dead == 0:
                backoff = 0.0
                stop.wait(idle_poll_s)
        return total

    def _record(self, session: Session, rows: Sequence[Any], outcomes: Sequence[Outcome],
                dead_ids: list[int]) -> RelayResult:
        now = dt.datetime.now(dt.timezone.utc)
        sent = [row[0] for row, o in zip(rows, outcomes, strict=True) if o is Outcome.CONFIRMED]  # ids
        failed = [row for row, o in zip(rows, outcomes, strict=True) if o in (Outcome.FAILED, Outcome.NACKED)]
        if sent:
            _mark_sent(session, sent, now)
        if dead_ids:
            session.execute(update(OutboxRow).where(OutboxRow.id.in_(dead_ids))
                            .values(status="dead", sent_at=now, last_error="unroutable"))
        if failed:
            session.execute(update(OutboxRow).where(OutboxRow.id.in_([row.id for row in failed]))
                            .values(attempts=OutboxRow.attempts + 1, last_error="not confirmed by the broker"))
        errors = [f"{len(failed)} message(s) not confirmed"] if failed else []
        return RelayResult(sent=len(sent), dead=len(dead_ids), failed=len(failed), errors=errors)

    def _dead_letter_unroutable(self, rows: Sequence[Any]) -> list[int]:
        """Send unroutable events to hub.dead with their bytes; returns the rows confirmed there."""
        if not rows:
            return []
        letters = [
            DeadLetter(row.body, "unroutable", f"no queue is bound for routing key {row.routing_key}",
                       origin="relay", original_routing_key=row.routing_key, original_message_id=row.event_id)
            for row in rows
        ]
        try:
            outcomes = self.publisher.publish_batch([x.to_message(self.topology.dead.name) for x in letters])
        except BrokerUnavailable:
            return []
        return [row.id for row, o in zip(rows, outcomes, strict=True) if o is Outcome.CONFIRMED]
