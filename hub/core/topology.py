"""The RabbitMQ topology as values, declared from one place.

    hub.events (topic) ──binding patterns──► <subscriber queues> (quorum, x-delivery-limit)
                                                     │ rejected / over the delivery limit
    hub.dlx (fanout) ◄───────────────────────────────┘ ──► hub.dead (quorum)

Subscriber queues come from settings (name → binding patterns). Quorum queues get a delivery
limit (RabbitMQ 3.10 has no default: a poison message would loop forever) and at-least-once
dead-lettering, so a message is never dropped between a queue and hub.dead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.core.settings import BusSettings


@dataclass(frozen=True, slots=True)
class Exchange:
    """A durable exchange."""

    name: str
    type: str  # "topic" | "fanout"


@dataclass(frozen=True, slots=True)
class Queue:
    """A durable quorum queue, its bindings and arguments."""

    name: str
    exchange: str
    bindings: tuple[str, ...]
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Topology:
    """Everything the hub declares on the broker."""

    events: Exchange
    dead: Exchange
    dead_queue: Queue
    queues: tuple[Queue, ...]

    def queue(self, name: str) -> Queue:
        """A subscriber queue by name."""
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(f"no subscriber queue {name!r}; queues: {', '.join(q.name for q in self.queues)}")

    def all_queues(self) -> tuple[Queue, ...]:
        """Subscriber queues and the dead-letter queue."""
        return (*self.queues, self.dead_queue)


def subscriber_arguments(bus: BusSettings) -> dict[str, Any]:
    """Arguments of every subscriber queue."""
    arguments: dict[str, Any] = {
        "x-queue-type": "quorum",
        "x-delivery-limit": bus.delivery_limit,
        "x-dead-letter-exchange": bus.dead_exchange,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",  # a full queue refuses (nacks): the outbox keeps the event
    }
    if bus.max_length is not None:
        arguments["x-max-length"] = bus.max_length
    return arguments


def build_topology(bus: BusSettings) -> Topology:
    """The topology the settings describe."""
    queues = tuple(
        Queue(name, bus.events_exchange, tuple(patterns), subscriber_arguments(bus))
        for name, patterns in sorted(bus.subscribers.items())
    )
    return Topology(
        events=Exchange(bus.events_exchange, "topic"),
        dead=Exchange(bus.dead_exchange, "fanout"),
        dead_queue=Queue(bus.dead_queue, bus.dead_exchange, ("#",), {"x-queue-type": "quorum"}),
        queues=queues,
    )


def declare(channel: Any, topology: Topology) -> None:
    """Declare exchanges, queues and bindings on a pika channel (idempotent)."""
    for exchange in (topology.events, topology.dead):
        channel.exchange_declare(exchange=exchange.name, exchange_type=exchange.type, durable=True)
    for queue in topology.all_queues():
        channel.queue_declare(queue=queue.name, durable=True, arguments=queue.arguments)
        for pattern in queue.bindings:
            channel.queue_bind(queue=queue.name, exchange=queue.exchange, routing_key=pattern)


def _on_channel(bus: BusSettings, work: Callable[[Any], None]) -> None:
    """Run `work(channel)` over a short-lived connection; an unreachable broker is BrokerUnavailable."""
    import pika.exceptions

    from hub.core.amqp import blocking_connection, describe, failure
    from hub.core.errors import BrokerUnavailable

    try:
        connection = blocking_connection(bus)
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(f"RabbitMQ at {describe(bus)} is unavailable: {failure(exc)}") from exc
    try:
        work(connection.channel())
    finally:
        if connection.is_open:
            connection.close()


def apply(bus: BusSettings, topology: Topology) -> None:
    """Declare the topology (`hub topology apply`, the demo, tests)."""
    _on_channel(bus, lambda channel: declare(channel, topology))


def delete(bus: BusSettings, topology: Topology) -> None:
    """Delete every queue and exchange of the topology, with their messages (tests, benchmarks)."""

    def work(channel: Any) -> None:
        for queue in topology.all_queues():
            channel.queue_delete(queue.name)
        for exchange in (topology.events, topology.dead):
            channel.exchange_delete(exchange.name)

    _on_channel(bus, work)
