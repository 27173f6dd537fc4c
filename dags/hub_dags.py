"""The file Airflow imports: every hub DAG, generated from tiers.yaml beside it (see factory.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _factory():  # type: ignore[no-untyped-def]
    """dags/factory.py under a name of its own, so no other 'factory' module on sys.path is taken."""
    if "hub_dag_factory" not in sys.modules:
        spec = importlib.util.spec_from_file_location("hub_dag_factory", HERE / "factory.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["hub_dag_factory"] = module
        spec.loader.exec_module(module)
    return sys.modules["hub_dag_factory"]


globals().update(_factory().build_dags(HERE / "tiers.yaml"))
