"""Bus benchmark: the hub's full publish and consume paths against bare pika, in the same run.

    hub publish  = envelope + schema validation + outbox insert + relay with pipelined confirms
    bare publish = pika SelectConnection, pre-serialised bodies, pipelined async confirms
    hub consume  = Consumer: parse + validate + idempotency (processed ids) + ack after commit
    bare consume = pika BlockingConnection, manual ack per message
    validation   = jsonschema-rs (compiled once) vs a reused jsonschema validator

Both sides use the same broker, the same quorum queue type and the same message size.
Prints one JSON line. Targets: publish ≥ 0.8 × bare, consume ≥ 0.5 × bare, validation ≥ 20 ×.
Run: .venv/bin/python bench/bus.py [--events 20000] [--rounds 3] [--database-url URL]
Every round measures all four paths on fresh queues; the figures are the medians of the rounds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import jsonschema
import pika
from pika.spec import Basic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.core import outbox  # noqa: E402
from hub.core.consumer import Consumer, noop_handler  # noqa: E402
from hub.core.db import open_database  # noqa: E402
from hub.core.events import make_event  # noqa: E402
from hub.core.publisher import Publisher  # noqa: E402
from hub.core.schemas import registry, schema_id  # noqa: E402
from hub.core.settings import load_settings  # noqa: E402
from hub.core.topology import apply, build_topology, delete  # noqa: E402

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
SCHEMA = "finance/receivable.v1"


def receivable(n: int) -> dict[str, str]:
    """Canonical receivable data; with the envelope the event is about 700 bytes."""
    return {
        "source_system": "erp", "source_id": f"AR-2026-{n:06d}", "customer_source_id": f"CUST-{n % 977:06d}",
        "order_source_id": f"SO-2026-{n:06d}", "currency": "CNY", "amount": f"{1000 + n % 5000}.00",
        "received_amount": "250.00", "open_amount": f"{750 + n % 5000}.00", "document_date": "2026-11-01",
        "due_date": "2026-12-31", "status": "partially_paid", "updated_at": "2026-11-20T08:15:30Z",
    }


def _relay_process(settings, topology, db_url: str, expected: int, ready, done) -> None:  # type: ignore[no-untyped-def]
    """The relay as its own process, as `hub relay` runs in production."""
    db = open_database(db_url, upgrade=False)
    publisher = Publisher(settings.bus)
    publisher.wait_ready(10)
    relay = outbox.Relay(db, publisher, topology, batch_size=2000, window=8)
    ready.set()
    sent = 0
    while sent < expected:
        result = relay.run_once()
        sent += result.sent
        if result.sent == 0:
            time.sleep(0.002)
    done.put(time.perf_counter())
    publisher.close()


def hub_publish(settings, topology, db_url: str, datas: list[dict]) -> float:  # type: ignore[no-untyped-def]
    """Seconds for envelope + validation + outbox + relay with confirms of every event."""
    db = open_database(db_url)
    schemas = registry()
    schemas.fast_validator(SCHEMA)
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Queue()
    relay = ctx.Process(target=_relay_process, args=(settings, topology, db_url, len(datas), ready, done))
    relay.start()
    ready.wait(30)
    sid = schema_id(SCHEMA)
    start = time.perf_counter()
    for offset in range(0, len(datas), 1000):
        events = []
        for data in datas[offset:offset + 1000]:
            schemas.validate(SCHEMA, data)
            events.append(make_event(system="erp", entity="receivable", type="src.erp.receivable.changed.v1",
                                     key=data["source_id"], version=data["updated_at"], data=data,
                                     dataschema=sid, mappingversion="1.0.0"))
        with db.transaction() as session:
            outbox.add_events(session, events, topology)
    finished = done.get(timeout=300)
    relay.join(30)
    db.dispose()
    return float(finished - start)


class BarePublisher:
    """Minimal pika async publisher with pipelined confirms (the baseline)."""

    def __init__(self, exchange: str, routing_key: str, bodies: list[bytes], properties: dict) -> None:
        self.exchange, self.routing_key, self.bodies = exchange, routing_key, bodies
        self.properties = properties
        self.confirmed = 0
        self.connection = pika.SelectConnection(pika.URLParameters(AMQP), on_open_callback=self._open)

    def run(self) -> float:
        self.start = time.perf_counter()
        self.connection.ioloop.start()
        return self.elapsed

    def _open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._channel)

    def _channel(self, channel) -> None:  # type: ignore[no-untyped-def]
        self.channel = channel
        channel.confirm_delivery(self._confirm, callback=lambda _f: self._publish_all())

    def _publish_all(self) -> None:
        self.start = time.perf_counter()
        # The same properties as the hub's messages, so both sides put the same bytes on the wire.
        for n, body in enumerate(self.bodies):
            props = pika.BasicProperties(delivery_mode=2, message_id=f"{n:036d}", **self.properties)
            self.channel.basic_publish(self.exchange, self.routing_key, body, props, mandatory=True)

    def _confirm(self, frame) -> None:  # type: ignore[no-untyped-def]
        assert isinstance(frame.method, Basic.Ack)
        self.confirmed = frame.method.delivery_tag if frame.method.multiple else self.confirmed + 1
        if self.confirmed >= len(self.bodies):
            self.elapsed = time.perf_counter() - self.start
            self.connection.close()
            self.connection.ioloop.stop()


def bare_consume(queue: str, count: int, prefetch: int) -> float:
    """Seconds for bare pika to consume and ack `count` messages."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    seen = 0
    start = time.perf_counter()
    for method, _props, _body in channel.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        seen += 1
        if seen >= count:
            break
    elapsed = time.perf_counter() - start
    channel.cancel()
    connection.close()
    assert seen == count, f"bare consumer saw {seen} of {count}"
    return elapsed


