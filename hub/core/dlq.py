"""Inspecting and replaying the dead-letter queue (`hub dlq list|show|replay|purge`).

Listing takes messages without acknowledging them and then closes the channel, so the broker
puts every one back: looking never removes anything. Replay publishes the original bytes to the
events exchange under the original routing key with confirms, and only then removes the letter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from hub.core.amqp import blocking_connection, describe, failure
from hub.core.deadletter import ERROR, ORIGIN, ORIGINAL_ROUTING_KEY, REASON
from hub.core.errors import BrokerUnavailable, HubError
from hub.core.settings import BusSettings
from hub.core.topology import Topology


@dataclass(frozen=True, slots=True)
class DeadMessage:
    """One dead letter as `hub dlq` shows it."""

    message_id: str
    reason: str
    error: str
    origin: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]


def _describe(props: pika.BasicProperties, fallback_key: str, body: bytes) -> DeadMessage:
    headers = dict(props.headers or {})
    death = (headers.get("x-death") or [{}])[0]
    keys = death.get("routing-keys") or [fallback_key]
    return DeadMessage(
        message_id=props.message_id or "",
        reason=str(headers.get(REASON) or death.get("reason", "unknown")),
        error=str(headers.get(ERROR, "")),
        origin=str(headers.get(ORIGIN) or death.get("queue", "")),
        routing_key=str(headers.get(ORIGINAL_ROUTING_KEY) or keys[0]),
        body=body,
        headers=headers,
    )


@contextmanager
def _channel(bus: BusSettings) -> Iterator[BlockingChannel]:
    try:
        connection = blocking_connection(bus)
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(f"RabbitMQ at {describe(bus)} is unavailable: {failure(exc)}") from exc
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def browse(bus: BusSettings, topology: Topology, limit: int = 100) -> list[DeadMessage]:
    """Up to `limit` dead letters, oldest first, left in the queue."""
    out: list[DeadMessage] = []
    with _channel(bus) as channel:
        for _ in range(limit):
            method, props, body = channel.basic_get(topology.dead_queue.name, auto_ack=False)
            if method is None:
                break
            out.append(_describe(props, method.routing_key, body))
    return out


def find(bus: BusSettings, topology: Topology, message_id: str, limit: int = 100_000) -> DeadMessage:
    """The dead letter with this message id."""
    for message in browse(bus, topology, limit):
        if message.message_id == message_id:
            return message
    raise HubError(f"no dead letter with message id {message_id!r}")


def replay(bus: BusSettings, topology: Topology, message_id: str | None = None, limit: int = 100_000) -> int:
    """Send dead letters (one by id, or all) back to the events exchange; returns how many."""
    replayed = 0
    with _channel(bus) as channel:
        channel.confirm_delivery()
        for _ in range(limit):
            method, props, body = channel.basic_get(topology.dead_queue.name, auto_ack=False)
            if method is None:
                break
            message = _describe(props, method.routing_key, body)
            if message_id is not None and message.message_id != message_id:
                continue
            _republish(channel, topology, props, message)
            channel.basic_ack(method.delivery_tag)
            replayed += 1
            if message_id is not None:
                break
    return replayed


def _republish(channel: BlockingChannel, topology: Topology, props: pika.BasicProperties,
               message: DeadMessage) -> None:
    headers = {k: v for k, v in message.headers.items() if not k.startswith(("x-hub-", "x-death", "x-first"))}
    headers["x-hub-replayed"] = True
    properties = pika.BasicProperties(delivery_mode=2, message_id=props.message_id, type=props.type,
                                      timestamp=props.timestamp, content_type=props.content_type,
                                      headers=headers)
    try:
        channel.basic_publish(topology.events.name, message.routing_key, message.body, properties, mandatory=True)
    except pika.exceptions.UnroutableError as exc:
        raise HubError(f"cannot replay {message.message_id}: no queue binds {message.routing_key}") from exc


def purge(bus: BusSettings, topology: Topology) -> int:
    """Delete every dead letter; returns how many."""
    with _channel(bus) as channel:
        frame = channel.queue_purge(topology.dead_queue.name)
        return int(frame.method.message_count)


def depth(bus: BusSettings, topology: Topology) -> int:
    """How many dead letters are waiting."""
    with _channel(bus) as channel:
        frame = channel.queue_declare(topology.dead_queue.name, passive=True)
        return int(frame.method.message_count)
