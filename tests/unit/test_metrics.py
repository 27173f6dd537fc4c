"""Metric definitions follow the naming rules; collectors never fail a scrape."""

from __future__ import annotations

import re
from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import create_engine

from hub.core.db import Database
from hub.core.metrics import (
    COLLECTED,
    LABELS,
    BrokerCollector,
    DatabaseCollector,
    HubMetrics,
    _defined_families,
    series_names,
)
from hub.core.settings import BusSettings

NAME = re.compile(r"^hub_[a-z]+_[a-z0-9_]+$")
UNITS = ("_total", "_seconds", "_messages", "_ratio", "_size", "_up", "_failures", "_consumers", "_records")


def test_definitions_follow_the_naming_rules_and_the_label_set() -> None:
    for family in _defined_families():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert NAME.match(name), name
        assert name.endswith(UNITS), f"{name} names no unit"
    for name, kind in COLLECTED.items():
        name += "_total" if kind == "counter" else ""
        assert NAME.match(name) and name.endswith(UNITS), name


def test_only_labels_of_the_fixed_set_are_used() -> None:
    registry = CollectorRegistry()
    metrics = HubMetrics(registry)
    metrics.sync_page("soap_erp", "customers", "src.erp.customer.changed.v1", 3, 2, ["mapping_failed"])
    metrics.sync_finished("soap_erp", "customers", "success", 1.5)
    metrics.relay_batch(["src.erp.customer.changed.v1", None], ["published", "unroutable"], 0.02)
    metrics.consumer_settled("crm.sales", "src.erp.customer.changed.v1", "applied", 0.3)
    metrics.component_up.labels("relay").set(1)
    for family in registry.collect():
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= LABELS, (sample.name, sample.labels)  # le: histogram buckets


def test_a_process_never_touches_the_global_registry() -> None:
    before = {m.name for m in prometheus_client.REGISTRY.collect()}
    HubMetrics(CollectorRegistry())
    assert {m.name for m in prometheus_client.REGISTRY.collect()} == before


def test_series_names_cover_counters_histograms_and_collected_families() -> None:
    names = series_names()
    assert {"hub_relay_messages_total", "hub_relay_publish_latency_seconds_bucket", "hub_outbox_backlog_messages",
            "hub_sync_last_success_timestamp_seconds", "hub_mdm_merges_total", "hub_bus_dlq_depth_messages"} <= names
    assert "hub_relay_messages" not in names


def test_database_collector_without_hub_tables_yields_nothing_and_does_not_fail(tmp_path: Path) -> None:
    db = Database(create_engine(f"sqlite:///{tmp_path}/empty.db"))
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(db))
    assert b"hub_" not in generate_latest(registry)  # no table, no sample; the scrape still answers
    db.dispose()


def test_broker_collector_reports_down_instead_of_failing() -> None:
    registry = CollectorRegistry()
    bus = BusSettings(url="amqp://guest:guest@127.0.0.1:9/%2F", connect_timeout_s=0.5)
    registry.register(BrokerCollector(bus, ["crm.sales"], "hub.dead"))
    assert registry.get_sample_value("hub_bus_up") == 0.0
