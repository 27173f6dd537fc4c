"""Processes killed with SIGKILL mid-work: the outbox and the checkpoint never disagree, nothing is lost.

`hub sync` and `hub relay` run as real subprocesses with the same settings a deployment uses. The
ledger numbers the ERP's customers in the order the ERP changed them (the order a sync reads them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from connectors.testing.erp_data import seed
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.core.db import Database
from hub.core.models import Checkpoint, OutboxRow, ProcessedEvent
from hub.core.settings import HubSettings
from hub.core.topology import apply, build_topology
from tests.faults.ledger import Ledger, RecordingConsumer, change_order, key_order
from tests.integration.test_bus import inbox_handler

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUSTOMERS = 300


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    with ErpSoapServer(data=seed(n_customers=CUSTOMERS), page_delay_s=0.05) as server:
        yield server


def hub_env(settings: HubSettings, **extra: str) -> dict[str, str]:
    """The environment a deployment would set for these settings."""
    bus = settings.bus
    env = dict(os.environ)
    env.update({
        "HUB_DATABASE_URL": settings.database_url.get_secret_value(),
        "HUB_BUS__URL": bus.url.get_secret_value(),
        "HUB_BUS__EVENTS_EXCHANGE": bus.events_exchange, "HUB_BUS__DEAD_EXCHANGE": bus.dead_exchange,
        "HUB_BUS__DEAD_QUEUE": bus.dead_queue, "HUB_BUS__SUBSCRIBERS": json.dumps(bus.subscribers),
        "HUB_LOG_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def hub(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub.app.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def counts(db: Database) -> tuple[int, int, int]:
    """(outbox rows, rows sent, records the checkpoint says were committed)."""
    with db.transaction() as session:
        rows = session.scalar(select(func.count()).select_from(OutboxRow)) or 0
        sent = session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "sent")) or 0
        cp = session.get(Checkpoint, ("soap_erp", "customers"))
        return rows, sent, (cp.records_total if cp else 0)


def test_sync_and_relay_killed_mid_work_lose_nothing(db: Database, hub_settings: HubSettings,
                                                     erp: ErpSoapServer) -> None:
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    customers = change_order(erp.store.table("customers"))
    ledger = Ledger(key_order(customers))
    ledger.expect_records("/hub/erp", len(customers))
    env = hub_env(hub_settings, HUB_SOAP_ERP__WSDL_URL=erp.wsdl_url, HUB_SOAP_ERP__PASSWORD=DEMO_PASSWORD,
                  HUB_SOAP_ERP__PAGE_SIZE="10", HUB_RELAY__BATCH_SIZE="20")

    sync = hub("sync", "soap_erp", "customers", env=env)
    wait_for(lambda: counts(db)[2] >= 50, 60)
    sync.send_signal(signal.SIGKILL)
    sync.wait(10)
    rows, _, committed = counts(db)
    assert rows == committed < CUSTOMERS  # killed mid-sync, and outbox and checkpoint agree
    written = Ledger(key_order(customers))
    written.read_outbox(db)
    assert sorted(seq for _, seq in written.entries) == list(range(1, committed + 1))  # a prefix, no hole

    sync = hub("sync", "soap_erp", "customers", env=env)
    assert sync.wait(120) == 0, sync.stdout.read()  # type: ignore[union-attr]
    rows, _, committed = counts(db)
    assert rows == committed == CUSTOMERS

    relay = hub("relay", env=env)
    wait_for(lambda: counts(db)[1] >= 20, 60)
    relay.send_signal(signal.SIGKILL)
    relay.wait(10)
    assert counts(db)[1] < CUSTOMERS  # killed before the end
    drain = hub("relay", "--drain", env=env)
    assert drain.wait(120) == 0, drain.stdout.read()  # type: ignore[union-attr]
    assert counts(db)[1] == CUSTOMERS

    queue = next(q.name for q in topology.queues if "src.#" in q.bindings)
    consumer = RecordingConsumer(hub_settings.bus, db, topology, queue, inbox_handler("crm"), ledger=ledger)
    stats = consumer.run(idle_timeout_s=2.0)
    with db.transaction() as session:
        applied = session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert applied == stats.applied == CUSTOMERS  # every event once, whatever was sent twice
    assert stats.received == stats.applied + stats.deduplicated
    ledger.read_outbox(db)
    ledger.read_inbox(db, "crm")
    ledger.assert_clean()
