"""The simulated SAP system behaves like SAP where the connector depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.testing.sap_rfc_data import kunnr, matnr, seed
from connectors.testing.sap_rfc_fake import (
    DEMO_PASSWORD,
    DEMO_USER,
    ABAPApplicationError,
    CommunicationError,
    Connection,
    FakeSapSystem,
    LogonError,
    RFCError,
    RFCTypeError,
)


@pytest.fixture
def sap() -> Iterator[FakeSapSystem]:
    with FakeSapSystem(seed()) as system:
        yield system


@pytest.fixture
def conn(sap: FakeSapSystem) -> Connection:
    return Connection(ashost=sap.ashost, sysnr="00", client="100", user=DEMO_USER, passwd=DEMO_PASSWORD)


def kunnrs(conn: Connection, *options: str, **params: Any) -> list[str]:
    result = conn.call("RFC_READ_TABLE", QUERY_TABLE="KNA1", FIELDS=[{"FIELDNAME": "KUNNR"}],
                       OPTIONS=[{"TEXT": o} for o in options], **params)
    return [line["WA"] for line in result["DATA"]]


def test_logon_like_pyrfc(sap: FakeSapSystem) -> None:
    with pytest.raises(CommunicationError) as unreachable:
        Connection(ashost="nowhere.invalid", sysnr="00", client="100", user=DEMO_USER, passwd=DEMO_PASSWORD)
    assert unreachable.value.key == "RFC_COMMUNICATION_FAILURE" and isinstance(unreachable.value, RFCError)
    with pytest.raises(LogonError) as wrong:
        Connection(ashost=sap.ashost, sysnr="00", client="100", user=DEMO_USER, passwd="wrong")
    assert wrong.value.key == "RFC_LOGON_FAILURE" and "wrong" not in str(wrong.value)
    with pytest.raises(LogonError, match="Client 200"):
        Connection(ashost=sap.ashost, sysnr="00", client="200", user=DEMO_USER, passwd=DEMO_PASSWORD)


def test_where_clauses(conn: Connection, sap: FakeSapSystem) -> None:
    table = sap.tables.select("KNA1")
    assert kunnrs(conn, f"KUNNR = '{kunnr(100003)}'") == [kunnr(100003)]
    assert len(kunnrs(conn, f"KUNNR BETWEEN '{kunnr(100003)}' AND '{kunnr(100006)}'")) == 4
    assert kunnrs(conn, "NAME1 LIKE '%卓越%' AND NOT REGIO = '100'") == [
        r["KUNNR"] for r in table if "卓越" in r["NAME1"] and r["REGIO"] != "100"]
    assert kunnrs(conn, "( REGIO EQ '100' OR REGIO EQ '130' )", "AND SPERR <> 'X'") == [
        r["KUNNR"] for r in table if r["REGIO"] in ("100", "130") and r["SPERR"] != "X"]
    assert kunnrs(conn, "KUNNR IN ( '0000100001' , '0000100002' )", ROWSKIPS=1, ROWCOUNT=5) == [kunnr(100002)]
    assert kunnrs(conn, "KNURL <> ' '") == [r["KUNNR"] for r in table if r["KNURL"]]


def test_options_longer_than_72_characters_do_not_fit(conn: Connection) -> None:
    with pytest.raises(RFCTypeError):
        kunnrs(conn, "KUNNR = '0000100001' OR KUNNR = '0000100002' OR KUNNR = '0000100003' OR 1")


def test_no_data_returns_the_field_layout_only(conn: Connection) -> None:
    result = conn.call("RFC_READ_TABLE", QUERY_TABLE="MARD", NO_DATA="X", DELIMITER="|",
                       FIELDS=[{"FIELDNAME": "MATNR"}, {"FIELDNAME": "LABST"}])
    assert result["DATA"] == [] and [(f["OFFSET"], f["LENGTH"], f["TYPE"]) for f in result["FIELDS"]] == [
        ("000000", "000018", "C"), ("000019", "000015", "P")]


def test_the_work_area_is_at_most_512_characters(conn: Connection) -> None:
    with pytest.raises(ABAPApplicationError) as info:
        conn.call("RFC_READ_TABLE", QUERY_TABLE="KNA1")
    assert info.value.key == "DATA_BUFFER_EXCEEDED" and info.value.message


def test_bapis(conn: Connection, sap: FakeSapSystem) -> None:
    customers = conn.call("BAPI_CUSTOMER_GETLIST", IDRANGE=[{"SIGN": "I", "OPTION": "BT", "LOW": kunnr(100001),
                                                             "HIGH": kunnr(100003)}])
    assert [c["CUSTOMER"] for c in customers["ADDRESSDATA"]] == [kunnr(100001), kunnr(100002), kunnr(100003)]
    orders = conn.call("BAPI_SALESORDER_GETLIST", CUSTOMER_NUMBER=kunnr(100001), SALES_ORGANIZATION="1000",
                       PURCHASE_ORDER_NUMBER="HT-2026-0101")
    assert {o["SD_DOC"] for o in orders["SALES_ORDERS"]} == {"0000012001"}
    stock = conn.call("BAPI_MATERIAL_AVAILABILITY", PLANT="SZ01", MATERIAL=matnr(100002), UNIT="TAI")
    expected = sum((r["LABST"] for r in sap.tables.find("MARD", MATNR=matnr(100002), WERKS="SZ01")), Decimal(0))
    assert stock["AV_QTY_PLT"] == expected and stock["RETURN"]["TYPE"] == ""
    missing = conn.call("BAPI_MATERIAL_AVAILABILITY", PLANT="XX01", MATERIAL=matnr(100002), UNIT="TAI")
    assert missing["RETURN"]["TYPE"] == "E"


def test_an_order_is_booked_only_at_commit(conn: Connection, sap: FakeSapSystem) -> None:
    order = {"ORDER_HEADER_IN": {"DOC_TYPE": "TA", "SALES_ORG": "1000", "DISTR_CHAN": "10", "DIVISION": "00",
                                 "PURCH_NO_C": "HT-TEST-1"},
             "ORDER_PARTNERS": [{"PARTN_ROLE": "AG", "PARTN_NUMB": kunnr(100002)}],
             "ORDER_ITEMS_IN": [{"ITM_NUMBER": "000010", "MATERIAL": matnr(100003), "TARGET_QTY": Decimal(1)}]}
    result = conn.call("BAPI_SALESORDER_CREATEFROMDAT2", **order)
    assert result["SALESDOCUMENT"] and result["RETURN"][-1]["TYPE"] == "S"
    assert not sap.tables.find("VBKD", BSTKD="HT-TEST-1")
    conn.call("BAPI_TRANSACTION_COMMIT", WAIT="X")
    assert sap.tables.find("VBKD", BSTKD="HT-TEST-1")[0]["VBELN"] == result["SALESDOCUMENT"]
    conn.call("BAPI_SALESORDER_CREATEFROMDAT2", **{**order, "ORDER_HEADER_IN": {**order["ORDER_HEADER_IN"],
                                                                                "PURCH_NO_C": "HT-TEST-2"}})
    conn.close()  # no commit: rolled back
    assert not sap.tables.find("VBKD", BSTKD="HT-TEST-2")
