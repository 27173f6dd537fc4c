"""Reference tables the dealer reports are checked against: contracted volumes and the ERP's sell-in.

Both are files named in the settings, CSV (UTF-8, a BOM is fine) or YAML:

    contracts (HUB_DEALER_FILES__CONTRACTS_PATH)   sell-in (HUB_DEALER_FILES__SELL_IN_PATH)
    dealer_code,annual_volume                      dealer_code,product_code,period_start,period_end,quantity
    D0031,240                                      D0031,MAT-10001,2026-11-01,2026-11-30,4

    # YAML: a mapping                              # YAML: a list
    D0031: 240                                     - {dealer_code: D0031, product_code: MAT-10001,
                                                      period_start: 2026-11-01, period_end: 2026-11-30,
                                                      quantity: 4}

The sell-in is what our ERP delivered to the dealer in the period (delivery notes minus returns),
exported from the ERP by whoever runs the hub; a missing entry means "not known", never zero.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from hub.core.errors import ConfigError

SellInKey = tuple[str, str, str, str]  # dealer, product, period start, period end (ISO dates)
CONTRACT_COLUMNS = ("dealer_code", "annual_volume")
SELL_IN_COLUMNS = ("dealer_code", "product_code", "period_start", "period_end", "quantity")


@dataclass(frozen=True)
class References:
    """Contracted annual volume per dealer and sell-in per dealer, product and period."""

    contracts: dict[str, Decimal] = field(default_factory=dict)
    sell_in: dict[SellInKey, Decimal] = field(default_factory=dict)


MIN_VOLUME, MAX_VOLUME = Decimal("0.001"), Decimal(10) ** 15  # contracted annual volume: 0 (none) or in this range


def load_references(contracts_path: Path | None, sell_in_path: Path | None) -> References:
    """Both tables (empty when not configured); a broken file is a ConfigError naming file and row."""
    contracts = _load(contracts_path, CONTRACT_COLUMNS, _contract, "HUB_DEALER_FILES__CONTRACTS_PATH",
                      f"a plain number: 0 (no contract) or {MIN_VOLUME} up to 10^15")
    sell_in = _load(sell_in_path, SELL_IN_COLUMNS, _sell_in, "HUB_DEALER_FILES__SELL_IN_PATH")
    return References(dict(contracts), dict(sell_in))


def _load(path: Path | None, columns: tuple[str, ...], entry: Callable[[dict[str, Any]], tuple[Any, Decimal]],
          setting: str, hint: str = "dates ISO, numbers plain") -> list[tuple[Any, Decimal]]:
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path} ({type(exc).__name__})") from None
    rows = _yaml_rows(text, columns, path) if path.suffix.lower() in (".yaml", ".yml") else _csv_rows(text)
    out, problems = [], []
    for number, row in rows:
        try:
            out.append(entry(row))
        except (KeyError, ValueError, InvalidOperation):
            needs = ", ".join(columns)
            problems.append(f"{path.name} row {number}: needs {needs} ({hint})")
    if problems:
        raise ConfigError(f"{setting}: {path} has {len(problems)} bad row(s)", problems[:20])
    return out


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    return [(index + 2, {k.strip(): v for k, v in row.items() if k}) for index, row in enumerate(reader)]


def _yaml_rows(text: str, columns: tuple[str, ...], path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{path} is not valid YAML") from None
    if isinstance(data, dict):  # contracts as a mapping code → volume
        return [(i + 1, {columns[0]: k, columns[1]: v}) for i, (k, v) in enumerate(data.items())]
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return [(i + 1, r) for i, r in enumerate(data)]
    raise ConfigError(f"{path}: expected a mapping or a list of rows")


def _contract(row: dict[str, Any]) -> tuple[str, Decimal]:
    code, volume = _text(row["dealer_code"]), Decimal(_text(row["annual_volume"]))
    if not code or not volume.is_finite() or not (volume == 0 or MIN_VOLUME <= volume < MAX_VOLUME):
        raise ValueError("bad contract")  # a volume near zero would make days of stock astronomically large
    return code, volume


def _sell_in(row: dict[str, Any]) -> tuple[SellInKey, Decimal]:
    key = (_text(row["dealer_code"]), _text(row["product_code"]), _date(row["period_start"]),
           _date(row["period_end"]))
    quantity = Decimal(_text(row["quantity"]))
    if not all(key) or not quantity.is_finite():
        raise ValueError("bad sell-in")
    return key, quantity


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _date(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(_text(value)).isoformat()
