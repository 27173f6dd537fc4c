"""IoT benchmark: MQTT publish → hub listener + writer → outbox → relay → RabbitMQ alert, end to end.

    paced run   N simulated devices publish RATE readings/s for SECONDS to the local Mosquitto, each
                reading stamped with its publish time; vibration episodes (bench rule: > 7.1 mm/s for
                1 s, clear 6.0) fire alerts. The hub worker runs in its own process (its peak RSS is
                reported); the outbox relay and a consumer of a queue bound to `iot.device.alert.#`
                run here. Latency = consume time − the time of the reading that fired or resolved
                the alert (the event's `time`). Expected alerts come from the same rule engine
                applied to what was published.
    baseline    throughput draining a backlog of BURST readings from a private Mosquitto (no queue
                limit): a bare paho subscriber that only parses JSON and counts, vs the hub worker
                (parse, registry, rules, windows, commit, ack after commit). Ratio = hub / bare.

Prints one JSON line. Target: p99 ≤ 100 ms at 1,000 readings/s.
Run: .venv/bin/python bench/iot.py [--seconds 60] [--rate 1000] [--devices 50] [--burst 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
import pika
import pika.exceptions
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.iot.client import discard_session  # noqa: E402
from connectors.iot.rules import IDLE, load_rules, step  # noqa: E402
from connectors.iot.simulator import simulated_iot  # noqa: E402
from connectors.testing.iot_devices import (  # noqa: E402
    DeviceScript,
    LiveDevices,
    LoopbackPublisher,
    SimDevice,
)
from hub.app.iot_worker import IotWorker  # noqa: E402
from hub.core import outbox  # noqa: E402
from hub.core.db import open_database  # noqa: E402
from hub.core.publisher import Publisher  # noqa: E402
from hub.core.settings import HubSettings, load_settings  # noqa: E402
from hub.core.topology import apply, build_topology, delete  # noqa: E402

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
RULES = """rules:
  - {id: bench_vibration, metric: vibration, above: 7.1, clear: 6.0, for_s: 1, severity: warning, kind: maintenance}
"""
PERIOD_S, EPISODE_S, LEVEL = 8.0, 2.5, 8.6


def bench_devices(count: int, name: str) -> list[SimDevice]:
    """`count` lathes on two lines."""
    return [SimDevice(f"{name}-{n:04d}", "bench_plant", f"line{n % 2}") for n in range(count)]


def shape_for(count: int) -> Any:
    """Vibration episodes of EPISODE_S every PERIOD_S per device, staggered across devices."""
    def shape(index: int, elapsed: float) -> dict[str, float]:
        phase = (elapsed + index * PERIOD_S / count) % PERIOD_S
        return {"vibration": LEVEL} if 1.0 <= phase < 1.0 + EPISODE_S else {}
    return shape


def hub_settings(db_url: str, devices: list[SimDevice], rules: Path, port: int = 1883,
                 batch_wait_ms: int | None = None) -> HubSettings:
    """Isolated exchanges and queues, a fresh MQTT session, the bench registry and rule."""
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    iot = {**simulated_iot(), "port": port, "rules_path": rules, "devices_path": None, "window_s": 10,
           "devices": {d.device_id: {"plant": d.plant, "line": d.line, "customer_source_id": "C100231",
                                     "model": "HC100", "ranges": {"vibration": [0, 50]}} for d in devices}}
    if batch_wait_ms:
        iot["batch_wait_ms"] = batch_wait_ms
    return load_settings(database_url=db_url, iot=iot, bus={
        "url": AMQP, "events_exchange": f"{prefix}.events", "dead_exchange": f"{prefix}.dlx",
        "dead_queue": f"{prefix}.dead",
        "subscribers": {f"{prefix}.alerts": ["iot.device.alert.#"],
                        f"{prefix}.other": ["iot.device.telemetry.#", "service.#"]}})


# ------------------------------------------------------------------------------------ paced run


def _worker_process(settings: HubSettings, ready: Any, stop: Any, processed: Any, report: Any) -> None:
    """The hub's IoT worker alone in a process, so its memory and CPU time are its own."""
    db = open_database(settings.database_url.get_secret_value())
    worker = IotWorker(settings, db).start(ready_timeout_s=30)
    started = resource.getrusage(resource.RUSAGE_SELF)  # CPU time from here on: not imports, not migrations
    ready.set()
    while not stop.wait(0.02):
        processed.value = worker.writer.stats.deliveries
    stats = worker.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report.put({"deliveries": stats.writer.deliveries, "outcomes": stats.writer.outcomes,
                "batches": stats.writer.batches, "peak_depth": stats.writer.peak_depth,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "cpu_s": usage.ru_utime + usage.ru_stime - started.ru_utime - started.ru_stime})
    db.dispose()


