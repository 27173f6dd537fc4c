"""Dealer inventory reports (进销存) as a stream: one page per file, loaded whole or not at all.

For every file in the inbox, oldest first: a file already loaded (same name, same SHA-256) is
moved to processed/ and skipped; a file that breaks the template is quarantined whole with its
row-numbered errors (`<file>.errors.txt`, and `stream.quarantined`); a good file becomes one page,
and is moved to processed/ once the pipeline has committed that page with the cursor that
remembers it. A crash between the commit and the move leaves the file in the inbox, and the next
run recognises it by name and hash.

The stream derives, per line (the mapping only renames and formats):

* `net_shipments` = 期初库存 + 本期进货 − 期末库存;
* `days_of_stock` = 期末库存 ÷ (contracted annual volume ÷ 365), one decimal, when the dealer has
  a contract;
* `flags`: `negative_net_shipments`; `purchase_gap` when 本期进货 differs from the ERP's sell-in for
  the same dealer, product and period by more than max(ratio × sell-in, minimum);
  `stock_mismatch` when 期初库存 + 本期进货 − 本期销售 ≠ 期末库存.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import Cursor, Page, SourceRecord, Stream
from connectors.dealer_files.client import DropFolder, DroppedFile, read_cells, sha256
from connectors.dealer_files.reference import References
from connectors.dealer_files.template import COLUMNS, Line, TemplateError, decimal_text, validate

log = logging.getLogger(__name__)

REMEMBERED_FILES = 5000  # the cursor keeps this many file names (oldest forgotten first)
HASHES_PER_FILE = 10
DAYS_PER_YEAR = Decimal(365)
ONE_DECIMAL = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A file that was not loaded: where it went and why, row by row."""

    name: str
    path: Path
    errors: list[str]


@dataclass(frozen=True, slots=True)
class GapRule:
    """When a dealer's purchases are too far from the ERP's sell-in."""

    ratio: Decimal = Decimal("0.2")
    minimum: Decimal = Decimal(1)

    def exceeded(self, purchases: Decimal, sell_in: Decimal) -> bool:
        """True when |purchases − sell-in| > max(ratio × |sell-in|, minimum)."""
        return abs(purchases - sell_in) > max(self.ratio * abs(sell_in), self.minimum)


class Processed:
    """The cursor: file name → content hashes already loaded, and the last file loaded."""

    def __init__(self, files: dict[str, list[str]] | None = None, last: str | None = None) -> None:
        self.files = files or {}
        self.last = last

    @classmethod
    def from_cursor(cls, cursor: Cursor | None) -> Processed:
        """The processed files a stored cursor remembers."""
        files = (cursor or {}).get("files") or {}
        return cls({str(k): [str(h) for h in v] for k, v in files.items()}, (cursor or {}).get("last"))

    def has(self, name: str, digest: str) -> bool:
        """True when this file with this content was loaded before."""
        return digest in self.files.get(name, ())

    def plus(self, name: str, digest: str) -> Processed:
        """A copy that also remembers (name, digest), forgetting the oldest beyond the limits."""
        files = {k: v for k, v in self.files.items() if k != name}
        files[name] = [*self.files.get(name, []), digest][-HASHES_PER_FILE:]
        kept = dict(list(files.items())[-REMEMBERED_FILES:])
        return Processed(kept, f"{name}#{digest[:12]}")

    def cursor(self) -> Cursor:
        """The JSON-serialisable cursor."""
        return {"files": {k: list(v) for k, v in self.files.items()}, "last": self.last}


