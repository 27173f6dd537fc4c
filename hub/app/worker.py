"""`hub worker`: the long-running real-time side, composed of named components.

    relay          publishes the outbox with confirms (hub.core.outbox.Relay)
    erp_commands   consumes CRM contract events and creates ERP sales orders
    pollers        one poller per `tier: realtime` stream of tiers.yaml that has an `interval`
    iot            the MQTT listener and telemetry writer (hub/app/iot_worker.py: run_iot_worker)
    mdm_intake     the MDM intake consumer (hub/app/mdm_intake.py, `mdm_intake_components(context)`)

`HUB_WORKER__COMPONENTS='["relay","erp_commands"]'` picks them. Each runs in a thread of its own;
the main thread writes the heartbeat (table hub_worker_heartbeat) every HUB_WORKER__HEARTBEAT_S
and serves /metrics. SIGTERM or SIGINT asks every component to finish the batch in hand (the
relay its publish pass, a consumer its batch, a poller its page) and the process exits 0; a
component that dies with an error stops the worker with exit code 1, so the supervisor restarts
it. Killed harder than that, nothing is lost either: the outbox, checkpoints and processed ids
are transactional.

To add a component: write `def my_components(context: WorkerContext) -> list[Component]` and
add one line to COMPONENTS below (or call `register_component` before `run_worker`).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from hub.app.ops_settings import WorkerSettings
from hub.app.runtime import Runtime
from hub.app.tiers import StreamEntry, SyncInterrupted, TiersConfig, load_tiers, sync_and_record
from hub.core import ops
from hub.core.errors import ConfigError, is_retriable
from hub.core.metrics import HubMetrics, register_collectors

log = logging.getLogger(__name__)


class Component(Protocol):
    """A long-running piece of the worker."""

    name: str

    def run(self) -> None:
        """Work until stop() is called; then finish the batch in hand and return."""

    def stop(self) -> None:
        """Ask run() to return (called from another thread)."""


@dataclass
class WorkerContext:
    """What component factories get: settings, shared runtime (db, topology, publisher), metrics."""

    runtime: Runtime
    settings: WorkerSettings
    metrics: HubMetrics
    _tiers: TiersConfig | None = field(default=None, repr=False)

    @property
    def tiers(self) -> TiersConfig:
        """The tiers file (read on first use; only the pollers need it)."""
        if self._tiers is None:
            self._tiers = load_tiers(self.settings.tiers_path)
        return self._tiers


ComponentFactory = Callable[[WorkerContext], "list[Component]"]

# The registration point: component name → "module:factory". Factories are imported only when a
# worker runs that component, so a component whose module is not written yet costs nothing.
COMPONENTS: dict[str, str] = {
    "relay": "hub.app.worker:relay_components",
    "erp_commands": "hub.app.worker:erp_commands_components",
    "pollers": "hub.app.worker:poller_components",
    "iot": "hub.app.worker:iot_components",  # adapts hub.app.iot_worker.run_iot_worker
    "mdm_intake": "hub.app.mdm_intake:mdm_intake_components",
}
_REGISTERED: dict[str, ComponentFactory] = {}


def register_component(name: str, factory: ComponentFactory) -> None:
    """Register (or replace) a component factory under a name, e.g. from a plugin or a test."""
    _REGISTERED[name] = factory


def component_factory(name: str) -> ComponentFactory:
    """The factory of a named component; a ConfigError names the known ones."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in COMPONENTS:
        known = ", ".join(sorted({*COMPONENTS, *_REGISTERED}))
        raise ConfigError(f"HUB_WORKER__COMPONENTS: unknown component {name!r}; known: {known}")
    module, _, function = COMPONENTS[name].partition(":")
    try:
        factory: ComponentFactory = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"HUB_WORKER__COMPONENTS: component {name!r} needs {COMPONENTS[name]}, which is not "
                          f"available ({type(exc).__name__}: {exc})") from None
    return factory


# -- built-in components ---------------------------------------------------------------------


class RelayComponent:
    """The outbox relay: one publish pass at a time, backing off while the broker is away."""

    name = "relay"

    def __init__(self, context: WorkerContext) -> None:
        from hub.core.outbox import Relay

        rt = context.runtime
        self.relay = Relay(rt.db, rt.publisher, rt.topology, rt.settings.relay.batch_size, metrics=context.metrics)
        self.pacing = rt.settings.relay
        self._stop = threading.Event()

    def run(self) -> None:
        """Relay until stopped; a pass in progress publishes and records everything it took."""
        self.relay.run(self._stop, self.pacing.idle_poll_s, self.pacing.max_backoff_s)

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()


