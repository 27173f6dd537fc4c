"""The durable callback inbox: a message is stored before WeCom is answered, then processed by a worker.

    hub_wecom_callback   one row per distinct message (unique dedupe_key: MsgId, or the event's id)
                         pending → processing → done | ignored | failed (retriable errors: pending again)
    hub_wecom_nonce      nonces seen in the last 2 × max skew: a repeated nonce is a replay

`accept()` records the nonce and stores the message in one transaction, before the endpoint
answers: once WeCom has its 200, the message is in the database, and a process that dies right
after still has it pending. A retry of a stored message (same dedupe key) stores nothing.

The worker claims pending rows, fetches and maps outside any transaction, then writes the events
(or dead letters) to the outbox and marks the row done in one transaction. A claim older than
`stale_s` (its worker died) is taken again; the event ids are deterministic, so a second run of a
message republishes the same ids. Retriable source errors (rate limits, WeCom down) retry with
backoff; fatal ones (a wrong secret, a refused call) park the row as `failed` until
`requeue_failed()` after the fix. Processed rows and old nonces are purged after their retention.

Nonces live in the database rather than an in-process TTL cache: every replica of the web app
shares them and they survive a restart within the skew window; the cost is one small insert per
callback, in the transaction that stores the message anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from connectors.wecom.callbacks import CallbackMessage, CallbackProcessor, Outcome, parse_message
from connectors.wecom.errors import ReplayError
from hub.core import outbox
from hub.core.db import Database
from hub.core.deadletter import safe_error_text
from hub.core.errors import HubError, is_retriable
from hub.core.topology import Topology

log = logging.getLogger(__name__)

metadata = MetaData()
_Id = BigInteger().with_variant(Integer(), "sqlite")

callbacks = Table(
    "hub_wecom_callback", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(128), nullable=False, unique=True),
    Column("msg_type", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the decrypted message XML (UTF-8)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_hub_wecom_callback_status_id", "status", "id"),
)

nonces = Table(
    "hub_wecom_nonce", metadata,
    Column("nonce", String(128), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_hub_wecom_nonce_seen_at", "seen_at"),
)

MAX_NONCE = 128


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def _insert_ignoring_duplicates(session: Session, table: Table, values: dict[str, Any], key: str) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL; True when the row was inserted."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT run through a Session
    return session.execute(statement.returning(table.c[key])).first() is not None


def _rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched."""
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed row: what the worker needs to process it."""

    id: int
    body: bytes
    attempts: int


class CallbackInbox:
    """Stores accepted callbacks and nonces; hands rows to the worker and records their outcome."""

    def __init__(self, db: Database, *, nonce_ttl_s: float = 600.0, retention_days: int = 7,
                 stale_s: float = 120.0, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.nonce_ttl = dt.timedelta(seconds=nonce_ttl_s)
        self.retention = dt.timedelta(days=retention_days)
        self.stale = dt.timedelta(seconds=stale_s)
        self._clock = clock

    # -------------------------------------------------------------------------------- intake

    def accept(self, nonce: str, message: CallbackMessage, body: str) -> bool:
        """Record the nonce and store the message in one transaction; False for a stored duplicate.

        Raises ReplayError (and stores nothing) when the nonce was seen within the TTL.
        """
        now = self._clock()
        if not nonce or len(nonce) > MAX_NONCE:
            raise ReplayError("nonce is missing or too long")
        row = {"dedupe_key": message.dedupe_key(), "msg_type": message.msg_type[:32], "event": message.event[:64],
               "body": body.encode(), "status": "pending", "attempts": 0, "received_at": now}
        with self.db.transaction() as session:
            session.execute(delete(nonces).where(nonces.c.nonce == nonce, nonces.c.seen_at < now - self.nonce_ttl))
            if not _insert_ignoring_duplicates(session, nonces, {"nonce": nonce, "seen_at": now}, "nonce"):
                raise ReplayError("nonce was already used")
            return _insert_ignoring_duplicates(session, callbacks, row, "dedupe_key")

    # -------------------------------------------------------------------------------- worker side

    def claim(self, limit: int = 20) -> list[Claimed]:
        """Take up to `limit` due rows (pending and due, or claimed too long ago) for processing."""
        now = self._clock()
        due = or_(and_(callbacks.c.status == "pending",
                       or_(callbacks.c.next_attempt_at.is_(None), callbacks.c.next_attempt_at <= now)),
                  and_(callbacks.c.status == "processing", callbacks.c.claimed_at < now - self.stale))
        claimed: list[Claimed] = []
        with self.db.transaction() as session:
            rows = session.execute(select(callbacks.c.id, callbacks.c.body, callbacks.c.attempts)
                                   .where(due).order_by(callbacks.c.id).limit(limit)).all()
            for row in rows:
                taken = session.execute(update(callbacks).where(callbacks.c.id == row.id, due).values(
                    status="processing", claimed_at=now, attempts=callbacks.c.attempts + 1))
                if _rowcount(taken) == 1:
                    claimed.append(Claimed(int(row.id), bytes(row.body), int(row.attempts) + 1))
        return claimed

    def finish(self, row_id: int, outcome: Outcome, topology: Topology) -> None:
        """Write the outcome's events and dead letters and mark the row, in one transaction."""
        status = "ignored" if outcome.ignored else "done"
        with self.db.transaction() as session:
            outbox.add_events(session, outcome.events, topology)
            outbox.add_dead_letters(session, outcome.letters, topology)
            session.execute(update(callbacks).where(callbacks.c.id == row_id).values(
                status=status, processed_at=self._clock(), next_attempt_at=None, last_error=None))

    def retry_later(self, row_id: int, error: str, delay_s: float) -> None:
        """Put a row back as pending, due after `delay_s`."""
        due = self._clock() + dt.timedelta(seconds=delay_s)
        with self.db.transaction() as session:
            session.execute(update(callbacks).where(callbacks.c.id == row_id).values(
                status="pending", next_attempt_at=due, last_error=error[:500]))

    def fail(self, row_id: int, error: str) -> None:
        """Park a row as failed (kept; `requeue_failed()` retries it after the cause is fixed)."""
        with self.db.transaction() as session:
            session.execute(update(callbacks).where(callbacks.c.id == row_id).values(
                status="failed", processed_at=self._clock(), last_error=error[:500]))

    def requeue_failed(self) -> int:
        """Make every failed row pending again; returns how many."""
        with self.db.transaction() as session:
            result = session.execute(update(callbacks).where(callbacks.c.status == "failed").values(
                status="pending", next_attempt_at=None))
            return _rowcount(result)

    def purge(self) -> int:
        """Delete old nonces and processed rows past the retention; returns how many rows went."""
        now = self._clock()
        with self.db.transaction() as session:
            gone = _rowcount(session.execute(delete(nonces).where(nonces.c.seen_at < now - self.nonce_ttl)))
            gone += _rowcount(session.execute(delete(callbacks).where(
                callbacks.c.status.in_(("done", "ignored")), callbacks.c.processed_at < now - self.retention)))
        return gone

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        with self.db.reading() as session:
            rows = session.execute(select(callbacks.c.status, func.count()).group_by(callbacks.c.status)).all()
        return {str(status): int(count) for status, count in rows}


