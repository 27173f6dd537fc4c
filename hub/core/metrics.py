"""Prometheus metrics: definitions on an injected registry, and collectors that read at scrape time.

    HubMetrics             counters and histograms the long-running processes update
                           (sync pipeline, relay, consumers, worker, alert forwarding)
    DatabaseCollector      hub tables read at scrape time: outbox backlog, last successful sync
                           per stream, stream health, worker heartbeats, data-quality scores,
                           MDM review queue and merges; batch runs in Airflow are visible
                           without a Pushgateway because their results live in the database
    BrokerCollector        queue depths (consumer lag) and the dead-letter queue, per scrape

Names are `hub_<area>_<thing>_<unit>`, counters end in `_total`. Labels come from LABELS only,
never a customer, order or device id. Library code never touches prometheus_client's global
registry: every process builds one CollectorRegistry and passes it in. A table that does not
exist (yet) yields no sample, never a failed scrape.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from hub.core.db import Database
from hub.core.models import Checkpoint, OutboxRow

log = logging.getLogger(__name__)

# The only label names any hub metric may carry (a test checks every definition).
LABELS = frozenset({
    "connector", "stream", "tier", "type", "reason", "outcome", "consumer", "queue", "worker", "component",
    "entity", "dimension", "origin",
})

# Seconds: a batch publish confirms in milliseconds; end to end spans relay polling and hourly tiers.
PUBLISH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
END_TO_END_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
SYNC_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)


class HubMetrics:
    """Every metric a hub process updates itself, registered on one injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.sync_runs = Counter("hub_sync_runs_total", "Stream syncs finished, by outcome "
                                 "(success, retriable_error, fatal_error)", ["connector", "stream", "outcome"],
                                 registry=r)
        self.sync_records = Counter("hub_sync_records_total", "Source records read by syncs",
                                    ["connector", "stream"], registry=r)
        self.sync_events = Counter("hub_sync_events_total", "Canonical events written to the outbox by syncs",
                                   ["connector", "type"], registry=r)
        self.sync_dead_letters = Counter("hub_sync_dead_letters_total", "Source records dead-lettered by syncs",
                                         ["connector", "stream", "reason"], registry=r)
        self.sync_duration = Histogram("hub_sync_duration_seconds", "Duration of one stream sync",
                                       ["connector", "stream"], buckets=SYNC_BUCKETS, registry=r)
        self.relay_messages = Counter("hub_relay_messages_total", "Outbox rows the relay handled, by outcome "
                                      "(published, unroutable, not_confirmed)", ["type", "outcome"], registry=r)
        self.publish_latency = Histogram("hub_relay_publish_latency_seconds", "Publish-to-confirm time of one "
                                         "relay batch", buckets=PUBLISH_BUCKETS, registry=r)
        self.consumer_events = Counter("hub_consumer_events_total", "Messages a consumer settled, by outcome "
                                       "(applied, deduplicated, dead_lettered, requeued)",
                                       ["consumer", "type", "outcome"], registry=r)
        self.end_to_end_latency = Histogram("hub_consumer_end_to_end_latency_seconds", "From the event's "
                                            "creation in the hub to its effect committed by a consumer",
                                            ["consumer"], buckets=END_TO_END_BUCKETS, registry=r)
        self.component_up = Gauge("hub_worker_component_up", "1 while a worker component runs",
                                  ["component"], registry=r)
        self.component_failures = Counter("hub_worker_component_failures_total", "Worker components that "
                                          "stopped with an error", ["component"], registry=r)
        self.alerts_forwarded = Counter("hub_alerts_forwarded_total", "Alertmanager notifications forwarded "
                                        "to WeCom, by outcome (sent, failed)", ["outcome"], registry=r)
        # Incremented by the WeCom connector (token endpoint refused or unreachable).
        self.wecom_token_failures = Counter("hub_wecom_token_failures_total", "Failures to get a WeCom "
                                            "access token", registry=r)

    # -- sync pipeline -----------------------------------------------------------------------

    def sync_page(self, connector: str, stream: str, event_type: str, received: int, published: int,
                  dead_reasons: Iterable[str]) -> None:
        """Count one committed page of a stream sync."""
        self.sync_records.labels(connector, stream).inc(received)
        if published:
            self.sync_events.labels(connector, event_type).inc(published)
        for reason in dead_reasons:
            self.sync_dead_letters.labels(connector, stream, reason).inc()

    def sync_finished(self, connector: str, stream: str, outcome: str, seconds: float) -> None:
        """Count a finished stream sync and its duration."""
        self.sync_runs.labels(connector, stream, outcome).inc()
        self.sync_duration.labels(connector, stream).observe(seconds)

    # -- relay and consumers -----------------------------------------------------------------

    def relay_batch(self, types: Sequence[str | None], outcomes: Sequence[str], seconds: float) -> None:
        """Count one relay batch: per-message outcome (published, unroutable, not_confirmed) and latency."""
        self.publish_latency.observe(seconds)
        for event_type, outcome in zip(types, outcomes, strict=True):
            self.relay_messages.labels(event_type or "dead_letter", outcome).inc()

    def consumer_settled(self, consumer: str, event_type: str, outcome: str, latency_s: float | None) -> None:
        """Count one settled message; applied ones also give their end-to-end latency."""
        self.consumer_events.labels(consumer, event_type, outcome).inc()
        if latency_s is not None:
            self.end_to_end_latency.labels(consumer).observe(max(latency_s, 0.0))