def _relay_process(settings: HubSettings, topology: Any, stop: Any) -> None:
    """The outbox relay in its own process, as `hub relay` runs in production (polling every 5 ms)."""
    db = open_database(settings.database_url.get_secret_value(), upgrade=False)
    with Publisher(settings.bus) as publisher:
        done = threading.Event()
        threading.Thread(target=lambda: (stop.wait(), done.set()), daemon=True).start()
        outbox.Relay(db, publisher, topology).run(done, idle_poll_s=0.005)
    db.dispose()


class AlertConsumer(threading.Thread):
    """Consumes the alert queue and records each alert's latency from the reading that caused it."""

    def __init__(self, queue: str) -> None:
        super().__init__(daemon=True)
        self.queue, self.latencies_ms, self.ids = queue, list[float](), set[str]()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._consume()
            except pika.exceptions.AMQPError:  # the broker restarted under us: the queue kept the alerts
                self.stop.wait(0.5)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP))
        channel = connection.channel()
        for method, _props, body in channel.consume(self.queue, auto_ack=True, inactivity_timeout=0.1):
            if method is not None:
                received = time.time()
                event = orjson.loads(body)
                caused = dt.datetime.fromisoformat(event["time"]).timestamp()
                self.latencies_ms.append((received - caused) * 1000)
                self.ids.add(event["id"])
            if self.stop.is_set():
                break
        connection.close()


def expected_alerts(live: LiveDevices, rules_path: Path) -> int:
    """Alerts the rule engine must produce from what was published (firing + resolved)."""
    (rule,) = load_rules(rules_path)
    episodes = [IDLE] * len(live.devices)
    count = 0
    for index, ts_ms, metrics in live.sent:
        episodes[index], change = step(rule, episodes[index], ts_ms, metrics["vibration"])
        count += change is not None
    return count


def paced_run(args: argparse.Namespace, db_url: str, rules: Path) -> dict[str, Any]:
    """The latency run on the local Mosquitto."""
    devices = bench_devices(args.devices, f"B{uuid.uuid4().hex[:6]}")  # a database may be reused: new devices
    settings = hub_settings(db_url, devices, rules, batch_wait_ms=args.batch_wait_ms)
    topology = build_topology(settings.bus)
    apply(settings.bus, topology)
    open_database(db_url).dispose()  # migrate once, before two processes race to do it
    ctx = multiprocessing.get_context("spawn")
    ready, stop, processed, report = ctx.Event(), ctx.Event(), ctx.Value("q", 0), ctx.Queue()
    worker = ctx.Process(target=_worker_process, args=(settings, ready, stop, processed, report))
    relay_stop = ctx.Event()
    relay = ctx.Process(target=_relay_process, args=(settings, topology, relay_stop))
    worker.start()
    relay.start()
    try:
        return _measure(args, settings, topology, devices, rules, (ready, stop, processed, report))
    finally:
        stop.set()
        relay_stop.set()
        worker.join(60)
        relay.join(60)
        delete(settings.bus, topology)
        discard_session(settings.iot)  # the broker need not keep the run's session for a week


def _measure(args: argparse.Namespace, settings: HubSettings, topology: Any, devices: list[SimDevice],
             rules: Path, control: tuple[Any, Any, Any]) -> dict[str, Any]:
    ready, stop, processed, report = control
    if not ready.wait(60):
        raise RuntimeError("the hub worker did not start")
    consumer = AlertConsumer(topology.queues[0].name)
    consumer.start()
    live = LiveDevices(settings.iot.topic_prefix, devices, args.rate, shape_for(len(devices)))
    with LoopbackPublisher() as mqtt_out:
        started = time.monotonic()
        published = live.run(args.seconds, mqtt_out)
        publish_s = time.monotonic() - started
        expected = expected_alerts(live, rules)
        deadline = time.monotonic() + 60  # the hub may be behind: let it finish before counting
        while (processed.value < published or len(consumer.ids) < expected) and time.monotonic() < deadline:
            time.sleep(0.01)
        drained_s = time.monotonic() - started
    stop.set()
    stats = report.get(timeout=60)
    consumer.stop.set()
    consumer.join(10)
    return _paced_summary(published, publish_s, drained_s, expected, consumer, stats)


def _paced_summary(published: int, publish_s: float, drained_s: float, expected: int, consumer: AlertConsumer,
                   stats: dict[str, Any]) -> dict[str, Any]:
    lat = sorted(consumer.latencies_ms)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None

    return {
        "published": published, "publish_rate": round(published / publish_s),
        "hub_readings": stats["deliveries"], "hub_readings_per_s": round(stats["deliveries"] / drained_s),
        "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": round(lat[-1], 1) if lat else None},
        "alerts_expected": expected, "alerts_received": len(consumer.ids),
        "listener_peak_rss_mb": round(stats["peak_rss_mb"], 1),
        "listener_cpu_us_per_reading": round(stats["cpu_s"] / max(1, stats["deliveries"]) * 1e6),
        "writer_batches": stats["batches"],
        "writer_peak_queue": stats["peak_depth"], "outcomes": stats["outcomes"],
    }


