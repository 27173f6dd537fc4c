"""Checkpoints: one cursor per connector stream, moved only inside the batch's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.core.models import Checkpoint


def load_cursor(session: Session, connector: str, stream: str) -> dict[str, Any] | None:
    """The stored cursor, or None to start from the beginning."""
    row = session.get(Checkpoint, (connector, stream))
    return row.cursor if row else None


def save_cursor(session: Session, connector: str, stream: str, cursor: dict[str, Any] | None,
                records: int = 0) -> None:
    """Store the cursor in the caller's transaction (with the outbox rows of the same batch)."""
    now = dt.datetime.now(dt.timezone.utc)
    row = session.get(Checkpoint, (connector, stream))
    if row is None:
        row = Checkpoint(connector=connector, stream=stream, records_total=0)
        session.add(row)
    row.cursor = cursor
    row.records_total = (row.records_total or 0) + records
    row.updated_at = now


def mark_success(session: Session, connector: str, stream: str) -> None:
    """Record that a whole sync of the stream finished (feeds the freshness metric)."""
    row = session.get(Checkpoint, (connector, stream))
    if row is None:
        row = Checkpoint(connector=connector, stream=stream, records_total=0)
        session.add(row)
    row.last_success_at = dt.datetime.now(dt.timezone.utc)


def list_checkpoints(session: Session, connector: str | None = None) -> list[Checkpoint]:
    """Every checkpoint, optionally of one connector."""
    query = select(Checkpoint).order_by(Checkpoint.connector, Checkpoint.stream)
    if connector:
        query = query.where(Checkpoint.connector == connector)
    return list(session.scalars(query))


def reset(session: Session, connector: str, stream: str | None = None) -> int:
    """Forget cursors so the next sync starts from the beginning; returns how many were reset."""
    query = delete(Checkpoint).where(Checkpoint.connector == connector)
    if stream:
        query = query.where(Checkpoint.stream == stream)
    return session.execute(query).rowcount or 0
