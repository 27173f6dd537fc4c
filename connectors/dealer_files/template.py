"""The dealers' 进销存 template: its columns, and the validation of a whole file's rows against it.

`validate(rows)` takes the cells of a sheet (row number, values) as the client read them from
CSV or XLSX and returns either every line, normalised (codes trimmed, dates ISO, quantities exact
decimal text, period type 周/月), or every problem with its spreadsheet row number. One bad row
makes the file bad: it is quarantined whole, never half loaded.

Error texts are for the sender, in Chinese with an English gloss, and never quote a cell.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_ERRORS = 200
HEADER_SEARCH_ROWS = 5  # a title row or two above the header is fine
MAX_CODE_LENGTH = 64
MAX_DIGITS, MAX_DECIMALS = 15, 6  # a quantity is below 10^15 and needs at most 6 decimals
UNITS = ("台", "套", "件", "个", "只", "箱", "千克", "kg", "吨", "米")
PERIOD_TYPES = {"周": "周", "周报": "周", "w": "周", "week": "周", "weekly": "周",
                "月": "月", "月报": "月", "m": "月", "month": "月", "monthly": "月"}
PERIOD_DAYS = {"周": range(7, 8), "月": range(28, 32)}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S",
                "%Y/%m/%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class Column:
    """One template column: its header (also the payload key), what it holds, whether it is required."""

    name: str
    kind: str  # code, text, date, period, quantity, stock, unit
    required: bool = True


COLUMNS: tuple[Column, ...] = (
    Column("经销商编码", "code"),
    Column("经销商名称", "text", required=False),
    Column("产品编码", "code"),
    Column("产品名称", "text", required=False),
    Column("期间开始", "date"),
    Column("期间结束", "date"),
    Column("期间类型", "period"),  # the template's header reads 期间类型(周/月)
    Column("期初库存", "stock"),
    Column("本期进货", "quantity"),
    Column("本期销售", "quantity"),
    Column("期末库存", "stock"),
    Column("在途库存", "stock", required=False),
    Column("单位", "unit"),
)
KEY_COLUMNS = ("经销商编码", "产品编码", "期间开始", "期间结束", "期间类型")

Cells = tuple[int, list[Any]]  # (spreadsheet row number, cell values)
Line = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding for the sender: the spreadsheet row (1 = header), the column, what is wrong."""

    row: int
    column: str
    zh: str
    en: str

    def __str__(self) -> str:
        where = f"第{self.row}行" if self.row else "文件"
        place = f"{where} {self.column}" if self.column else where
        gloss = f"row {self.row}" if self.row else "file"
        return f"{place}: {self.zh} ({gloss}{', ' + self.column if self.column else ''}: {self.en})"


