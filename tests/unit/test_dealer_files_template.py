"""The 进销存 template: reading CSV (GBK, UTF-8 with BOM) and XLSX, and row-numbered validation."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from connectors.dealer_files import client
from connectors.dealer_files.client import read_cells
from connectors.dealer_files.reference import load_references
from connectors.dealer_files.template import TemplateError, header_name, validate
from connectors.testing.dealer_reports import (
    BROKEN_KINDS,
    HEADER,
    broken_lines,
    report_lines,
    write_broken,
    write_contracts,
    write_csv,
    write_sell_in,
    write_xlsx,
)
from hub.core.errors import ConfigError

NOVEMBER = dt.date(2026, 11, 1)


def lines_of(path: Path, max_rows: int = 1000) -> list[dict[str, Any]]:
    return validate(read_cells(path.name, path.read_bytes()), max_rows)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(TemplateError) as info:
        lines_of(path)
    return info.value.lines()


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_csv_in_every_encoding_excel_writes_reads_the_same(tmp_path: Path, encoding: str) -> None:
    source = report_lines("D0031", "月", NOVEMBER)
    lines = lines_of(write_csv(tmp_path / "r.csv", source, encoding=encoding))
    assert [line["产品编码"] for line in lines] == [s["产品编码"] for s in source]
    first = lines[0]
    assert first["经销商名称"] == "苏州华成机电设备有限公司" and first["期间类型"] == "月"
    assert (first["期间开始"], first["期间结束"], first["row"]) == ("2026-11-01", "2026-11-30", 2)


def test_xlsx_with_a_title_row_and_real_dates(tmp_path: Path) -> None:
    source = report_lines("D0045", "周", dt.date(2026, 11, 2))
    lines = lines_of(write_xlsx(tmp_path / "r.xlsx", source, title="宁波恒力 第45周 进销存"))
    assert len(lines) == len(source) and lines[0]["row"] == 3  # title row 1, header row 2
    assert lines[0]["期间开始"] == "2026-11-02" and lines[0]["期间类型"] == "周"
    assert lines[0]["期初库存"] == str(source[0]["期初库存"])


def test_quantities_become_exact_decimal_text(tmp_path: Path) -> None:
    source = report_lines("D0031", "月", NOVEMBER, products=1)
    source[0].update({"期初库存": "1,200.50", "本期进货": "０３", "本期销售": 2.0, "期末库存": "1201.5"})
    [line] = lines_of(write_xlsx(tmp_path / "r.xlsx", source))
    quantities = tuple(line[c] for c in ("期初库存", "本期进货", "本期销售", "期末库存"))
    assert quantities == ("1200.5", "3", "2", "1201.5")


@pytest.mark.parametrize(("kind", "expected"), [
    ("missing_column", "第1行 期末库存: 缺少列 (row 1, 期末库存: missing column)"),
    ("non_numeric_row7", "第7行 本期销售: 不是数字 (row 7, 本期销售: not a number)"),
    ("negative_stock", "第4行 期末库存: 库存不能为负数 (row 4, 期末库存: stock must not be negative)"),
    ("unknown_period_type",
     "第3行 期间类型: 期间类型只能是 周 或 月 (row 3, 期间类型: period type must be 周 or 月)"),
    ("duplicate_rows",
     "第8行: 与第5行重复（同一经销商、产品和期间） "
     "(row 8: duplicate of row 5 (same dealer, product and period))"),
])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_each_broken_file_gets_a_row_numbered_error(tmp_path: Path, kind: str, expected: str,
                                                     fmt: str) -> None:
    assert problems_of(write_broken(tmp_path, kind, fmt=fmt)) == [expected]


def test_every_broken_kind_is_covered() -> None:
    assert set(BROKEN_KINDS) == {"missing_column", "non_numeric_row7", "negative_stock",
                                 "unknown_period_type", "duplicate_rows"}
    with pytest.raises(ValueError, match="unknown broken kind"):
        broken_lines("wrong_font")


def test_all_problems_are_reported_at_once_without_cell_values(tmp_path: Path) -> None:
    source = report_lines("D0031", "月", NOVEMBER)
    source[0]["期间开始"] = "2026-13-01"
    source[1]["单位"] = "桶X"
    source[2]["产品编码"] = ""
    source[3]["期间结束"] = "2026-10-30"
    problems = problems_of(write_csv(tmp_path / "r.csv", source))
    assert problems == [
        "第2行 期间开始: 不是日期 (row 2, 期间开始: not a date; write 2026-11-30)",
        "第3行 单位: 未知单位 (row 3, 单位: unknown unit; use one of 台 套 件 个 只 箱 千克 kg 吨 米)",
        "第4行 产品编码: 必填 (row 4, 产品编码: required)",
        "第5行 期间结束: 期间结束早于期间开始 (row 5, 期间结束: period ends before it starts)",
    ]
    assert not any("桶X" in p or "2026-13-01" in p for p in problems)


def test_a_weekly_period_must_span_seven_days(tmp_path: Path) -> None:
    source = report_lines("D0045", "周", dt.date(2026, 11, 2), products=1)
    source[0]["期间结束"] = "2026-11-30"
    assert problems_of(write_csv(tmp_path / "r.csv", source)) == [
        "第2行 期间结束: 周报期间应为 7 天 (row 2, 期间结束: a weekly period spans 7 days)"]


def test_a_header_with_full_width_brackets_and_spaces_is_recognised() -> None:
    assert header_name("期间类型（周/月）") == header_name(" 期间类型(周/月) ") == "期间类型"
    assert header_name("\ufeff经销商编码") == "经销商编码"


@pytest.mark.parametrize(("content", "wording"), [
    (b"", "no header row"),
    ("经销商编码,产品编码\n".encode() + bytes([0xFF, 0xFE, 0x80]) * 3, "neither UTF-8 nor GBK"),
    (",".join(HEADER).encode(), "no data rows"),
])
def test_file_level_problems(tmp_path: Path, content: bytes, wording: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    assert wording in " ".join(problems_of(path))


def test_a_corrupt_or_inflating_workbook_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a valid XLSX workbook" in problems_of(broken)[0]
    monkeypatch.setattr(client, "MAX_UNZIPPED_BYTES", 10_000)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 20_000)
    (tmp_path / "bomb.xlsx").write_bytes(bomb.getvalue())
    assert "inflates beyond" in problems_of(tmp_path / "bomb.xlsx")[0]


@pytest.mark.parametrize("member", ["xl/styles.xml", "xl/worksheets/sheet1.xml", "xl/_rels/workbook.xml.rels",
                                    "xl/workbook.xml"])
def test_a_workbook_with_a_broken_part_is_refused(tmp_path: Path, member: str) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", report_lines("D0031", "月", NOVEMBER)).read_bytes()
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(broken, "w") as target:
        for name in source.namelist():
            target.writestr(name, b"<" if name == member else source.read(name))
    (tmp_path / "broken.xlsx").write_bytes(broken.getvalue())
    assert "XLSX" in problems_of(tmp_path / "broken.xlsx")[0]


@pytest.mark.parametrize("quantity", ["1E+999999999", "1E+999999", "1e-999999", "1" + "0" * 15])
def test_a_quantity_beyond_any_stock_is_out_of_range(tmp_path: Path, quantity: str) -> None:
    source = report_lines("D0031", "月", NOVEMBER, products=1)
    source[0]["本期进货"] = quantity
    assert problems_of(write_csv(tmp_path / "r.csv", source)) == [
        "第2行 本期进货: 数值超出范围 (row 2, 本期进货: out of range (below 10^15, at most 6 decimals))"]


def test_too_many_rows_is_one_clear_problem(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", report_lines("D0031", "月", NOVEMBER))
    with pytest.raises(TemplateError) as info:
        lines_of(path, max_rows=3)
    assert info.value.lines() == ["文件: 数据行超过 3 行 (file: more than 3 data rows)"]


def test_reference_tables_load_from_csv_and_yaml(tmp_path: Path) -> None:
    contracts = write_contracts(tmp_path / "contracts.csv", {"D0031": 240})
    sell_in = write_sell_in(tmp_path / "sell_in.csv", report_lines("D0031", "月", NOVEMBER, products=2))
    refs = load_references(contracts, sell_in)
    assert refs.contracts == {"D0031": 240} and len(refs.sell_in) == 2
    yaml_contracts = tmp_path / "contracts.yaml"
    yaml_contracts.write_text("D0031: 240\nD0045: 600.5\n", encoding="utf-8")
    yaml_sell_in = tmp_path / "sell_in.yaml"
    yaml_sell_in.write_text("- {dealer_code: D0031, product_code: MAT-10001, period_start: 2026-11-01,\n"
                            "   period_end: 2026-11-30, quantity: 4}\n", encoding="utf-8")
    refs = load_references(yaml_contracts, yaml_sell_in)
    assert refs.contracts["D0045"] == 600.5
    assert refs.sell_in == {("D0031", "MAT-10001", "2026-11-01", "2026-11-30"): 4}


def test_a_broken_reference_table_is_a_config_error_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "contracts.csv"
    path.write_text("dealer_code,annual_volume\nD0031,240\nD0045,lots\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="contracts.csv row 3") as info:
        load_references(path, None)
    assert "HUB_DEALER_FILES__CONTRACTS_PATH" in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_references(tmp_path / "missing.csv", None)
