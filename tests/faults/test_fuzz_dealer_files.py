"""Dealer report files fuzzed: any bytes as CSV or XLSX load whole or are quarantined with reasons.

    template   cells of any type and text (huge numbers, odd dates, wrong headers) written as CSV in
               UTF-8, UTF-8 with BOM, GBK or with invalid UTF-8, as XLSX, as XLSX with a part replaced
               or its bytes damaged, or bytes of anything up to 5 MB → lines, or a TemplateError with
               row-numbered problems
    stream     a drop folder of such files synced through the pipeline: each file ends in processed/
               (its lines are received = published + dead-lettered) or in quarantine/ with its errors
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from connectors.dealer_files.client import read_cells
from connectors.dealer_files.connector import DealerFilesConnector
from connectors.dealer_files.template import TemplateError, validate
from connectors.testing.dealer_reports import HEADER, report_lines, write_contracts
from hub.core.db import Database
from hub.core.settings import load_settings
from hub.core.topology import Topology
from tests.faults.fuzzing import FEW, FUZZ, bodies, invalid_utf8, mutated, scalars, sync_from_scratch

MAX_ROWS = 50
LINES = [[line[name] for name in HEADER] for line in report_lines("D0031", "月", dt.date(2026, 11, 1), products=3)]
numbers = st.sampled_from(["1E+999999999", "1E+999999", "1e-999999", "9" * 40, "1E+30", "-0", "0.000001",
                           "1,000.5", "１２", "NaN", "sNaN", "-Infinity"])
cells = st.one_of(scalars, numbers, st.dates().map(dt.date.isoformat), st.datetimes())
QUANTITIES = {i for i, name in enumerate(HEADER) if name in ("期初库存", "本期进货", "本期销售", "期末库存", "在途库存")}


@st.composite
def grids(draw: st.DrawFn) -> list[list[Any]]:
    """The template's header and lines with a few cells replaced; sometimes a junk row or a changed header."""
    header = draw(mutated(list(HEADER))) if draw(st.integers(0, 4)) == 4 else list(HEADER)
    rows = [list(r) for r in LINES]
    for _ in range(draw(st.integers(0, 3))):
        row, col = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(HEADER) - 1))
        rows[row][col] = draw(st.one_of(numbers, cells) if col in QUANTITIES else cells)
    if draw(st.integers(0, 4)) == 4:
        rows.append(draw(st.lists(cells, max_size=15)))
    title = draw(st.lists(st.lists(cells, max_size=3), max_size=2))
    return [*title, header if isinstance(header, list) else [header], *rows]