class InventoryReportStream(Stream):
    """Weekly and monthly sell-through reports of dealers and distributors, from the drop folder."""

    name = "inventory_reports"
    entity = "inventory_report"
    event = "reported"
    event_type: ClassVar[str] = "channel.inventory.reported.v1"
    mapping = "dealer_files/inventory_report"
    primary_key: ClassVar[tuple[str, ...]] = ("经销商编码", "产品编码", "期间开始", "期间类型")
    cursor_field: ClassVar[str | None] = "file_sha256"

    def __init__(self, folder: DropFolder, references: Callable[[], References], *,
                 gap: GapRule | None = None, settle_s: float = 0.0, max_rows: int = 50_000) -> None:
        self.folder, self._references = folder, references
        self.gap, self.settle_s, self.max_rows = gap or GapRule(), settle_s, max_rows
        self.quarantined: list[Quarantined] = []

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """One page per good new file; bad files are quarantined, files seen before are archived."""
        processed = Processed.from_cursor(cursor)
        references = self._references()
        for dropped in self.folder.pending(self.settle_s):
            data, problems = self._content(dropped)
            digest = sha256(data)
            if processed.has(dropped.name, digest):
                self.folder.archive(dropped, digest)  # re-dropped, or moved late after a crash
                continue
            try:
                lines = problems_or_lines(dropped.name, data, self.max_rows, problems)
            except TemplateError as exc:
                self._quarantine(dropped, digest, exc.lines())
                continue
            processed = processed.plus(dropped.name, digest)
            records = [self.record(line, dropped, digest, references) for line in lines]
            yield Page(records, processed.cursor())
            self.folder.archive(dropped, digest)  # only now: the page and its cursor are committed

    def _content(self, dropped: DroppedFile) -> tuple[bytes, TemplateError | None]:
        try:
            return self.folder.read(dropped), None
        except TemplateError as exc:  # too large: its hash is of nothing, it goes to quarantine
            return b"", exc

    def _quarantine(self, dropped: DroppedFile, digest: str, errors: list[str]) -> None:
        target = self.folder.quarantine(dropped, digest, errors)
        self.quarantined.append(Quarantined(dropped.name, target, errors))
        log.warning("dealer report %s quarantined with %d problem(s); see %s.errors.txt",
                    dropped.name, len(errors), target.name)

    def record(self, line: Line, dropped: DroppedFile, digest: str, references: References) -> SourceRecord:
        """The record of one report line: the template's columns, the derived figures, where it came from."""
        values = {c.name: line[c.name] for c in COLUMNS if c.name in line}
        values |= derive(values, references, self.gap)
        key = report_key(values)
        content = json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
        version = hashlib.sha256(content).hexdigest()[:16]
        payload = {**values, "source_id": key, "reported_at": dropped.received_at(),
                   "source_file": dropped.name, "source_row": line["row"], "file_sha256": digest}
        return SourceRecord.from_payload(key, version, payload)


def problems_or_lines(name: str, data: bytes, max_rows: int, problem: TemplateError | None) -> list[Line]:
    """The validated lines of a file, or the TemplateError that quarantines it."""
    if problem is not None:
        raise problem
    return validate(read_cells(name, data), max_rows)


def report_key(values: dict[str, Any]) -> str:
    """`<dealer>:<product>:<period start>`, with `:W` for a weekly report (a week and a month may start
    on the same day)."""
    key = f"{values['经销商编码']}:{values['产品编码']}:{values['期间开始']}"
    return key + (":W" if values["期间类型"] == "周" else "")


def derive(values: dict[str, Any], references: References, gap: GapRule) -> dict[str, Any]:
    """net_shipments, days_of_stock, sell_in and flags of one validated line."""
    opening, purchases = Decimal(values["期初库存"]), Decimal(values["本期进货"])
    sales, closing = Decimal(values["本期销售"]), Decimal(values["期末库存"])
    net = opening + purchases - closing
    out: dict[str, Any] = {"net_shipments": decimal_text(net)}
    flags: list[str] = ["negative_net_shipments"] if net < 0 else []
    annual = references.contracts.get(values["经销商编码"])
    if annual:
        days = (closing * DAYS_PER_YEAR / annual).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)
        out["days_of_stock"] = format(days, "f")
    sell_in = references.sell_in.get((values["经销商编码"], values["产品编码"], values["期间开始"],
                                      values["期间结束"]))
    if sell_in is not None:
        out["sell_in"] = decimal_text(sell_in)
        flags += ["purchase_gap"] if gap.exceeded(purchases, sell_in) else []
    flags += ["stock_mismatch"] if opening + purchases - sales != closing else []
    return out | ({"flags": flags} if flags else {})