# -- scrape-time collectors -----------------------------------------------------------------


def _epoch(moment: dt.datetime | None) -> float | None:
    """Seconds since the epoch; naive datetimes from SQLite are UTC."""
    if moment is None:
        return None
    if isinstance(moment, str):  # SQLite through text() gives strings
        moment = dt.datetime.fromisoformat(moment)
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp()


@dataclass(frozen=True, slots=True)
class TableQuery:
    """A gauge or counter whose samples one SQL query returns as (label values…, value) rows."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    sql: str
    kind: str = "gauge"  # "gauge" | "counter" (a running total the database keeps)
    timestamps: bool = False  # the value column is a datetime, exported as epoch seconds


# MDM tables (migration 0002, written by mdm/): an open pair is a candidate duplicate a data
# steward has not decided yet; every merge (by a steward or automatic) leaves a 'merge' audit row.
MDM_QUERIES: tuple[TableQuery, ...] = (
    TableQuery("hub_mdm_review_queue_size", "Open MDM pairs (duplicates pending a steward's review)", ("entity",),
               "SELECT entity, COUNT(*) FROM mdm_pair WHERE status = 'open' GROUP BY entity"),
    TableQuery("hub_mdm_review_oldest_timestamp_seconds", "Creation time of the oldest open MDM pair",
               ("entity",), "SELECT entity, MIN(created_at) FROM mdm_pair WHERE status = 'open' GROUP BY entity",
               timestamps=True),
    TableQuery("hub_mdm_merges", "Golden records merged into another (steward or automatic)", ("entity",),
               "SELECT entity, COUNT(*) FROM mdm_audit WHERE operation = 'merge' GROUP BY entity", kind="counter"),
    TableQuery("hub_mdm_golden_records", "Active golden records", ("entity",),
               "SELECT entity, COUNT(*) FROM mdm_golden WHERE status = 'active' GROUP BY entity"),
)

QUALITY_QUERIES: tuple[TableQuery, ...] = (
    TableQuery("hub_quality_score_ratio", "Data-quality score of the last daily report (0..1)",
               ("entity", "dimension"), "SELECT entity, dimension, score FROM hub_quality_score"),
    TableQuery("hub_quality_report_timestamp_seconds", "When the last data-quality report was computed",
               (), "SELECT MAX(measured_at) FROM hub_quality_score", timestamps=True),
)

OPS_QUERIES: tuple[TableQuery, ...] = (
    TableQuery("hub_worker_heartbeat_timestamp_seconds", "Last heartbeat a worker wrote", ("worker",),
               "SELECT worker, beat_at FROM hub_worker_heartbeat WHERE stopped_at IS NULL", timestamps=True),
    TableQuery("hub_sync_last_run_timestamp_seconds", "When a stream sync last finished, either way",
               ("connector", "stream", "outcome"),
               "SELECT connector, stream, outcome, finished_at FROM hub_stream_run", timestamps=True),
    TableQuery("hub_sync_consecutive_failures", "Failed syncs of a stream since its last success",
               ("connector", "stream"), "SELECT connector, stream, consecutive_failures FROM hub_stream_run"),
    # A connector is up while the last sync of every one of its streams succeeded.
    TableQuery("hub_connector_up", "1 when the last sync of every stream of the connector succeeded",
               ("connector",), "SELECT connector, MIN(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) "
               "FROM hub_stream_run GROUP BY connector"),
)


class DatabaseCollector(Collector):
    """Reads hub tables at scrape time; each query stands alone: a missing table costs only its own metric."""

    def __init__(self, db: Database | Callable[[], Database],
                 stream_tiers: Mapping[tuple[str, str], str] | None = None,
                 queries: Sequence[TableQuery] = OPS_QUERIES + QUALITY_QUERIES + MDM_QUERIES) -> None:
        self._db = db  # or a function giving it, so an app can register before its database is opened
        self.stream_tiers = dict(stream_tiers or {})
        self.queries = tuple(queries)

    @property
    def db(self) -> Database:
        """The database to read (resolved at the first scrape when given as a function)."""
        return self._db if isinstance(self._db, Database) else self._db()

    def describe(self) -> list[Metric]:
        """Nothing up front: the registry must not run queries when the collector is registered."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every sample the database can give now."""
        yield from self._safe("outbox", self._outbox)
        yield from self._safe("checkpoints", self._checkpoints)
        for query in self.queries:
            yield from self._safe(query.name, lambda q=query: self._table(q))  # type: ignore[misc]

    def _safe(self, what: str, read: Callable[[], list[Metric]]) -> list[Metric]:
        try:
            return read()
        except SQLAlchemyError as exc:  # no such table yet, or the database is down for a moment
            log.debug("metrics: %s not collected (%s)", what, type(exc).__name__)
            return []

    def _outbox(self) -> list[Metric]:
        with self.db.reading() as session:
            pending, oldest = session.execute(
                select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.status == "pending")).one()
        backlog = GaugeMetricFamily("hub_outbox_backlog_messages", "Outbox rows waiting for the relay",
                                    value=float(pending))
        age = GaugeMetricFamily("hub_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row "
                                "(0 when none)", value=max(0.0, time.time() - (_epoch(oldest) or time.time())))
        return [backlog, age]

    def _checkpoints(self) -> list[Metric]:
        columns = (Checkpoint.connector, Checkpoint.stream, Checkpoint.last_success_at, Checkpoint.records_total)
        with self.db.reading() as session:
            rows = session.execute(select(*columns)).all()
        last = GaugeMetricFamily("hub_sync_last_success_timestamp_seconds", "When a full sync of the stream last "
                                 "succeeded", labels=["connector", "stream", "tier"])
        records = CounterMetricFamily("hub_sync_checkpoint_records", "Records committed for the stream since its "
                                      "checkpoint was created", labels=["connector", "stream"])
        for connector, stream, success_at, total in rows:
            tier = self.stream_tiers.get((connector, stream), "unassigned")
            if success_at is not None:
                last.add_metric([connector, stream, tier], _epoch(success_at) or 0.0)
            records.add_metric([connector, stream], float(total or 0))
        return [last, records]

    def _table(self, query: TableQuery) -> list[Metric]:
        with self.db.reading() as session:
            rows = session.execute(text(query.sql)).all()
        family: Metric
        if query.kind == "counter":
            family = CounterMetricFamily(query.name, query.documentation, labels=list(query.labels))
        else:
            family = GaugeMetricFamily(query.name, query.documentation, labels=list(query.labels))
        for row in rows:
            *labels, value = row
            number = _epoch(value) if query.timestamps else value
            if number is not None:
                family.add_metric([str(v) for v in labels], float(number))
        return [family]


