"""The PLM's released products as a stream: part revisions read by modifiedAt, filtered, enriched.

The PLM lists part *revisions* in (modifiedAt, number, revision) order; `modifiedSince` is
inclusive. The cursor is the last revision's position plus the ETag of the query the next sync
will send:

    {"modified_since": "2026-11-18T09:30:00+08:00", "after_number": "FG-HC100-SS",
     "after_revision": "B", "etag": "\\"4be1…\\""}

A sync asks for revisions at or after `modified_since` (with `If-None-Match: etag`: a 304 ends
it at once), skips those at or before the stored position, and once a pass over the result has
found something new, asks again from the new position; a pass that finds nothing new ends the
sync and its ETag goes into the cursor of the last page. So rows sharing one modifiedAt are
never missed at a page boundary, and a re-run from the last cursor reads nothing.

Only the latest RELEASED revision of a part becomes a canonical product: INWORK and OBSOLETE
revisions are skipped (they move the cursor, nothing is published), and a RELEASED revision
is published only when the part master shows no later RELEASED revision. A published
revision carries its BOM header under `bom`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.base import Cursor, Page, SourceRecord, Stream
from hub.core.errors import ConfigError

if TYPE_CHECKING:
    from connectors.plm.client import PartsPage, PlmClient

PUBLISHED_STATE = "RELEASED"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a sync stands: the last revision seen (time, number, revision) and the ETag of its query."""

    since: str | None = None
    at: dt.datetime | None = None
    number: str = ""
    revision: str = ""
    etag: str | None = None

    @classmethod
    def from_cursor(cls, cursor: Cursor | None) -> Position:
        """The position a stored cursor describes (None: the beginning)."""
        if not cursor or not cursor.get("modified_since"):
            return cls()
        since = str(cursor["modified_since"])
        at = _moment(since)
        if at is None:
            raise ConfigError("stored plm cursor: modified_since is not an ISO date-time with an offset")
        return cls(since, at, str(cursor.get("after_number") or ""), str(cursor.get("after_revision") or ""),
                   cursor.get("etag") or None)

    def cursor(self) -> Cursor:
        """The JSON-serialisable cursor of this position."""
        out: Cursor = {"modified_since": self.since, "after_number": self.number,
                       "after_revision": self.revision}
        return out | ({"etag": self.etag} if self.etag else {})

    def is_before(self, at: dt.datetime, number: str, revision: str) -> bool:
        """True when (at, number, revision) comes after this position."""
        return self.at is None or (at, number, revision) > (self.at, self.number, self.revision)


@dataclass(slots=True)
class _Pass:
    """What one pass learnt besides its pages: the ETag of its first page."""

    etag: str | None = None


