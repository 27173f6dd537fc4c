"""SAP RFC results fuzzed: RFC_READ_TABLE tables and BAPI RETURNs of any shape become rows or hub errors.

    RFC_READ_TABLE   FIELDS with wrong types, offsets, widths or fields left out; work areas of any
                     width and text → rows of text holding every requested field, or SourceProtocolError
    BAPI results     SALESDOCUMENT and RETURN of any shape → an order number or a hub error
    contracts        bus data of any shape → BAPI parameters or a MappingError with a JSON Pointer
    streams          every stream synced through the pipeline, once on rows whose every field holds any
                     text, once on the simulated SAP system with work areas garbled in transit →
                     received = published + dead-lettered (or, for garbled transport, a hub error)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sap_rfc.client import SapRfcClient
from connectors.sap_rfc.commands import SalesArea, sap_order
from connectors.sap_rfc.connector import SapRfcConnector
from connectors.testing.sap_rfc_data import seed
from connectors.testing.sap_rfc_fake import DEMO_PASSWORD, DEMO_USER, Connection, FakeSapSystem
from hub.core.db import Database
from hub.core.errors import HubError, MappingError
from hub.core.settings import load_settings
from hub.core.topology import Topology
from tests.faults.fuzzing import (
    FEW,
    FUZZ,
    mojibake,
    mutated,
    mutated_object,
    odd_text,
    scalars,
    sync_from_scratch,
    values,
)

WANTED = ("KUNNR", "NAME1", "ERDAT")
GOOD_FIELDS = [{"FIELDNAME": "KUNNR", "OFFSET": "000000", "LENGTH": "000010", "TYPE": "C"},
               {"FIELDNAME": "NAME1", "OFFSET": "000010", "LENGTH": "000035", "TYPE": "C"},
               {"FIELDNAME": "ERDAT", "OFFSET": "000045", "LENGTH": "000008", "TYPE": "D"}]
GOOD_WA = "0000100001" + "苏州华成机械有限公司".ljust(35) + "20261120"
junk = st.one_of(odd_text,
                 st.sampled_from(["sNaN", "Infinity", "1E+9", "-0", "20261131", "|", ";", "\t", "'", "*" * 8]),
                 mojibake, st.text(max_size=60))


class StubConnection:
    """pyrfc's Connection interface answering every call from a table of canned results."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results

    def call(self, function: str, **_params: Any) -> dict[str, Any]:
        return dict(self.results.get(function) or {})

    def close(self) -> None:
        """Nothing to close."""


def stub_client(results: dict[str, Any]) -> SapRfcClient:
    return SapRfcClient({"ashost": "stub", "user": DEMO_USER}, DEMO_PASSWORD,
                        lambda **_: StubConnection(results), retries=0)


def garbled(wa: str, columns: Sequence[tuple[int, int]] = ()) -> st.SearchStrategy[str]:
    """A work area kept, a column or a stretch overwritten (same width), cut, lengthened or replaced."""
    at = st.integers(0, max(len(wa), 1))
    place = st.sampled_from(columns) if columns else st.tuples(at, st.integers(1, 12))
    return st.one_of(
        st.just(wa),
        st.builds(lambda where, j: wa[:where[0]] + j[:where[1]].rjust(where[1]) + wa[sum(where):], place, junk),
        st.builds(lambda i: wa[:i], at),
        st.builds(lambda i, j: wa[:i] + j + wa[i:], at, junk),
        junk,
        st.just("长" * 100_000),
    )


@FUZZ
@given(fields=st.one_of(mutated(GOOD_FIELDS), values),
       data=st.one_of(st.lists(st.one_of(garbled(GOOD_WA).map(lambda wa: {"WA": wa}), mutated({"WA": GOOD_WA})),
                               max_size=5), values))
