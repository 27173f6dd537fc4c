"""Realistic 进销存 report files as dealers send them, good and broken, for tests and the demo.

    lines = report_lines("D0031", "月", dt.date(2026, 11, 1))
    write_csv(inbox / "D0031_2026-11.csv", lines, encoding="gbk")        # or "utf-8-sig"
    write_xlsx(inbox / "D0031_2026-11.xlsx", lines, title="苏州华成 11月进销存")
    write_broken(inbox, "non_numeric_row7")                               # 本期销售 "五台" in row 7
    drop_demo_files(inbox)                                                # three good files

Quantities balance (期初 + 进货 − 销售 = 期末) unless a test asks otherwise.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import openpyxl

HEADER = ("经销商编码", "经销商名称", "产品编码", "产品名称", "期间开始", "期间结束", "期间类型(周/月)",
          "期初库存", "本期进货", "本期销售", "期末库存", "在途库存", "单位")
DEALERS = {
    "D0031": "苏州华成机电设备有限公司",
    "D0045": "宁波恒力工业设备经销部",
    "D0102": "成都天工机械销售有限公司",
    "D0117": "青岛海川自动化设备有限公司",
}
# product code, name, unit, typical stock
PRODUCTS = (
    ("MAT-10001", "数控车床 CK6140", "台", 8),
    ("FG-HC100-SS", "HC-100 不锈钢搅拌设备", "台", 4),
    ("MAT-10007", "液压泵站 HPS-22", "套", 6),
    ("MAT-10003", "伺服电机 1.5kW", "台", 40),
    ("MAT-10017", "光电传感器", "件", 300),
    ("MAT-10019", "成套电控柜", "套", 3),
)
CONTRACTED_VOLUME = {"D0031": 240, "D0045": 600, "D0102": 180, "D0117": 360}  # units a year
BROKEN_KINDS = ("missing_column", "non_numeric_row7", "negative_stock", "unknown_period_type",
                "duplicate_rows")
Line = dict[str, Any]


def period(kind: str, start: dt.date) -> tuple[dt.date, dt.date]:
    """The (first, last) day of the week (周) or the calendar month (月) that begins on `start`."""
    if kind == "周":
        return start, start + dt.timedelta(days=6)
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def report_lines(dealer: str, kind: str, start: dt.date, *, products: int = 6, seed: int = 0) -> list[Line]:
    """One dealer's report for one period: a balanced line per product, header names as keys."""
    rng = random.Random(f"{dealer}/{kind}/{start}/{seed}")
    first, last = period(kind, start)
    lines = []
    for code, name, unit, typical in PRODUCTS[:products]:
        scale = typical if kind == "月" else max(typical // 4, 1)
        opening, purchases = rng.randint(0, typical), rng.randint(0, scale)
        sales = rng.randint(0, opening + purchases)
        lines.append({"经销商编码": dealer, "经销商名称": DEALERS.get(dealer, "经销商"), "产品编码": code,
                      "产品名称": name, "期间开始": first.isoformat(), "期间结束": last.isoformat(),
                      "期间类型(周/月)": kind, "期初库存": opening, "本期进货": purchases, "本期销售": sales,
                      "期末库存": opening + purchases - sales, "在途库存": rng.randint(0, max(scale // 3, 1)),
                      "单位": unit})
    return lines


def write_csv(path: Path, lines: Iterable[Line], *, encoding: str = "utf-8-sig",
              header: tuple[str, ...] = HEADER) -> Path:
    """A CSV as Excel saves it ("CSV UTF-8" → utf-8-sig, plain "CSV" on a Chinese Windows → gbk)."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for line in lines:
            writer.writerow([line.get(name, "") for name in header])
    return path


def write_xlsx(path: Path, lines: Iterable[Line], *, header: tuple[str, ...] = HEADER,
               title: str | None = None) -> Path:
    """An XLSX workbook: an optional title row, the header, then the lines (dates as real dates)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "进销存"
    if title:
        sheet.append([title])
    sheet.append(list(header))
    for line in lines:
        sheet.append([_cell(name, line.get(name)) for name in header])
    book.save(path)
    return path


def _cell(name: str, value: Any) -> Any:
    if name.startswith("期间") and isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return dt.date.fromisoformat(value)
    return value


def broken_lines(kind: str, dealer: str = "D0045",
                 start: dt.date = dt.date(2026, 11, 1)) -> tuple[list[Line], tuple[str, ...]]:
    """Lines and header of a report broken in one way (see BROKEN_KINDS)."""
    lines = report_lines(dealer, "月", start)
    header: tuple[str, ...] = HEADER
    if kind == "missing_column":
        header = tuple(h for h in HEADER if h != "期末库存")
    elif kind == "non_numeric_row7":
        lines[5]["本期销售"] = "五台"  # header is row 1, so the sixth line is row 7
    elif kind == "negative_stock":
        lines[2]["期末库存"] = -3
    elif kind == "unknown_period_type":
        lines[1]["期间类型(周/月)"] = "季"
    elif kind == "duplicate_rows":
        lines.append(dict(lines[3]))
    else:
        raise ValueError(f"unknown broken kind {kind!r}; kinds: {', '.join(BROKEN_KINDS)}")
    return lines, header


def write_broken(folder: Path, kind: str, *, fmt: str = "csv", name: str | None = None) -> Path:
    """A broken report file in `folder` (CSV in UTF-8 with BOM, or XLSX)."""
    lines, header = broken_lines(kind)
    path = folder / (name or f"D0045_2026-11_{kind}.{fmt}")
    if fmt == "xlsx":
        return write_xlsx(path, lines, header=header)
    return write_csv(path, lines, header=header)


def drop_demo_files(inbox: Path, *, start: dt.date = dt.date(2026, 11, 1), age_s: float = 60.0) -> list[Path]:
    """Three good reports: a monthly XLSX with a title row, a weekly GBK CSV, a monthly UTF-8 CSV."""
    week = start + dt.timedelta(days=(7 - start.weekday()) % 7)  # the first Monday
    paths = [
        write_xlsx(inbox / f"D0031_{start:%Y-%m}_月报.xlsx", report_lines("D0031", "月", start),
                   title=f"{DEALERS['D0031']} {start:%Y年%m月} 进销存月报"),
        write_csv(inbox / f"D0045_{week:%Y-%m-%d}_周报.csv", report_lines("D0045", "周", week),
                  encoding="gbk"),
        write_csv(inbox / f"D0102_{start:%Y-%m}_月报.csv", report_lines("D0102", "月", start, products=4)),
    ]
    for offset, path in enumerate(paths):  # old enough to be settled, in a fixed order
        aged(path, age_s - offset)
    return paths


def aged(path: Path, age_s: float) -> Path:
    """Set a file's modification time `age_s` seconds into the past."""
    moment = dt.datetime.now().timestamp() - age_s
    os.utime(path, (moment, moment))
    return path


def write_contracts(path: Path, volumes: dict[str, int] | None = None) -> Path:
    """The contracted annual volume per dealer, as CSV."""
    rows = volumes or CONTRACTED_VOLUME
    path.write_text("dealer_code,annual_volume\n" + "".join(f"{k},{v}\n" for k, v in rows.items()),
                    encoding="utf-8")
    return path


def write_sell_in(path: Path, lines: Iterable[Line], *, gap_on: str | None = None, gap: int = 5) -> Path:
    """The ERP's sell-in for the lines' periods: each line's 本期进货, off by `gap` for product `gap_on`."""
    out = ["dealer_code,product_code,period_start,period_end,quantity"]
    for line in lines:
        quantity = int(line["本期进货"]) + (gap if line["产品编码"] == gap_on else 0)
        out.append(f"{line['经销商编码']},{line['产品编码']},{line['期间开始']},{line['期间结束']},{quantity}")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
