"""SAP streams against the simulated system: change days, same-day changes, keyset pages, snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import Cursor, Page, SourceRecord
from connectors.sap_rfc.connector import SapRfcConnector
from connectors.sap_rfc.streams import (
    DayCursor,
    SapStream,
    _on_hand,
    amount,
    due_date,
    settlement,
    valid_day,
)
from connectors.testing.sap_rfc_data import DAY_OF_MANY_CHANGES, TODAY, kunnr, matnr, seed, vbeln
from connectors.testing.sap_rfc_fake import DEMO_PASSWORD, DEMO_USER, FakeSapSystem
from hub.core.settings import load_settings


@pytest.fixture
def sap() -> Iterator[FakeSapSystem]:
    with FakeSapSystem(seed()) as system:
        yield system


def connector_for(sap: FakeSapSystem, **options: Any) -> SapRfcConnector:
    settings = {"simulator": True, "ashost": sap.ashost, "user": DEMO_USER, "password": DEMO_PASSWORD,
                "retries": 0, "page_size": 5, **options}
    return SapRfcConnector.from_settings(load_settings(sap_rfc=settings))


@pytest.fixture
def connector(sap: FakeSapSystem) -> Iterator[SapRfcConnector]:
    built = connector_for(sap)
    yield built
    built.close()


def stream(connector: SapRfcConnector, name: str) -> SapStream:
    found = connector.stream(name)
    assert isinstance(found, SapStream)
    return found


def records(pages: list[Page]) -> list[SourceRecord]:
    return [r for p in pages for r in p.records]


def read_to_end(s: SapStream, cursor: Cursor | None = None) -> tuple[list[SourceRecord], Cursor | None]:
    pages = list(s.read(cursor))
    return records(pages), (json.loads(json.dumps(pages[-1].cursor)) if pages else cursor)


# ----------------------------------------------------------------------------------- full reads


def test_customers_from_scratch_in_pages_with_every_customer_once(sap: FakeSapSystem,
                                                                  connector: SapRfcConnector) -> None:
    pages = list(stream(connector, "customers").read(None))
    keys = [r.key for r in records(pages)]
    assert all(len(p.records) <= 5 for p in pages) and len(pages) == 8
    assert sorted(keys) == sorted(r["KUNNR"].lstrip("0") for r in sap.tables.select("KNA1"))
    assert len(keys) == len(set(keys))
    first = records(pages)[0].payload
    assert first["KNVV"]["VKORG"] == "1000" and valid_day(first["UDATE"])
    days = [(r.payload["UDATE"], r.key) for r in records(pages)]
    assert days == sorted(days, key=lambda d: (d[0], d[1].zfill(10)))  # (change day, key) order


def test_the_change_day_is_the_newest_of_creation_and_change_documents(connector: SapRfcConnector) -> None:
    by_key = {r.key: r for r in read_to_end(stream(connector, "customers"))[0]}
    assert by_key["100001"].payload["UDATE"] == DAY_OF_MANY_CHANGES  # XD02 that day (CDHDR)
    assert by_key["100001"].version.startswith(DAY_OF_MANY_CHANGES + "T0930")
    assert by_key["100003"].payload["UDATE"] == by_key["100003"].payload["ERDAT"]  # never changed


def test_quotations_are_not_sales_orders(connector: SapRfcConnector) -> None:
    keys = {r.key for r in read_to_end(stream(connector, "sales_orders"))[0]}
    assert "12900" not in keys and "12001" in keys and len(keys) == 24


def test_orders_carry_items_totals_reference_and_payment_status(connector: SapRfcConnector) -> None:
    orders = {r.key: r.payload for r in read_to_end(stream(connector, "sales_orders"))[0]}
    first = orders["12001"]
    assert first["BSTKD"] == "HT-2026-0101" and [i["POSNR"] for i in first["ITEMS"]] == ["000010"]
    net, tax = Decimal(first["NETWR"]), sum(Decimal(i["MWSBP"]) for i in first["ITEMS"])
    assert Decimal(first["HUB_GROSS_AMOUNT"]) == net + tax and Decimal(first["HUB_TAX_AMOUNT"]) == tax
    assert {o["HUB_PAYMENT_STATUS"] for o in orders.values()} >= {"A", "C"}


# ---------------------------------------------------------------------------- incremental reads


def test_reading_from_the_last_cursor_gives_nothing(connector: SapRfcConnector) -> None:
    for name in ("customers", "materials", "sales_orders", "receivables"):
        s = stream(connector, name)
        _all, cursor = read_to_end(s)
        assert list(s.read(cursor)) == [], name


def test_same_day_changes_are_not_missed_even_with_a_smaller_key(sap: FakeSapSystem,
                                                                 connector: SapRfcConnector) -> None:
    s = stream(connector, "customers")
    _all, cursor = read_to_end(s)
    sap.tables.change_customer(kunnr(100030), TELF1="0512-66880000")  # today
    changed, cursor = read_to_end(s, cursor)
    assert [r.key for r in changed] == ["100030"] and cursor and cursor["day"] == TODAY
    sap.tables.change_customer(kunnr(100002), NAME1="无锡恒力电子股份有限公司")  # later, same day, smaller key
    changed, cursor = read_to_end(s, cursor)
    assert [r.key for r in changed] == ["100002"] and changed[0].payload["NAME1"] == "无锡恒力电子股份有限公司"
    sap.tables.change_customer(kunnr(100030), TELF1="0512-66889999")  # the same customer again, same day
    changed, cursor = read_to_end(s, cursor)
    assert [r.key for r in changed] == ["100030"] and changed[0].payload["TELF1"] == "0512-66889999"
    assert read_to_end(s, cursor)[0] == []


def test_a_same_day_re_read_keeps_the_versions_of_unchanged_records(sap: FakeSapSystem,
                                                                    connector: SapRfcConnector) -> None:
    s = stream(connector, "materials")
    before, cursor = read_to_end(s)
    sap.tables.change_material(matnr(100005), GROES="DC/DC/RLY")
    after = {r.key: r.version for r in read_to_end(s, None)[0]}
    assert {k for k, v in after.items() if v != {r.key: r.version for r in before}[k]} == {"100005"}
    assert [r.key for r in read_to_end(s, cursor)[0]] == ["100005"]


def test_status_changes_of_orders_are_read(sap: FakeSapSystem, connector: SapRfcConnector) -> None:
    s = stream(connector, "sales_orders")
    _all, cursor = read_to_end(s)
    sap.tables.change_order(vbeln(12002), LFSTK="C", GBSTK="C")
    changed, _cursor = read_to_end(s, cursor)
    assert [(r.key, r.payload["LFSTK"]) for r in changed] == [("12002", "C")]


def test_payments_move_receivables_from_open_to_partially_paid_to_paid(sap: FakeSapSystem,
                                                                       connector: SapRfcConnector) -> None:
    s = stream(connector, "receivables")
    first, cursor = read_to_end(s)
    open_item = next(r for r in first if r.payload["HUB_PAYMENT_STATUS"] == "A")
    belnr, total = open_item.payload["BELNR"], Decimal(open_item.payload["WRBTR"])
    sap.tables.post_payment(belnr, total / 4)
    changed, cursor = read_to_end(s, cursor)
    assert [(r.key, r.payload["HUB_PAYMENT_STATUS"]) for r in changed] == [(open_item.key, "B")]
    assert Decimal(changed[0].payload["HUB_RECEIVED"]) == total / 4
    sap.tables.post_payment(belnr, total - total / 4)
    changed, _cursor = read_to_end(s, cursor)
    assert [(r.key, r.payload["HUB_PAYMENT_STATUS"], r.payload["HUB_OPEN"]) for r in changed] == [
        (open_item.key, "C", "0.00")]


def test_overlap_days_re_read_older_days_with_the_same_versions(sap: FakeSapSystem) -> None:
    plain, overlapping = connector_for(sap), connector_for(sap, overlap_days=3)
    everything, cursor = read_to_end(stream(plain, "sales_orders"))
    again = read_to_end(stream(overlapping, "sales_orders"), cursor)[0]
    versions = {r.key: r.version for r in everything}
    assert again and all(versions[r.key] == r.version for r in again)


def test_a_record_deleted_between_the_change_index_and_the_read_is_left_out(sap: FakeSapSystem,
                                                                            connector: SapRfcConnector) -> None:
    sap.tables.delete("KNA1", sap.tables.find("KNA1", KUNNR=kunnr(100004))[0])
    keys = {r.key for r in read_to_end(stream(connector, "customers"))[0]}
    assert "100004" not in keys and len(keys) == 35


def test_day_cursor_keeps_fingerprints_of_the_last_day_only() -> None:
    state = DayCursor()
    assert state.admit("20261118", "1", "v1") and state.admit("20261118", "2", "v1")
    assert not state.admit("20261118", "1", "v1")
    assert state.admit("20261120", "3", "v1") and list(state.seen) != [] and len(state.seen) == 1
    assert state.admit("20261118", "1", "v1")  # an overlap re-read: emitted again, same id
    assert DayCursor.load(json.loads(json.dumps(state.dump()))).dump() == state.dump()


def test_due_date_from_baseline_and_payment_terms() -> None:
    assert due_date({"ZFBDT": "20261101", "ZBD1T": "30", "ZBD2T": "0", "ZBD3T": "0"}) == "20261201"
    assert due_date({"ZFBDT": "00000000", "BLDAT": "20261101", "ZBD1T": "10", "ZBD3T": "45"}) == "20261216"
    assert due_date({"ZFBDT": "00000000", "BLDAT": "20260230"}) == ""


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity", "abc", "", "1E+999999999", "1E-40"])
def test_amounts_that_are_not_finite_numbers_are_unknown(text: str) -> None:
    assert amount(text) is None
    assert settlement({"WRBTR": text}, Decimal(1), cleared=False) == {}
    assert due_date({"ZFBDT": "20261101", "ZBD1T": text}) == "20261101"


def test_stock_of_numbers_no_sap_field_holds_has_no_total() -> None:
    row = {"LABST": "1E+999999999", "INSME": "1E+999999999", "EINME": "0", "SPEME": "0", "RETME": "0"}
    assert _on_hand(row) == {} and _on_hand({**row, "LABST": "2", "INSME": "1.500-"}) == {"HUB_ON_HAND": "0.500"}


def test_payment_terms_beyond_the_calendar_give_no_due_date() -> None:
    assert due_date({"ZFBDT": "20261101", "ZBD1T": "1E+9"}) == ""
    assert due_date({"ZFBDT": "20261101", "ZBD1T": "9" * 30}) == ""


# ------------------------------------------------------------------------------------ inventory


def test_stock_is_a_snapshot_published_for_the_locations_that_changed(sap: FakeSapSystem,
                                                                           connector: SapRfcConnector) -> None:
    s = stream(connector, "inventory")
    pages = list(s.read(None))
    first = {r.key: r for r in records(pages)}
    assert len(first) == sap.tables.count("MARD") and pages[-1].cursor["complete"] is True
    assert not any(p.cursor["complete"] for p in pages[:-1])
    position = first["SZ01/0001/100002"].payload
    assert position["MAKTX"] == "立式加工中心 VMC850" and position["LGOBE"] == "苏州成品库" and position["MEINS"] == "TAI"
    assert list(s.read(pages[-1].cursor)) == []  # nothing moved: nothing published
    sap.tables.set_stock(matnr(100002), "SZ01", "0001", LABST="3")
    second = {r.key: r.version for r in read_to_end(s, pages[-1].cursor)[0]}
    assert second and all(k.startswith("SZ01/0001/") for k in second)  # only the location that changed
    assert {k for k, v in second.items() if v != first[k].version} == {"SZ01/0001/100002"}


def test_a_stopped_snapshot_resumes_after_its_last_key(connector: SapRfcConnector) -> None:
    s = stream(connector, "inventory")
    pages = list(s.read(None))
    resumed = records(list(s.read(pages[2].cursor)))
    assert [r.key for r in resumed] == [r.key for p in pages[3:] for r in p.records]
    assert all(r.payload["HUB_READ_AT"] == pages[2].cursor["snapshot"] for r in resumed)


def test_plants_setting_limits_the_stock_read(sap: FakeSapSystem) -> None:
    keys = {r.key for r in read_to_end(stream(connector_for(sap, plants=["nb01"]), "inventory"))[0]}
    assert keys and all(k.startswith("NB01/") for k in keys)


def test_a_garbled_key_in_the_change_documents_is_dead_lettered_and_the_rest_is_read(
        sap: FakeSapSystem, connector: SapRfcConnector) -> None:
    sap.tables.change_document("DEBI", "00001\x0700030", "XD02")  # no condition can ask SAP for this key
    pages = list(stream(connector, "customers").read(None))
    rejected = [r for p in pages for r in p.rejected]
    assert len(records(pages)) == 36 and len(rejected) == 1
    raw, reason = rejected[0]
    assert json.loads(raw)["key"] == ["00001\x0700030"] and "control characters" in reason
    assert not [r for p in stream(connector, "customers").read(pages[-1].cursor) for r in p.rejected]  # once