class ConsumerComponent:
    """A bus consumer that reconnects until stopped (Consumer.serve)."""

    def __init__(self, name: str, consumer: Any, on_close: Callable[[], None] | None = None) -> None:
        self.name = name
        self.consumer = consumer
        self.on_close = on_close

    def run(self) -> None:
        """Consume; the batch in hand is applied and acknowledged before returning."""
        try:
            self.consumer.serve()
        finally:
            if self.on_close is not None:
                self.on_close()

    def stop(self) -> None:
        """Stop after the batch in hand."""
        self.consumer.stop()


class PollerComponent:
    """Syncs one realtime stream every `interval` seconds, with the worker's shared database."""

    def __init__(self, context: WorkerContext, entry: StreamEntry) -> None:
        self.name = f"poll:{entry.connector}/{entry.stream}"
        self.context, self.entry = context, entry
        self.interval_s = entry.interval_s or 60.0
        self._stop = threading.Event()

    def run(self) -> None:
        """Poll until stopped; a sync in progress stops after its current page."""
        from connectors import load_connector

        rt = self.context.runtime
        source = load_connector(self.entry.connector, rt.settings)
        try:
            while not self._stop.is_set():
                self._poll_once(source)
                self._stop.wait(self.interval_s)
        finally:
            source.close()

    def _poll_once(self, source: Any) -> None:
        rt = self.context.runtime
        try:
            sync_and_record(rt.db, rt.topology, source, self.entry.stream, metrics=self.context.metrics,
                            on_page=self._check_stop)
        except SyncInterrupted:
            log.info("%s: stopped after a committed page", self.name)
        except Exception as exc:  # the next poll tries again; connector health shows the failures
            level = logging.WARNING if is_retriable(exc) else logging.ERROR
            log.log(level, "%s: %s: %s", self.name, type(exc).__name__, exc)

    def _check_stop(self, _result: Any) -> None:
        if self._stop.is_set():
            raise SyncInterrupted("stopping")

    def stop(self) -> None:
        """Stop after the page in hand (or at once while waiting for the next poll)."""
        self._stop.set()


def relay_components(context: WorkerContext) -> list[Component]:
    """The outbox relay."""
    return [RelayComponent(context)]


def erp_commands_components(context: WorkerContext) -> list[Component]:
    """The consumer that turns activated CRM contracts into ERP sales orders."""
    from connectors import load_connector
    from hub.app.erp_commands import CONTRACT_ACTIVATED, contract_handler
    from hub.core.consumer import Consumer

    rt = context.runtime
    queue = queue_for(rt, CONTRACT_ACTIVATED + "v1")
    connector = load_connector("soap_erp", rt.settings)  # builds no connection until a contract arrives
    handler = contract_handler(connector, rt.topology)  # type: ignore[arg-type]
    consumer = Consumer(rt.settings.bus, rt.db, rt.topology, queue, handler, metrics=context.metrics)
    return [ConsumerComponent("erp_commands", consumer, on_close=connector.close)]


def poller_components(context: WorkerContext) -> list[Component]:
    """One poller per realtime stream with an interval in tiers.yaml."""
    return [PollerComponent(context, entry) for entry in context.tiers.pollers()]


class IotComponent:
    """The MQTT listener and telemetry writer of hub/app/iot_worker.py, stopped through its event."""

    name = "iot"

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self._stop = threading.Event()

    def run(self) -> None:
        """Listen until stopped; the writer commits and acknowledges what it holds before returning."""
        from hub.app.iot_worker import run_iot_worker

        rt = self.context.runtime
        run_iot_worker(rt.settings, self._stop, db=rt.db, metrics_registry=self.context.metrics.registry)

    def stop(self) -> None:
        """Ask the listener to pause and the writer to drain."""
        self._stop.set()


