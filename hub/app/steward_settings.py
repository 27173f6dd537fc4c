"""Settings of the steward web UI: session secret and cookie, reverse-proxy sign-in, review SLA.

Read from `HUB_WEB__…` variables (the secret also from `HUB_WEB__SECRET_KEY_FILE`), validated
like the hub's own settings (every problem in one ConfigError, names without values). When
`HubSettings` gains a `web: WebSettings` field, `web_settings()` takes it from there instead.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.core.errors import ConfigError

log = logging.getLogger(__name__)

ROLES = ("viewer", "steward", "admin")
Role = Literal["viewer", "steward", "admin"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebSettings(BaseSettings):
    """`hub web`: the steward pages' sessions, sign-in and review SLA."""

    model_config = SettingsConfigDict(env_prefix="HUB_WEB__", env_nested_delimiter="__", extra="ignore",
                                      hide_input_in_errors=True)

    secret_key: SecretStr = Field(SecretStr(""), description="signs session cookies; empty: a random key per "
                                  "process (sessions end on restart and do not work across replicas)")
    secret_key_file: Path | None = Field(None, description="file holding secret_key (Docker/Kubernetes secret)")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure flag of the session cookie; auto: when the request came over https")
    session_max_age_s: int = Field(8 * 3600, ge=300, le=7 * 86400, description="a sign-in lasts this long")
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses or networks whose "
                                       "user/role headers are believed (empty: header sign-in is off)")
    proxy_user_header: str = "X-Remote-User"
    proxy_role_header: str = "X-Remote-Role"
    proxy_default_role: Role = Field("viewer", description="role of a proxy user without a valid role header")
    sla_hours: float = Field(24.0, gt=0, description="a pending review older than this is overdue")
    sla_hours_by_entity: dict[str, float] = Field(default_factory=dict, description="entity → SLA override")
    base_url: str = Field("", description="public URL of the web app, for links in notifications")
    default_language: Literal["zh", "en"] = "zh"
    login_attempts: int = Field(5, ge=1, le=100, description="failed sign-ins before a 15-minute pause")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError("each entry must be an IP address or network (10.0.0.0/8)") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _read_secret_file(self) -> WebSettings:
        if self.secret_key_file is not None and not self.secret_key.get_secret_value():
            try:
                self.secret_key = SecretStr(self.secret_key_file.read_text(encoding="utf-8").strip())
            except OSError:
                raise ValueError("secret_key_file cannot be read") from None
        return self

    def networks(self) -> list[IpNetwork]:
        """The trusted proxy networks."""
        return [ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies]

    def signing_key(self) -> str:
        """The session signing key (a random one, with a warning, when none is configured)."""
        key = self.secret_key.get_secret_value()
        if not key:
            log.warning("steward web: HUB_WEB__SECRET_KEY is not set; using a random key for this process")
            key = secrets.token_urlsafe(32)
            self.secret_key = SecretStr(key)
        return key

    def sla_for(self, entity: str) -> float:
        """The review SLA of an entity in hours."""
        return self.sla_hours_by_entity.get(entity, self.sla_hours)


def load_web_settings(**overrides: Any) -> WebSettings:
    """Read and validate `HUB_WEB__…`; every problem is reported in one ConfigError."""
    try:
        return WebSettings(**overrides)
    except ValidationError as exc:
        problems = [f"HUB_WEB__{'__'.join(str(p).upper() for p in e['loc'])}: {e['msg']}"
                    for e in exc.errors(include_input=False, include_url=False)]
        raise ConfigError("invalid web settings", problems) from None


def web_settings(hub_settings: object | None = None) -> WebSettings:
    """The web settings: a `web` field of the hub settings when it exists, else the environment."""
    mounted = getattr(hub_settings, "web", None)
    return mounted if isinstance(mounted, WebSettings) else load_web_settings()
