"""Airflow's own home and metadata database for the DAG tests, made once per test session.

AIRFLOW_HOME must be set before Airflow is first imported, so it is set when this conftest loads
(pytest loads it before the test modules of this folder). The DAGs folder is the repository's
dags/. Without Airflow installed (`pip install -e '.[airflow]'`) these tests are skipped, and
fail under CI=true.

Airflow reconfigures logging for the whole process and leaves threads behind (its in-process
execution API), which would disturb later tests (caplog sees nothing; a fork can deadlock). So
these tests run last in a session, and the logging configuration is restored after them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="hub-airflow-"))

os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
})


def require_airflow() -> None:
    """Skip the module (or, under CI=true, fail) when Airflow is not installed."""
    if importlib.util.find_spec("airflow") is not None:
        return
    message = "Apache Airflow is not installed (pip install -e '.[airflow]')"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: the DAG tests are required)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """`airflow db migrate` into the session's AIRFLOW_HOME (SQLite); removed at the end."""
    require_airflow()
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                          check=False, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    yield AIRFLOW_HOME
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's AIRFLOW_HOME also when no Airflow test ran (it is made at import)."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the Airflow tests after every other test of the session."""
    here = str(Path(__file__).parent)
    items.sort(key=lambda item: str(item.path).startswith(here))  # stable: order within each part is kept


def _logging_state() -> dict[str, Any]:
    loggers = {name: logger for name, logger in logging.root.manager.loggerDict.items()
               if isinstance(logger, logging.Logger)}
    return {
        "root": (list(logging.root.handlers), logging.root.level),
        "loggers": {name: (lg.disabled, lg.propagate, lg.level, list(lg.handlers)) for name, lg in loggers.items()},
        "showwarning": warnings.showwarning,
    }


def _restore(state: dict[str, Any]) -> None:
    logging.captureWarnings(False)
    logging.root.handlers[:] = state["root"][0]
    logging.root.setLevel(state["root"][1])
    for name, logger in logging.root.manager.loggerDict.items():
        if not isinstance(logger, logging.Logger):
            continue
        disabled, propagate, level, handlers = state["loggers"].get(name, (False, True, logging.NOTSET, []))
        logger.disabled, logger.propagate, logger.handlers[:] = disabled, propagate, handlers
        logger.setLevel(level)
    warnings.showwarning = state["showwarning"]


@pytest.fixture(scope="package", autouse=True)
def _restore_logging() -> Iterator[None]:
    """Give the process its logging configuration back once the Airflow tests are done."""
    state = _logging_state()
    yield
    _restore(state)
