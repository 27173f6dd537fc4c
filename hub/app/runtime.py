"""Wiring shared by the CLI, the demo, workers and DAGs: settings → database, topology, publisher."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hub.core.db import Database, open_database
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings, get_settings
from hub.core.topology import Topology, build_topology


@dataclass
class Runtime:
    """The pieces a command needs, built once from settings; close() releases them."""

    settings: HubSettings
    _db: Database | None = field(default=None, repr=False)
    _publisher: Publisher | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        """The migrated database."""
        if self._db is None:
            self._db = open_database(self.settings.database_url.get_secret_value())
        return self._db

    @property
    def topology(self) -> Topology:
        """The broker topology from settings."""
        return build_topology(self.settings.bus)

    @property
    def publisher(self) -> Publisher:
        """A long-lived confirming publisher (started on first use)."""
        if self._publisher is None:
            self._publisher = Publisher(self.settings.bus, max_backoff_s=self.settings.relay.max_backoff_s)
        return self._publisher

    def close(self) -> None:
        """Close the publisher and the database pool."""
        if self._publisher is not None:
            self._publisher.close()
        if self._db is not None:
            self._db.dispose()


def runtime(settings: HubSettings | None = None) -> Runtime:
    """A Runtime for the given (or the process's) settings."""
    return Runtime(settings or get_settings())


def configure_logging(level: str, *, console: Any = None) -> None:
    """One-line logs (through rich when a console is given, so they do not tear progress bars)."""
    if console is not None:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("pika", "zeep", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
