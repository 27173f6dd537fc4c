"""SAP sales orders for activated contracts: the BAPI parameters, idempotency on BSTKD, RETURN errors."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sap_rfc.client import SapRfcClient
from connectors.sap_rfc.commands import SalesArea, create_order_for_contract, sap_order
from connectors.testing.sap_rfc_data import kunnr, matnr, seed
from connectors.testing.sap_rfc_fake import DEMO_PASSWORD, DEMO_USER, Connection, FakeSapSystem
from hub.core.errors import MappingError, SourceRejected, SourceUnavailable

AREA = SalesArea()


def contract(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source_system": "crm", "source_id": "c1d9a3e2", "contract_no": "HT-2026-0501", "customer_source_id": "100005",
        "sign_date": "2026-11-20", "currency": "CNY", "total_amount": "261700.00", "status": "active",
        "erp_system": "sap", "requested_delivery_date": "2026-12-15", "updated_at": "2026-11-20T09:00:00Z",
        "lines": [
            {"line_no": 1, "product_source_id": "100001", "quantity": "2", "unit": "台", "unit_price": "128000.00",
             "amount": "256000.00"},
            {"line_no": 2, "product_source_id": "100003", "quantity": "2", "unit": "台", "unit_price": "2850.00",
             "amount": "5700.00"},
        ],
    }
    data.update(changes)
    return data


@pytest.fixture
def sap() -> Iterator[FakeSapSystem]:
    with FakeSapSystem(seed()) as system:
        yield system


@pytest.fixture
def client(sap: FakeSapSystem) -> Iterator[SapRfcClient]:
    params = {"ashost": sap.ashost, "sysnr": "00", "client": "100", "user": DEMO_USER}
    c = SapRfcClient(params, DEMO_PASSWORD, Connection, retries=2, backoff_s=0.0, max_backoff_s=0.0)
    yield c
    c.close()


def test_the_bapi_parameters_of_a_contract() -> None:
    order = sap_order(contract(), AREA)
    header = order["ORDER_HEADER_IN"]
    assert header == {"DOC_TYPE": "TA", "SALES_ORG": "1000", "DISTR_CHAN": "10", "DIVISION": "00",
                      "PURCH_NO_C": "HT-2026-0501", "PURCH_DATE": "20261120", "REQ_DATE_H": "20261215",
                      "CURRENCY": "CNY"}
    assert order["ORDER_PARTNERS"] == [{"PARTN_ROLE": "AG", "PARTN_NUMB": "0000100005"}]
    assert [(i["ITM_NUMBER"], i["MATERIAL"], str(i["TARGET_QTY"])) for i in order["ORDER_ITEMS_IN"]] == [
        ("000010", matnr(100001), "2"), ("000020", matnr(100003), "2")]
    assert [(c["COND_TYPE"], str(c["COND_VALUE"])) for c in order["ORDER_CONDITIONS_IN"]] == [
        ("ZPR1", "128000.00"), ("ZPR1", "2850.00")]


@pytest.mark.parametrize(("changes", "field"), [
    ({"lines": []}, "/lines"),
    ({"contract_no": "HT-" + "9" * 40}, "/contract_no"),
    ({"sign_date": "20.11.2026"}, "/sign_date"),
    ({"lines": [{"line_no": 1, "product_source_id": "100001", "quantity": "0", "unit_price": "1"}]},
     "/lines/0/quantity"),
    ({"lines": [{"line_no": "²", "product_source_id": "100001", "quantity": "1", "unit_price": "1"}]},
     "/lines/0/line_no"),  # a digit to str.isdigit(), not to int()
])
def test_a_bad_contract_fails_before_any_sap_call(sap: FakeSapSystem, client: SapRfcClient,
                                                  changes: dict[str, Any], field: str) -> None:
    with pytest.raises(MappingError) as info:
        create_order_for_contract(client, contract(**changes), AREA)
    assert info.value.field == field and sap.call_count() == 0


def test_the_order_is_created_once_per_contract(sap: FakeSapSystem, client: SapRfcClient) -> None:
    document, created = create_order_for_contract(client, contract(), AREA)
    assert created and sap.tables.find("VBKD", VBELN=document)[0]["BSTKD"] == "HT-2026-0501"
    head = sap.tables.find("VBAK", VBELN=document)[0]
    assert head["KUNNR"] == kunnr(100005) and head["VBTYP"] == "C" and len(sap.tables.find("VBAP", VBELN=document)) == 2
    again, created_again = create_order_for_contract(client, copy.deepcopy(contract()), AREA)
    assert (again, created_again) == (document, False)
    assert sap.call_count("BAPI_SALESORDER_CREATEFROMDAT2") == 1 and sap.call_count("BAPI_TRANSACTION_COMMIT") == 1


def test_a_quotation_with_the_same_reference_is_not_an_order(client: SapRfcClient) -> None:
    assert client.find_order_by_reference("HT-2026-0999") is None  # VBKD of quotation 12900
    assert client.find_order_by_reference("HT-2026-0101") == "0000012001"


@pytest.mark.parametrize(("changes", "field", "wording"), [
    ({"customer_source_id": "999999"}, "PARTN_NUMB", "Customer 999999 does not exist"),
    ({"customer_source_id": "100008"}, "PARTN_NUMB", "blocked for sales orders"),
    ({"lines": [{"line_no": 1, "product_source_id": "100018", "quantity": "1", "unit_price": "8800"}]},
     "MATERIAL", "Material 100018 is flagged for deletion"),
])
def test_return_errors_are_rejections_naming_message_and_field(sap: FakeSapSystem, client: SapRfcClient,
                                                               changes: dict[str, Any], field: str,
                                                               wording: str) -> None:
    orders = sap.tables.count("VBAK")
    with pytest.raises(SourceRejected) as info:
        create_order_for_contract(client, contract(**changes), AREA)
    assert info.value.field == field and wording in str(info.value)
    assert sap.tables.count("VBAK") == orders and sap.call_count("BAPI_TRANSACTION_COMMIT") == 0
    assert sap.call_count("BAPI_TRANSACTION_ROLLBACK") == 1


def test_an_order_lost_to_a_broken_connection_is_created_once_on_redelivery(sap: FakeSapSystem,
                                                                            client: SapRfcClient) -> None:
    original = sap.dispatch

    def break_before_commit(connection: Connection, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if name == "BAPI_TRANSACTION_COMMIT":
            sap.fail_next("communication")
        return original(connection, name, params)

    sap.dispatch = break_before_commit  # type: ignore[method-assign]
    with pytest.raises(SourceUnavailable):
        create_order_for_contract(client, contract(), AREA)
    assert sap.call_count("BAPI_TRANSACTION_COMMIT") == 1  # never retried: the caller looks the order up again
    sap.dispatch = original  # type: ignore[method-assign]
    assert client.find_order_by_reference("HT-2026-0501") is None  # the LUW was rolled back with the connection
    _document, created = create_order_for_contract(client, contract(), AREA)
    assert created and len(sap.tables.find("VBKD", BSTKD="HT-2026-0501")) == 1
