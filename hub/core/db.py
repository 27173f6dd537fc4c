"""Database engine and sessions: SQLite file by default, PostgreSQL in production.

`migrate(engine)` brings the schema to the newest Alembic revision; every entry point calls it
through `open_database()` so a new machine needs no separate step.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the relay read while a sync writes; busy_timeout waits instead of failing at once.
    # The driver's own transaction handling breaks SAVEPOINT, so we issue BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a read-then-write transaction can then never fail
    # with SQLITE_BUSY_SNAPSHOT when another writer committed in between. Read-only work (the
    # relay's scan, status views) begins DEFERRED so it never waits for a writer (WAL).
    read_only = connection.get_execution_options().get("hub_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for a sqlite:/// or postgresql+psycopg:// URL, with sane pool settings."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and ":memory:" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest migration."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    """An engine plus a session factory; `transaction()` is the unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(engine.execution_options(hub_read_only=True), expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits together or not at all."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: never blocks, nor is blocked by, a writer."""
        with self.read_sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def open_database(url: str, *, upgrade: bool = True) -> Database:
    """Open (and by default migrate) the database at `url`."""
    engine = make_engine(url)
    if upgrade:
        migrate(engine)
    return Database(engine)


@functools.lru_cache(maxsize=4)
def shared_database(url: str) -> Database:
    """One migrated Database per URL for the whole process."""
    return open_database(url)
