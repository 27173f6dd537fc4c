"""The test hook: a seeded MES database (SQLite file), and the settings overrides pointing at it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.testing.mes_db import MesDatabase


@contextlib.contextmanager
def simulated_settings() -> Iterator[dict[str, Any]]:
    """Keyword overrides for `load_settings(**overrides)` while a seeded MES database exists."""
    with tempfile.TemporaryDirectory(prefix="hub-mes-") as folder:
        url = f"sqlite:///{Path(folder) / 'mes.db'}"
        MesDatabase(url).create().dispose()
        yield {"mes": {"url": url, "page_size": 7}}


def broken_settings(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variants whose check() must fail: a database that is not there, a user PostgreSQL does not know."""
    url = str(overrides["mes"]["url"])
    return {"endpoint": {"mes": {**overrides["mes"], "url": url.replace("mes.db", "missing/mes.db")}},
            "credentials": {"mes": {**overrides["mes"], "url": "postgresql+psycopg://hub_no_such_reader@127.0.0.1:5432/test",
                                    "password": "not-the-password-7431", "timeout_s": 3}}}
