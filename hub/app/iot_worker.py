"""The IoT worker: the MQTT listener and the telemetry writer, run until a stop event; and its demo.

    run_iot_worker(settings, stop)    long-running (`hub worker`): SIGTERM sets `stop`, then the
                                      listener stops handing over messages, the writer commits and
                                      acknowledges what it holds, and the client disconnects; what
                                      was not committed stays with the broker for the next start.
    run_iot_demo(settings)            publishes the scripted factory to the broker, processes it,
                                      relays the outbox and returns the counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry

from connectors.iot.client import discard_session
from connectors.iot.connector import IotConnector
from connectors.iot.metrics import IotMetrics
from connectors.iot.simulator import simulated_iot
from connectors.iot.writer import BatchHook, TelemetryWriter, WriterStats
from connectors.testing.iot_devices import LoopbackPublisher, demo_scenario
from hub.core import outbox
from hub.core.db import Database, open_database
from hub.core.errors import SourceUnavailable
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings, IotSettings
from hub.core.topology import Topology, apply, build_topology

log = logging.getLogger(__name__)

DEMO_START = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)


@dataclass
class IotWorkerStats:
    """What a worker run did."""

    writer: WriterStats
    sessions_lost: int = 0


class IotWorker:
    """The listener and the writer of one hub, started and stopped together."""

    def __init__(self, settings: HubSettings, db: Database, topology: Topology | None = None, *,
                 metrics_registry: CollectorRegistry | None = None,
                 before_batch: BatchHook | None = None) -> None:
        iot = settings.iot
        connector = IotConnector(iot)
        self.metrics = IotMetrics(metrics_registry)
        self.listener = connector.listener(self.metrics)
        self.writer = TelemetryWriter(
            db, topology or build_topology(settings.bus), connector.processor(), self.listener.ack,
            metrics=self.metrics, queue_size=iot.queue_size, batch_size=iot.batch_size,
            batch_wait_s=iot.batch_wait_ms / 1000, before_batch=before_batch)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def run(self, stop: threading.Event) -> IotWorkerStats:
        """Listen and write until `stop` is set (or a part fails for good), then shut down gracefully."""
        drain = threading.Event()
        writer = threading.Thread(target=self._write, args=(drain, stop), name="iot-writer", daemon=True)
        listener = threading.Thread(target=self._listen, args=(stop,), name="iot-listener", daemon=True)
        writer.start()
        listener.start()
        stop.wait()
        self.listener.pause()  # nothing new for the writer; what arrives now stays with the broker
        drain.set()
        writer.join()          # commits and acknowledges everything it holds
        self.listener.stop()   # then DISCONNECT, after the acknowledgements
        listener.join()
        if self._failure is not None:
            raise self._failure
        return IotWorkerStats(self.writer.stats, self.listener.sessions_lost)

    def _listen(self, stop: threading.Event) -> None:
        try:
            self.listener.run(self.writer.submit)
        except BaseException as exc:  # a fatal broker answer (credentials, client id): stop the worker
            self._failure = exc
            stop.set()

    def _write(self, drain: threading.Event, stop: threading.Event) -> None:
        try:
            self.writer.run(drain)
        except BaseException as exc:  # a writer that died would leave every message unacknowledged
            log.exception("iot: the writer stopped")
            self._failure = self._failure or exc
            stop.set()

    # ------------------------------------------------------------------ in a thread (tests, demo)

    def start(self, ready_timeout_s: float = 10.0) -> IotWorker:
        """Run in a background thread; returns once subscribed (raises SourceUnavailable otherwise)."""
        self._thread = threading.Thread(target=self._run_quietly, name="iot-worker", daemon=True)
        self._thread.start()
        if not self.listener.wait_ready(ready_timeout_s):
            self.stop()
            raise self._failure or SourceUnavailable("MQTT listener did not subscribe in time")
        return self

    def _run_quietly(self) -> None:
        try:
            self.run(self._stop)
        except BaseException as exc:
            self._failure = exc

    def stop(self, timeout_s: float = 30.0) -> IotWorkerStats:
        """Stop the background run gracefully and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        return IotWorkerStats(self.writer.stats, self.listener.sessions_lost)

    def wait_processed(self, count: int, timeout_s: float = 30.0) -> bool:
        """True once `count` deliveries have been committed (whatever their outcome)."""
        deadline = time.monotonic() + timeout_s
        while self.writer.stats.deliveries < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def run_iot_worker(settings: HubSettings, stop: threading.Event, *, db: Database | None = None,
                   metrics_registry: CollectorRegistry | None = None) -> IotWorkerStats:
    """Run the IoT listener and writer until `stop` is set; SIGTERM-friendly with install_stop_signals()."""
    database = db or open_database(settings.database_url.get_secret_value())
    try:
        return IotWorker(settings, database, metrics_registry=metrics_registry).run(stop)
    finally:
        if db is None:
            database.dispose()


def install_stop_signals(stop: threading.Event,
                         signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Set `stop` on SIGTERM / SIGINT (call from the main thread)."""
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for number in signals:
        signal.signal(number, handler)


# ------------------------------------------------------------------------------------------ demo


@dataclass
class IotDemoReport:
    """What the IoT demo published, what the hub made of it and what reached the bus."""

    published: int
    outcomes: dict[str, int]
    events: dict[str, int]
    relayed: int
    expected: dict[str, Any] = field(default_factory=dict)


def demo_settings(settings: HubSettings) -> HubSettings:
    """The settings with the simulated factory's prefix, client id and registry on the configured broker."""
    iot = {**simulated_iot(), "host": settings.iot.host, "port": settings.iot.port}
    return settings.model_copy(update={"iot": IotSettings(**{**settings.iot.model_dump(), **iot})})


def run_iot_demo(settings: HubSettings, *, db: Database | None = None,
                 timeout_s: float = 60.0) -> IotDemoReport:
    """Publish the scripted factory, process it with a worker, relay the outbox; return the counts."""
    settings = demo_settings(settings)
    database = db or open_database(settings.database_url.get_secret_value())
    topology = build_topology(settings.bus)
    apply(settings.bus, topology)
    scenario = demo_scenario(settings.iot.topic_prefix, int(DEMO_START.timestamp() * 1000))
    worker = IotWorker(settings, database, topology).start()
    try:
        with LoopbackPublisher(settings.iot.host, settings.iot.port) as devices:
            published = devices.publish(scenario.publications)
        worker.wait_processed(published, timeout_s)
    finally:
        stats = worker.stop()
        discard_session(settings.iot)
    with Publisher(settings.bus) as publisher:
        relayed = outbox.Relay(database, publisher, topology).drain()
    if db is None:
        database.dispose()
    expected = {"outcomes": dict(scenario.outcomes), "alerts_firing": scenario.alerts_firing,
                "alerts_resolved": scenario.alerts_resolved, "tickets": scenario.tickets,
                "telemetry": scenario.telemetry}
    return IotDemoReport(published, dict(stats.writer.outcomes), dict(stats.writer.kinds), relayed.sent,
                         expected)

