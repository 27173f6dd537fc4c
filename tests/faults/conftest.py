"""Fixtures the fuzz modules share: a hub database and a topology per module (SQLite, no broker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.core.db import Database, open_database
from hub.core.settings import load_settings
from hub.core.topology import Topology, build_topology


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated SQLite hub database for one fuzz module (its outbox accumulates across examples)."""
    database = open_database(f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/hub.db")
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def fuzz_topology() -> Topology:
    """The default topology (nothing is declared: the fuzz tests stop at the outbox)."""
    return build_topology(load_settings().bus)
