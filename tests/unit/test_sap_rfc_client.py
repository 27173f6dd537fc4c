"""The SAP RFC client against the simulated SAP system: RFC_READ_TABLE paging, parsing, splitting, errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from connectors.sap_rfc.client import (
    PYRFC_MISSING,
    SapAbapError,
    SapRfcClient,
    all_of,
    any_of,
    bapi_error,
    columns,
    eq,
    ge,
    is_in,
    keys_in,
    literal,
    option_lines,
    parse_wa,
    work_areas,
)
from connectors.sap_rfc.connector import SapRfcConnector
from connectors.testing.sap_rfc_data import TABLES, kunnr, seed
from connectors.testing.sap_rfc_fake import DEMO_PASSWORD, DEMO_USER, Connection, FakeSapSystem
from hub.core.errors import (
    ConfigError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
    is_retriable,
)
from hub.core.settings import load_settings

ALL_KNA1 = tuple(f.name for f in TABLES["KNA1"].fields)


@pytest.fixture
def sap() -> Iterator[FakeSapSystem]:
    with FakeSapSystem(seed()) as system:
        yield system


def make_client(sap: FakeSapSystem, *, password: str = DEMO_PASSWORD, retries: int = 1,
                read_rows: int = 5000) -> SapRfcClient:
    params = {"ashost": sap.ashost, "sysnr": sap.sysnr, "client": sap.client, "user": DEMO_USER, "lang": "ZH"}
    return SapRfcClient(params, password, Connection, retries=retries, read_rows=read_rows, backoff_s=0.0,
                        max_backoff_s=0.0)


@pytest.fixture
def client(sap: FakeSapSystem) -> Iterator[SapRfcClient]:
    c = make_client(sap)
    yield c
    c.close()


# ------------------------------------------------------------------------------ conditions, lines


def test_literals_double_quotes_and_refuse_control_characters() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    with pytest.raises(SourceRejected):
        literal("HT-1\nOR 1 = 1")


def test_option_lines_are_at_most_72_characters_and_break_between_tokens() -> None:
    where = all_of(eq("BUKRS", "1000"), keys_in(("BELNR", "GJAHR"), [(f"{n:010d}", "2026") for n in range(30)]))
    lines = [o["TEXT"] for o in option_lines(where)]
    assert len(lines) > 10 and all(len(line) <= 72 for line in lines)
    assert " ".join(lines).split() == " ".join(where).split()
    assert any_of() == () and all_of((), eq("A", "1")) == ("A", "=", "'1'")


def test_a_long_in_list_is_read_correctly_through_many_option_lines(client: SapRfcClient) -> None:
    wanted = [kunnr(100001 + n) for n in range(0, 36, 2)]
    rows = client.read_table("KNA1", ("KUNNR", "NAME1"), is_in("KUNNR", wanted), keys=("KUNNR",))
    assert sorted(r["KUNNR"] for r in rows) == wanted


# ------------------------------------------------------------------------------- work-area parsing


def test_fixed_width_rows_with_chinese_names_are_cut_at_character_offsets(sap: FakeSapSystem) -> None:
    conn = Connection(ashost=sap.ashost, sysnr="00", client="100", user=DEMO_USER, passwd=DEMO_PASSWORD)
    result = conn.call("RFC_READ_TABLE", QUERY_TABLE="KNA1", ROWCOUNT=1,
                       FIELDS=[{"FIELDNAME": f} for f in ("NAME1", "KUNNR", "ORT01", "REGIO")])
    wa = result["DATA"][0]["WA"]
    assert len(wa.encode()) > len(wa)  # multi-byte: cutting the UTF-8 bytes would shift every field
    row = parse_wa(wa, columns(result["FIELDS"]))
    assert row == {"NAME1": "苏州华成机械有限公司", "KUNNR": "0000100001", "ORT01": "苏州市", "REGIO": "100"}


def test_delimited_rows_parse_by_offset_and_packed_numbers_keep_their_sign() -> None:
    fields = [{"FIELDNAME": "MATNR", "OFFSET": "000000", "LENGTH": "000018"},
              {"FIELDNAME": "MAKTX", "OFFSET": "000019", "LENGTH": "000010"},
              {"FIELDNAME": "LABST", "OFFSET": "000030", "LENGTH": "000009"}]
    wa = "000000000000100001|数控|车床 CK  |   1.500-"  # a delimiter inside a text field does no harm
    assert parse_wa(wa, columns(fields)) == {"MATNR": "000000000000100001", "MAKTX": "数控|车床 CK", "LABST": "1.500-"}
    assert parse_wa("0000100001", columns(fields[:2])) == {"MATNR": "0000100001", "MAKTX": ""}  # rstripped WA


@pytest.mark.parametrize(("result", "wording"), [
    ({"FIELDS": [{"FIELDNAME": "MATNR", "OFFSET": "000000", "LENGTH": "000018"}], "DATA": [{"WA": "1"}]},
     "FIELDS without MAKTX"),
    ({"FIELDS": [{"FIELDNAME": "MATNR", "OFFSET": "0", "LENGTH": "18"}, {"FIELDNAME": "MAKTX", "OFFSET": "18",
                                                                     "LENGTH": "40"}], "DATA": ["100001"]},
     "DATA that is not a table"),
    ({"FIELDS": [{"FIELDNAME": "MATNR", "OFFSET": "0", "LENGTH": "18"}, {"FIELDNAME": "MAKTX", "OFFSET": "18",
                                                                     "LENGTH": "40"}], "DATA": True},
     "DATA that is not a table"),
])
def test_a_malformed_read_table_result_is_a_protocol_error(result: dict[str, object], wording: str) -> None:
    with pytest.raises(SourceProtocolError, match=wording):
        work_areas(result, ("MATNR", "MAKTX"))


def test_bapi_return_rows_that_are_not_messages_are_no_messages() -> None:
    error = {"TYPE": "E", "MESSAGE": "Material 100018 is flagged for deletion", "FIELD": "MATERIAL"}
    assert bapi_error("the order", [None, "E", 5, error]) is not None
    assert bapi_error("the order", "E") is None and bapi_error("the order", 42) is None


# ---------------------------------------------------------------------------------------- paging


def test_read_all_pages_with_rowskips_and_rowcount_without_loss_or_repeat(sap: FakeSapSystem) -> None:
    client = make_client(sap, read_rows=10)
    rows = client.read_all("KNA1", ("KUNNR", "ERDAT"), ge("ERDAT", "19000101"))
    assert len(rows) == len({r["KUNNR"] for r in rows}) == sap.tables.count("KNA1") == 36
    assert sap.call_count("RFC_READ_TABLE") == 4  # 10 + 10 + 10 + 6


def test_fields_wider_than_512_characters_are_split_and_joined_on_the_key(sap: FakeSapSystem,
                                                                          client: SapRfcClient) -> None:
    rows = client.read_table("KNA1", ALL_KNA1, ge("ERDAT", "20200101"), keys=("KUNNR",))
    table = {r["KUNNR"]: r for r in sap.tables.select("KNA1") if r["ERDAT"] >= "20200101"}
    assert sorted(r["KUNNR"] for r in rows) == sorted(table)
    for row in rows:
        assert set(row) == set(ALL_KNA1)
        assert row["NAME1"] == table[row["KUNNR"]]["NAME1"] and row["KNURL"] == table[row["KUNNR"]]["KNURL"]
    calls = sap.call_count("RFC_READ_TABLE")
    client.read_table("KNA1", ALL_KNA1, ge("ERDAT", "20200101"), keys=("KUNNR",))
    assert sap.call_count("RFC_READ_TABLE") - calls == 2  # the split is remembered: no DATA_BUFFER_EXCEEDED again


def test_splitting_needs_the_key_fields(client: SapRfcClient) -> None:
    with pytest.raises(ConfigError, match="key"):
        client.read_table("KNA1", ALL_KNA1)


@pytest.mark.parametrize(("table", "fields", "where", "key"), [
    ("NO_SUCH_TABLE", ("A",), (), "TABLE_NOT_AVAILABLE"),
    ("BAPIRET2", ("TYPE",), (), "TABLE_WITHOUT_DATA"),
    ("KNA1", ("NO_SUCH_FIELD",), (), "FIELD_NOT_VALID"),
    ("KNA1", ("KUNNR",), ("NO_SUCH_FIELD", "=", "'1'"), "OPTION_NOT_VALID"),
])
def test_rfc_read_table_exceptions_become_rejections_naming_the_exception(
        client: SapRfcClient, table: str, fields: tuple[str, ...], where: tuple[str, ...], key: str) -> None:
    with pytest.raises(SapAbapError) as info:
        client.read_table(table, fields, where)
    assert info.value.key == key and key in str(info.value) and not is_retriable(info.value)


# ------------------------------------------------------------------------------------ error table


def test_a_communication_error_is_retried_on_a_new_connection(sap: FakeSapSystem, client: SapRfcClient) -> None:
    sap.fail_next("communication")
    assert client.call("RFC_SYSTEM_INFO")["RFCSI_EXPORT"]["RFCSYSID"] == "S4D"
    assert sap.call_count("RFC_SYSTEM_INFO") == 2


def test_a_lasting_outage_is_source_unavailable_naming_the_host(sap: FakeSapSystem, client: SapRfcClient) -> None:
    sap.fail_next("communication", times=5)
    with pytest.raises(SourceUnavailable) as info:
        client.call("RFC_PING")
    assert sap.ashost in str(info.value) and is_retriable(info.value)
    assert sap.call_count("RFC_PING") == 2  # retries=1


def test_a_timeout_is_source_unavailable(sap: FakeSapSystem) -> None:
    sap.fail_next("timeout", times=3)
    with pytest.raises(SourceUnavailable, match="RFC_CANCELED"):
        make_client(sap, retries=0).call("RFC_PING")


@pytest.mark.parametrize(("kind", "error", "wording"), [
    ("logon", SourceAuthError, "logon of user 'HUB_RFC'"),
    ("abap_application", SourceRejected, "NOT_AUTHORIZED"),
    ("abap_runtime", SourceRejected, "short dump TSV_TNEW_PAGE_ALLOC_FAILED"),
])
def test_fatal_errors_are_not_retried(sap: FakeSapSystem, client: SapRfcClient, kind: str,
                                      error: type[Exception], wording: str) -> None:
    sap.fail_next(kind)
    with pytest.raises(error) as info:
        client.call("RFC_PING")
    assert wording in str(info.value) and not is_retriable(info.value)
    assert sap.call_count("RFC_PING") == 1


def test_a_wrong_password_is_an_auth_error_that_never_shows_the_password(sap: FakeSapSystem) -> None:
    client = make_client(sap, password="not-the-password-42")
    with pytest.raises(SourceAuthError) as info:
        client.ping()
    assert "HUB_SAP_RFC__PASSWORD" in str(info.value) and "not-the-password-42" not in str(info.value)
    assert "not-the-password-42" not in repr(client) and "not-the-password-42" not in repr(info.value.__cause__)


def test_an_unknown_host_is_unreachable(sap: FakeSapSystem) -> None:
    params = {"ashost": "sap-nowhere.invalid", "sysnr": "00", "client": "100", "user": DEMO_USER}
    with pytest.raises(SourceUnavailable) as info:
        SapRfcClient(params, DEMO_PASSWORD, Connection, retries=0).ping()
    assert "sap-nowhere.invalid" in str(info.value) and "not reached" in str(info.value)


# ------------------------------------------------------------------------------- pyrfc and settings


def test_without_pyrfc_check_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyrfc", None)  # import pyrfc raises ImportError
    connector = SapRfcConnector.from_settings(load_settings(sap_rfc={"ashost": "s4.example.com", "password": "x"}))
    assert [s.name for s in connector.streams()] == ["customers", "materials", "sales_orders", "inventory",
                                                      "receivables"]
    with pytest.raises(ConfigError) as info:
        connector.check()
    assert "pip install 'crm-hub[sap]'" in str(info.value) and "NW RFC SDK" in str(info.value)
    assert str(info.value) == PYRFC_MISSING


def test_without_a_host_check_names_the_setting() -> None:
    connector = SapRfcConnector.from_settings(load_settings(sap_rfc={"password": "x"}))
    with pytest.raises(ConfigError, match="HUB_SAP_RFC__ASHOST"):
        connector.check()


def test_the_simulator_setting_uses_the_demo_system_without_pyrfc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyrfc", None)
    connector = SapRfcConnector.from_settings(load_settings(sap_rfc={"simulator": True, "password": DEMO_PASSWORD}))
    connector.check()
    connector.close()
