"""Every hub DAG imports without I/O, has no cycle, runs on its tiers.yaml schedule; a bad file says which line."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import DAGS, require_airflow

require_airflow()

from hub.app.tiers import REALTIME, load_tiers

pytestmark = pytest.mark.usefixtures("airflow_db")


def dagbag(folder: Path) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    return DagBag(dag_folder=str(folder), bundle_path=folder, bundle_name="dags-folder")


def import_hub_dags(folder: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"hub_dags_under_test_{id(folder)}", folder / "hub_dags.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("hub_dag_factory", None)
    spec.loader.exec_module(module)
    return module


def test_every_dag_imports_without_errors_and_without_cycles() -> None:
    bag = dagbag(DAGS)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"hub_hourly_sync", "hub_daily_sync", "hub_realtime_watchdog"}
    for dag in bag.dags.values():
        dag.check_cycle()
        assert dag.dag_id.startswith("hub_") and "crm-hub" in dag.tags
        assert dag.max_active_runs == 1 and not dag.catchup


def test_schedules_and_tasks_follow_tiers_yaml() -> None:
    config = load_tiers(DAGS / "tiers.yaml")
    bag = dagbag(DAGS)
    for name, tier in config.tiers.items():
        if name == REALTIME:
            continue
        dag = bag.dags[f"hub_{name}_sync"]
        assert cron_of(dag) == (tier.schedule, config.defaults.timezone)
        streams = {f"{s.connector}.{s.stream}" for s in config.in_tier(name)}
        jobs = [j.job for j in config.jobs if j.tier == name]
        assert set(dag.task_ids) == streams | set(jobs) | {"relay_outbox", "watcher"}
        for task_id in streams:  # syncs are independent; jobs follow all of them, the relay follows the jobs
            assert dag.get_task(task_id).downstream_task_ids == {jobs[0] if jobs else "relay_outbox", "watcher"}
            assert dag.get_task(task_id).retries == config.defaults.retries
        assert dag.get_task("watcher").upstream_task_ids == set(dag.task_ids) - {"watcher"}
    watchdog = bag.dags["hub_realtime_watchdog"]
    assert cron_of(watchdog)[0] == config.watchdog.schedule
    assert realtime_streams_are_not_in_airflow(bag, config)


def cron_of(dag: Any) -> tuple[str, str]:
    """(cron, timezone name) of a data-interval timetable (SDK and core classes name them differently)."""
    timetable = dag.timetable
    expression = getattr(timetable, "expression", None) or timetable._expression
    zone = getattr(timetable, "timezone", None) or timetable._timezone
    return expression, getattr(zone, "name", str(zone))


def realtime_streams_are_not_in_airflow(bag: Any, config: Any) -> bool:
    tasks = {t for dag in bag.dags.values() for t in dag.task_ids}
    return not {f"{s.connector}.{s.stream}" for s in config.in_tier(REALTIME)} & tasks


def test_importing_the_dags_does_no_network_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("network I/O at DAG import")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    module = import_hub_dags(DAGS)
    assert {"hub_hourly_sync", "hub_daily_sync", "hub_realtime_watchdog"} <= set(vars(module))


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{connector: soap_erp, stream: inventory, tier: hourly}", "{connector: soap_erpp, stream: inventory, tier: hourly}",
     "unknown connector 'soap_erpp' (did you mean 'soap_erp'?)"),
    ("{connector: soap_erp, stream: inventory, tier: hourly}", "{connector: soap_erp, stream: inventori, tier: hourly}",
     "connector 'soap_erp' has no stream 'inventori' (did you mean 'inventory'?)"),
    ('schedule: "7 * * * *"', 'schedule: "7 * * *"', "schedule: cron '7 * * *' needs 5 fields"),
    ("{connector: soap_erp, stream: inventory, tier: hourly}", "{connector: soap_erp, stream: inventory, tier: weekly}",
     "unknown tier 'weekly'"),
])
def test_a_broken_tiers_file_fails_the_import_naming_the_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    folder = tmp_path / "dags"
    shutil.copytree(DAGS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    text = (folder / "tiers.yaml").read_text(encoding="utf-8")
    assert old in text
    (folder / "tiers.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    line = next(i for i, row in enumerate(text.replace(old, new, 1).splitlines(), 1) if new in row)
    errors = dagbag(folder).import_errors
    assert len(errors) == 1
    error = next(iter(errors.values()))
    assert f"tiers.yaml:{line}: {message}" in error, error
