"""Tables of the hub's operations: worker heartbeats, the last run of each stream, data-quality scores.

They exist so that what runs elsewhere (Airflow tasks, workers on other hosts) is visible to the
watchdog and to Prometheus at scrape time, with no Pushgateway. Migration 0005 creates them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.models import Base


class WorkerHeartbeat(Base):
    """One long-running worker: which components it runs and when it last said it was alive."""

    __tablename__ = "hub_worker_heartbeat"

    worker: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    components: Mapped[list[Any]] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    beat_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StreamRun(Base):
    """The last finished sync of one connector stream, whichever process ran it (feeds connector health)."""

    __tablename__ = "hub_stream_run"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32))  # success | retriable_error | fatal_error
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # error class and message, never values
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    runs_total: Mapped[int] = mapped_column(BigInteger, default=0)


class QualityScore(Base):
    """One data-quality score of the last daily report: entity × dimension → ratio in 0..1."""

    __tablename__ = "hub_quality_score"

    entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(32), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    numerator: Mapped[int] = mapped_column(BigInteger)
    denominator: Mapped[int] = mapped_column(BigInteger)
    measured_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
