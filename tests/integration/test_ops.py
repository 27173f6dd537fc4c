"""Operations on SQLite and PostgreSQL: runs recorded, scrape-time collectors, watchdog, quality report, /metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from connectors.testing.erp_data import seed
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.app.quality_report import OutboxQualitySource, generate
from hub.app.runtime import Runtime
from hub.app.tiers import check_realtime, load_tiers, run_sync
from hub.app.web_metrics import metrics_router, web_registry
from hub.core import ops, outbox, state
from hub.core.db import Database
from hub.core.errors import SourceAuthError
from hub.core.events import make_event
from hub.core.metrics import DatabaseCollector, HubMetrics
from hub.core.ops_models import StreamRun
from hub.core.schemas import schema_id
from hub.core.settings import load_settings
from hub.core.topology import build_topology

OPS_TABLES = ("hub_worker_heartbeat", "hub_stream_run", "hub_quality_score", "mdm_pair", "mdm_audit")


@pytest.fixture
def clean(db: Database) -> Database:
    """The session's PostgreSQL database keeps rows between tests: start the ops tables empty."""
    with db.engine.begin() as conn:
        for table in OPS_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    return db


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    with ErpSoapServer(data=seed(n_customers=12, n_orders=6, n_inventory=8, n_receivables=6)) as server:
        yield server


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def collected(db: Database, tiers: dict[tuple[str, str], str] | None = None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(db, tiers))
    return registry


def test_run_sync_records_success_and_failure_and_counts(clean: Database, db_url: str, erp: ErpSoapServer) -> None:
    settings = load_settings(database_url=db_url, soap_erp={"wsdl_url": erp.wsdl_url, "password": DEMO_PASSWORD})
    metrics = HubMetrics(CollectorRegistry())
    result = run_sync("soap_erp", "inventory", dt.datetime(2026, 11, 1, 7), dt.datetime(2026, 11, 1, 8),
                      settings=settings, metrics=metrics)
    assert result.counts["received"] == 8 and result.interval == ["2026-11-01T07:00:00", "2026-11-01T08:00:00"]
    assert sample(metrics.registry, "hub_sync_records_total", connector="soap_erp", stream="inventory") == 8
    assert sample(metrics.registry, "hub_sync_runs_total", connector="soap_erp", stream="inventory",
                  outcome="success") == 1

    wrong = load_settings(database_url=db_url, soap_erp={"wsdl_url": erp.wsdl_url, "password": "wrong", "retries": 0})
    with pytest.raises(SourceAuthError):
        run_sync("soap_erp", "receivables", settings=wrong)
    registry = collected(clean, {("soap_erp", "inventory"): "hourly"})
    assert sample(registry, "hub_connector_up", connector="soap_erp") == 0
    assert sample(registry, "hub_sync_consecutive_failures", connector="soap_erp", stream="receivables") == 1
    assert sample(registry, "hub_sync_last_success_timestamp_seconds", connector="soap_erp", stream="inventory",
                  tier="hourly") is not None
    with clean.reading() as session:
        run = session.get(StreamRun, ("soap_erp", "receivables"))
        assert run is not None and run.outcome == "fatal_error" and run.error.startswith("SourceAuthError")


