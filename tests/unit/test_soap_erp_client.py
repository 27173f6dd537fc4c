"""The SOAP ERP client, streams and sales-order command against the simulator on loopback."""

from __future__ import annotations

import logging
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Page
from connectors.soap_erp.client import ErpSoapClient
from connectors.soap_erp.commands import create_order_for_contract
from connectors.soap_erp.streams import STREAMS, CustomerStream, SoapErpStream
from connectors.testing.erp_data import KEY_FIELDS, seed, uscc_is_valid
from connectors.testing.erp_soap_server import DEMO_PASSWORD, DEMO_USERNAME, ErpSoapServer
from hub.core.errors import (
    MappingError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
)

TABLE_OF = {  # stream name → simulator table
    "customers": "customers", "sales_orders": "orders",
    "inventory": "inventory", "receivables": "receivables",
}


@pytest.fixture
def erp() -> Iterator[ErpSoapServer]:
    with ErpSoapServer(data=seed()) as server:
        yield server


def make_client(erp: ErpSoapServer, *, password: str = DEMO_PASSWORD, timeout_s: float = 5.0,
                retries: int = 2) -> ErpSoapClient:
    return ErpSoapClient(erp.wsdl_url, DEMO_USERNAME, password, timeout_s=timeout_s, retries=retries,
                         backoff_s=0.01, max_backoff_s=0.05)


@pytest.fixture
def client(erp: ErpSoapServer) -> Iterator[ErpSoapClient]:
    c = make_client(erp)
    yield c
    c.close()


def read_all(stream: SoapErpStream, cursor: dict[str, Any] | None = None) -> list[Page]:
    return list(stream.read(cursor))


def keys_of(pages: list[Page]) -> list[str]:
    return [r.key for p in pages for r in p.records]


def contract(no: str = "HT-2026-7001", **line: Any) -> dict[str, Any]:
    first = {"line_no": 1, "product_source_id": "MAT-10003", "quantity": 4, "unit": "台",
             "unit_price": "2850.00", "amount": "11400.00", **line}
    return {"contract_no": no, "customer_source_id": "CUST-000104", "sign_date": "2026-11-21",
            "currency": "CNY", "total_amount": "11400.00", "lines": [first],
            "requested_delivery_date": "2026-12-15"}


# ---------------------------------------------------------------------------------------- paging


@pytest.mark.parametrize("stream_cls", STREAMS, ids=lambda s: s.name)
def test_tiny_pages_return_every_row_exactly_once_despite_equal_modify_dates(
        erp: ErpSoapServer, client: ErpSoapClient, stream_cls: type[SoapErpStream]) -> None:
    table = TABLE_OF[stream_cls.name]
    ties = Counter(r["FModifyDate"] for r in erp.store.rows(table)).most_common(1)[0][1]
    assert ties > 3, "the seed must share one FModifyDate across more than one page"

    pages = read_all(stream_cls(lambda: client, page_size=3))

    keys = keys_of(pages)
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(r[KEY_FIELDS[table]] for r in erp.store.rows(table))
    assert all(len(p.records) <= 3 for p in pages)


def test_page_cursor_is_last_row_position_and_versions_are_modify_dates(client: ErpSoapClient) -> None:
    pages = read_all(CustomerStream(lambda: client, page_size=5))
    for page in pages:
        last = page.records[-1]
        assert page.cursor == {"modified_since": last.payload["FModifyDate"], "after_key": last.key}
        assert all(r.version == r.payload["FModifyDate"] for r in page.records)


def test_reading_from_the_last_cursor_returns_nothing(client: ErpSoapClient) -> None:
    stream = CustomerStream(lambda: client, page_size=7)
    cursor = read_all(stream)[-1].cursor
    assert read_all(stream, cursor) == []


def test_overlap_rereads_the_window_before_the_cursor(erp: ErpSoapServer, client: ErpSoapClient) -> None:
    cursor = read_all(CustomerStream(lambda: client, page_size=10))[-1].cursor
    assert cursor["modified_since"] == "2026-11-20T08:15:30"

    reread = keys_of(read_all(CustomerStream(lambda: client, page_size=10, overlap_s=86_400), cursor))

    window = [r["FNumber"] for r in erp.store.rows("customers") if r["FModifyDate"] > "2026-11-19T08:15:30"]
    assert sorted(reread) == sorted(window)
    assert len(window) > 8  # the 8 tied rows at the cursor and the near-duplicates of the day before