def hub_consume(settings, topology, db_url: str, queue: str, count: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds for the hub consumer to apply `count` events (idempotent receiver, ack after commit)."""
    db = open_database(db_url)
    consumer = Consumer(settings.bus, db, topology, queue, noop_handler, name=f"bench-{uuid.uuid4().hex[:6]}")
    start = time.perf_counter()
    stats = consumer.run(max_messages=count, idle_timeout_s=5)
    elapsed = time.perf_counter() - start
    db.dispose()
    return elapsed, stats.applied


def validation_ratio(datas: list[dict]) -> tuple[float, float]:
    """Records per second: compiled jsonschema-rs vs a reused jsonschema validator."""
    schemas = registry()
    fast = schemas.fast_validator(SCHEMA)
    schema = schemas.schema(SCHEMA)
    slow = jsonschema.validators.validator_for(schema)(schema)
    start = time.perf_counter()
    for data in datas:
        fast(data)
    fast_rate = len(datas) / (time.perf_counter() - start)
    sample = datas[:5000]
    start = time.perf_counter()
    for data in sample:
        slow.validate(data)
    slow_rate = len(sample) / (time.perf_counter() - start)
    return fast_rate, slow_rate


def one_round(n: int, database_url: str | None) -> dict[str, float]:
    """Seconds of each path on fresh exchanges, queues and database (one measurement of everything)."""
    tmp = tempfile.mkdtemp(prefix="hub-bench-")
    db_url = database_url or f"sqlite:///{tmp}/bench.db"
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    settings = load_settings(database_url=db_url, bus={
        "url": AMQP, "events_exchange": f"{prefix}.events", "dead_exchange": f"{prefix}.dlx",
        "dead_queue": f"{prefix}.dead", "subscribers": {f"{prefix}.hub": ["src.#"], f"{prefix}.bare": ["bare.#"]},
    })
    topology = build_topology(settings.bus)
    apply(settings.bus, topology)
    datas = [receivable(i) for i in range(n)]
    try:
        hub_pub_s = hub_publish(settings, topology, db_url, datas)
        sample = make_event(system="erp", entity="receivable", type="src.erp.receivable.changed.v1", key="k",
                            version="v", data=datas[0], dataschema=schema_id(SCHEMA), mappingversion="1.0.0")
        props = sample.amqp_properties()
        del props["message_id"]
        bare_pub_s = BarePublisher(topology.events.name, "bare.receivable", [sample.to_json()] * n, props).run()
        hub_con_s, applied = hub_consume(settings, topology, db_url, f"{prefix}.hub", n)
        bare_con_s = bare_consume(f"{prefix}.bare", n, settings.bus.prefetch)
    finally:
        delete(settings.bus, topology)
    return {"hub_pub": hub_pub_s, "bare_pub": bare_pub_s, "hub_con": hub_con_s, "bare_con": bare_con_s,
            "applied": applied, "event_bytes": len(sample.to_json())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="measure everything this many times; "
                        "the figures are the medians (this machine is shared: one round can be an outlier)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    n = args.events
    rounds = [one_round(n, args.database_url) for _ in range(args.rounds)]
    fast_rate, slow_rate = validation_ratio([receivable(i) for i in range(n)])

    def median(values: list[float]) -> float:
        return statistics.median(values)

    publish_ratios = [r["bare_pub"] / r["hub_pub"] for r in rounds]
    consume_ratios = [r["bare_con"] / r["hub_con"] for r in rounds]
    result = {
        "bench": "bus", "events": n, "rounds": args.rounds, "event_bytes": rounds[0]["event_bytes"],
        "queue_type": "quorum",
        "hub_publish_per_s": round(median([n / r["hub_pub"] for r in rounds])),
        "bare_publish_per_s": round(median([n / r["bare_pub"] for r in rounds])),
        "publish_ratio": round(median(publish_ratios), 3),
        "publish_ratio_per_round": [round(x, 3) for x in publish_ratios],
        "hub_consume_per_s": round(median([n / r["hub_con"] for r in rounds])),
        "bare_consume_per_s": round(median([n / r["bare_con"] for r in rounds])),
        "consume_ratio": round(median(consume_ratios), 3),
        "consume_ratio_per_round": [round(x, 3) for x in consume_ratios],
        "hub_consume_applied": min(int(r["applied"]) for r in rounds),
        "hot_path_validator_per_s": round(fast_rate), "jsonschema_per_s": round(slow_rate),
        "validation_ratio": round(fast_rate / slow_rate, 1),
        "targets": {"publish_ratio": 0.8, "consume_ratio": 0.5, "validation_ratio": 20},
    }
    result["pass"] = (result["publish_ratio"] >= 0.8 and result["consume_ratio"] >= 0.5
                      and result["validation_ratio"] >= 20 and result["hub_consume_applied"] == n)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
