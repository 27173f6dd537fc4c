"""Each tier DAG run with `dag.test()` against the real RabbitMQ and the hub database (SQLite and PostgreSQL).

Tasks run in this process and read the hub's HUB_… environment, as on an Airflow worker: the ERP
is the SOAP simulator, the exchanges and queues are this test's own.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from tests.airflow.conftest import DAGS, require_airflow

require_airflow()

from connectors.testing.erp_data import seed
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.core import ops, state
from hub.core.db import Database
from hub.core.errors import SourceAuthError, SourceUnavailable
from hub.core.ops_models import QualityScore
from hub.core.settings import HubSettings
from hub.core.topology import Topology, apply, build_topology

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]

N = {"customers": 15, "orders": 5, "inventory": 12, "receivables": 5}
HOURLY_RUN = dt.datetime(2026, 11, 23, 3, 7, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    bag = DagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")
    assert bag.import_errors == {}
    return dict(bag.dags)


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    data = seed(n_customers=N["customers"], n_orders=N["orders"], n_inventory=N["inventory"],
                n_receivables=N["receivables"])
    with ErpSoapServer(data=data) as server:
        yield server


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch, hub_settings: HubSettings, erp: ErpSoapServer,
            tmp_path: Path) -> Topology:
    """The HUB_… variables an Airflow worker would have; the topology declared."""
    bus = hub_settings.bus
    for name, value in {
        "HUB_DATABASE_URL": hub_settings.database_url.get_secret_value(), "HUB_BUS__URL": bus.url.get_secret_value(),
        "HUB_BUS__EVENTS_EXCHANGE": bus.events_exchange, "HUB_BUS__DEAD_EXCHANGE": bus.dead_exchange,
        "HUB_BUS__DEAD_QUEUE": bus.dead_queue, "HUB_BUS__SUBSCRIBERS": json.dumps(bus.subscribers),
        "HUB_SOAP_ERP__WSDL_URL": erp.wsdl_url, "HUB_SOAP_ERP__PASSWORD": DEMO_PASSWORD,
        "HUB_SOAP_ERP__RETRIES": "0", "HUB_WORKER__REPORTS_DIR": str(tmp_path / "reports"), "HUB_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    topology = build_topology(bus)
    apply(bus, topology)
    return topology


def run(dags: dict[str, Any], dag_id: str, logical_date: dt.datetime = HOURLY_RUN) -> Any:
    return dags[dag_id].test(logical_date=logical_date)


def states(dagrun: Any) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dagrun.get_task_instances()}


def drain(hub_settings: HubSettings, topology: Topology) -> list[tuple[str, str]]:
    """(routing key, message id) of everything in the subscriber queue bound to src.#, acknowledged."""
    queue = next(q.name for q in topology.queues if "src.#" in q.bindings)
    connection = pika.BlockingConnection(pika.URLParameters(hub_settings.bus.url.get_secret_value()))
    channel, out = connection.channel(), []
    while True:
        method, props, _body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append((method.routing_key, props.message_id))
    connection.close()
    return out


def test_hourly_tier_publishes_and_a_rerun_of_the_interval_publishes_the_same_ids(
        dags: dict[str, Any], hub_env: Topology, hub_settings: HubSettings, db: Database) -> None:
    dagrun = run(dags, "hub_hourly_sync")
    assert str(dagrun.state) == "success", states(dagrun)
    first = drain(hub_settings, hub_env)
    kinds = sorted({key for key, _ in first})
    assert kinds == ["src.erp.inventory.changed.v1", "src.erp.receivable.changed.v1"]
    assert len(first) == N["inventory"] + N["receivables"] == len({i for _, i in first})

    again = run(dags, "hub_hourly_sync")  # the same interval again: nothing changed, nothing new
    assert str(again.state) == "success" and drain(hub_settings, hub_env) == []

    with db.transaction() as session:  # the interval re-read from scratch: the same event ids
        state.reset(session, "soap_erp", "inventory")
    assert str(run(dags, "hub_hourly_sync").state) == "success"
    reread = drain(hub_settings, hub_env)
    assert len(reread) == N["inventory"] and {i for _, i in reread} <= {i for _, i in first}


def test_daily_tier_syncs_masters_then_runs_mdm_recheck_and_the_quality_report(
        dags: dict[str, Any], hub_env: Topology, hub_settings: HubSettings, db: Database, tmp_path: Path) -> None:
    dagrun = run(dags, "hub_daily_sync", dt.datetime(2026, 11, 22, 17, 30, tzinfo=dt.timezone.utc))
    result = states(dagrun)
    assert str(dagrun.state) == "success", result
    assert result["soap_erp.customers"][0] == "success" and result["quality_report"][0] == "success"
    assert result["mdm_recheck"][0] in ("success", "skipped") and result["relay_outbox"][0] == "success"
    assert result["watcher"][0] == "skipped"
    received = drain(hub_settings, hub_env)
    assert {k for k, _ in received} == {"src.erp.customer.changed.v1"} and len(received) == N["customers"]
    assert list((tmp_path / "reports").glob("quality-*.html"))
    with db.reading() as session:
        assert session.query(QualityScore).filter_by(entity="customer", dimension="completeness").one()


def test_a_fatal_source_error_fails_the_task_at_once_and_the_relay_still_runs(
        dags: dict[str, Any], hub_env: Topology, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("behaviour of Airflow, the same on both databases")
    monkeypatch.setenv("HUB_SOAP_ERP__PASSWORD", "wrong")
    dagrun = run(dags, "hub_hourly_sync")
    result = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert result["soap_erp.inventory"] == ("failed", 1)  # AirflowFailException: no retries for a fatal error
    assert result["relay_outbox"][0] == "success" and result["watcher"][0] == "failed"


def test_watchdog_fails_without_a_live_worker_and_passes_with_one(
        dags: dict[str, Any], hub_env: Topology, db: Database, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the watchdog's database checks run on both backends in tests/integration/test_ops.py")
    assert str(run(dags, "hub_realtime_watchdog").state) == "failed"
    with db.transaction() as session:
        ops.beat(session, "node-1", "host", 1, ["relay", "erp_commands"], dt.datetime.now(dt.timezone.utc))
        state.mark_success(session, "soap_erp", "sales_orders")
    assert str(run(dags, "hub_realtime_watchdog").state) == "success"


def test_only_retriable_errors_are_left_for_airflow_to_retry() -> None:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from hub.app.tiers import TaskResult
    from tests.airflow.test_dag_integrity import import_hub_dags

    factory = import_hub_dags(DAGS) and __import__("sys").modules["hub_dag_factory"]

    def raising(exc: Exception) -> Any:
        def call() -> TaskResult:
            raise exc
        return call

    with pytest.raises(SourceUnavailable):
        factory.call_hub(raising(SourceUnavailable("ERP down")))
    with pytest.raises(AirflowFailException, match="SourceAuthError: wrong password"):
        factory.call_hub(raising(SourceAuthError("wrong password")))
    with pytest.raises(AirflowSkipException, match="not there"):
        factory.call_hub(lambda: TaskResult(task="x", status="skipped", detail="not there"))
    assert factory.call_hub(lambda: TaskResult(task="x", counts={"n": 1}))["counts"] == {"n": 1}
