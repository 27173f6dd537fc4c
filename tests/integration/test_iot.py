"""The IoT connector against the real Mosquitto, RabbitMQ and both databases.

Every test gets its own topic prefix and client id (connectors/iot/simulator.py), its own
exchanges and queues, and clean IoT tables. The broker-restart test runs a private Mosquitto
with persistence on a free loopback port, so the shared one is never disturbed.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pika
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from connectors.iot.client import discard_session
from connectors.iot.models import IotReading
from connectors.iot.processor import BatchResult, Delivery
from connectors.iot.readings import parse_ts
from connectors.iot.simulator import simulated_settings
from connectors.iot.store import clear_state
from connectors.testing.iot_devices import (
    MALFORMED,
    DeviceScript,
    LoopbackPublisher,
    Publication,
    demo_scenario,
    load_devices,
)
from hub.app.iot_worker import IotWorker
from hub.core import outbox
from hub.core.db import Database
from hub.core.models import OutboxRow
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings
from hub.core.topology import Topology, apply, build_topology, delete
from tests.conftest import AMQP_URL, isolated_settings, require_service
from tests.faults.ledger import Ledger

pytestmark = pytest.mark.integration

START = int(dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)
LATHE, SPARE, MILL = load_devices()[:3]


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def iot_settings(db_url: str) -> Iterator[HubSettings]:
    """Isolated bus, a service queue bound to iot.device.# and service.#, a simulated factory run."""
    require_service("RabbitMQ", 5672)
    require_service("Mosquitto", 1883)
    with simulated_settings() as overrides:
        queue = f"t{uuid.uuid4().hex[:8]}.service"
        iot = {**overrides["iot"], "batch_wait_ms": 20}
        settings = isolated_settings(db_url, AMQP_URL, bus={"subscribers": {queue: ["iot.device.#", "service.#"]}},
                                     iot=iot)
        yield settings
        delete(settings.bus, build_topology(settings.bus))


@pytest.fixture
def topology(iot_settings: HubSettings) -> Topology:
    topo = build_topology(iot_settings.bus)
    apply(iot_settings.bus, topo)
    return topo


@pytest.fixture
def iot_db(db: Database) -> Database:
    """The database with no IoT state left by an earlier test (PostgreSQL is shared by the session)."""
    with db.transaction() as session:
        clear_state(session)
    return db


