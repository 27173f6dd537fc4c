"""The SAP connector through the sync pipeline and the contract command, on SQLite and PostgreSQL.

The SAP system is the in-process simulator (pyrfc's interface), so no SAP is needed; the hub's
database is real. A source failure in the middle of a sync must leave the checkpoint after the
last committed page and publish nothing of the failed page; a later run finishes the job with
the same ids; bad rows are dead-lettered with the reason while the rest of the batch goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from connectors import load_connector
from connectors.sap_rfc.connector import SapRfcConnector
from connectors.testing.sap_rfc_data import kunnr, seed
from connectors.testing.sap_rfc_fake import DEMO_PASSWORD, DEMO_USER, FakeSapSystem
from hub.app.pipeline import StreamSync, SyncResult, sync_stream
from hub.app.sap_commands import ORDER_CREATED, contract_handler
from hub.core import state
from hub.core.db import Database
from hub.core.errors import SourceAuthError, SourceUnavailable, is_retriable
from hub.core.events import make_event, parse_event
from hub.core.models import Checkpoint, OutboxRow
from hub.core.schemas import schema_id
from hub.core.settings import load_settings
from hub.core.topology import Topology, build_topology

PAGE = 5
STREAMS = ("customers", "materials", "sales_orders", "inventory", "receivables")


@pytest.fixture
def sap() -> Iterator[FakeSapSystem]:
    with FakeSapSystem(seed(bad_rows=True)) as system:
        yield system


@pytest.fixture
def connector(sap: FakeSapSystem) -> Iterator[SapRfcConnector]:
    settings = load_settings(sap_rfc={"simulator": True, "ashost": sap.ashost, "user": DEMO_USER,
                                      "password": DEMO_PASSWORD, "retries": 0, "page_size": PAGE})
    built = load_connector("sap_rfc", settings)
    assert isinstance(built, SapRfcConnector)
    yield built
    built.close()


@pytest.fixture
def topology() -> Topology:
    return build_topology(load_settings().bus)


def outbox_rows(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def checkpoint(db: Database, stream: str) -> Checkpoint | None:
    with db.transaction() as session:
        return session.get(Checkpoint, ("sap_rfc", stream))


def dead_letters(db: Database, topology: Topology) -> list[dict[str, Any]]:
    return [{"reason": r.headers["x-hub-reason"], "error": r.headers["x-hub-error"], "body": json.loads(r.body)}
            for r in outbox_rows(db) if r.exchange == topology.dead.name and r.headers]


def test_every_stream_syncs_and_bad_rows_are_dead_lettered_with_the_reason(
        db: Database, connector: SapRfcConnector, topology: Topology) -> None:
    results = {name: sync_stream(db, topology, connector, name) for name in STREAMS}
    for name, result in results.items():
        assert result.received == result.published + result.dead_lettered and result.published > 0, name
    letters = dead_letters(db, topology)
    errors = {next(letter["body"][k] for k in ("BELNR", "VBELN", "MATNR", "KUNNR") if k in letter["body"]):
              letter["error"] for letter in letters}
    assert {letter["reason"] for letter in letters} == {"mapping_failed"}
    assert "required field is missing" in errors[kunnr(199001)]                   # KNA1 without NAME1
    assert "unit" in errors["000000000000199001"] and "sap_unit" in errors["000000000000199001"]  # MEINS XYZ
    assert "sap_date" in errors["0000019001"] and "delivery_date" in errors["0000019001"]        # 31 November
    assert "document_date" in errors["0099000001"]                                 # 30 February
    assert "customer_source_id" in errors["0099000002"]                            # no customer
    events = [parse_event(r.body) for r in outbox_rows(db) if r.exchange == topology.events.name]
    assert {e.type for e in events} == {"src.sap.customer.changed.v1", "src.sap.product.changed.v1",
                                        "src.sap.order.changed.v1", "src.sap.inventory.changed.v1",
                                        "src.sap.receivable.changed.v1"}
    assert all(e.source == "/hub/sap" and e.data["source_system"] == "sap" for e in events)


def test_a_rerun_publishes_no_new_ids(db: Database, connector: SapRfcConnector, topology: Topology) -> None:
    for name in STREAMS:
        sync_stream(db, topology, connector, name)
    first = [r.event_id for r in outbox_rows(db) if r.exchange == topology.events.name]
    again = {name: sync_stream(db, topology, connector, name) for name in STREAMS}
    assert all(again[name].received == 0 for name in STREAMS)  # nothing changed: nothing read again
    with db.transaction() as session:
        state.reset(session, "sap_rfc")
    for name in STREAMS:
        sync_stream(db, topology, connector, name)
    ids = [r.event_id for r in outbox_rows(db) if r.exchange == topology.events.name]
    assert len(ids) == 2 * len(first) and set(ids) == set(first) and len(first) == len(set(first))


@pytest.mark.parametrize(("fault", "error"), [("communication", SourceUnavailable), ("logon", SourceAuthError)])
def test_a_failure_mid_sync_keeps_the_checkpoint_and_publishes_nothing_of_the_failed_page(
        db: Database, connector: SapRfcConnector, topology: Topology, sap: FakeSapSystem, fault: str,
        error: type[Exception]) -> None:
    committed: dict[str, Any] = {}

    def break_after_two_pages(result: SyncResult) -> None:
        if result.pages == 2:
            cp = checkpoint(db, "customers")
            committed.update(cursor=cp.cursor if cp else None, rows=len(outbox_rows(db)))
            sap.fail_next(fault, times=3)

    sync = StreamSync(db, topology, connector, connector.stream("customers"), on_page=break_after_two_pages)
    with pytest.raises(error) as info:
        sync.run()
    assert is_retriable(info.value) == (fault == "communication")
    assert DEMO_PASSWORD not in str(info.value)
    cp = checkpoint(db, "customers")
    assert cp is not None and cp.cursor == committed["cursor"] and len(outbox_rows(db)) == committed["rows"] == 2 * PAGE

    sap.clear_faults()
    connector.close()  # the next run logs on again
    finished = sync_stream(db, topology, connector, "customers")
    ids = [r.event_id for r in outbox_rows(db)]
    assert len(ids) == len(set(ids)) == sap.tables.count("KNA1")
    assert finished.received == sap.tables.count("KNA1") - 2 * PAGE


def test_a_same_day_change_after_a_sync_is_published_once(db: Database, connector: SapRfcConnector,
                                                          topology: Topology, sap: FakeSapSystem) -> None:
    sync_stream(db, topology, connector, "customers")
    sap.tables.change_customer(kunnr(100002), SPERR="X")
    sap.tables.change_customer(kunnr(100001), TELF1="0512-66001234")
    changed = sync_stream(db, topology, connector, "customers")
    assert changed.received == changed.published == 2
    sap.tables.change_customer(kunnr(100002), SPERR="")  # later the same day, back again
    assert sync_stream(db, topology, connector, "customers").published == 1
    assert sync_stream(db, topology, connector, "customers").received == 0


# --------------------------------------------------------------------------------- contract command


def contract_event(erp_system: str = "sap", contract_no: str = "HT-2026-0777") -> Any:
    data = {
        "source_system": "crm", "source_id": "c1d9a3e2-7b41-4f0e-9a51-2e6c0b7d4f18", "contract_no": contract_no,
        "customer_source_id": "100005", "sign_date": "2026-11-20", "currency": "CNY", "total_amount": "261700.00",
        "status": "active", "erp_system": erp_system, "requested_delivery_date": "2026-12-15",
        "updated_at": "2026-11-20T09:00:00Z",
        "lines": [{"line_no": 1, "product_source_id": "100001", "product_name": "数控车床 CK6140", "quantity": "2",
                   "unit": "台", "unit_price": "128000.00", "amount": "256000.00"},
                  {"line_no": 2, "product_source_id": "100003", "product_name": "伺服电机 1.5kW", "quantity": "2",
                   "unit": "台", "unit_price": "2850.00", "amount": "5700.00"}],
    }
    return make_event(system="crm", entity="contract", type="crm.contract.activated.v1", key=contract_no,
                      version="activated", data=data, dataschema=schema_id("sales/contract.v1"))


def test_the_contract_handler_creates_the_sap_order_once_and_publishes_it(
        db: Database, connector: SapRfcConnector, topology: Topology, sap: FakeSapSystem) -> None:
    handle = contract_handler(connector, topology)
    for _delivery in range(2):  # a redelivered command creates nothing new
        with db.transaction() as session:
            handle(contract_event(), session)
    with db.transaction() as session:
        handle(contract_event(erp_system="erp"), session)  # another ERP's contract: ignored
    created = [parse_event(r.body) for r in outbox_rows(db)]
    assert [e.type for e in created] == [ORDER_CREATED, ORDER_CREATED] and created[0].id == created[1].id
    order = created[0].data
    assert order["contract_no"] == "HT-2026-0777" and order["customer_source_id"] == "100005"
    assert order["source_system"] == "sap" and created[0].source == "/hub/sap"
    assert [(line["product_source_id"], line["unit"]) for line in order["lines"]] == [("100001", "台"),
                                                                                     ("100003", "台")]
    assert sap.call_count("BAPI_SALESORDER_CREATEFROMDAT2") == 1
    assert len(sap.tables.find("VBKD", BSTKD="HT-2026-0777")) == 1