def test_a_row_modified_after_the_cursor_comes_in_the_next_read(erp: ErpSoapServer,
                                                                 client: ErpSoapClient) -> None:
    stream = CustomerStream(lambda: client, page_size=4)
    cursor = read_all(stream)[-1].cursor
    erp.store.modify("customers", "CUST-000105", FTel="0512-6666 8888")

    pages = read_all(stream, cursor)

    assert keys_of(pages) == ["CUST-000105"]
    assert pages[0].records[0].payload["FTel"] == "0512-6666 8888"
    assert pages[0].records[0].version > cursor["modified_since"]


def test_rows_without_key_are_rejected_with_their_bytes_not_dropped(erp: ErpSoapServer,
                                                                    client: ErpSoapClient) -> None:
    erp.store.add("customers", {"FNumber": "", "FName": "无编号客户", "FModifyDate": "2026-11-21T10:00:00"})

    pages = read_all(CustomerStream(lambda: client, page_size=50))

    rejected = [r for p in pages for r in p.rejected]
    assert len(rejected) == 1
    raw, reason = rejected[0]
    assert "无编号客户" in raw.decode() and "FNumber" in reason
    assert len(keys_of(pages)) == 40


def test_records_are_plain_dicts_of_strings_with_entries_as_a_list(client: ErpSoapClient) -> None:
    rows, has_more = client.page("GetSalesOrders", "1900-01-01T00:00:00", None, 5)
    assert has_more and len(rows) == 5
    for row in rows:
        entries = row.pop("FEntries")
        assert isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries)
        values = [*row.values(), *(v for e in entries for v in e.values())]
        assert all(v is None or isinstance(v, str) for v in values)


# ---------------------------------------------------------------------------------------- faults


def passwd_marker() -> str:
    passwd = Path("/etc/passwd")
    text = passwd.read_text(encoding="utf-8", errors="replace") if passwd.exists() else ""
    if "root:" not in text:
        pytest.skip("needs an /etc/passwd with a root: line to prove it is never read")
    return "root:"


