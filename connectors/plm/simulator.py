"""The contract suite's hook: settings overrides that point the PLM connector at a running simulator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from connectors.testing.plm_data import seed
from connectors.testing.plm_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PlmServer


@contextlib.contextmanager
def simulated_settings() -> Iterator[dict[str, Any]]:
    """Start the PLM simulator on a free loopback port; yield `load_settings(**overrides)` keywords."""
    with PlmServer(store=seed(bad_rows=False)) as server:
        yield {"plm": {"base_url": server.base_url, "client_id": DEMO_CLIENT_ID,
                       "client_secret": DEMO_CLIENT_SECRET, "page_size": 5, "retries": 0, "timeout_s": 5.0}}
