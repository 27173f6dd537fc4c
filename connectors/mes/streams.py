"""Work orders as one stream, keyset-paged on (updated_at, id).

The cursor is the last row's (updated_at, id): the next query asks for rows strictly after that
pair in (updated_at, id) order, so the many rows an MES updates in the same instant (a batch
report, a shift close) are neither missed nor repeated at page boundaries. `overlap_s` re-reads
that many seconds before a stored cursor, for rows committed late with an older updated_at; the
duplicates are harmless, event ids being deterministic. The event type is declared in full:
`mes.workorder.progressed.v1`, the CRM's service module subscribes to `mes.#`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.base import Cursor, Page, SourceRecord, Stream
from hub.core.errors import SourceProtocolError

if TYPE_CHECKING:
    from connectors.mes.client import MesClient, MesRow, Position


class WorkOrderStream(Stream):
    """Work orders (生产工单) with the sales order they serve, quantities, status and dates."""

    name = "work_orders"
    entity = "workorder"
    event = "progressed"
    event_type: ClassVar[str] = "mes.workorder.progressed.v1"
    mapping = "mes/workorder"
    primary_key = ("work_order_no",)
    cursor_field = "updated_at"

    def __init__(self, client: Callable[[], MesClient], page_size: int = 500, overlap_s: int = 0) -> None:
        self._client = client  # a getter, so building streams never connects
        self.page_size = page_size
        self.overlap_s = overlap_s

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of rows changed after `cursor`; each page's cursor is its last row's (updated_at, id)."""
        position, inclusive = self.start(cursor)
        while True:
            rows, last = self._client().page(position, self.page_size, inclusive=inclusive)
            if not rows or last is None:
                return
            yield self.to_page(rows, last)
            if len(rows) < self.page_size:
                return
            if last == position and not inclusive:
                raise SourceProtocolError("MES returned a full page that does not move past the cursor")
            position, inclusive = last, False

    def start(self, cursor: Cursor | None) -> tuple[Position | None, bool]:
        """Where to start: after the stored (updated_at, id), or from updated_at − overlap inclusive."""
        if not cursor or cursor.get("updated_at") is None:
            return None, False
        stamp = bindable(cursor)
        if self.overlap_s and isinstance(stamp, dt.datetime):
            return (stamp - dt.timedelta(seconds=self.overlap_s), None), True
        return (stamp, cursor.get("id")), False

    def to_page(self, rows: list[MesRow], last: Position) -> Page:
        """Records for rows with a work order number; the others are rejected with the reason."""
        records: list[SourceRecord] = []
        rejected: list[tuple[bytes, str]] = []
        for row in rows:
            key, version = (row.get("work_order_no") or "").strip(), row.get("updated_at") or ""
            if not key:
                rejected.append((_raw(row), f"{self.name}: row without work_order_no (MES id {row.get('id')})"))
                continue
            records.append(SourceRecord.from_payload(key, version, dict(row)))
        return Page(records=records, cursor=position_cursor(last), rejected=rejected)


def position_cursor(last: Position) -> Cursor:
    """The JSON cursor of a (updated_at, id) as the database gave them; `type` says how to bind it again."""
    stamp, ident = last
    kind = "datetime" if isinstance(stamp, dt.datetime) else "text"
    text = stamp.isoformat() if isinstance(stamp, dt.datetime) else str(stamp)
    if isinstance(ident, Decimal) and ident == ident.to_integral_value():
        ident = int(ident)
    return {"updated_at": text, "id": ident if isinstance(ident, int | str) else str(ident), "type": kind}


def bindable(cursor: Cursor) -> Any:
    """The stored updated_at as the value to bind: a datetime again, or the text exactly as the database had it."""
    stamp = cursor["updated_at"]
    if cursor.get("type", "datetime") != "datetime":
        return stamp
    try:
        return dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return stamp


def _raw(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, default=str, sort_keys=True).encode()


STREAMS: tuple[type[WorkOrderStream], ...] = (WorkOrderStream,)
