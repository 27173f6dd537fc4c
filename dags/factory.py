"""The one DAG factory: tiers.yaml → Airflow 3 DAGs whose tasks call the hub and nothing else.

    hub_<tier>_sync                    every stream of a scheduled tier (a task group per connector),
                                       then the tier's jobs, then one task draining the outbox, and
                                       a watcher that fails the run when any task failed
    hub_<tier>_<connector>_<stream>    a stream with a schedule of its own
    hub_realtime_watchdog              is `hub worker` alive, are realtime streams fresh?

Import-time work is reading tiers.yaml beside this file and listing connector streams (connectors
are built from settings without touching the network): no database, broker or network. Tasks
are thin: they call `hub.app.tiers`, which reads connection settings from the hub's HUB_…
environment, so no secret is in a DAG file. A hub error that is not retriable becomes
AirflowFailException, so Airflow retries only what may succeed later (`is_retriable`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, TaskGroup, chain, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1 keeps it in airflow.timetables only
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

from hub.app import tiers as hub_tiers
from hub.app.tiers import REALTIME, StreamEntry, TiersConfig
from hub.core.errors import is_retriable

TAGS = ["crm-hub"]


def call_hub(function: Callable[..., hub_tiers.TaskResult], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run a hub function for a task: retriable errors propagate (Airflow retries), others fail for good."""
    try:
        result = function(*args, **kwargs)
    except Exception as exc:
        if is_retriable(exc):
            raise
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    if result.status == "skipped":
        raise AirflowSkipException(result.detail)
    return result.as_dict()


def _default_args(config: TiersConfig) -> dict[str, Any]:
    return {"owner": "integration", "retries": config.defaults.retries,
            "retry_delay": dt.timedelta(seconds=config.defaults.retry_delay_s), "retry_exponential_backoff": True}


def _dag(config: TiersConfig, dag_id: str, schedule: str, description: str, max_active_tasks: int = 2) -> DAG:
    """A DAG with the file's defaults; runs never overlap and missed intervals are not replayed.

    The schedule is a data-interval timetable (a run covers [previous tick, this tick)), so every
    run has a real interval to record and backfill over. catchup is off because a sync reads
    everything since its checkpoint: one run catches up all missed intervals.
    """
    start, zone = config.defaults.start_date, config.defaults.timezone
    timetable = CronDataIntervalTimetable(schedule, timezone=zone)
    return DAG(dag_id=dag_id, schedule=timetable, description=description, catchup=False, max_active_runs=1,
               max_active_tasks=max_active_tasks, tags=[*TAGS, dag_id.split("_")[1]],
               start_date=pendulum.datetime(start.year, start.month, start.day, tz=zone),
               default_args=_default_args(config), doc_md=f"Generated from `{config.path.name}` by dags/factory.py.")


def _sync_task(entry: StreamEntry) -> Any:
    """The task syncing one stream (incremental from its checkpoint; the interval is recorded)."""

    @task(task_id=entry.stream, doc_md=f"Sync {entry.connector}/{entry.stream} into the outbox "
                                       f"(tiers.yaml line {entry.line}).")
    def sync(data_interval_start: Any = None, data_interval_end: Any = None) -> dict[str, Any]:
        return call_hub(hub_tiers.run_sync, entry.connector, entry.stream, data_interval_start, data_interval_end)

    return sync()


def _syncs(streams: list[StreamEntry]) -> list[Any]:
    """Sync tasks grouped by connector (a task group each), all independent of each other."""
    out: list[Any] = []
    for connector in dict.fromkeys(s.connector for s in streams):
        with TaskGroup(group_id=connector):
            out += [_sync_task(s) for s in streams if s.connector == connector]
    return out


def _job_task(name: str) -> Any:
    @task(task_id=name, trigger_rule="all_done")  # one failing source must not block MDM work
    def job() -> dict[str, Any]:
        return call_hub(hub_tiers.run_job, name)

    return job()


def _relay_task() -> Any:
    @task(task_id="relay_outbox", trigger_rule="all_done")  # publish whatever the syncs committed
    def relay() -> dict[str, Any]:
        return call_hub(hub_tiers.relay_outbox)

    return relay()


def _watcher() -> Any:
    """Fails the run when any task failed: the relay (all_done) is a leaf that would otherwise make it green."""

    @task(task_id="watcher", trigger_rule="one_failed", retries=0)
    def watcher() -> None:
        raise AirflowFailException("a task of this run failed; see the failed task's log")

    return watcher()


def _finish(config: TiersConfig, syncs: list[Any], jobs: list[str]) -> None:
    """Jobs after all syncs, in file order; then the relay; a watcher marks the run failed if anything failed."""
    steps: list[Any] = [syncs] if syncs else []
    steps += [_job_task(name) for name in jobs]
    if config.defaults.relay:
        steps.append(_relay_task())
    if len(steps) > 1:
        chain(*steps)
    watcher = _watcher()
    for step in steps:
        for item in step if isinstance(step, list) else [step]:
            item >> watcher


def tier_dags(config: TiersConfig) -> dict[str, DAG]:
    """The DAGs of every scheduled tier, and of every stream with its own schedule."""
    dags: dict[str, DAG] = {}
    for name, tier in config.tiers.items():
        if name == REALTIME or tier.schedule is None:
            continue
        streams = [s for s in config.in_tier(name) if not s.schedule]
        jobs = [j.job for j in config.jobs if j.tier == name]
        if streams or jobs:
            with _dag(config, f"hub_{name}_sync", tier.schedule, tier.description, tier.max_active_tasks) as dag:
                _finish(config, _syncs(streams), jobs)
            dags[dag.dag_id] = dag
        for entry in (s for s in config.in_tier(name) if s.schedule):
            dag_id = f"hub_{name}_{entry.connector}_{entry.stream}"
            with _dag(config, dag_id, entry.schedule or "", f"{entry.connector}/{entry.stream}") as dag:
                _finish(config, _syncs([entry]), [])
            dags[dag_id] = dag
    return dags


def watchdog_dag(config: TiersConfig) -> DAG:
    """hub_realtime_watchdog: fails (and alerts) when the realtime side is not alive and fresh."""
    with _dag(config, "hub_realtime_watchdog", config.watchdog.schedule,
              "Is hub worker alive, are realtime streams fresh, is the outbox moving?") as dag:

        @task(task_id="check_realtime", retries=0)
        def check() -> dict[str, Any]:
            from hub.app.ops_settings import load_worker_settings

            report = hub_tiers.check_realtime(hub_tiers.load_tiers(config.path, check_streams=False))
            if report.ok:
                return {"ok": True, **report.checked}
            hub_tiers.raise_alert(report, hub_tiers.alert_sender(load_worker_settings().alert_sender))
            raise AirflowFailException("; ".join(report.problems))

        check()
    return dag


def build_dags(tiers_file: Path) -> dict[str, DAG]:
    """Every DAG the tiers file describes; a bad file raises ConfigError naming each bad line."""
    config = hub_tiers.load_tiers(tiers_file)
    dags = tier_dags(config)
    if REALTIME in config.tiers:
        dags["hub_realtime_watchdog"] = watchdog_dag(config)
    return dags
