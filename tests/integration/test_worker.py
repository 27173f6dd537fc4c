"""`hub worker` as a real subprocess: SIGTERM mid-work finishes the batches in hand, exits 0, loses nothing.

The worker relays a large outbox, polls a realtime ERP stream (slow pages) and serves /metrics; it
is stopped with SIGTERM while both are busy. Afterwards every committed page agrees with its
checkpoint, every outbox row the worker marked sent is on the queue, and after a drain the
subscriber receives every event exactly once.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.testing.erp_data import seed
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.core import outbox
from hub.core.consumer import Consumer, noop_handler
from hub.core.db import Database
from hub.core.events import make_event
from hub.core.models import Checkpoint, OutboxRow
from hub.core.ops_models import WorkerHeartbeat
from hub.core.publisher import Publisher
from hub.core.schemas import schema_id
from hub.core.settings import HubSettings
from hub.core.topology import apply, build_topology
from tests.integration.test_kill_recovery import hub_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BACKLOG = 3000
TIERS = """\
tiers:
  realtime: {stale_after: 10m, watchdog: {components: [relay]}}
  hourly: {schedule: "7 * * * *", stale_after: 2h}
streams:
  - {connector: soap_erp, stream: sales_orders, tier: realtime, interval: 1s}
"""


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    with ErpSoapServer(data=seed(n_customers=40, n_orders=120), page_delay_s=0.15) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def count(db: Database, *where: object) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow).where(*where)) or 0)


def committed_orders(db: Database) -> int:
    with db.reading() as session:
        cp = session.get(Checkpoint, ("soap_erp", "sales_orders"))
        return cp.records_total if cp else 0


def backlog_events(n: int) -> list:  # type: ignore[type-arg]
    data = {"source_system": "erp", "customer_source_id": "CUST-1", "currency": "CNY", "amount": "1.00",
            "received_amount": "0.00", "open_amount": "1.00", "document_date": "2026-11-01", "status": "open",
            "updated_at": "2026-11-01T00:00:00Z"}
    return [make_event(system="erp", entity="receivable", type="src.erp.receivable.changed.v1", key=f"AR-{i}",
                       version="1", data=dict(data, source_id=f"AR-{i}"), dataschema=schema_id("finance/receivable.v1"))
            for i in range(n)]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_sigterm_mid_work_finishes_the_batches_in_hand_and_loses_nothing(
        db: Database, hub_settings: HubSettings, erp: ErpSoapServer, tmp_path: Path) -> None:
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    with db.transaction() as session:
        outbox.add_events(session, backlog_events(BACKLOG), topology)
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(TIERS, encoding="utf-8")
    port = free_port()
    env = hub_env(hub_settings, HUB_SOAP_ERP__WSDL_URL=erp.wsdl_url, HUB_SOAP_ERP__PASSWORD=DEMO_PASSWORD,
                  HUB_SOAP_ERP__PAGE_SIZE="5", HUB_RELAY__BATCH_SIZE="50", HUB_LOG_LEVEL="INFO",
                  HUB_WORKER__COMPONENTS=json.dumps(["relay", "pollers", "erp_commands"]),
                  HUB_WORKER__TIERS_PATH=str(tiers), HUB_WORKER__HEARTBEAT_S="0.2",
                  HUB_WORKER__METRICS_PORT=str(port), HUB_WORKER__METRICS_ADDR="127.0.0.1",
                  HUB_WORKER__NAME="test-worker")
    worker = subprocess.Popen([sys.executable, "-m", "hub.app.cli_worker"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: count(db, OutboxRow.status == "sent") >= 100 and committed_orders(db) >= 10, 60)
        metrics = scrape(port)
        assert 'hub_worker_component_up{component="relay"} 1.0' in metrics
        assert 'hub_worker_component_up{component="poll:soap_erp/sales_orders"} 1.0' in metrics
        assert "hub_relay_messages_total" in metrics and "hub_outbox_backlog_messages" in metrics
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, worker.stdout.read().decode()  # type: ignore[union-attr]
    finally:
        if worker.poll() is None:
            worker.kill()
    log = worker.stdout.read().decode()  # type: ignore[union-attr]
    assert "finishing the batches in hand" in log

    order_rows = count(db, OutboxRow.routing_key.like("src.erp.order.%")) + count(
        db, OutboxRow.headers.is_not(None))
    assert order_rows == committed_orders(db) < 120  # stopped mid-sync, outbox and checkpoint agree
    assert count(db, OutboxRow.status == "sent") >= BACKLOG  # the relay's pass in hand was finished
    with db.reading() as session:
        beat = session.get(WorkerHeartbeat, "test-worker")
        assert beat is not None and beat.stopped_at is not None
        assert set(beat.components) == {"relay", "poll:soap_erp/sales_orders", "erp_commands"}

    with Publisher(hub_settings.bus) as publisher:  # what the next start would do: publish the rest
        outbox.Relay(db, publisher, topology).drain()
    events = count(db, OutboxRow.exchange == topology.events.name)
    queue = next(q.name for q in topology.queues if "src.#" in q.bindings)
    stats = Consumer(hub_settings.bus, db, topology, queue, noop_handler).run(idle_timeout_s=2.0)
    assert stats.applied == events and stats.deduplicated == 0  # every event once: none lost, none twice