def test_read_table_gives_rows_of_text_with_every_field_or_a_hub_error(fields: Any, data: Any) -> None:
    client = stub_client({"RFC_READ_TABLE": {"FIELDS": fields, "DATA": data}})
    try:
        rows = client.read_table("KNA1", WANTED, keys=("KUNNR",))
    except HubError:
        return
    assert all(set(WANTED) <= set(row) and all(isinstance(v, str) for v in row.values()) for row in rows)


bapi_return = st.one_of(mutated([{"TYPE": "E", "ID": "V1", "NUMBER": "382", "MESSAGE": "Material not found",
                                  "FIELD": "MATERIAL"}]),
                        mutated({"TYPE": "S", "MESSAGE": "Standard Order 13001 has been saved"}), values)


@FUZZ
@given(created=st.fixed_dictionaries({}, optional={"SALESDOCUMENT": st.one_of(st.just("0000013001"), scalars),
                                                   "RETURN": bapi_return}),
       committed=st.fixed_dictionaries({}, optional={"RETURN": bapi_return}))
def test_bapi_results_give_an_order_number_or_a_hub_error(created: dict[str, Any],
                                                          committed: dict[str, Any]) -> None:
    client = stub_client({"BAPI_SALESORDER_CREATEFROMDAT2": created, "BAPI_TRANSACTION_COMMIT": committed})
    try:
        document = client.create_order({"ORDER_HEADER_IN": {"PURCH_NO_C": "HT-2026-0501"}})
    except HubError:
        return
    assert isinstance(document, str) and document


HEADER = {"contract_no": "HT-2026-0501", "customer_source_id": "100005", "sign_date": "2026-11-20",
          "currency": "CNY", "requested_delivery_date": "2026-12-15"}
LINE = {"line_no": 1, "product_source_id": "100001", "quantity": "2", "unit_price": "128000.00"}
contracts = st.one_of(
    st.builds(lambda head, lines: {**head, "lines": lines}, mutated_object(HEADER),
              st.lists(mutated(LINE), max_size=3)),
    st.builds(lambda no, line: {**HEADER, "lines": [{**LINE, "line_no": no}, line]},
              st.one_of(st.integers(-5, 10_000), odd_text, scalars), mutated(LINE)))  # event data: an object


@FUZZ
@given(contract=contracts)
def test_contracts_give_bapi_parameters_or_a_mapping_error_with_a_pointer(contract: dict[str, Any]) -> None:
    try:
        order = sap_order(contract, SalesArea())
    except MappingError as exc:
        assert exc.field is not None and exc.field.startswith("/"), exc
        return
    assert order["ORDER_ITEMS_IN"] and order["ORDER_HEADER_IN"]["PURCH_NO_C"]


# ----------------------------------------------------------------------------------------- streams

DATES = {"ERDAT", "ERSDA", "LAEDA", "AEDAT", "UDATE", "AUDAT", "VDATU", "BUDAT", "BLDAT", "CPUDT", "ZFBDT",
         "AUGDT"}
NUMBERS = {"NETWR", "MWSBP", "NETPR", "KWMENG", "WRBTR", "LABST", "UMLME", "INSME", "EINME", "SPEME", "RETME",
           "BRGEW", "NTGEW", "ZBD1T", "ZBD2T", "ZBD3T"}
PLAUSIBLE = {
    "date": st.sampled_from(["20261120", "20261118", "00000000", ""]),
    "number": st.sampled_from(["4560.00", "0", "1.000", "30", "12.50-", ""]),
    "time": st.sampled_from(["083000", "000000", ""]),
    "text": st.sampled_from(["C", "A", "S", "H", "E", "1", "1000", "CNY", "ST", "TA", "SZ01", "0001",
                             "0000100021", "100001", "苏州华成机械有限公司", ""]),
}


def field_text(name: str) -> st.SearchStrategy[str]:
    """What RFC_READ_TABLE gives for one field: plausible text of its kind, or junk."""
    kind = "date" if name in DATES else "number" if name in NUMBERS else "time" if name in {"UTIME", "ERZET"} \
        else "text"
    return st.one_of(PLAUSIBLE[kind], junk)