def test_collectors_read_outbox_heartbeats_scores_and_mdm_at_scrape_time(clean: Database) -> None:
    topology = build_topology(load_settings().bus)
    event = make_event(system="erp", entity="receivable", type="src.erp.receivable.changed.v1", key="AR-1",
                       version="1", data={}, dataschema=schema_id("finance/receivable.v1"))
    start = dt.datetime.now(dt.timezone.utc)
    with clean.transaction() as session:
        state.save_cursor(session, "soap_erp", "inventory", {"x": 1}, 5)
        state.mark_success(session, "soap_erp", "inventory")
        ops.beat(session, "node-1", "host", 1, ["relay"], start)
        ops.save_scores(session, [ops.Score("customer", "completeness", 9, 10)])
        session.execute(text("INSERT INTO mdm_pair (entity, left_record_id, right_record_id, score, band, status, "
                             "rule, explanation, created_at) VALUES ('customer', 1, 2, 0.8, 'review', 'open', 'r', "
                             "'{}', :at)"), {"at": start - dt.timedelta(hours=5)})
        session.execute(text("INSERT INTO mdm_audit (entity, operation, actor) VALUES ('customer', 'merge', 'x')"))
    registry = collected(clean, {("soap_erp", "inventory"): "hourly"})
    before = sample(registry, "hub_outbox_backlog_messages") or 0
    with clean.transaction() as session:
        outbox.add_events(session, [event], topology)
    assert sample(registry, "hub_outbox_backlog_messages") == before + 1  # read at each scrape
    assert sample(registry, "hub_sync_checkpoint_records_total", connector="soap_erp", stream="inventory") == 5
    assert abs(sample(registry, "hub_worker_heartbeat_timestamp_seconds", worker="node-1") - start.timestamp()) < 60
    assert sample(registry, "hub_quality_score_ratio", entity="customer", dimension="completeness") == 0.9
    assert sample(registry, "hub_mdm_review_queue_size", entity="customer") == 1
    oldest = sample(registry, "hub_mdm_review_oldest_timestamp_seconds", entity="customer")
    assert oldest is not None and 4.9 * 3600 < start.timestamp() - oldest < 5.1 * 3600
    assert sample(registry, "hub_mdm_merges_total", entity="customer") == 1


def test_watchdog_needs_a_live_worker_fresh_realtime_streams_and_a_moving_outbox(clean: Database, db_url: str) -> None:
    config = load_tiers("dags/tiers.yaml", check_streams=False)
    settings = load_settings(database_url=db_url)
    with clean.transaction() as session:
        state.reset(session, "soap_erp", "sales_orders")
    report = check_realtime(config, settings=settings)
    assert any("no realtime worker is alive" in p for p in report.problems)
    assert any("soap_erp/sales_orders has never synced" in p for p in report.problems)

    with clean.transaction() as session:
        ops.beat(session, "node-1", "host", 1, ["relay", "erp_commands"], dt.datetime.now(dt.timezone.utc))
        state.mark_success(session, "soap_erp", "sales_orders")
    report = check_realtime(config, settings=settings)
    assert report.ok, report.problems

    with clean.transaction() as session:
        ops.stopped(session, "node-1")
    assert "worker node-1 stopped" in check_realtime(config, settings=settings).markdown()