# ------------------------------------------------------------------------------------- baseline


class PrivateBroker:
    """A Mosquitto on a free port without a queue limit, so a whole backlog waits for the subscriber."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        config = folder / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                          "persistence false\n", encoding="utf-8")
        self.process = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", self.port)) != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("private mosquitto did not start")
            time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _backlog(port: int, topic_prefix: str, devices: list[SimDevice], count: int) -> None:
    scripts = [DeviceScript(topic_prefix, d, int(time.time() * 1000) - 120_000, interval_ms=5) for d in devices]
    with LoopbackPublisher(port=port) as out:
        out.publish([scripts[n % len(scripts)].reading() for n in range(count)], timeout_s=120)


def bare_subscriber_rate(port: int, devices: list[SimDevice], count: int) -> float:
    """Readings/s of a paho subscriber that parses JSON and counts, draining a backlog of `count`."""
    prefix, client_id = f"bare/{uuid.uuid4().hex[:6]}", f"bare-{uuid.uuid4().hex[:6]}"
    seen, done, first = [0], threading.Event(), [0.0]

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        if not seen[0]:
            first[0] = time.perf_counter()
        orjson.loads(message.payload)
        seen[0] += 1
        if seen[0] >= count:
            done.set()

    _bare_session(port, client_id, prefix, None).disconnect()
    _backlog(port, prefix, devices, count)
    start = time.perf_counter()
    client = _bare_session(port, client_id, prefix, on_message)
    done.wait(300)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return seen[0] / elapsed


def _bare_session(port: int, client_id: str, prefix: str, on_message: Any) -> mqtt.Client:
    """A persistent MQTT 5 session (Receive Maximum 1000, like the hub's), subscribed and ready."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_message = on_message
    client.on_connect = lambda c, *_args: c.subscribe(f"{prefix}/+/+/+/telemetry", qos=1)
    client.on_subscribe = lambda *_args: subscribed.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval, props.ReceiveMaximum = 600, 1000
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    subscribed.wait(10)
    return client


def hub_rate(port: int, db_url: str, devices: list[SimDevice], rules: Path, count: int,
             batch_wait_ms: int | None) -> float:
    """Readings/s of the hub worker draining the same backlog (commit, then ack)."""
    settings = hub_settings(db_url, devices, rules, port=port, batch_wait_ms=batch_wait_ms)
    db = open_database(db_url)
    IotWorker(settings, db).start(30).stop()  # creates the persistent session
    _backlog(port, settings.iot.topic_prefix, devices, count)
    start = time.perf_counter()
    worker = IotWorker(settings, db).start(30)
    worker.wait_processed(count, 300)
    elapsed = time.perf_counter() - start
    processed = worker.stop().writer.deliveries
    db.dispose()
    return processed / elapsed


def baseline(args: argparse.Namespace, db_url: str, rules: Path, folder: Path) -> dict[str, Any]:
    """Bare paho vs the hub, each draining a backlog of args.burst readings."""
    broker = PrivateBroker(folder)
    try:
        devices = bench_devices(args.devices, f"BASE{uuid.uuid4().hex[:6]}")  # not the paced run's devices
        bare = bare_subscriber_rate(broker.port, devices, args.burst)
        hub = hub_rate(broker.port, db_url, devices, rules, args.burst, args.batch_wait_ms)
    finally:
        broker.close()
    return {"backlog": args.burst, "bare_paho_per_s": round(bare), "hub_per_s": round(hub),
            "ratio": round(hub / bare, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="readings per second, all devices together")
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--burst", type=int, default=20_000, help="backlog of the throughput baseline (0: skip)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    parser.add_argument("--batch-wait-ms", type=int, default=None, help="default: HUB_IOT__BATCH_WAIT_MS")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hub-bench-iot-"))
    rules = folder / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    db_url = args.database_url or f"sqlite:///{folder}/bench.db"
    result: dict[str, Any] = {"bench": "iot", "seconds": args.seconds, "rate_target": args.rate,
                              "devices": args.devices, "database": db_url.split(":", 1)[0]}
    result.update(paced_run(args, db_url, rules))
    if args.burst:
        result["baseline"] = baseline(args, args.database_url or f"sqlite:///{folder}/baseline.db", rules, folder)
    p99 = result["latency_ms"]["p99"]
    result["target_p99_ms"], result["p99_ok"] = 100, p99 is not None and p99 <= 100
    print(json.dumps(result, ensure_ascii=False))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