class CallbackWorker:
    """Processes stored callbacks in a background thread; `wake()` after each stored message."""

    def __init__(self, inbox: CallbackInbox, processor: CallbackProcessor, topology: Topology, *,
                 poll_s: float = 5.0, batch: int = 20, max_backoff_s: float = 600.0,
                 purge_every_s: float = 60.0) -> None:
        self.inbox, self.processor, self.topology = inbox, processor, topology
        self.poll_s, self.batch, self.max_backoff_s = poll_s, batch, max_backoff_s
        self.purge_every_s = purge_every_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge = 0.0

    def wake(self) -> None:
        """Process soon (a new message was stored)."""
        self._wake.set()

    def start(self) -> None:
        """Start the background thread (it first processes whatever an earlier process left)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="wecom-callback-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the thread to stop after the message in hand and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def run_once(self) -> int:
        """Process the rows due now; returns how many were handled."""
        claimed = self.inbox.claim(self.batch)
        for index, row in enumerate(claimed):
            if self._stop.is_set():  # hand the rest back rather than leave them claimed until stale
                for left in claimed[index:]:
                    self.inbox.retry_later(left.id, "worker stopped", 0.0)
                break
            self.handle(row)
        return len(claimed)

    def drain(self, timeout_s: float = 30.0) -> None:
        """Process until no row is due (for tests and one-shot commands)."""
        deadline = time.monotonic() + timeout_s
        while self.run_once() and time.monotonic() < deadline:
            pass

    def handle(self, row: Claimed) -> None:
        """Process one claimed row and record its outcome."""
        try:
            outcome = self.processor.process(parse_message(row.body))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row; nothing is lost
            self._record_failure(row, exc)
            return
        self.inbox.finish(row.id, outcome, self.topology)
        log.info("wecom callback %d: %d event(s), %d dead letter(s)", row.id, len(outcome.events),
                 len(outcome.letters))

    def _record_failure(self, row: Claimed, exc: Exception) -> None:
        error = safe_error_text(exc)
        if is_retriable(exc):
            delay = min(2.0 ** row.attempts, self.max_backoff_s)
            log.warning("wecom callback %d failed (attempt %d), retrying in %.0f s: %s", row.id, row.attempts,
                        delay, error)
            self.inbox.retry_later(row.id, error, delay)
        else:
            level = logging.ERROR if isinstance(exc, HubError) else logging.CRITICAL
            log.log(level, "wecom callback %d failed and is parked (requeue after the fix): %s", row.id, error)
            self.inbox.fail(row.id, error)

    def _run(self) -> None:
        while not self._stop.is_set():
            handled = 0
            try:
                handled = self.run_once()
                self._maybe_purge()
            except Exception as exc:  # noqa: BLE001 - the database is away for a moment: poll again
                log.warning("wecom callback worker: %s", safe_error_text(exc))
            if not handled:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge >= self.purge_every_s:
            self._last_purge = time.monotonic()
            self.inbox.purge()