@pytest.fixture
def workers(iot_db: Database, topology: Topology) -> Iterator[Callable[..., IotWorker]]:
    """Start workers on the test's database; every one still running is stopped at the end."""
    started: list[IotWorker] = []

    def start(settings: HubSettings, **kwargs: Any) -> IotWorker:
        worker = IotWorker(settings, iot_db, topology, **kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def publish(items: Sequence[Publication], port: int = 1883) -> int:
    with LoopbackPublisher(port=port) as devices:
        return devices.publish(items)


def relay_and_drain(settings: HubSettings, db: Database, topology: Topology) -> list[tuple[Any, bytes]]:
    """Relay the outbox, then take every message from the service queue (properties, body)."""
    with Publisher(settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()
    return basic_get_all(settings, next(iter(settings.bus.subscribers)))


def basic_get_all(settings: HubSettings, queue: str) -> list[tuple[Any, bytes]]:
    connection = pika.BlockingConnection(pika.URLParameters(settings.bus.url.get_secret_value()))
    channel, out = connection.channel(), []
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append((props, body))
    connection.close()
    return out


def marks(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(IotReading)) or 0)


def outbox_ids(db: Database) -> list[str]:
    with db.reading() as session:
        return list(session.scalars(select(OutboxRow.event_id).where(OutboxRow.message_type != "hub.deadletter")))


def reading_key(device_id: str, ts_ms: int, seq: int) -> str:
    """A reading's identity (what the hub dedupes on), as the ledger's event id."""
    return f"{device_id}@{ts_ms}#{seq}"


def readings_ledger(items: Sequence[Publication]) -> Ledger:
    """What the devices sent: per device (the source), its readings numbered by their own `seq` from 1."""
    ledger = Ledger()
    for item in items:
        obj = orjson.loads(item.payload)
        device, seq = obj["device_id"], obj["seq"]
        ledger.expect(device, seq + 1, reading_key(device, parse_ts(obj["ts"]), seq))
    return ledger


def record_commits(worker: IotWorker, ledger: Ledger) -> None:
    """Enter what each committed batch held (received) and the readings it applied, before the acks."""
    acknowledge = worker.writer._acknowledge

    def recording(batch: Sequence[Delivery], result: BatchResult) -> None:
        for delivery in batch:
            obj = orjson.loads(delivery.payload)
            ledger.entry(obj["device_id"], obj["seq"] + 1).received += 1
        for reading in result.readings:
            ledger.applied(reading_key(reading.device_id, reading.ts_ms, reading.seq))
        acknowledge(batch, result)

    worker.writer._acknowledge = recording  # type: ignore[method-assign]


def stored_readings(db: Database) -> list[str]:
    """The reading marks committed so far, as ledger ids."""
    with db.reading() as session:
        rows = session.execute(select(IotReading.device_id, IotReading.ts_ms, IotReading.seq))
        return [reading_key(*row) for row in rows]


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------- tests


def test_scripted_factory_reaches_rabbitmq_once_with_dead_letters(iot_settings: HubSettings, iot_db: Database,
                                                                  topology: Topology, workers: Any) -> None:
    metrics = CollectorRegistry()
    worker = workers(iot_settings, metrics_registry=metrics)
    scenario = demo_scenario(iot_settings.iot.topic_prefix, START)
    later = DeviceScript(iot_settings.iot.topic_prefix, MILL, START + 200_000).normal(5)  # after the bad ones
    sent = publish(scenario.publications + later)
    assert worker.wait_processed(sent, 30), worker.writer.stats
    worker.stop()

    def sample(outcome: str) -> float:
        return metrics.get_sample_value("hub_iot_readings_total", {"outcome": outcome}) or 0.0

    assert {o: sample(o) for o in scenario.outcomes} == {**scenario.outcomes, "accepted": scenario.outcomes[
        "accepted"] + 5}
    events = [orjson.loads(body) for _props, body in relay_and_drain(iot_settings, iot_db, topology)]
    kinds = Counter((e["type"], e["data"].get("state")) for e in events)
    assert kinds == {("iot.device.alert.v1", "firing"): 2, ("iot.device.alert.v1", "resolved"): 2,
                     ("service.ticket.requested.v1", None): 1,
                     ("iot.device.telemetry.v1", None): scenario.telemetry + 1}  # `later` closed the mill's 2nd
    assert len({e["id"] for e in events}) == len(events)
    dead = basic_get_all(iot_settings, topology.dead_queue.name)
    reasons = Counter(props.headers["x-hub-reason"] for props, _ in dead)
    assert reasons == {"not_utf8": 1, "not_json": 1, "invalid_reading": 1, "unknown_device": 2, "out_of_range": 1}
    for props, body in dead:
        assert props.headers["x-hub-origin"].startswith(f"mqtt:{iot_settings.iot.topic_prefix}/")
        if props.headers["x-hub-reason"] in MALFORMED:
            assert body == MALFORMED[props.headers["x-hub-reason"]]


def test_reprocessing_the_same_readings_adds_nothing(iot_settings: HubSettings, iot_db: Database,
                                                    workers: Any) -> None:
    items = demo_scenario(iot_settings.iot.topic_prefix, START).publications
    first = workers(iot_settings)
    publish(items)
    assert first.wait_processed(len(items), 30)
    first.stop()
    ids = outbox_ids(iot_db)
    again = workers(iot_settings)
    publish(items)  # a device (or a bridge) sending its buffer again
    assert again.wait_processed(len(items), 30)
    again.stop()
    assert outbox_ids(iot_db) == ids
    assert again.writer.stats.outcomes["duplicate"] == first.writer.stats.outcomes["accepted"]


def test_persistent_session_keeps_what_was_published_while_down(iot_settings: HubSettings, iot_db: Database,
                                                                workers: Any) -> None:
    script = DeviceScript(iot_settings.iot.topic_prefix, LATHE, START)
    before = script.normal(20) + script.vibration_episode(40)[:15]    # the episode starts while we are up
    while_down = script.vibration_episode(40)[:30] + script.normal(25)  # ...fires and resolves while down
    first = workers(iot_settings)
    publish(before)
    assert first.wait_processed(len(before), 30)
    first.stop()
    publish(while_down)  # the broker queues these for the hub's session
    second = workers(iot_settings)
    assert second.wait_processed(len(while_down), 30)
    time.sleep(0.3)  # anything extra (a redelivery) would show up now
    second.stop()
    assert marks(iot_db) == len(before) + len(while_down)
    assert first.writer.stats.outcomes.get("duplicate", 0) + second.writer.stats.outcomes.get("duplicate", 0) == 0
    ids = outbox_ids(iot_db)
    assert len(ids) == len(set(ids)) == 4  # alert firing + resolved, ticket, one closed window


def test_back_pressure_keeps_the_backlog_in_mosquitto(iot_settings: HubSettings, iot_db: Database,
                                                      workers: Any) -> None:
    settings = iot_settings.model_copy(update={"iot": iot_settings.iot.model_copy(
        update={"queue_size": 10, "batch_size": 5})})
    held: list[int] = []
    worker = IotWorker(settings, iot_db, before_batch=lambda _batch: time.sleep(0.02))
    submit, received = worker.writer.submit, [0]

    def counting_submit(stream: str, record: Any) -> None:
        received[0] += 1
        held.append(received[0] - worker.writer.stats.acked)  # delivered to the hub, not yet acknowledged
        submit(stream, record)

    worker.writer.submit = counting_submit  # type: ignore[method-assign]
    worker.start()
    try:
        items = DeviceScript(settings.iot.topic_prefix, LATHE, START).normal(300)
        publish(items)  # every reading acknowledged by the broker...
        assert worker.writer.stats.deliveries < len(items)  # ...while the hub has taken only part of them
        assert worker.wait_processed(len(items), 60)
    finally:
        worker.stop()
    assert worker.writer.stats.peak_depth <= 10
    # Receive Maximum: the broker holds the rest. The counters here race with the acks in flight
    # by up to a batch, hence the slack; without Receive Maximum this would be about 300.
    assert max(held) <= 10 + 2 * 5
    assert worker.writer.stats.outcomes == {"accepted": 300}


def test_bad_database_commit_is_retried_and_nothing_is_lost(iot_settings: HubSettings, iot_db: Database,
                                                            workers: Any) -> None:
    from sqlalchemy.exc import OperationalError

    failures = [3]

    def flaky(_batch: Sequence[Delivery]) -> None:
        if failures[0] > 0:
            failures[0] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    worker = workers(iot_settings, before_batch=flaky)
    items = DeviceScript(iot_settings.iot.topic_prefix, SPARE, START).normal(30)
    publish(items)
    assert worker.wait_processed(len(items), 30)
    assert worker.writer.stats.retries == 3 and worker.writer.stats.outcomes == {"accepted": 30}
    assert marks(iot_db) == 30


WORKER = ("import threading; from hub.core.settings import load_settings; "
          "from hub.app.iot_worker import run_iot_worker; run_iot_worker(load_settings(), threading.Event())")


def worker_env(settings: HubSettings) -> dict[str, str]:
    """The environment a deployment would set for these settings."""
    bus, iot = settings.bus, settings.iot
    return {**os.environ, "HUB_DATABASE_URL": settings.database_url.get_secret_value(),
            "HUB_BUS__URL": bus.url.get_secret_value(), "HUB_BUS__EVENTS_EXCHANGE": bus.events_exchange,
            "HUB_BUS__DEAD_EXCHANGE": bus.dead_exchange, "HUB_BUS__DEAD_QUEUE": bus.dead_queue,
            "HUB_IOT__TOPIC_PREFIX": iot.topic_prefix, "HUB_IOT__CLIENT_ID": iot.client_id,
            "HUB_IOT__DEVICES_PATH": str(iot.devices_path), "HUB_IOT__BATCH_SIZE": "5",
            "HUB_IOT__BATCH_WAIT_MS": "5", "HUB_LOG_LEVEL": "WARNING"}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_worker_killed_mid_stream_loses_nothing_and_applies_once(iot_settings: HubSettings, iot_db: Database,
                                                                 topology: Topology) -> None:
    script = DeviceScript(iot_settings.iot.topic_prefix, SPARE, START)
    items = script.normal(40) + script.vibration_episode(40) + script.normal(300)
    ledger = readings_ledger(items)
    process = subprocess.Popen([sys.executable, "-c", WORKER], env=worker_env(iot_settings))
    try:
        with LoopbackPublisher() as devices:
            first = items[0]  # sent until it is stored: then the worker is subscribed (repeats are duplicates)
            wait_for(lambda: devices.send(first).wait_for_publish(1) or marks(iot_db) > 0, 60, "the worker")
            sent = [devices.send(item) for item in items[1:]]
            wait_for(lambda: marks(iot_db) >= 100, 30, "part of the stream to be committed")
            process.send_signal(signal.SIGKILL)  # no flush, no ack, no DISCONNECT
            process.wait(10)
            for info in sent:
                info.wait_for_publish(10)  # the broker holds everything the worker did not acknowledge
    finally:
        if process.poll() is None:
            process.kill()
    committed = stored_readings(iot_db)  # what the killed worker applied
    assert len(committed) < len(items)
    for key in committed:
        ledger.applied(key)
    survivor = IotWorker(iot_settings, iot_db, topology)
    record_commits(survivor, ledger)  # what the survivor applies, counted apart: a reading applied by both shows
    survivor.start()
    try:
        wait_for(lambda: marks(iot_db) == len(items), 30, "the rest after the restart")
        time.sleep(0.3)
    finally:
        survivor.stop()
    assert survivor.writer.stats.outcomes["accepted"] == len(items) - len(committed)  # the rest, each once
    ids = outbox_ids(iot_db)
    assert len(ids) == len(set(ids))
    with iot_db.reading() as session:
        alerts = session.scalar(select(func.count()).select_from(OutboxRow)
                                .where(OutboxRow.routing_key == "iot.device.alert.v1"))
    assert alerts == 2  # the vibration episode fired and resolved once, across the crash
    ledger.assert_clean()


# ------------------------------------------------------------------------------ broker restarted


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateMosquitto:
    """A Mosquitto with persistence on a free loopback port, for restarting it under a test."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\nuser {getpass.getuser()}\n"
            f"persistence_location {folder}/\nautosave_interval 1\nmax_queued_messages 100000\n"
            f"log_dest file {folder}/mosquitto.log\n", encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _listening(self.port), 10, "mosquitto to listen")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # a clean stop writes the persistence file
            self.process.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[PrivateMosquitto]:
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed")
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_broker_restart_with_telemetry_in_flight_delivers_once(iot_settings: HubSettings, iot_db: Database,
                                                               private_mosquitto: PrivateMosquitto) -> None:
    settings = iot_settings.model_copy(update={"iot": iot_settings.iot.model_copy(
        update={"port": private_mosquitto.port, "queue_size": 20, "batch_size": 10})})
    items = DeviceScript(settings.iot.topic_prefix, LATHE, START).normal(200)
    ledger = readings_ledger(items)
    worker = IotWorker(settings, iot_db, before_batch=lambda _batch: time.sleep(0.05))
    record_commits(worker, ledger)
    worker.start()
    try:
        publish(items, port=private_mosquitto.port)
        wait_for(lambda: worker.writer.stats.deliveries >= 40, 30, "a part of the backlog")
        private_mosquitto.stop()  # with messages delivered-but-unacknowledged and a backlog queued
        time.sleep(0.5)
        private_mosquitto.start()
        assert worker.wait_processed(len(items), 60), worker.writer.stats
        time.sleep(0.5)  # redeliveries of what was in flight arrive now
    finally:
        worker.stop()
        discard_session(settings.iot)
    assert worker.metrics.registry.get_sample_value("hub_iot_connections_total", {"result": "lost"}) == 1
    assert worker.listener.sessions_lost == 0  # the broker restored our session from its persistence file
    assert marks(iot_db) == 200
    assert worker.writer.stats.outcomes["accepted"] == 200  # duplicates, if any, were only counted
    ledger.assert_clean()