class TemplateError(Exception):
    """A file that does not fit the template; `problems` says where and why, row by row."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems

    def lines(self) -> list[str]:
        """Every problem as one line, at most MAX_ERRORS of them."""
        shown = [str(p) for p in self.problems[:MAX_ERRORS]]
        hidden = len(self.problems) - len(shown)
        return shown + ([f"… 另有 {hidden} 个问题 (and {hidden} more)"] if hidden else [])


def file_problem(zh: str, en: str) -> TemplateError:
    """A problem with the file as a whole (encoding, format, size)."""
    return TemplateError([Problem(0, "", zh, en)])


def validate(rows: Iterable[Cells], max_rows: int) -> list[Line]:
    """Every data line of a sheet, normalised; TemplateError with every problem when any line is bad."""
    iterator = iter(rows)
    header_row, positions = _header(iterator)
    lines: list[Line] = []
    problems: list[Problem] = []
    seen: dict[tuple[Any, ...], int] = {}
    for number, cells in iterator:
        if _blank(cells):
            continue
        if len(lines) >= max_rows:
            raise file_problem(f"数据行超过 {max_rows} 行", f"more than {max_rows} data rows")
        line, found = _line(number, cells, positions)
        found += _period_problems(number, line) if not found else []
        found += _duplicate(number, line, seen) if not found else []
        problems += found
        lines.append(line)
    if not lines and not problems:
        problems.append(Problem(header_row + 1, "", "文件没有数据行", "no data rows below the header"))
    if problems:
        raise TemplateError(problems)
    return lines


# ------------------------------------------------------------------------------------------ header


def header_name(cell: Any) -> str:
    """A header cell as the template names it: full-width forms folded, spaces and "(…)" dropped."""
    text = unicodedata.normalize("NFKC", str(cell or "")).replace("\ufeff", "")
    text = re.sub(r"\s+", "", text)
    return re.sub(r"\(.*\)$", "", text)


def _header(rows: Iterable[Cells]) -> tuple[int, dict[str, int]]:
    """(row number, column → cell index) of the header: the first row naming 经销商编码 and 产品编码."""
    for count, (number, cells) in enumerate(rows):
        names = [header_name(c) for c in cells]
        if "经销商编码" in names and "产品编码" in names:
            return number, _positions(number, names)
        if count + 1 >= HEADER_SEARCH_ROWS:
            break
    raise file_problem("找不到表头（应含 经销商编码、产品编码 等列）",
                       "no header row with 经销商编码 and 产品编码 in the first rows; use the template")


def _positions(number: int, names: list[str]) -> dict[str, int]:
    known = {c.name for c in COLUMNS}
    problems = [Problem(number, name, "列重复", "column appears twice")
                for name in sorted({n for n in names if n in known and names.count(n) > 1})]
    problems += [Problem(number, c.name, "缺少列", "missing column")
                 for c in COLUMNS if c.required and c.name not in names]
    if problems:
        raise TemplateError(problems)
    return {name: names.index(name) for name in known if name in names}


# ------------------------------------------------------------------------------------------- cells


def _blank(cells: list[Any]) -> bool:
    return all(c is None or str(c).strip() == "" for c in cells)


def _line(number: int, cells: list[Any], positions: dict[str, int]) -> tuple[Line, list[Problem]]:
    line: Line = {"row": number}
    problems: list[Problem] = []
    for column in COLUMNS:
        index = positions.get(column.name)
        raw = cells[index] if index is not None and index < len(cells) else None
        if raw is None or str(raw).strip() == "":
            if column.required:
                problems.append(Problem(number, column.name, "必填", "required"))
            continue
        try:
            line[column.name] = PARSERS[column.kind](raw)
        except ValueError as exc:
            zh, _, en = str(exc).partition("|")
            problems.append(Problem(number, column.name, zh, en))
    return line, problems


def _code(raw: Any) -> str:
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))  # Excel turned a numeric code into a float
    if len(text) > MAX_CODE_LENGTH or any(unicodedata.category(ch).startswith("C") for ch in text):
        raise ValueError(f"编码过长或含控制字符|longer than {MAX_CODE_LENGTH} or with control characters")
    return text


def _text(raw: Any) -> str:
    return " ".join(str(raw).split())


def _date(raw: Any) -> str:
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    for pattern in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    raise ValueError("不是日期|not a date; write 2026-11-30")


def _period(raw: Any) -> str:
    found = PERIOD_TYPES.get(unicodedata.normalize("NFKC", str(raw)).strip().lower())
    if found is None:
        raise ValueError("期间类型只能是 周 或 月|period type must be 周 or 月")
    return found


def _quantity(raw: Any) -> str:
    if isinstance(raw, bool):
        raise ValueError("不是数字|not a number")
    text = unicodedata.normalize("NFKC", str(raw)).strip().replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("不是数字|not a number") from None
    if not value.is_finite():
        raise ValueError("不是数字|not a number")
    if value and not -MAX_DECIMALS <= value.adjusted() < MAX_DIGITS:  # 1E+999999 is a million digits
        raise ValueError(f"数值超出范围|out of range (below 10^{MAX_DIGITS}, at most {MAX_DECIMALS} decimals)")
    return decimal_text(value)


def _stock(raw: Any) -> str:
    text = _quantity(raw)
    if text.startswith("-"):
        raise ValueError("库存不能为负数|stock must not be negative")
    return text


def _unit(raw: Any) -> str:
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if text not in UNITS:
        raise ValueError(f"未知单位|unknown unit; use one of {' '.join(UNITS)}")
    return text


PARSERS: dict[str, Callable[[Any], str]] = {
    "code": _code, "text": _text, "date": _date, "period": _period, "quantity": _quantity, "stock": _stock,
    "unit": _unit,
}


def decimal_text(value: Decimal) -> str:
    """Exact decimal text without exponent or trailing zeros ("12.50" → "12.5", "-0" → "0")."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


# ------------------------------------------------------------------------------------------- lines


def _period_problems(number: int, line: Line) -> list[Problem]:
    start, end = dt.date.fromisoformat(line["期间开始"]), dt.date.fromisoformat(line["期间结束"])
    if end < start:
        return [Problem(number, "期间结束", "期间结束早于期间开始", "period ends before it starts")]
    days = (end - start).days + 1
    if days not in PERIOD_DAYS[line["期间类型"]]:
        weekly = line["期间类型"] == "周"
        days_text = "7" if weekly else "28–31"
        return [Problem(number, "期间结束", f"{line['期间类型']}报期间应为 {days_text} 天",
                        f"a {'weekly' if weekly else 'monthly'} period spans {days_text} days")]
    return []


def _duplicate(number: int, line: Line, seen: dict[tuple[Any, ...], int]) -> list[Problem]:
    key = tuple(line.get(c) for c in KEY_COLUMNS)
    first = seen.setdefault(key, number)
    if first == number:
        return []
    return [Problem(number, "", f"与第{first}行重复（同一经销商、产品和期间）",
                    f"duplicate of row {first} (same dealer, product and period)")]
