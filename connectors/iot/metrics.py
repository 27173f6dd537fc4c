"""Prometheus metrics of the IoT connector, registered on an injected CollectorRegistry.

    hub_iot_readings_total{outcome}     accepted | duplicate | malformed | unknown_device
                                        | out_of_range | late
    hub_iot_events_total{type}          telemetry | alert | ticket | dead_letter
    hub_iot_queue_depth                 deliveries waiting for the writer (bounded by HUB_IOT__QUEUE_SIZE)
    hub_iot_queue_peak                  the largest depth seen
    hub_iot_batch_seconds               time to process and commit one batch
    hub_iot_connections_total{result}   connected | lost | refused
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OUTCOMES = ("accepted", "duplicate", "malformed", "unknown_device", "out_of_range", "late")
EVENT_KINDS = ("telemetry", "alert", "ticket", "dead_letter")
CONNECTION_RESULTS = ("connected", "lost", "refused")


class IotMetrics:
    """The connector's counters and gauges; a fresh registry unless one is injected."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.readings = Counter("hub_iot_readings_total", "MQTT telemetry messages by outcome", ["outcome"],
                                registry=self.registry)
        self.events = Counter("hub_iot_events_total", "outbox rows written by kind", ["type"],
                              registry=self.registry)
        self.queue_depth = Gauge("hub_iot_queue_depth", "deliveries waiting for the writer",
                                 registry=self.registry)
        self.queue_peak = Gauge("hub_iot_queue_peak", "largest queue depth seen", registry=self.registry)
        self.batch_seconds = Histogram("hub_iot_batch_seconds", "process and commit one batch",
                                       buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
                                       registry=self.registry)
        self.connections = Counter("hub_iot_connections_total", "MQTT connection changes", ["result"],
                                   registry=self.registry)
        for outcome in OUTCOMES:  # every series exists from the start, so rates work from zero
            self.readings.labels(outcome)
        for kind in EVENT_KINDS:
            self.events.labels(kind)
        for result in CONNECTION_RESULTS:
            self.connections.labels(result)
