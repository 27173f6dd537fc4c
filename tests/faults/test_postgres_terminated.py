"""PostgreSQL connections terminated mid-sync: the checkpoint and the outbox never disagree.

The ledger numbers the ERP's customers in the order the ERP changed them; after the resync the
outbox is relayed and the subscriber's queue drained, and every customer is there, none missing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import DBAPIError

from connectors import load_connector
from connectors.base import Connector
from connectors.testing.erp_data import seed
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.app.pipeline import StreamSync
from hub.core.db import Database, open_database
from hub.core.errors import is_retriable
from hub.core import outbox
from hub.core.models import Checkpoint, OutboxRow
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings, load_settings
from hub.core.topology import apply, build_topology
from tests.conftest import PG_ADMIN_URL
from tests.faults.ledger import Ledger, change_order, key_order
from tests.integration.test_bus import crm_queue

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUSTOMERS = 120


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    with ErpSoapServer(data=seed(n_customers=CUSTOMERS)) as server:
        yield server


@pytest.fixture
def connector(erp: ErpSoapServer) -> Iterator[Connector]:
    built = load_connector("soap_erp", load_settings(soap_erp={"wsdl_url": erp.wsdl_url, "password": DEMO_PASSWORD,
                                                               "page_size": 10}))
    yield built
    built.close()


def terminate_hub_connections(database: str) -> int:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar()
    admin.dispose()
    return int(killed or 0)


def agree(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        rows = session.scalar(select(func.count()).select_from(OutboxRow)) or 0
        cp = session.get(Checkpoint, ("soap_erp", "customers"))
    return rows, (cp.records_total if cp else 0)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_connection_killed_mid_sync_leaves_state_and_outbox_in_agreement(db_url: str, connector: Connector,
                                                                         erp: ErpSoapServer,
                                                                         hub_settings: HubSettings) -> None:
    db = open_database(db_url)
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    customers = change_order(erp.store.table("customers"))
    ledger = Ledger(key_order(customers))
    ledger.expect_records("/hub/erp", len(customers))
    database = db_url.rsplit("/", 1)[-1]
    pages_done: list[int] = []
    killed = threading.Event()

    def kill_inside_fourth_transaction(conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        # Page 4's outbox rows are written; its checkpoint is about to be: cut the connection now.
        if len(pages_done) == 3 and "hub_checkpoint" in statement and not killed.is_set():
            killed.set()
            assert terminate_hub_connections(database) >= 1

    event.listen(db.engine, "before_cursor_execute", kill_inside_fourth_transaction)
    with pytest.raises(DBAPIError) as info:
        StreamSync(db, topology, connector, connector.stream("customers"),
                   on_page=lambda r: pages_done.append(r.pages)).run()
    event.remove(db.engine, "before_cursor_execute", kill_inside_fourth_transaction)
    assert killed.is_set()
    assert is_retriable(info.value)  # a lost database connection is worth retrying
    rows, committed = agree(db)
    assert rows == committed == 30  # three pages committed, the fourth rolled back whole
    written = Ledger(key_order(customers))
    written.read_outbox(db)
    assert sorted(seq for _, seq in written.entries) == list(range(1, 31))  # the first 30, no hole

    result = StreamSync(db, topology, connector, connector.stream("customers")).run()  # pool recovers
    rows, committed = agree(db)
    assert rows == committed == CUSTOMERS
    assert result.received == CUSTOMERS - 30
    with Publisher(hub_settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()
    ledger.read_outbox(db)
    ledger.drain_queue(hub_settings.bus.url.get_secret_value(), crm_queue(topology))
    db.dispose()
    ledger.assert_clean()
