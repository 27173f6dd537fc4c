"""The writer: a bounded queue fed by the MQTT network thread, drained in small committed batches.

    paho thread ──submit()──► queue (≤ HUB_IOT__QUEUE_SIZE) ──► writer thread
        batch (≤ BATCH_SIZE deliveries or BATCH_WAIT_MS) → Processor → ONE transaction:
        outbox events + dead letters + reading marks + episode changes ──commit──► MQTT acks

A full queue blocks the network thread, which stops reading the socket; with MQTT 5 the broker
already stops sending once Receive Maximum (= the queue size) messages are unacknowledged, so
the backlog stays in Mosquitto. A failed commit restores the processor from the database and
retries the same batch with backoff; nothing is acknowledged until it is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.exc import DBAPIError

from connectors.base import SourceRecord
from connectors.iot.metrics import IotMetrics
from connectors.iot.processor import BatchResult, Delivery, Processor
from connectors.iot.store import commit_batch, load_state, stored_marks
from hub.core.db import Database
from hub.core.deadletter import DeadLetter, safe_error_text
from hub.core.topology import Topology

log = logging.getLogger(__name__)

Acker = Callable[[list[Any]], int]
BatchHook = Callable[[Sequence[Delivery]], None]
_PUT_POLL_S = 0.1


@dataclass
class WriterStats:
    """Counts since the writer started."""

    deliveries: int = 0
    batches: int = 0
    acked: int = 0
    retries: int = 0
    peak_depth: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


class TelemetryWriter:
    """Commits deliveries in batches and acknowledges them once committed."""

    def __init__(self, db: Database, topology: Topology, processor: Processor, ack: Acker, *,
                 metrics: IotMetrics, queue_size: int = 1000, batch_size: int = 100,
                 batch_wait_s: float = 0.005,
                 max_backoff_s: float = 10.0, before_batch: BatchHook | None = None) -> None:
        self.db, self.topology, self.processor, self.ack = db, topology, processor, ack
        self.metrics = metrics
        self.batch_size, self.batch_wait_s, self.max_backoff_s = batch_size, batch_wait_s, max_backoff_s
        self.before_batch = before_batch
        self.stats = WriterStats()
        self._queue: queue.Queue[Delivery] = queue.Queue(maxsize=queue_size)
        self._closed = threading.Event()
        self._stale = False  # the processor may hold state of a batch that did not commit

    # ------------------------------------------------------------------------- paho thread side

    def submit(self, _stream: str, record: SourceRecord) -> None:
        """The listener's sink: queue one delivery, waiting while the queue is full (back-pressure)."""
        delivery = Delivery(record.key, record.raw, record.payload["token"])
        while not self._closed.is_set():
            try:
                self._queue.put(delivery, timeout=_PUT_POLL_S)
            except queue.Full:
                continue
            self._note_depth()
            return
        # closed: the delivery stays unacknowledged and the broker sends it again next session

    def depth(self) -> int:
        """Deliveries waiting now."""
        return self._queue.qsize()

    # ----------------------------------------------------------------------------- writer thread

    def restore(self) -> None:
        """Load watermarks, episodes and open windows from the database into the processor."""
        config = self.processor.config
        with self.db.reading() as session:
            self.processor.restore(*load_state(session, config.window_ms, config.grace_ms))

    def run(self, drain: threading.Event) -> WriterStats:
        """Commit batches until `drain` is set and the queue is empty; then refuse new deliveries."""
        self._stale = True  # load the stored state before the first batch (retried like a commit)
        try:
            while not (drain.is_set() and self._queue.empty()):
                batch = self._take()
                if batch:
                    self._commit_with_retry(batch, drain)
        finally:
            self._closed.set()
        return self.stats

    def _take(self) -> list[Delivery]:
        """Up to batch_size deliveries, waiting at most batch_wait_s after the first one."""
        try:
            batch = [self._queue.get(timeout=_PUT_POLL_S)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                batch.append(item)
            except queue.Empty:
                break
        self.metrics.queue_depth.set(self._queue.qsize())
        return batch

    def _commit_with_retry(self, batch: list[Delivery], drain: threading.Event) -> None:
        backoff = 0.2
        while True:
            try:
                self._commit(batch)
                return
            except DBAPIError as exc:  # database gone or locked: the same batch again, from stored state
                self.stats.retries += 1
                log.warning("iot: commit failed (%s); retrying in %.1fs", type(exc.orig).__name__, backoff)
            except Exception:  # a bug on some payload: isolate it instead of stopping the listener
                log.exception("iot: batch failed; applying its deliveries one by one")
                self._commit_singly(batch)
                return
            if drain.is_set() and backoff >= self.max_backoff_s:
                log.error("iot: giving up on %d deliveries at shutdown; the broker keeps them", len(batch))
                return
            drain.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    def _commit(self, batch: Sequence[Delivery]) -> None:
        """Process and store one batch in one transaction, then acknowledge it."""
        started = time.perf_counter()
        if self.before_batch is not None:
            self.before_batch(batch)
        now_ms = int(time.time() * 1000)
        if self._stale:
            self.restore()  # memory must not run ahead of what is stored
            self._stale = False
        self._stale = True  # until the commit below succeeds
        with self.db.transaction() as session:
            result = self.processor.process(batch, now_ms, seen=partial(stored_marks, session))
            commit_batch(session, result, self.topology)
        self._stale = False
        self._acknowledge(batch, result)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)

    def _commit_singly(self, batch: Sequence[Delivery]) -> None:
        for delivery in batch:
            try:
                self._commit([delivery])
            except DBAPIError:
                return  # the database is the problem after all: leave the rest unacknowledged
            except Exception as exc:
                self._commit_failed(delivery, exc)

    def _commit_failed(self, delivery: Delivery, exc: Exception) -> None:
        """Dead-letter one delivery the processor cannot handle, so it does not come back forever."""
        letter = DeadLetter(delivery.payload, "processing_failed", safe_error_text(exc),
                            origin=f"mqtt:{delivery.topic}")
        result = BatchResult(letters=[letter])
        result.outcomes["malformed"] += 1
        with self.db.transaction() as session:
            commit_batch(session, result, self.topology)
        self._acknowledge([delivery], result)

    def _acknowledge(self, batch: Sequence[Delivery], result: BatchResult) -> None:
        self.stats.acked += self.ack([d.token for d in batch if d.token is not None])
        self.stats.deliveries += len(batch)
        self.stats.batches += 1
        for outcome, n in result.outcomes.items():
            self.metrics.readings.labels(outcome).inc(n)
            self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + n
        for kind, n in {**result.kinds, "dead_letter": len(result.letters)}.items():
            self.metrics.events.labels(kind).inc(n)
            self.stats.kinds[kind] = self.stats.kinds.get(kind, 0) + n

    def _note_depth(self) -> None:
        depth = self._queue.qsize()
        if depth > self.stats.peak_depth:
            self.stats.peak_depth = depth
            self.metrics.queue_peak.set(depth)
        self.metrics.queue_depth.set(depth)
