"""The soap_erp connector as the hub builds it: registry + settings, against the simulator on loopback.

Needs no service but the simulator, so it is not marked `integration`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from connectors import load_connector
from connectors.base import Connector, Cursor
from connectors.testing.erp_data import KEY_FIELDS, demo_store
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.core.errors import SourceAuthError, SourceUnavailable
from hub.core.settings import load_settings

TABLE_OF = {  # stream name → simulator table
    "customers": "customers", "sales_orders": "orders",
    "inventory": "inventory", "receivables": "receivables",
}


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    with ErpSoapServer(data=demo_store()) as server:
        yield server


def connector_for(wsdl_url: str, **overrides: Any) -> Connector:
    options = {"wsdl_url": wsdl_url, "password": DEMO_PASSWORD, "page_size": 7, "retries": 1, "timeout_s": 5}
    return load_connector("soap_erp", load_settings(soap_erp={**options, **overrides}))


@pytest.fixture
def connector(erp: ErpSoapServer) -> Iterator[Connector]:
    built = connector_for(erp.wsdl_url)
    yield built
    built.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_passes(erp: ErpSoapServer, connector: Connector) -> None:
    connector.check()
    assert erp.call_count("Ping") == 1
    assert connector.system == "erp" and connector.name == "soap_erp"


def test_check_against_a_closed_port_names_the_host(erp: ErpSoapServer) -> None:
    port = closed_port()
    connector = connector_for(f"http://127.0.0.1:{port}/erp?wsdl")
    with pytest.raises(SourceUnavailable) as info:
        connector.check()
    assert f"127.0.0.1:{port}" in str(info.value) and "unreachable" in str(info.value)


def test_check_with_a_wrong_password_says_so_without_the_password(erp: ErpSoapServer) -> None:
    connector = connector_for(erp.wsdl_url, password="not-the-password-42")
    with pytest.raises(SourceAuthError) as info:
        connector.check()
    assert "ERP refused the credentials of user 'hub'" in str(info.value)
    assert "not-the-password-42" not in str(info.value)


def test_building_the_connector_and_its_streams_does_not_touch_the_network(erp: ErpSoapServer) -> None:
    connector = connector_for(f"http://127.0.0.1:{closed_port()}/erp?wsdl")
    assert [s.name for s in connector.streams()] == ["customers", "sales_orders", "inventory", "receivables"]
    assert connector.stream("inventory").cursor_field == "FModifyDate"
    assert erp.call_count() == 0


def test_all_four_streams_from_scratch_return_every_seeded_row(erp: ErpSoapServer,
                                                                connector: Connector) -> None:
    for stream in connector.streams():
        table = TABLE_OF[stream.name]
        pages = list(stream.read(None))
        keys = [r.key for p in pages for r in p.records]
        assert sorted(keys) == sorted(r[KEY_FIELDS[table]] for r in erp.store.rows(table)), stream.name
        assert len(keys) == len(set(keys)) and not any(p.rejected for p in pages)
    assert erp.store.counts() == {"customers": 42, "orders": 31, "inventory": 61, "receivables": 31}


def test_reading_from_the_last_cursor_returns_nothing(erp: ErpSoapServer, connector: Connector) -> None:
    cursors: dict[str, Cursor] = {s.name: list(s.read(None))[-1].cursor for s in connector.streams()}
    for stream in connector.streams():
        assert list(stream.read(cursors[stream.name])) == [], stream.name
