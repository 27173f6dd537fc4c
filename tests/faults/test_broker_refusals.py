"""Broker refusals: a full queue (reject-publish) and a memory alarm never count an event as sent.

Once the refusal ends and the outbox is drained, the ledger (events numbered per source, the outbox
rows, what the subscriber's queue holds) shows every event there, none lost, no gap.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from sqlalchemy import func, select

from hub.core import outbox
from hub.core.db import Database
from hub.core.models import OutboxRow
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings
from hub.core.topology import apply, build_topology
from tests.conftest import isolated_settings
from tests.faults.ledger import Ledger, receivables
from tests.integration.test_bus import crm_queue

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def by_status(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        rows = session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
    return {status: int(count) for status, count in rows}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_queue_at_its_length_limit_refuses_and_the_outbox_keeps_the_rest(db: Database, db_url: str,
                                                                         amqp: str) -> None:
    settings = isolated_settings(db_url, amqp, bus={"max_length": 10})
    topology = build_topology(settings.bus)
    apply(settings.bus, topology)
    events, ledger = receivables(25)
    try:
        with db.transaction() as session:
            outbox.add_events(session, events, topology)
        with Publisher(settings.bus) as publisher:
            # One batch in flight at a time: the quorum queue's length (applied through Raft) catches
            # up between batches, so the limit refuses within the 25 events however fast the relay is.
            relay = outbox.Relay(db, publisher, topology, batch_size=5, window=1)
            result = relay.run_once()
            # Quorum queues enforce the limit approximately (a little overshoot is allowed), so the exact
            # split varies; what must hold is that only what the queue accepted counts as sent.
            status = by_status(db)
            assert result.failed >= 1 and status["pending"] >= 1
            assert status["sent"] + status["pending"] == 25
            assert status["sent"] == queue_depth(settings, crm_queue(topology))
            drain_while_refused(db, relay, ledger, settings, crm_queue(topology))  # the subscriber catches up
        ledger.read_outbox(db)
        assert ledger.assert_clean().delivered == 25
    finally:
        from hub.core.topology import delete

        delete(settings.bus, topology)


def drain_while_refused(db: Database, relay: outbox.Relay, ledger: Ledger, settings: HubSettings,
                        queue: str, passes: int = 20) -> None:
    """Empty the full queue into the ledger and relay again, until the outbox has nothing pending."""
    url = settings.bus.url.get_secret_value()
    for _ in range(passes):
        ledger.drain_queue(url, queue)
        if not by_status(db).get("pending"):
            return
        relay.run_once()
    raise AssertionError(f"outbox still has pending rows after {passes} passes: {by_status(db)}")


def queue_depth(settings: HubSettings, queue: str) -> int:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(settings.bus.url.get_secret_value()))
    depth = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return int(depth)


def _watermark(value: str) -> None:
    subprocess.run(["rabbitmqctl", "set_vm_memory_high_watermark", value], check=True, capture_output=True,
                   timeout=60)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_memory_alarm_blocks_publishing_and_the_configured_timeout_fires(db: Database,
                                                                         hub_settings: HubSettings) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    bus = hub_settings.bus.model_copy(update={"confirm_timeout_s": 3.0})
    events, ledger = receivables(5)
    with db.transaction() as session:
        outbox.add_events(session, events, topology)
    publisher = Publisher(bus, max_backoff_s=0.5)
    try:
        assert publisher.wait_ready(10)
        _watermark("0.000001")  # every publisher is now blocked by the broker
        started = time.monotonic()
        result = outbox.Relay(db, publisher, topology).run_once()
        waited = time.monotonic() - started
        assert result.sent == 0 and result.failed == 5
        assert by_status(db) == {"pending": 5}
        assert waited < 3.0 + 6.0, f"blocked publish took {waited:.1f}s, timeout is 3s"
    finally:
        _watermark("0.4")
    deadline = time.monotonic() + 60
    while by_status(db).get("sent", 0) < 5 and time.monotonic() < deadline:
        outbox.Relay(db, publisher, topology).run_once()
        time.sleep(0.2)
    publisher.close()
    assert by_status(db) == {"sent": 5}
    ledger.read_outbox(db)
    ledger.drain_queue(hub_settings.bus.url.get_secret_value(), crm_queue(topology))
    ledger.assert_clean()