@pytest.mark.parametrize("kind", ["xml_bomb", "external_entity"])
def test_unsafe_xml_is_refused_fast_and_never_leaks(erp: ErpSoapServer, client: ErpSoapClient, kind: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    marker = passwd_marker()
    caplog.set_level(logging.DEBUG)
    client.ping()  # the WSDL is loaded: the timing below is the unsafe answer's alone
    erp.fault_next(kind)
    started = time.monotonic()

    with pytest.raises(SourceProtocolError) as info:
        client.page("GetCustomers", "1900-01-01T00:00:00", None, 10)

    assert time.monotonic() - started < 2
    assert "malformed or unsafe XML response from GetCustomers" in str(info.value)
    assert marker not in str(info.value) and marker not in str(info.value.__cause__)
    assert marker not in caplog.text and "<!ENTITY" not in caplog.text
    traceback_text = "".join(traceback.format_exception(info.value))  # what log.exception would print
    assert marker not in traceback_text and "<!ENTITY" not in traceback_text
    assert erp.call_count("GetCustomers") == 1  # refused, not retried


def test_malformed_xml_is_a_protocol_error_without_the_body(erp: ErpSoapServer,
                                                            client: ErpSoapClient) -> None:
    erp.fault_next("malformed")
    expected = "malformed or unsafe XML response from GetCustomers"
    with pytest.raises(SourceProtocolError, match=expected) as info:
        client.page("GetCustomers", "1900-01-01T00:00:00", None, 10)
    assert "CUST-0001" not in "".join(traceback.format_exception(info.value))


def test_slow_answer_times_out_as_unavailable(erp: ErpSoapServer) -> None:
    client = make_client(erp, timeout_s=0.5, retries=0)
    client.ping()
    erp.fault_next("slow", delay_s=10)
    started = time.monotonic()

    with pytest.raises(SourceUnavailable, match=r"did not answer Ping within 0\.5 s"):
        client.ping()

    assert time.monotonic() - started < 3
    client.close()


def test_server_fault_is_unavailable_and_not_retried_by_the_client(erp: ErpSoapServer,
                                                                   client: ErpSoapClient) -> None:
    erp.fault_next("soap_fault")
    with pytest.raises(SourceUnavailable, match="server fault INTERNAL"):
        client.ping()
    assert erp.call_count("Ping") == 1


def test_http_500_is_retried_then_succeeds(erp: ErpSoapServer, client: ErpSoapClient) -> None:
    erp.fault_next("http_500", times=1)
    assert "simulator" in client.ping()
    assert erp.call_count("Ping") == 2


def test_http_500_beyond_the_retries_is_unavailable(erp: ErpSoapServer, client: ErpSoapClient) -> None:
    erp.fault_next("http_500", times=5)
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        client.ping()
    assert erp.call_count("Ping") == 3  # retries=2: three attempts


def test_auth_fault_is_an_auth_error_never_retried(erp: ErpSoapServer, client: ErpSoapClient) -> None:
    erp.fault_next("auth", times=3)
    with pytest.raises(SourceAuthError, match="refused the credentials of user 'hub'"):
        client.ping()
    assert erp.call_count("Ping") == 1


def test_wrong_password_never_appears_in_errors_or_logs(erp: ErpSoapServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Wr0ng-Pa55-7731"
    client = make_client(erp, password=secret)

    with pytest.raises(SourceAuthError) as info:
        client.ping()

    assert "ERP refused the credentials of user 'hub'" in str(info.value)
    assert secret not in str(info.value) and secret not in repr(client) and secret not in caplog.text
    assert erp.call_count("Ping") == 1


def test_closed_port_is_unavailable_with_the_address(erp: ErpSoapServer) -> None:
    port = erp.port
    erp.stop()
    client = ErpSoapClient(f"http://127.0.0.1:{port}/erp?wsdl", "hub", "x", timeout_s=1, retries=1,
                           backoff_s=0.01)
    with pytest.raises(SourceUnavailable, match=f"ERP at 127.0.0.1:{port} is unreachable"):
        client.ping()


# --------------------------------------------------------------------------------------- commands


def test_the_same_contract_twice_creates_one_order(erp: ErpSoapServer, client: ErpSoapClient) -> None:
    first = create_order_for_contract(client, contract())
    second = create_order_for_contract(client, contract())

    assert first[1] is True and second == (first[0], False)
    assert [o["FContractNo"] for o in erp.store.created_orders] == ["HT-2026-7001"]
    created = erp.store.orders[first[0]]
    assert created["FCustomerNumber"] == "CUST-000104"
    assert [(e["FMaterialNumber"], e["FQty"], e["FDeliveryDate"]) for e in created["FEntries"]] == [
        ("MAT-10003", "4", "2026-12-15")]


def test_an_existing_erp_order_for_the_contract_is_reused(erp: ErpSoapServer, client: ErpSoapClient) -> None:
    assert create_order_for_contract(client, contract("HT-2026-0101")) == ("SO-2026-000031", False)
    assert erp.store.created_orders == [] and erp.call_count("CreateSalesOrder") == 0


@pytest.mark.parametrize(("line", "field"), [
    ({"product_source_id": "MAT-00000"}, "FMaterialNumber"),
    ({"quantity": 0}, "FQty"),
])
def test_a_validation_fault_names_the_field(erp: ErpSoapServer, client: ErpSoapClient,
                                            line: dict[str, Any], field: str) -> None:
    with pytest.raises(SourceRejected) as info:
        create_order_for_contract(client, contract("HT-2026-7002", **line))
    assert info.value.field == field and field in str(info.value)
    assert "CreateSalesOrder" in str(info.value)
    assert erp.call_count("CreateSalesOrder") == 1 and erp.store.created_orders == []


def test_unknown_customer_is_rejected_naming_the_field(client: ErpSoapClient) -> None:
    bad = {**contract("HT-2026-7003"), "customer_source_id": "CUST-999999"}
    with pytest.raises(SourceRejected, match="FCustomerNumber"):
        create_order_for_contract(client, bad)


def test_a_contract_missing_a_field_fails_before_calling_the_erp(erp: ErpSoapServer,
                                                                 client: ErpSoapClient) -> None:
    bad = contract()
    del bad["lines"][0]["quantity"]
    with pytest.raises(MappingError) as info:
        create_order_for_contract(client, bad)
    assert info.value.field == "/lines/0/quantity"
    assert erp.call_count() == 0


# -------------------------------------------------------------------------------------- simulator


def test_simulator_refuses_requests_with_a_dtd(erp: ErpSoapServer) -> None:
    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<s:Body>&e;</s:Body></s:Envelope>")
    request = urllib.request.Request(erp.url, data=body, headers={"Content-Type": "text/xml"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    answer = info.value.read().decode()
    assert info.value.code == 500 and "soap:Client" in answer and "BAD_REQUEST" in answer
    assert "root:" not in answer


def test_seed_is_deterministic_with_valid_tax_numbers_and_optional_bad_rows() -> None:
    store, again, demo = seed(), seed(), seed(bad_rows=True)
    assert store.rows("customers") == again.rows("customers")
    assert store.counts() == {"customers": 40, "orders": 30, "inventory": 60, "receivables": 30}
    assert demo.counts() == {"customers": 42, "orders": 31, "inventory": 61, "receivables": 31}
    taxed = [c["FTaxRegisterNo"] for c in store.rows("customers") if c["FTaxRegisterNo"]]
    assert len(taxed) == 39 and all(uscc_is_valid(t) for t in taxed)
    assert demo.orders["SO-2026-900001"]["FDate"] == "2026-13-45"
    assert demo.customers["CUST-900001"]["FName"] == ""