class BrokerCollector(Collector):
    """Queue depths from RabbitMQ at scrape time (passive declares on one short connection)."""

    def __init__(self, bus: Any, queues: Sequence[str], dead_queue: str) -> None:
        self.bus = bus
        self.queues = tuple(queues)
        self.dead_queue = dead_queue

    def describe(self) -> list[Metric]:
        """Nothing up front (no broker call at registration)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Depth and consumers of every hub queue; hub_bus_up 0 when the broker cannot be asked."""
        up = GaugeMetricFamily("hub_bus_up", "1 when the broker answered this scrape")
        try:
            depths = self._depths()
        except Exception as exc:  # any broker trouble is a sample, never a failed scrape
            log.debug("metrics: broker not reachable (%s)", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        depth = GaugeMetricFamily("hub_bus_queue_depth_messages", "Messages ready in a subscriber queue "
                                  "(consumer lag)", labels=["queue"])
        consumers = GaugeMetricFamily("hub_bus_queue_consumers", "Consumers attached to a queue", labels=["queue"])
        for name, (messages, attached) in depths.items():
            if name != self.dead_queue:
                depth.add_metric([name], float(messages))
            consumers.add_metric([name], float(attached))
        yield depth
        yield consumers
        if self.dead_queue in depths:
            yield GaugeMetricFamily("hub_bus_dlq_depth_messages", "Dead letters waiting in the dead-letter queue",
                                    value=float(depths[self.dead_queue][0]))

    def _depths(self) -> dict[str, tuple[int, int]]:
        import pika.exceptions

        from hub.core.amqp import blocking_connection

        out: dict[str, tuple[int, int]] = {}
        connection = blocking_connection(self.bus)
        try:
            for name in (*self.queues, self.dead_queue):
                channel = connection.channel()
                try:
                    frame = channel.queue_declare(name, passive=True)
                    out[name] = (int(frame.method.message_count), int(frame.method.consumer_count))
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:  # queue not declared (yet): no sample
                    continue
        finally:
            if connection.is_open:
                connection.close()
        return out


def register_collectors(registry: CollectorRegistry, db: Database | Callable[[], Database] | None = None, *,
                        stream_tiers: Mapping[tuple[str, str], str] | None = None, bus: Any = None,
                        queues: Sequence[str] = (), dead_queue: str | None = None) -> None:
    """Add the scrape-time collectors a process should expose (database and/or broker)."""
    if db is not None:
        registry.register(DatabaseCollector(db, stream_tiers))
    if bus is not None and dead_queue is not None:
        registry.register(BrokerCollector(bus, queues, dead_queue))


# Families the scrape-time collectors yield (their names are fixed in the code above).
COLLECTED: dict[str, str] = {
    "hub_outbox_backlog_messages": "gauge", "hub_outbox_oldest_pending_age_seconds": "gauge",
    "hub_sync_last_success_timestamp_seconds": "gauge", "hub_sync_checkpoint_records": "counter",
    "hub_bus_up": "gauge", "hub_bus_queue_depth_messages": "gauge", "hub_bus_queue_consumers": "gauge",
    "hub_bus_dlq_depth_messages": "gauge",
    **{q.name: q.kind for q in OPS_QUERIES + QUALITY_QUERIES + MDM_QUERIES},
}

_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
             "histogram": ("_bucket", "_sum", "_count", "_created")}


def series_names() -> set[str]:
    """Every series name the hub can expose: what alert rules and dashboards may refer to."""
    names: set[str] = set()
    for metric in _defined_families():
        names.update(metric.name + suffix for suffix in _SUFFIXES.get(metric.type, ("",)))
    for name, kind in COLLECTED.items():
        names.update(name + suffix for suffix in _SUFFIXES[kind] if suffix != "_created")
    return names


def _defined_families() -> list[Metric]:
    registry = CollectorRegistry()
    HubMetrics(registry)
    return list(registry.collect())
