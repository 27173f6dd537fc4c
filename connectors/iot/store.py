"""The IoT connector's database work: load its state, commit a batch, look up reading marks.

A batch is usually a few dozen readings, many times a second, so its statements are built once
per dialect and executed on the session's connection (no ORM unit of work on the hot path).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

import orjson
from sqlalchemy import Table, delete, func, select, tuple_
from sqlalchemy.orm import Session

from connectors.iot.models import IotEpisode, IotReading
from connectors.iot.processor import BatchResult, EpisodeKey
from connectors.iot.readings import Reading
from connectors.iot.rules import Episode
from hub.core import outbox
from hub.core.topology import Topology

READING = cast(Table, IotReading.__table__)
EPISODE = cast(Table, IotEpisode.__table__)
EPISODE_COLUMNS = ("state", "since_ms", "value", "last_ms")


def load_state(session: Session, window_ms: int, grace_ms: int
               ) -> tuple[dict[str, int], dict[EpisodeKey, Episode], list[Reading]]:
    """Device watermarks (newest stored reading), episodes, and the readings of windows still open."""
    newest = (select(READING.c.device_id, func.max(READING.c.ts_ms).label("watermark"))
              .group_by(READING.c.device_id).subquery())
    watermarks = {row.device_id: row.watermark for row in session.execute(select(newest))}
    episodes = {(row.device_id, row.rule): Episode(row.state, row.since_ms, row.value, row.last_ms)
                for row in session.execute(select(EPISODE))}
    span = window_ms + grace_ms  # an open window started less than this before the watermark
    rows = session.execute(
        select(READING).join(newest, READING.c.device_id == newest.c.device_id)
        .where(READING.c.ts_ms > newest.c.watermark - span)
    )
    readings = [Reading(row.device_id, row.ts_ms, row.seq, orjson.loads(row.values)) for row in rows]
    return watermarks, episodes, readings


def stored_marks(session: Session, readings: Sequence[Reading]) -> set[tuple[str, int, int]]:
    """Which of these readings were applied before (late redeliveries)."""
    keys = [(r.device_id, r.ts_ms, r.seq) for r in readings]
    found = session.execute(
        select(READING.c.device_id, READING.c.ts_ms, READING.c.seq)
        .where(tuple_(READING.c.device_id, READING.c.ts_ms, READING.c.seq).in_(keys))
    )
    return {(row.device_id, row.ts_ms, row.seq) for row in found}


def commit_batch(session: Session, result: BatchResult, topology: Topology) -> None:
    """Write a batch's events, dead letters, reading marks and episode changes (caller's transaction)."""
    outbox.add_events(session, result.events, topology)
    outbox.add_dead_letters(session, result.letters, topology)
    connection, dialect = session.connection(), session.get_bind().dialect.name
    if result.readings:
        rows = [{"device_id": r.device_id, "ts_ms": r.ts_ms, "seq": r.seq,
                 "values": orjson.dumps(r.values).decode()} for r in result.readings]
        connection.execute(_statements(dialect)[0], rows)  # a mark written by a redelivered batch is skipped
    if result.episodes:
        rows = [{"device_id": d, "rule": r, **{c: getattr(e, c) for c in EPISODE_COLUMNS}}
                for (d, r), e in result.episodes.items()]
        connection.execute(_statements(dialect)[1], rows)
    for device_id, cutoff in result.prune_before.items():
        connection.execute(delete(READING).where(READING.c.device_id == device_id, READING.c.ts_ms < cutoff))


@functools.lru_cache(maxsize=4)
def _statements(dialect: str) -> tuple[Any, Any]:
    """INSERT … ON CONFLICT DO NOTHING for marks and an upsert for episodes (PostgreSQL and SQLite alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    marks = insert(READING).on_conflict_do_nothing()
    episodes = insert(EPISODE)
    updates = {name: episodes.excluded[name] for name in EPISODE_COLUMNS}
    return marks, episodes.on_conflict_do_update(index_elements=["device_id", "rule"],
                                                 set_={**updates, "updated_at": func.now()})


def clear_state(session: Session) -> None:
    """Forget every mark and episode (tests, and starting over after a registry change)."""
    for table in (READING, EPISODE):
        session.execute(delete(table))
