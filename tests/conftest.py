"""Shared fixtures: real RabbitMQ and databases (SQLite and PostgreSQL), isolated per test.

Every database test runs on both backends. Each test gets its own exchanges and queues (a random
prefix) so tests never see each other's messages. Under CI=true a missing service fails the run;
on a developer machine the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from hub.core.db import Database, open_database
from hub.core.settings import HubSettings, load_settings
from hub.core.topology import build_topology, delete

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_service(name: str, port: int, patience_s: float = 30.0) -> None:
    """Skip (or, under CI=true, fail) when a service is not listening, after giving a busy or
    just-restarted service (the fault tests restart RabbitMQ) some time to accept again."""
    deadline = time.monotonic() + patience_s
    while True:
        if _reachable(port):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    message = f"{name} is not reachable on 127.0.0.1:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: services are required)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    require_service("PostgreSQL", 5432)
    name = f"hub_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(db: Database) -> None:
    tables = ["hub_outbox", "hub_checkpoint", "hub_processed_event", "hub_inbox", "hub_wecom_callback",
              "hub_wecom_nonce"]
    with db.engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A migrated, empty database URL: a SQLite file, then the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.db"
    url: str = request.getfixturevalue("pg_url")
    db = open_database(url)
    _truncate(db)
    db.dispose()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An open, migrated Database on each backend."""
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def amqp() -> str:
    """The broker URL, after checking it is up."""
    require_service("RabbitMQ", 5672)
    return AMQP_URL


def isolated_settings(db_url: str, amqp_url: str = AMQP_URL, **extra: object) -> HubSettings:
    """Settings whose exchanges and queues carry a random prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    bus = {
        "url": amqp_url, "events_exchange": f"{prefix}.events", "dead_exchange": f"{prefix}.dlx",
        "dead_queue": f"{prefix}.dead", "delivery_limit": 3,
        "subscribers": {f"{prefix}.crm": ["src.#", "erp.order.#"], f"{prefix}.erp": ["crm.contract.activated.#"]},
    }
    bus.update(extra.pop("bus", {}))  # type: ignore[arg-type]
    return load_settings(database_url=db_url, bus=bus, **extra)


@pytest.fixture
def hub_settings(db_url: str, amqp: str) -> Iterator[HubSettings]:
    """Isolated settings on each database backend; the topology is deleted afterwards."""
    settings = isolated_settings(db_url, amqp)
    yield settings
    delete(settings.bus, build_topology(settings.bus))
