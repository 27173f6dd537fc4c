"""Settings of the steward web UI (`HUB_WEB__…`): session secret and cookie, reverse-proxy sign-in,
review SLA. They are part of the hub's settings (`HubSettings.web`); the secret also comes from
`HUB_WEB__SECRET_KEY_FILE` like every other secret.
"""

from __future__ import annotations

from typing import Any

from hub.core.settings import ROLES, HubSettings, IpNetwork, Role, WebSettings, get_settings, load_settings

__all__ = ["ROLES", "IpNetwork", "Role", "WebSettings", "load_web_settings", "web_settings"]


def load_web_settings(**overrides: Any) -> WebSettings:
    """Read and validate the settings with `HUB_WEB__…` overrides; problems in one ConfigError."""
    return load_settings(web=overrides).web


def web_settings(hub_settings: HubSettings | None = None) -> WebSettings:
    """The web settings of the given (or the process's) hub settings."""
    return (hub_settings or get_settings()).web
