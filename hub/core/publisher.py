"""Publisher with pipelined confirms: a whole batch is in flight at once, not one round trip each.

pika's SelectConnection runs in one I/O thread that also answers heartbeats, so a connection
lost mid-batch is noticed; callers hand over a batch and wait for its outcomes. Every message
is persistent and `mandatory`: an unroutable event is reported as UNROUTABLE, never silently
dropped. When the connection is lost the thread reconnects with backoff, and every message not
yet confirmed comes back as FAILED so the caller (the outbox relay) keeps it and sends it again.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from hub.core.amqp import StallWatchdog, connection_parameters, describe, failure
from hub.core.errors import BrokerUnavailable
from hub.core.settings import BusSettings

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    """What became of one published message."""

    CONFIRMED = "confirmed"
    UNROUTABLE = "unroutable"
    NACKED = "nacked"
    FAILED = "failed"  # connection lost or not confirmed in time: unknown, send again


@dataclass(slots=True)
class Message:
    """One message to publish (not frozen: the relay builds thousands a second, and nothing changes one)."""

    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    type: str | None = None
    timestamp: int | None = None
    content_type: str = "application/json"
    headers: dict[str, Any] = field(default_factory=dict)

    def properties(self) -> BasicProperties:
        """Persistent AMQP properties."""
        return BasicProperties(
            delivery_mode=2, message_id=self.message_id, type=self.type, timestamp=self.timestamp,
            content_type=self.content_type, headers=self.headers or None,
        )


class PendingBatch:
    """A batch in flight: outcomes are filled in by the I/O thread as confirms arrive."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = messages
        self.outcomes: list[Outcome | None] = [None] * len(messages)
        self.open = len(messages)
        self.done = threading.Event()
        self.expire_hook: Callable[[PendingBatch], None] | None = None
        if not messages:
            self.done.set()

    def resolve(self, index: int, outcome: Outcome) -> None:
        if self.outcomes[index] is None:
            self.outcomes[index] = outcome
            self.open -= 1
            if self.open == 0:
                self.done.set()

    def wait(self, timeout_s: float) -> list[Outcome]:
        """Outcomes once every message is confirmed, returned or failed (FAILED after the timeout)."""
        if not self.done.wait(timeout_s):
            self.expire()
        return [outcome or Outcome.FAILED for outcome in self.outcomes]

    def expire(self) -> None:
        """Give up waiting: the publisher forgets the open messages and they count as FAILED."""
        if self.expire_hook is not None:
            try:
                self.expire_hook(self)
                self.done.wait(5.0)
            except Exception:  # the connection is already gone; its close failed the batch
                pass
        self.fail_open()

    def fail_open(self) -> None:
        for index, outcome in enumerate(self.outcomes):
            if outcome is None:
                self.resolve(index, Outcome.FAILED)


