"""`hub tiers …` and `hub ops …`: check the tiers file, run the watchdog and the quality report, show metrics."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hub.core.errors import HubError


@contextmanager
def _errors() -> Iterator[None]:
    """Hub errors become a clear message and exit code 2 (as in the other hub commands)."""
    try:
        yield
    except HubError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _tiers_file(path: str | None) -> Path:
    from hub.app.ops_settings import worker_settings

    return Path(path) if path else worker_settings().tiers_path


@click.group("tiers")
def tiers() -> None:
    """Sync tiers (dags/tiers.yaml)."""


@tiers.command("check")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="tiers file (default HUB_WORKER__TIERS_PATH)")
def tiers_check(path: str | None) -> None:
    """Validate the tiers file (names, crons, tiers) and show which DAG or poller runs each stream."""
    from hub.app.tiers import REALTIME, load_tiers

    with _errors():
        config = load_tiers(_tiers_file(path))
    for entry in config.streams:
        if entry.tier == REALTIME:
            runner = f"hub worker, every {entry.interval_s:g}s" if entry.interval_s else "push source (watchdog only)"
        else:
            runner = (f"hub_{entry.tier}_{entry.connector}_{entry.stream} ({entry.schedule})" if entry.schedule
                      else f"hub_{entry.tier}_sync ({config.tiers[entry.tier].schedule})")
        click.echo(f"{entry.connector}/{entry.stream:<20} {entry.tier:<9} {runner}")
    for job in config.jobs:
        click.echo(f"job {job.job:<24} {job.tier:<9} hub_{job.tier}_sync, after the syncs")


@click.group("ops")
def ops() -> None:
    """Operations: realtime watchdog, data-quality report, metrics."""


@ops.command("watchdog")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="tiers file (default HUB_WORKER__TIERS_PATH)")
def ops_watchdog(path: str | None) -> None:
    """Check realtime is alive and fresh once; alert and exit 1 when it is not."""
    from hub.app.ops_settings import worker_settings
    from hub.app.tiers import alert_sender, check_realtime, load_tiers, raise_alert

    with _errors():
        report = check_realtime(load_tiers(_tiers_file(path), check_streams=False))
        if report.ok:
            click.echo(f"realtime is alive and fresh {report.checked}")
            return
        raise_alert(report, alert_sender(worker_settings().alert_sender))
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    sys.exit(1)


@ops.command("quality-report")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="folder (default HUB_WORKER__REPORTS_DIR)")
def ops_quality_report(out_dir: str | None) -> None:
    """Write today's data-quality report and store its scores (exposed as metrics)."""
    from hub.app.ops_settings import worker_settings
    from hub.app.quality_report import generate
    from hub.app.runtime import runtime
    from hub.core.settings import get_settings

    with _errors():
        rt = runtime(get_settings())
        try:
            report = generate(rt.db, Path(out_dir) if out_dir else worker_settings().reports_dir)
        finally:
            rt.close()
    click.echo(f"wrote {report.path} (counts from {report.source})")
    for counts in report.counts:
        scores = ", ".join(f"{s.dimension} {s.ratio:.1%}" for s in counts.scores())
        click.echo(f"  {counts.entity:<9} {counts.total:>7} records  {scores}")


@ops.command("metrics")
@click.option("--no-broker", is_flag=True, help="do not ask RabbitMQ for queue depths")
def ops_metrics(no_broker: bool) -> None:
    """Print what /metrics would show now (database and broker collectors)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from hub.app.ops_settings import worker_settings
    from hub.app.runtime import runtime
    from hub.app.worker import WorkerContext, metrics_registry
    from hub.core.metrics import HubMetrics
    from hub.core.settings import get_settings

    with _errors():
        rt = runtime(get_settings())
        settings = worker_settings(rt.settings).model_copy(update={"broker_metrics": not no_broker})
        try:
            context = WorkerContext(runtime=rt, settings=settings, metrics=HubMetrics(CollectorRegistry()))
            click.echo(generate_latest(metrics_registry(context)).decode(), nl=False)
        finally:
            rt.close()


COMMANDS: list[Callable[..., Any]] = [tiers, ops]
