"""Writing and reading the operations tables: heartbeats, stream runs, quality scores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.core.ops_models import QualityScore, StreamRun, WorkerHeartbeat


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def beat(session: Session, worker: str, host: str, pid: int, components: list[str],
         started_at: dt.datetime) -> None:
    """Record that a worker is alive now (insert or update its row)."""
    row = session.get(WorkerHeartbeat, worker)
    if row is None:
        row = WorkerHeartbeat(worker=worker)
        session.add(row)
    row.host, row.pid, row.components, row.started_at = host, pid, components, started_at
    row.beat_at, row.stopped_at = _now(), None


def stopped(session: Session, worker: str) -> None:
    """Record a graceful stop (the watchdog then reports 'stopped', not 'silent')."""
    row = session.get(WorkerHeartbeat, worker)
    if row is not None:
        row.stopped_at = _now()


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A worker's last heartbeat as the watchdog sees it."""

    worker: str
    components: list[str]
    age_s: float
    stopped: bool


def heartbeats(session: Session) -> list[Heartbeat]:
    """Every worker's last heartbeat, with its age now."""
    now = _now()
    return [Heartbeat(r.worker, list(r.components or []), (now - _aware(r.beat_at)).total_seconds(),
                      r.stopped_at is not None)
            for r in session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker))]


def record_run(session: Session, connector: str, stream: str, outcome: str, error: str | None = None) -> None:
    """Record how a stream sync ended (success, retriable_error, fatal_error)."""
    row = session.get(StreamRun, (connector, stream))
    if row is None:
        row = StreamRun(connector=connector, stream=stream, consecutive_failures=0, runs_total=0)
        session.add(row)
    row.outcome, row.error, row.finished_at = outcome, error, _now()
    row.runs_total = (row.runs_total or 0) + 1
    row.consecutive_failures = 0 if outcome == "success" else (row.consecutive_failures or 0) + 1


@dataclass(frozen=True, slots=True)
class Score:
    """One quality score to store."""

    entity: str
    dimension: str
    numerator: int
    denominator: int

    @property
    def ratio(self) -> float:
        """numerator / denominator; 1.0 when there is nothing to measure."""
        return self.numerator / self.denominator if self.denominator else 1.0


def save_scores(session: Session, scores: Iterable[Score]) -> None:
    """Replace the stored scores with those of the latest report."""
    now = _now()
    session.execute(delete(QualityScore))
    session.add_all(QualityScore(entity=s.entity, dimension=s.dimension, score=s.ratio, numerator=s.numerator,
                                 denominator=s.denominator, measured_at=now) for s in scores)


def prune_heartbeats(session: Session, older_than: dt.timedelta) -> int:
    """Forget workers silent for longer than `older_than` (hosts that are gone); returns how many."""
    cutoff = _now() - older_than
    result = session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