def csv_bytes(grid: list[list[Any]], encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(grid)
    return out.getvalue().encode(encoding, errors="replace")


def xlsx_bytes(grid: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in grid:
        sheet.append([_xlsx_value(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("?", value)[:32_000]
    return value if isinstance(value, int | float | bool | dt.date | type(None)) else str(value)


def replaced_part(data: bytes, member: str, junk: bytes) -> bytes:
    """The workbook with one of its parts replaced by `junk` (a broken sheet, shared strings, styles)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, junk if info.filename == member else source.read(info.filename))
    return out.getvalue()


def damaged(data: bytes, at: int, junk: bytes) -> bytes:
    at %= len(data)
    return data[:at] + junk + data[at + len(junk):]


XML_JUNK = st.one_of(st.binary(max_size=200), st.sampled_from([
    b"", b"<", b"<worksheet/>", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;</x>',
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="x">'
    b'<c r="ZZZZZZ1" t="s"><v>99999</v></c></row></sheetData></worksheet>',
    b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>\xff</t></si></sst>']))
MEMBERS = st.sampled_from(["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml",
                           "[Content_Types].xml", "xl/_rels/workbook.xml.rels", "docProps/core.xml"])
files = st.one_of(
    st.tuples(st.just("r.csv"), st.builds(csv_bytes, grids(), st.sampled_from(["utf-8", "utf-8-sig", "gbk"]))),
    st.tuples(st.just("r.csv"), st.builds(lambda g, bad: csv_bytes(g, "utf-8") + bad, grids(), invalid_utf8)),
    st.tuples(st.just("r.xlsx"), st.builds(xlsx_bytes, grids())),
    st.tuples(st.just("r.xlsx"), st.builds(lambda g, m, j: replaced_part(xlsx_bytes(g), m, j), grids(), MEMBERS,
                                           XML_JUNK)),
    st.tuples(st.just("r.xlsx"), st.builds(lambda g, at, j: damaged(xlsx_bytes(g), at, j), grids(),
                                           st.integers(0, 10_000), st.binary(min_size=1, max_size=8))),
    st.tuples(st.sampled_from(["r.csv", "r.xlsx"]), bodies),
)


def lines_or_problems(name: str, data: bytes) -> int | None:
    """The number of lines of a good file, None for one the template refuses."""
    try:
        return len(validate(read_cells(name, data), MAX_ROWS))
    except TemplateError as exc:
        assert exc.problems and all(str(p) for p in exc.lines())
        return None


@FUZZ
@given(file=files)
def test_any_file_gives_lines_or_a_template_error_with_its_problems(file: tuple[str, bytes]) -> None:
    lines_or_problems(*file)


@FUZZ
@given(column=st.sampled_from(sorted(QUANTITIES)), value=st.one_of(numbers, cells),
       fmt=st.sampled_from(["csv", "xlsx"]))
def test_any_quantity_in_an_otherwise_good_file_gives_lines_or_a_problem(column: int, value: Any,
                                                                         fmt: str) -> None:
    rows = [list(r) for r in LINES]
    rows[1][column] = value
    grid = [list(HEADER), *rows]
    lines_or_problems(f"r.{fmt}", csv_bytes(grid, "utf-8") if fmt == "csv" else xlsx_bytes(grid))


# ----------------------------------------------------------------------------------------- stream


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dealer")


def test_each_dropped_file_is_loaded_or_quarantined_and_its_lines_accounted_for(root: Path, fuzz_db: Database,
                                                                                fuzz_topology: Topology) -> None:
    contracts = write_contracts(root / "contracts.csv", {"D0031": 1})
    counter = iter(range(1_000_000))

    @FEW
    @given(dropped=st.lists(files, min_size=1, max_size=3))
    def check(dropped: list[tuple[str, bytes]]) -> None:
        folders = {name: root / f"run{next(counter)}" / name for name in ("inbox", "quarantine", "processed")}
        for folder in folders.values():
            folder.mkdir(parents=True)
        expected = {}
        for n, (name, data) in enumerate(dropped):
            (folders["inbox"] / f"{n}{name}").write_bytes(data)
            expected[f"{n}{name}"] = lines_or_problems(name, data) if len(data) <= 1_000_000 else None
        settings = load_settings(dealer_files={**folders, "settle_s": 0, "contracts_path": contracts,
                                               "max_file_bytes": 1_000_000, "max_rows": MAX_ROWS}).dealer_files
        connector = DealerFilesConnector(settings)
        stream = connector.streams()[0]
        result = sync_from_scratch(fuzz_db, fuzz_topology, connector, stream)
        loaded = {p.name for p in folders["processed"].iterdir()}
        quarantined = {p.name for p in folders["quarantine"].iterdir() if not p.name.endswith(".errors.txt")}
        assert not list(folders["inbox"].iterdir())
        assert loaded == {name for name, lines in expected.items() if lines is not None}
        assert quarantined == {name for name, lines in expected.items() if lines is None}
        reports = [folders["quarantine"] / f"{name}.errors.txt" for name in quarantined]
        assert all(report.read_text(encoding="utf-8-sig") for report in reports)
        assert result.received == sum(lines for lines in expected.values() if lines)

    check()
