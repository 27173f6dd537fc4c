"""The contract-suite hook: settings overrides pointing at a running WeCom simulator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from connectors.testing.wecom_server import WecomServer, seed


@contextlib.contextmanager
def simulated_settings() -> Iterator[dict[str, Any]]:
    """Start the simulator; yield `load_settings(**overrides)` keyword overrides for it; stop it."""
    with WecomServer(data=seed()) as server:
        yield {"wecom": server.settings()}