class PartStream(Stream):
    """Released products (物料/产品) of the PLM, with attributes, configuration options and BOM header."""

    name = "products"
    entity = "product"
    mapping = "plm/product"
    primary_key: ClassVar[tuple[str, ...]] = ("number",)
    cursor_field: ClassVar[str | None] = "modifiedAt"

    def __init__(self, client: Callable[[], PlmClient], page_size: int = 100) -> None:
        self._client = client  # a getter, so building streams never connects
        self.page_size = page_size

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages of released products changed after `cursor`; see the module docstring."""
        position = Position.from_cursor(cursor)
        held: Page | None = None  # the last page is held back until its cursor can carry the ETag
        while True:
            start, outcome = position, _Pass()
            for page, position in self._pass(start, outcome):
                if held is not None:
                    yield held
                held = page
            if position == start:  # a pass with nothing new: the sync is done
                break
        if held is not None:
            etag = {"etag": outcome.etag} if outcome.etag else {}
            yield Page(held.records, {**held.cursor, **etag}, held.rejected)

    def _pass(self, start: Position, outcome: _Pass) -> Iterator[tuple[Page, Position]]:
        """Pages with anything new of one pass over `modifiedSince=start.since`, each with the position
        after it; `outcome.etag` gets the ETag of the pass's first page (or the stored one on a 304)."""
        position, page_no = start, 1
        while True:
            answer = self._client().parts(start.since, page_no, self.page_size,
                                          etag=start.etag if page_no == 1 else None)
            if answer is None:  # 304: nothing changed since the stored cursor
                outcome.etag = start.etag
                return
            outcome.etag = answer.etag if page_no == 1 else outcome.etag
            before = position
            page, position = self.to_page(answer, before)
            if page.records or page.rejected or position != before:
                yield page, position
            if answer.next_page is None:
                return
            page_no = answer.next_page

    def to_page(self, answer: PartsPage, start: Position) -> tuple[Page, Position]:
        """The page for one answer: published records, rejected rows, and the position after them."""
        position, candidates, rejected = start, [], []
        for item in answer.items:
            at = _moment(item.get("modifiedAt"))
            number, revision = str(item.get("number") or ""), str(item.get("revision") or "")
            if at is None:
                rejected.append((_raw(item), f"{self.name}: modifiedAt is not an ISO 8601 time with offset"))
                continue
            if not position.is_before(at, number, revision):
                continue  # seen in an earlier pass or sync
            position = Position(str(item["modifiedAt"]), at, number, revision)
            if not number or not revision:
                missing = "number" if not number else "revision"
                rejected.append((_raw(item), f"{self.name}: row without {missing}"))
            elif item.get("lifecycleState") == PUBLISHED_STATE:
                candidates.append(item)
        records = [self._record(item) for item in self._latest_released(candidates)]
        return Page(records, position.cursor(), rejected), position

    def _latest_released(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items that are their part's latest RELEASED revision, as the part master says now."""
        latest: dict[str, str | None] = {}
        for number in dict.fromkeys(str(i["number"]) for i in items):
            latest[number] = latest_released_revision(self._client().part(number))
        return [i for i in items if latest.get(str(i["number"])) == str(i["revision"])]

    def _record(self, item: dict[str, Any]) -> SourceRecord:
        bom = self._client().bom(str(item["number"]), str(item["revision"]))
        payload = {**item, **({"bom": bom} if bom else {}), "attributeTexts": attribute_texts(item, bom)}
        return SourceRecord.from_payload(str(item["number"]), str(item["modifiedAt"]), payload)


STREAMS: tuple[type[PartStream], ...] = (PartStream,)

# PLM attribute → (canonical attribute name, unit appended to the value). Attributes with a field of
# their own in product.v1 are left out; any other attribute keeps its PLM name.
ATTRIBUTE_LABELS: dict[str, tuple[str, str]] = {
    "productLine": ("产品线", ""),
    "power_kw": ("功率", "kW"),
    "material": ("材质", ""),
    "voltage": ("电压", ""),
    "protection": ("防护等级", ""),
}
OWN_FIELDS = frozenset({"category", "model", "specification", "drawingNo", "brand", "netWeight",
                        "grossWeight"})
BOM_LABELS: dict[str, str] = {"bomNumber": "BOM编号", "bomType": "BOM类型", "itemCount": "BOM行数"}


def attribute_texts(item: dict[str, Any], bom: dict[str, Any] | None) -> dict[str, str]:
    """The canonical `attributes` map: classification attributes and the BOM header, every value text."""
    found = item.get("attributes")
    attributes: dict[str, Any] = found if isinstance(found, dict) else {}
    out: dict[str, str] = {}
    for name, value in attributes.items():
        label, unit = ATTRIBUTE_LABELS.get(name, (name, ""))
        text = _text(value)
        if name not in OWN_FIELDS and text:
            out[label] = text + unit
    for name, label in BOM_LABELS.items():
        text = _text((bom or {}).get(name))
        if text:
            out[label] = text
    return out


def _text(value: Any) -> str:
    """A scalar as text ("是"/"否" for booleans); containers and blanks give ""."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float | str):
        return str(value).strip()
    return ""


def latest_released_revision(master: dict[str, Any] | None) -> str | None:
    """The highest RELEASED revision label of a part master (A < B < … < Z < AA; 1 < 2 < … < 10)."""
    revisions = (master or {}).get("revisions")
    released = [str(r.get("revision")) for r in (revisions if isinstance(revisions, list) else [])
                if isinstance(r, dict) and r.get("lifecycleState") == PUBLISHED_STATE and r.get("revision")]
    return max(released, key=revision_order, default=None)


def revision_order(label: str) -> tuple[int, str]:
    """Sort key of a revision label: shorter first, then alphabetically (so "Z" < "AA", "9" < "10")."""
    return len(label), label


def _moment(value: Any) -> dt.datetime | None:
    """An aware datetime from ISO 8601 text with an offset (Z allowed); None otherwise."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _raw(item: dict[str, Any]) -> bytes:
    return json.dumps(item, ensure_ascii=False, default=str, sort_keys=True).encode()
