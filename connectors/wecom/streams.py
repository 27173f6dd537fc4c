"""Check-ins as a polling stream with a time cursor, read in windows of ≤ 100 users × ≤ 30 days.

The cursor is `{"until": <Unix time>}`, the end of the last window pulled completely for every
user. A run pulls from there to `now - settle_s` (phones upload late), window by window; each
window's check-ins, from every 100-user chunk, form one page committed with the cursor after it.
An empty window moves the cursor only when it is a full one: the last, partial window is pulled
again next time unless it had check-ins, so reading again right after a sync yields nothing.
`overlap_s` re-reads before the cursor for check-ins uploaded later still; their ids are
deterministic (`<userid>:<checkin_time>`), so consumers drop the duplicates.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, ClassVar

from connectors.base import Cursor, Page, SourceRecord, Stream
from connectors.wecom.client import MAX_SPAN_S, MAX_USERS
from connectors.wecom.records import CHINA, checkin_record, local_iso
from hub.core.errors import ConfigError

if TYPE_CHECKING:
    from connectors.wecom.client import WecomClient
    from hub.core.settings import WecomSettings

log = logging.getLogger(__name__)
DAY = 86400


def windows(start: int, end: int, span_s: int) -> Iterator[tuple[int, int]]:
    """Half-open [from, to) intervals of at most `span_s` seconds covering [start, end)."""
    if not 0 < span_s <= MAX_SPAN_S:
        raise ValueError("a window is 1 s to 30 days long")
    while start < end:
        yield start, min(start + span_s, end)
        start += span_s


def chunks(items: list[str], size: int = MAX_USERS) -> Iterator[list[str]]:
    """Consecutive slices of at most `size` items."""
    for first in range(0, len(items), size):
        yield items[first:first + size]


class CheckinStream(Stream):
    """Check-ins (打卡记录) of every configured user: field visits, on/off duty."""

    name = "checkins"
    entity = "checkin"
    event = "recorded"
    event_type: ClassVar[str] = "wecom.checkin.recorded.v1"  # not src.*: see connectors/wecom/README.md
    mapping = "wecom/checkin"
    primary_key = ("userid", "checkin_time")
    cursor_field = "checkin_time"

    def __init__(self, client: Callable[[], WecomClient], settings: WecomSettings, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client  # a getter, so building streams never connects
        self.settings = settings
        self._clock = clock

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """Yield one page per pulled window, its cursor the window's end."""
        start, end = self.start_time(cursor), int(self._clock()) - self.settings.checkin_settle_s
        if start >= end:
            return
        users = self.users()
        if not users:
            log.warning("wecom check-ins: no users to read (HUB_WECOM__CHECKIN_USERS is empty and "
                        "user/list_id found nobody in HUB_WECOM__CHECKIN_DEPARTMENTS)")
            return
        span = self.settings.checkin_window_days * DAY
        for since, until in windows(start, end, span):
            page = self.window(users, since, until)
            if page.records or page.rejected or until - since == span:
                yield page

    def window(self, users: list[str], since: int, until: int) -> Page:
        """Every user's check-ins in [since, until), from ⌈users / 100⌉ calls."""
        records: list[SourceRecord] = []
        rejected: list[tuple[bytes, str]] = []
        for chunk in chunks(users):
            for row in self._client().checkin_data(chunk, since, until - 1):
                record = checkin_record(row) if isinstance(row, dict) else None
                if record is None:
                    rejected.append((_raw(row), "checkins: row without userid or checkin_time"))
                else:
                    records.append(record)
        return Page(records=records, cursor={"until": until, "until_at": local_iso(until)}, rejected=rejected)

    def start_time(self, cursor: Cursor | None) -> int:
        """Where to start: the stored cursor minus the overlap, or the configured first day."""
        if cursor and isinstance(cursor.get("until"), int):
            return int(cursor["until"]) - self.settings.checkin_overlap_s
        if cursor:
            raise ConfigError("stored wecom/checkins cursor has no integer 'until'; reset it with hub state")
        if self.settings.checkin_start:
            day = dt.date.fromisoformat(self.settings.checkin_start)
        else:
            day = dt.datetime.fromtimestamp(self._clock(), CHINA).date() - dt.timedelta(
                days=self.settings.checkin_initial_days)
        return int(dt.datetime.combine(day, dt.time(), CHINA).timestamp())

    def users(self) -> list[str]:
        """The configured userids, else every member (of the configured departments) from user/list_id."""
        if self.settings.checkin_users:
            return sorted(set(self.settings.checkin_users))
        wanted = set(self.settings.checkin_departments)
        members = self._client().user_ids()
        return sorted({str(m["userid"]) for m in members
                       if m.get("userid") and (not wanted or m.get("department") in wanted)})


def _raw(row: dict[str, object]) -> bytes:
    return json.dumps(row, ensure_ascii=False, default=str, sort_keys=True).encode()