def test_quality_report_from_outbox_events_is_written_and_exposed(clean: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    topology = build_topology(load_settings().bus)
    with clean.engine.begin() as conn:
        conn.execute(text("DELETE FROM hub_outbox"))
    full = {"name": "苏州华成机械有限公司", "credit_code": "91320500MA1X00001A", "address": "苏州", "phone": "0512",
            "industry": "machinery", "sales_rep": "张"}
    records = [dict(full, source_id="C1"), dict(full, source_id="C2", name="另一家公司"),  # same code, other name
               {"name": "无锡", "source_id": "C3"}]  # incomplete
    events = [make_event(system="erp", entity="customer", type="src.erp.customer.changed.v1", key=r["source_id"],
                         version="1", data=r, dataschema=schema_id("customer/customer.v1")) for r in records]
    with clean.transaction() as session:
        outbox.add_events(session, events, topology)
    report = generate(clean, tmp_path, source=OutboxQualitySource(clean), day=dt.date(2026, 11, 23))
    html = report.path.read_text(encoding="utf-8")
    assert report.path.name == "quality-2026-11-23.html" and "<svg" in html and "customer" in html
    customer = next(c for c in report.counts if c.entity == "customer")
    assert (customer.total, customer.complete, customer.consistent) == (3, 2, 1)
    registry = collected(clean)
    assert sample(registry, "hub_quality_score_ratio", entity="customer", dimension="completeness") == 2 / 3
    assert sample(registry, "hub_quality_report_timestamp_seconds") is not None


def test_the_web_metrics_router_serves_the_database_collectors(clean: Database, db_url: str) -> None:
    rt = Runtime(load_settings(database_url=db_url))
    try:
        app = FastAPI()
        app.include_router(metrics_router(web_registry(rt, broker=False)))
        response = TestClient(app).get("/metrics")
    finally:
        rt.close()
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert "hub_outbox_backlog_messages" in response.text and "# TYPE hub_relay_messages_total counter" in response.text


def test_cli_tiers_check_and_ops_watchdog(clean: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from hub.app.cli_ops import ops as ops_group
    from hub.app.cli_ops import tiers as tiers_group

    checked = CliRunner().invoke(tiers_group, ["check"])
    assert checked.exit_code == 0, checked.output
    assert "soap_erp/inventory" in checked.output and "hub_hourly_sync (7 * * * *)" in checked.output
    assert "hub worker, every 30s" in checked.output

    monkeypatch.setenv("HUB_DATABASE_URL", db_url)
    watchdog = CliRunner().invoke(ops_group, ["watchdog"])
    assert watchdog.exit_code == 1 and "problem: no realtime worker is alive" in watchdog.output


def test_relay_and_consumer_count_what_they_do(db: Database, hub_settings, amqp: str) -> None:  # type: ignore[no-untyped-def]
    from hub.core.consumer import Consumer, noop_handler
    from hub.core.publisher import Publisher
    from hub.core.topology import apply

    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    metrics = HubMetrics(CollectorRegistry())
    events = [make_event(system="erp", entity="receivable", type="src.erp.receivable.changed.v1", key=f"AR-{i}",
                         version="1", data={}, dataschema=schema_id("finance/receivable.v1")) for i in range(5)]
    lost = make_event(system="erp", entity="x", type="nobody.listens.here.v1", key="X", version="1", data={},
                      dataschema=schema_id("finance/receivable.v1"))
    with db.transaction() as session:
        outbox.add_events(session, [*events, events[0], lost], topology)
    with Publisher(hub_settings.bus) as publisher:
        outbox.Relay(db, publisher, topology, batch_size=3, metrics=metrics).drain()
    registry = metrics.registry
    kind = "src.erp.receivable.changed.v1"
    assert sample(registry, "hub_relay_messages_total", type=kind, outcome="published") == 6
    assert sample(registry, "hub_relay_messages_total", type="nobody.listens.here.v1", outcome="unroutable") == 1
    assert (sample(registry, "hub_relay_publish_latency_seconds_count") or 0) >= 3
    queue = next(q.name for q in topology.queues if "src.#" in q.bindings)
    Consumer(hub_settings.bus, db, topology, queue, noop_handler, validate=False, metrics=metrics).run(
        idle_timeout_s=1.0)
    assert sample(registry, "hub_consumer_events_total", consumer=queue, type=kind, outcome="applied") == 5
    assert sample(registry, "hub_consumer_events_total", consumer=queue, type=kind, outcome="deduplicated") == 1
    assert sample(registry, "hub_consumer_end_to_end_latency_seconds_count", consumer=queue) == 5


def test_the_web_installers_mount_metrics_and_the_alert_receiver(clean: Database, db_url: str) -> None:
    from hub.app import web_alerts, web_metrics
    from hub.app.web import create_app

    app = create_app(load_settings(database_url=db_url), db=clean,
                     installers=[web_metrics.install, web_alerts.install])
    with TestClient(app) as client:
        assert "hub_outbox_backlog_messages" in client.get("/metrics").text
        alert = {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "HubBrokerDown"}}]}
        assert client.post("/alertmanager/webhook", json=alert).status_code == 200  # no robot: logged
        assert 'hub_alerts_forwarded_total{outcome="sent"} 1.0' in client.get("/metrics").text
