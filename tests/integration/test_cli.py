"""The operator commands against the real broker and database: topology, dlq, state, outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from hub.app.cli import main
from hub.core import outbox
from hub.core.db import open_database
from hub.core.settings import HubSettings, get_settings
from hub.core.topology import build_topology
from tests.integration.test_bus import dead_messages, receivable_event
from tests.integration.test_kill_recovery import hub_env

pytestmark = pytest.mark.integration


@pytest.fixture
def run(hub_settings: HubSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator:  # type: ignore[type-arg]
    for name, value in hub_env(hub_settings).items():
        if name.startswith("HUB_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()


def test_topology_apply_lists_queues_and_arguments(run, hub_settings: HubSettings) -> None:  # type: ignore[no-untyped-def]
    result = run("topology", "apply")
    assert result.exit_code == 0
    for queue in build_topology(hub_settings.bus).all_queues():
        assert queue.name in result.output
    assert "x-delivery-limit" in result.output


def test_dlq_list_show_replay_and_purge(run, hub_settings: HubSettings) -> None:  # type: ignore[no-untyped-def]
    assert run("topology", "apply").exit_code == 0
    topology = build_topology(hub_settings.bus)
    db = open_database(hub_settings.database_url.get_secret_value())
    lost = receivable_event(1, type_="nobody.listens.here.v1")
    with db.transaction() as session:
        outbox.add_events(session, [lost, receivable_event(2, type_="nobody.listens.here.v1")], topology)
    assert "dead-lettered 2" in run("relay", "--drain").output

    listed = run("dlq", "list")
    assert listed.exit_code == 0 and "unroutable" in listed.output and "2 in" in listed.output
    assert len(dead_messages_left(hub_settings)) == 2  # listing removed nothing

    shown = run("dlq", "show", lost.id)
    assert shown.exit_code == 0 and "x-hub-reason" in shown.output and lost.id in shown.output

    # Nothing binds the key yet: replay says so and keeps the letter.
    failed = CliRunner().invoke(main, ["dlq", "replay", lost.id])
    assert failed.exit_code == 2 and "no queue binds" in failed.output
    assert len(dead_messages_left(hub_settings)) == 2

    purged = run("dlq", "purge", "--yes")
    assert "purged 2" in purged.output
    assert dead_messages(hub_settings, topology) == []
    db.dispose()


def dead_messages_left(hub_settings: HubSettings) -> list[str]:
    from hub.core import dlq

    return [m.message_id for m in dlq.browse(hub_settings.bus, build_topology(hub_settings.bus))]


def test_state_set_show_reset_and_outbox_status(run) -> None:  # type: ignore[no-untyped-def]
    cursor = {"modified_since": "2026-11-01T00:00:00", "after_key": "CUST-000010"}
    assert run("state", "set", "soap_erp", "customers", json.dumps(cursor)).exit_code == 0
    shown = run("state", "show")
    assert "soap_erp" in shown.output and "CUST-000010" in shown.output
    bad = CliRunner().invoke(main, ["state", "set", "soap_erp", "customers", "{not json"])
    assert bad.exit_code == 2 and "not JSON" in bad.output
    assert "reset 1" in run("state", "reset", "soap_erp").output
    status = run("outbox", "status")
    assert status.exit_code == 0 and "pending" in status.output


def test_bad_settings_give_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_BUS__DELIVERY_LIMIT", "0")
    monkeypatch.setenv("HUB_DATABASE_URL", "oracle://scott:SECRET-CANARY@db/x")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["outbox", "status"])
    get_settings.cache_clear()
    assert result.exit_code == 2
    assert "HUB_BUS__DELIVERY_LIMIT" in result.output and "HUB_DATABASE_URL" in result.output
    assert "SECRET-CANARY" not in result.output


def test_db_upgrade_and_current(run) -> None:  # type: ignore[no-untyped-def]
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0 and "database at revision" in upgraded.output
    current = run("db", "current")
    assert current.exit_code == 0 and current.output.strip() == upgraded.output.strip().rsplit(" ", 1)[-1]


def test_sync_and_relay_show_their_progress_and_counts(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from connectors.testing.erp_data import seed
    from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer

    assert run("topology", "apply").exit_code == 0
    with ErpSoapServer(data=seed(n_customers=25)) as erp:
        monkeypatch.setenv("HUB_SOAP_ERP__WSDL_URL", erp.wsdl_url)
        monkeypatch.setenv("HUB_SOAP_ERP__PASSWORD", DEMO_PASSWORD)
        monkeypatch.setenv("HUB_SOAP_ERP__PAGE_SIZE", "10")
        get_settings.cache_clear()
        synced = run("sync", "soap_erp", "customers")
    assert synced.exit_code == 0, synced.output
    assert "sync soap_erp/customers" in synced.output and "25/25" in synced.output  # the progress line
    assert "soap_erp/customers: received 25, published 25, dead-lettered 0" in synced.output

    relayed = run("relay", "--drain")
    assert relayed.exit_code == 0 and "25/25" in relayed.output
    assert "relay: sent 25, dead-lettered 0" in relayed.output