class RowClient:
    """A client whose RFC_READ_TABLE rows are drawn by hypothesis: any text in every requested field."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw

    def row(self, fields: Any, fixed: dict[str, str]) -> dict[str, str]:
        return {f: fixed[f] if f in fixed else self.draw(field_text(f)) for f in dict.fromkeys(fields)}

    def read_all(self, table: str, fields: Any, where: Any = (), *, keys: Any = ()) -> list[dict[str, str]]:
        return [self.row((*keys, *fields), {}) for _ in range(self.draw(st.integers(0, 6)))]

    def read_keys(self, table: str, fields: Any, match: Any, values: Any, where: Any = (), *,
                  keys: Any = None) -> list[dict[str, str]]:
        rows = []
        for value in values:
            for _ in range(self.draw(st.integers(0, 2))):
                rows.append(self.row((*(keys or match), *fields), dict(zip(match, value, strict=True))))
        return rows

    def close(self) -> None:
        """Nothing to close."""


SAP_SETTINGS = {"simulator": True, "user": DEMO_USER, "password": DEMO_PASSWORD, "retries": 0, "page_size": 5}
STREAMS = ["customers", "materials", "sales_orders", "inventory", "receivables"]


@pytest.mark.parametrize("stream", STREAMS)
def test_any_row_text_is_published_or_dead_lettered(fuzz_db: Database, fuzz_topology: Topology, stream: str) -> None:
    @FEW
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        client = RowClient(data.draw)
        settings = load_settings(sap_rfc=SAP_SETTINGS).sap_rfc
        connector = SapRfcConnector(settings, lambda _s: client)  # type: ignore[arg-type,return-value]
        sync_from_scratch(fuzz_db, fuzz_topology, connector, connector.stream(stream))

    check()


class GarblingConnection(Connection):
    """The simulator's connection; hypothesis garbles some work areas and, rarely, leaves out a field."""

    draw: Any = None  # hypothesis' data.draw, set per example

    def call(self, func_name: str, options: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        result = super().call(func_name, options, **params)
        if func_name != "RFC_READ_TABLE" or self.draw is None:
            return result
        fields = list(result.get("FIELDS") or [])
        if fields and self.draw(st.integers(0, 30)) == 30:
            fields.pop(self.draw(st.integers(0, len(fields) - 1)))  # a field SAP did not return
        places = [(int(f["OFFSET"]), int(f["LENGTH"])) for f in fields]
        lines = [{"WA": self.draw(garbled(line["WA"], places)) if self.draw(st.integers(0, 9)) == 9
                  else line["WA"]} for line in result.get("DATA") or []]
        return {**result, "FIELDS": fields, "DATA": lines}


@pytest.fixture(scope="module")
def sap() -> Iterator[FakeSapSystem]:
    with FakeSapSystem(seed(n_customers=10, n_orders=8, bad_rows=True)) as system:
        yield system


def garbling_connector(sap: FakeSapSystem) -> SapRfcConnector:
    settings = load_settings(sap_rfc={**SAP_SETTINGS, "ashost": sap.ashost}).sap_rfc
    return SapRfcConnector(settings, lambda s: SapRfcClient(
        {"ashost": s.ashost, "sysnr": s.sysnr, "client": s.client, "user": s.user, "lang": s.lang},
        s.password, GarblingConnection, retries=0))


@pytest.mark.parametrize("stream", STREAMS)
def test_garbled_work_areas_are_published_dead_lettered_or_a_hub_error(
        sap: FakeSapSystem, fuzz_db: Database, fuzz_topology: Topology, stream: str) -> None:
    @FEW
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        connector = garbling_connector(sap)
        GarblingConnection.draw = data.draw
        try:
            sync_from_scratch(fuzz_db, fuzz_topology, connector, connector.stream(stream))
        except HubError:
            pass
        finally:
            GarblingConnection.draw = None
            connector.close()

    check()
