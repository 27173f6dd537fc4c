"""The MES client on SQLite: names from settings are validated, the connection is read-only, errors are clear."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError

from connectors import load_connector
from connectors.mes.client import MesClient, text_of
from connectors.testing.mes_db import MesDatabase, work_orders
from hub.core.errors import ConfigError, SourceProtocolError, SourceRejected, SourceUnavailable
from hub.core.settings import DEFAULT_MES_COLUMNS, MesSettings, load_settings


@pytest.fixture
def mes_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'mes.db'}"
    mes = MesDatabase(url).create(rows=12)
    mes.dispose()
    yield url


def client_for(url: str, **options: object) -> MesClient:
    return MesClient(load_settings(mes={"url": url, **options}).mes)


@pytest.mark.parametrize(("setting", "value", "variable"), [
    ("table", "mes_work_order; DROP TABLE mes_work_order", "HUB_MES__TABLE"),
    ("table", 'mes_work_order"--', "HUB_MES__TABLE"),
    ("db_schema", "public.x", "HUB_MES__DB_SCHEMA"),
    ("columns", {**DEFAULT_MES_COLUMNS, "status": "status) OR (1=1"}, "HUB_MES__COLUMNS"),
    ("columns", {"id": "id", "updated_at": "updated_at"}, "HUB_MES__COLUMNS"),
])
def test_names_that_are_not_plain_identifiers_are_refused_at_load(setting: str, value: object,
                                                                  variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(mes={setting: value})
    assert variable in str(info.value) and "DROP" not in str(info.value)


def test_the_client_checks_names_again_when_settings_bypass_validation() -> None:
    unchecked = MesSettings.model_construct(**{**MesSettings().model_dump(), "table": "t; DELETE FROM t"})
    with pytest.raises(ConfigError, match="HUB_MES__TABLE"):
        MesClient(unchecked)


def test_building_the_connector_touches_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'not-there' / 'mes.db'}"
    connector = load_connector("mes", load_settings(mes={"url": url}))
    assert [s.name for s in connector.streams()] == ["work_orders"] and not (tmp_path / "not-there").exists()


def test_check_passes_and_reflects_the_table(mes_url: str) -> None:
    assert "wo_no" in client_for(mes_url).check()


def test_a_column_map_naming_a_missing_column_fails_check_naming_it(mes_url: str) -> None:
    columns = {**DEFAULT_MES_COLUMNS, "done_qty": "qty_good"}
    with pytest.raises(ConfigError) as info:
        client_for(mes_url, columns=columns).check()
    assert "qty_good (for done_qty)" in str(info.value) and "HUB_MES__COLUMNS" in str(info.value)


def test_column_names_match_the_table_case_insensitively(mes_url: str) -> None:
    client = client_for(mes_url, columns={"id": "ID", "updated_at": "Updated_At", "work_order_no": "WO_NO"})
    client.check()
    rows, _last = client.page(None, 3)
    assert [r["work_order_no"] for r in rows] and set(rows[0]) == {"id", "updated_at", "work_order_no"}


def test_a_missing_table_is_named(mes_url: str) -> None:
    with pytest.raises(ConfigError, match="no table mes_orders"):
        client_for(mes_url, table="mes_orders").check()


def test_the_connection_refuses_writes(mes_url: str) -> None:
    client = client_for(mes_url)
    with client.engine.connect() as conn, pytest.raises(OperationalError) as info:
        conn.execute(update(work_orders).values(status="已关闭"))
    error = client.translate(info.value)
    assert isinstance(error, SourceRejected) and "read-only" in str(error)
    assert {r["status"] for r in MesDatabase(mes_url).rows()} != {"已关闭"}


def test_a_missing_database_file_is_unavailable_and_a_foreign_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="cannot be opened"):
        client_for(f"sqlite:///{tmp_path / 'gone' / 'mes.db'}").check()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SourceProtocolError, match="not an SQLite database"):
        client_for(f"sqlite:///{junk}").check()


def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(ConfigError, match="file path"):
        client_for("sqlite://").check()


def test_a_postgres_password_is_set_on_the_url_and_never_shown() -> None:
    client = client_for("postgresql+psycopg://mes_reader@db.example:5432/mes", password="s3cret-mes-pw")
    assert client.location == "postgresql://db.example:5432/mes"
    assert "s3cret-mes-pw" not in repr(client) and "mes_reader" not in client.location


def test_values_become_the_text_the_mapping_reads() -> None:
    assert text_of(dt.datetime(2026, 11, 20, 8, 0)) == "2026-11-20T08:00:00"
    assert text_of(dt.datetime(2026, 11, 20, 8, 0, 0, 5000)) == "2026-11-20T08:00:00.005000"
    assert text_of(dt.date(2026, 11, 20)) == "2026-11-20"
    assert text_of(Decimal("12.500")) == "12.500" and text_of(Decimal("1E+2")) == "100"
    assert text_of(None) is None and text_of(3) == "3" and text_of(True) == "true"


def test_text_a_writer_left_in_another_encoding_is_read_with_replacement_characters(mes_url: str) -> None:
    mes = MesDatabase(mes_url)
    with mes.engine.begin() as conn:  # GBK bytes of 不锈钢 stored as TEXT, as a legacy writer leaves them
        conn.execute(text("UPDATE mes_work_order SET item_name = CAST(:name AS TEXT) "
                          "WHERE wo_no = 'MO-202611-0001'"), {"name": "不锈钢".encode("gbk")})
    mes.dispose()
    rows, _last = client_for(mes_url).page(None, 50)
    names = {row["work_order_no"]: row["product_name"] for row in rows}
    assert len(rows) == 12 and "\ufffd" in (names["MO-202611-0001"] or "")