def iot_components(context: WorkerContext) -> list[Component]:
    """The IoT listener (MQTT) and writer."""
    return [IotComponent(context)]


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` is zero or more."""
    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and p[0] in ("*", k[0]) and match(p[1:], k[1:])

    return match(pattern.split("."), routing_key.split("."))


def queue_for(rt: Runtime, routing_key: str) -> str:
    """The subscriber queue that receives `routing_key` (e.g. erp.commands for contract events)."""
    for queue in rt.topology.queues:
        if any(topic_matches(pattern, routing_key) for pattern in queue.bindings):
            return queue.name
    raise ConfigError(f"HUB_BUS__SUBSCRIBERS: no queue is bound for {routing_key}")


# -- the worker ------------------------------------------------------------------------------


def build_components(context: WorkerContext, names: list[str]) -> list[Component]:
    """Every component the names ask for (a name may give several, e.g. one poller per stream)."""
    out: list[Component] = []
    for name in names:
        out += component_factory(name)(context)
    return out


class Worker:
    """Runs components in threads, beats, and stops them gracefully."""

    def __init__(self, context: WorkerContext, components: list[Component]) -> None:
        self.context = context
        self.components = components
        self.name = context.settings.name or socket.gethostname()
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self._stop = threading.Event()
        self._failed: list[str] = []

    def stop(self) -> None:
        """Ask the worker to stop (signal handlers call this)."""
        self._stop.set()

    def run(self) -> int:
        """Run until stop() or a component failure; returns the exit code (0 clean, 1 a component failed)."""
        threads = [threading.Thread(target=self._guard, args=(c,), name=c.name, daemon=True) for c in self.components]
        self._prune()
        for thread in threads:
            thread.start()
        log.info("worker %s running: %s", self.name, ", ".join(c.name for c in self.components))
        while not self._stop.is_set():
            self._beat()
            self._stop.wait(self.context.settings.heartbeat_s)
        return self._shutdown(threads)

    def _guard(self, component: Component) -> None:
        up = self.context.metrics.component_up.labels(component.name)
        up.set(1)
        try:
            component.run()
        except Exception:
            log.exception("component %s failed; stopping the worker", component.name)
            self.context.metrics.component_failures.labels(component.name).inc()
            self._failed.append(component.name)
            self._stop.set()
        finally:
            up.set(0)

    def _shutdown(self, threads: list[threading.Thread]) -> int:
        log.info("worker %s stopping: finishing the batches in hand", self.name)
        for component in self.components:
            component.stop()
        deadline = self.context.settings.shutdown_timeout_s
        for thread in threads:
            thread.join(timeout=deadline)
        hung = [t.name for t in threads if t.is_alive()]
        if hung:
            log.error("components still busy after %.0fs: %s", deadline, ", ".join(hung))
        self._write(lambda s: ops.stopped(s, self.name))
        return 1 if self._failed or hung else 0

    def _beat(self) -> None:
        names = [c.name for c in self.components]
        self._write(lambda s: ops.beat(s, self.name, socket.gethostname(), os.getpid(), names, self.started_at))

    def _prune(self) -> None:
        self._write(lambda s: ops.prune_heartbeats(s, dt.timedelta(days=1)))

    def _write(self, work: Callable[[Any], Any]) -> None:
        try:
            with self.context.runtime.db.transaction() as session:
                work(session)
        except Exception as exc:  # a database blip must not stop real-time work; the watchdog notices
            log.warning("worker %s: heartbeat not written (%s)", self.name, type(exc).__name__)


def metrics_registry(context: WorkerContext) -> CollectorRegistry:
    """The process's registry: worker metrics plus database (and broker) collectors."""
    rt, settings = context.runtime, context.settings
    tiers = _stream_tiers(settings)
    bus = rt.settings.bus if settings.broker_metrics else None
    register_collectors(context.metrics.registry, rt.db, stream_tiers=tiers, bus=bus,
                        queues=[q.name for q in rt.topology.queues], dead_queue=rt.topology.dead_queue.name)
    return context.metrics.registry


def _stream_tiers(settings: WorkerSettings) -> dict[tuple[str, str], str]:
    try:
        return load_tiers(settings.tiers_path, check_streams=False).stream_tiers()
    except ConfigError as exc:  # metrics still work, only without the tier label
        log.warning("metrics: tiers file not used (%s)", str(exc).splitlines()[0])
        return {}


def start_metrics_server(context: WorkerContext) -> Any:
    """Serve /metrics on HUB_WORKER__METRICS_PORT (0: none); returns the server to shut down."""
    from prometheus_client import start_http_server

    port = context.settings.metrics_port
    if not port:
        return None
    served = start_http_server(port, context.settings.metrics_addr, registry=metrics_registry(context))
    return served[0] if isinstance(served, tuple) else None


def run_worker(runtime: Runtime, settings: WorkerSettings, names: list[str] | None = None,
               install_signals: bool = True) -> int:
    """Build the components, serve metrics, run until SIGTERM/SIGINT; returns the exit code."""
    context = WorkerContext(runtime=runtime, settings=settings, metrics=HubMetrics(CollectorRegistry()))
    components = build_components(context, names or settings.components)
    if not components:
        raise ConfigError("HUB_WORKER__COMPONENTS: nothing to run")
    worker = Worker(context, components)
    if install_signals:
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        signal.signal(signal.SIGINT, lambda *_: worker.stop())
    server = start_metrics_server(context)
    try:
        return worker.run()
    finally:
        if server is not None:
            server.shutdown()
