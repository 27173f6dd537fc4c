"""Connection parameters for pika from the hub's settings (heartbeats on, blocked-connection timeout, TLS)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import pika
from pika.adapters.utils.connection_workflow import AMQPConnectionWorkflowFailed, AMQPConnectorPhaseErrorBase
from pika.exceptions import AMQPHeartbeatTimeout

from hub.core.errors import BrokerUnavailable, ConfigError, tls_reason
from hub.core.settings import BusSettings


def connection_parameters(bus: BusSettings) -> pika.URLParameters:
    """pika parameters for the configured broker URL; the password never leaves SecretStr early."""
    params = pika.URLParameters(bus.url.get_secret_value())
    params.heartbeat = bus.heartbeat_s
    params.socket_timeout = bus.connect_timeout_s
    params.stack_timeout = bus.connect_timeout_s * 2
    params.blocked_connection_timeout = bus.confirm_timeout_s
    params.connection_attempts = 1
    params.ssl_options = ssl_options(bus, params)
    return params


def ssl_options(bus: BusSettings, params: pika.URLParameters) -> pika.SSLOptions | None:
    """TLS for an amqps:// URL: verify the broker (private CA or the system's) and its host name.

    pika's own amqps:// default is the system's CAs and the URL's host; the settings add a private
    CA, a client certificate, another host name to verify, and TLS 1.2 at least.
    """
    if params.ssl_options is None:
        if bus.tls_ca_path or bus.tls_cert_path or bus.tls_server_name:
            raise ConfigError("HUB_BUS__TLS_… settings need an amqps:// HUB_BUS__URL")
        return None
    try:
        context = ssl.create_default_context(cafile=bus.tls_ca_path)
    except OSError:  # ssl.SSLError too
        raise ConfigError("HUB_BUS__TLS_CA_PATH: not a readable PEM CA bundle") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if bus.tls_cert_path is not None:
        try:  # password "": an encrypted key fails here instead of prompting on a terminal
            context.load_cert_chain(bus.tls_cert_path, bus.tls_key_path, password="")
        except OSError:
            raise ConfigError("HUB_BUS__TLS_CERT_PATH / HUB_BUS__TLS_KEY_PATH: not a readable PEM "
                              "certificate and its key") from None
    return pika.SSLOptions(context, bus.tls_server_name or params.host)


def describe(bus: BusSettings) -> str:
    """host:port/vhost of the broker, safe to print."""
    params = pika.URLParameters(bus.url.get_secret_value())
    return f"{params.host}:{params.port}/{params.virtual_host}"


def failure(error: BaseException | str) -> str:
    """Why a connection attempt failed, safe to log: the TLS reason when the handshake failed."""
    if isinstance(error, str):
        return error
    cause: BaseException = error
    if isinstance(cause, AMQPConnectionWorkflowFailed) and cause.exceptions:
        cause = cause.exceptions[-1]
    if isinstance(cause, AMQPConnectorPhaseErrorBase):
        cause = cause.exception
    reason = tls_reason(cause)
    if reason is None:
        return type(cause).__name__
    return f"{reason}; check HUB_BUS__TLS_CA_PATH, HUB_BUS__TLS_SERVER_NAME and the client certificate"


def blocking_connection(bus: BusSettings) -> pika.BlockingConnection:
    """A blocking connection (CLI, consumers) with a stall watchdog.

    A failed TLS handshake (pika raises the bare ssl error) becomes BrokerUnavailable here; the
    AMQP errors are the caller's to translate (with `failure()` for the reason).
    """
    try:
        connection = pika.BlockingConnection(connection_parameters(bus))
    except ssl.SSLError as exc:
        raise BrokerUnavailable(f"RabbitMQ at {describe(bus)} is unavailable: {failure(exc)}") from exc
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