class Publisher:
    """Publishes batches with confirms over one long-lived connection; thread-safe."""

    def __init__(self, bus: BusSettings, *, max_backoff_s: float = 10.0) -> None:
        self._bus = bus
        self._params = connection_parameters(bus)
        self._max_backoff = max_backoff_s
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = False
        self._connection: pika.SelectConnection | None = None
        self._channel: Channel | None = None
        self._pending: dict[int, tuple[PendingBatch, int]] = {}
        self._returned: set[int] = set()
        self._tags = itertools.count(1)
        self._last_error = "not connected yet"
        self.reconnects = 0
        self._thread = threading.Thread(target=self._io_loop, name="hub-publisher", daemon=True)
        self._thread.start()

    # -- caller side -------------------------------------------------------------------------

    def publish_batch(self, messages: Sequence[Message], timeout_s: float | None = None) -> list[Outcome]:
        """Publish all messages, wait for their confirms; raise BrokerUnavailable if not connected."""
        return self.submit(messages).wait(timeout_s or self._bus.confirm_timeout_s)

    def submit(self, messages: Sequence[Message]) -> PendingBatch:
        """Start publishing a batch and return at once; several batches may be in flight."""
        if not self._ready.wait(self._bus.connect_timeout_s):
            raise BrokerUnavailable(f"RabbitMQ at {describe(self._bus)} is unavailable: {self._last_error}")
        batch = PendingBatch(messages)
        connection = self._connection
        if connection is None:
            raise BrokerUnavailable("connection lost before publishing")
        try:
            connection.ioloop.add_callback_threadsafe(lambda: self._send(batch))
            batch.expire_hook = lambda b: connection.ioloop.add_callback_threadsafe(lambda: self._expire(b))
        except Exception as exc:  # the loop closed between the check and the call
            raise BrokerUnavailable("connection lost before publishing") from exc
        return batch

    @property
    def confirm_timeout_s(self) -> float:
        """How long a batch may wait for its confirms."""
        return self._bus.confirm_timeout_s

    def wait_ready(self, timeout_s: float) -> bool:
        """True once a channel is open (used by tools that want to fail fast)."""
        return self._ready.wait(timeout_s)

    def close(self) -> None:
        """Stop the I/O thread and close the connection."""
        self._stopping = True
        connection = self._connection
        if connection is not None:
            try:
                connection.ioloop.add_callback_threadsafe(self._close_connection)
            except Exception:  # already closed
                pass
        self._thread.join(timeout=10)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- I/O thread --------------------------------------------------------------------------

    def _io_loop(self) -> None:
        backoff = 0.2
        while not self._stopping:
            self._connection = pika.SelectConnection(
                self._params, on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed,
            )
            self._connection.ioloop.start()
            if self._stopping:
                break
            self.reconnects += 1
            log.warning("publisher: connection to %s lost (%s); reconnecting in %.1fs",
                        describe(self._bus), self._last_error, backoff)
            stop = threading.Event()
            stop.wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)
            if self._ready.is_set():
                backoff = 0.2

    def _on_open(self, connection: pika.SelectConnection) -> None:
        StallWatchdog(connection, self._bus.heartbeat_s, connection.ioloop.call_later)
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: Channel) -> None:
        self._channel = channel
        self._tags = itertools.count(1)
        channel.add_on_return_callback(self._on_return)
        channel.add_on_close_callback(self._on_channel_closed)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: self._ready.set())

    def _on_open_error(self, connection: pika.SelectConnection, error: BaseException | str) -> None:
        self._last_error = failure(error)
        connection.ioloop.stop()

    def _on_closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        self._ready.clear()
        self._last_error = type(reason).__name__
        self._channel = None
        self._fail_pending()
        connection.ioloop.stop()

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        # A channel error (e.g. a missing exchange) closes the channel: fail in-flight work and
        # reconnect from scratch so the next batch gets a fresh channel.
        self._ready.clear()
        self._last_error = f"channel closed: {reason}"
        self._fail_pending()
        connection = self._connection
        if connection is not None and connection.is_open:
            connection.close()

    def _close_connection(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        elif self._connection is not None:
            self._connection.ioloop.stop()

    def _send(self, batch: PendingBatch) -> None:
        channel = self._channel
        if channel is None or not channel.is_open:
            batch.fail_open()
            return
        for index, message in enumerate(batch.messages):
            tag = next(self._tags)
            self._pending[tag] = (batch, index)
            channel.basic_publish(message.exchange, message.routing_key, message.body,
                                  message.properties(), mandatory=True)

    def _on_return(self, _channel: Channel, _method: Basic.Return, props: BasicProperties, _body: bytes) -> None:
        # A return precedes the ack of the same message: remember the oldest in-flight tag of
        # that message id so the ack that follows is reported as UNROUTABLE.
        for tag, (batch, index) in sorted(self._pending.items()):
            if tag not in self._returned and batch.messages[index].message_id == props.message_id:
                self._returned.add(tag)
                return

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, Basic.Ack)
        if method.multiple:  # tags were inserted in ascending order, so stop at the first newer one
            tags = list(itertools.takewhile(lambda t: t <= method.delivery_tag, self._pending))
        else:
            tags = [method.delivery_tag]
        for tag in tags:
            entry = self._pending.pop(tag, None)
            if entry is None:
                continue
            returned = tag in self._returned
            self._returned.discard(tag)
            outcome = Outcome.UNROUTABLE if returned else (Outcome.CONFIRMED if acked else Outcome.NACKED)
            entry[0].resolve(entry[1], outcome)

    def _expire(self, batch: PendingBatch) -> None:
        for tag in [t for t, (b, _i) in self._pending.items() if b is batch]:
            self._pending.pop(tag, None)
            self._returned.discard(tag)
        batch.fail_open()

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        self._returned.clear()
        for batch, index in pending.values():
            batch.resolve(index, Outcome.FAILED)
