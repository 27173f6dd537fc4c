"""Connection parameters for pika from the hub's settings (heartbeats on, blocked-connection timeout)."""

from __future__ import annotations

import pika

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
    """A blocking connection (CLI, consumers); translated errors are the caller's job."""
    return pika.BlockingConnection(connection_parameters(bus))
