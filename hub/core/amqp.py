"""Connection parameters for pika from the hub's settings (heartbeats on, blocked-connection timeout)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pika
from pika.exceptions import AMQPHeartbeatTimeout

from hub.core.settings import BusSettings


def connection_parameters(bus: BusSettings) -> pika.URLParameters:
    """pika parameters for the configured broker URL; the password never leaves SecretStr early."""
    params = pika.URLParameters(bus.url.get_secret_value())
    params.heartbeat = bus.heartbeat_s
    params.socket_timeout = bus.connect_timeout_s
    params.stack_timeout = bus.connect_timeout_s * 2
    params.blocked_connection_timeout = bus.confirm_timeout_s
    params.connection_attempts = 1
    return params


def describe(bus: BusSettings) -> str:
    """host:port/vhost of the broker, safe to print."""
    params = pika.URLParameters(bus.url.get_secret_value())
    return f"{params.host}:{params.port}/{params.virtual_host}"


def blocking_connection(bus: BusSettings) -> pika.BlockingConnection:
    """A blocking connection (CLI, consumers) with a stall watchdog; translated errors are the caller's job."""
    connection = pika.BlockingConnection(connection_parameters(bus))
    StallWatchdog(connection._impl, bus.heartbeat_s, connection.call_later)
    return connection


class StallWatchdog:
    """Closes a connection that has received nothing for two heartbeat intervals.

    The broker sends a heartbeat every half interval when it has nothing else to say, so two
    silent intervals mean the path is dead (a stalled proxy or network keeps the socket open and
    silent). pika's own check waits the interval plus five seconds, checked once per interval, so a
    stall could go unnoticed for more than twice that; this watchdog keeps to the spec's two.
    """

    def __init__(self, impl: Any, heartbeat_s: int, call_later: Callable[[float, Callable[[], None]], Any]) -> None:
        self._impl, self._limit, self._call_later = impl, 2.0 * heartbeat_s, call_later
        self._step = max(heartbeat_s / 4, 0.25)
        self._seen, self._since = -1, time.monotonic()
        if heartbeat_s > 0:
            call_later(self._step, self._check)

    def _check(self) -> None:
        if not self._impl.is_open:
            return
        received = self._impl.bytes_received
        now = time.monotonic()
        if received != self._seen:
            self._seen, self._since = received, now
        elif now - self._since > self._limit:
            # The same internal call pika's heartbeat checker makes when it gives up.
            self._impl._terminate_stream(AMQPHeartbeatTimeout(f"no data from the broker for {self._limit:.0f}s"))
            return
        self._call_later(self._step, self._check)
