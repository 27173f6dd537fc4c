"""Settings of the hub's operations side (`HUB_WORKER__…`): worker components, heartbeat, metrics
port, tiers file, alerts. They are part of the hub's settings (`HubSettings.worker`), so they are
validated with the rest, and secrets can come from files (`HUB_WORKER__ALERT_WEBHOOK_TOKEN_FILE`).
"""

from __future__ import annotations

from typing import Any

from hub.core.settings import DEFAULT_TIERS_PATH, HubSettings, WorkerSettings, get_settings, load_settings

__all__ = ["DEFAULT_TIERS_PATH", "WorkerSettings", "load_worker_settings", "worker_settings"]


def load_worker_settings(**overrides: Any) -> WorkerSettings:
    """Read and validate the settings with `HUB_WORKER__…` overrides; problems in one ConfigError."""
    return load_settings(worker=overrides).worker


def worker_settings(hub_settings: HubSettings | None = None) -> WorkerSettings:
    """The worker settings of the given (or the process's) hub settings."""
    return (hub_settings or get_settings()).worker
