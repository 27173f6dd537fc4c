"""Settings of the hub's operations side: worker components, heartbeat, metrics port, tiers file, alerts.

Read from `HUB_WORKER__…` variables, validated like the hub's own settings (every problem in one
ConfigError, names without values). When `HubSettings` gains a `worker: WorkerSettings` field,
`worker_settings()` takes it from there instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.core.errors import ConfigError

# The repository's own tiers file; deployments point HUB_WORKER__TIERS_FILE at the DAG folder's copy.
DEFAULT_TIERS_FILE = Path(__file__).resolve().parents[2] / "dags" / "tiers.yaml"


class WorkerSettings(BaseSettings):
    """`hub worker`, the watchdog, the daily report and alert forwarding."""

    model_config = SettingsConfigDict(env_prefix="HUB_WORKER__", env_nested_delimiter="__", extra="ignore",
                                      hide_input_in_errors=True)

    name: str = Field("", description="worker name in heartbeats; empty: <host>:<pid>")
    components: list[str] = Field(default_factory=lambda: ["relay", "erp_commands", "pollers"],
                                  description="components this worker runs (see hub.app.worker.COMPONENTS)")
    heartbeat_s: float = Field(10.0, gt=0, le=300, description="how often the worker writes its heartbeat")
    shutdown_timeout_s: float = Field(60.0, gt=0, description="how long SIGTERM waits for batches in hand")
    metrics_port: int = Field(9464, ge=0, le=65535, description="/metrics port of the worker; 0: no server")
    metrics_addr: str = "0.0.0.0"
    broker_metrics: bool = Field(True, description="expose queue depths (asks RabbitMQ at each scrape)")
    tiers_file: Path = DEFAULT_TIERS_FILE
    reports_dir: Path = Path("var/reports")
    alert_robot: str = Field("alerts", description="WeCom robot (HUB_WECOM__ROBOT_KEYS) the web app's "
                             "/alertmanager/webhook sends to")
    alert_webhook_token: SecretStr = Field(SecretStr(""), description="bearer token Alertmanager sends to "
                                           "/alertmanager/webhook; empty: no check")
    alert_sender: str = Field("", description="'wecom:<robot>' (HUB_WECOM__ROBOT_KEYS) or 'module:function' "
                              "taking a markdown text; empty: log only")

    @field_validator("components")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a component is listed twice")
        return value

    @field_validator("alert_sender")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if value and ":" not in value:
            raise ValueError("must be 'module:function'")
        return value


def load_worker_settings(**overrides: Any) -> WorkerSettings:
    """Read and validate `HUB_WORKER__…`; every problem is reported in one ConfigError."""
    try:
        return WorkerSettings(**overrides)
    except ValidationError as exc:
        problems = [f"HUB_WORKER__{'__'.join(str(p).upper() for p in e['loc'])}: {e['msg']}"
                    for e in exc.errors(include_input=False, include_url=False)]
        raise ConfigError("invalid worker settings", problems) from None


def worker_settings(hub_settings: object | None = None) -> WorkerSettings:
    """The worker settings: a `worker` field of the hub settings when it exists, else the environment."""
    mounted = getattr(hub_settings, "worker", None)
    return mounted if isinstance(mounted, WorkerSettings) else load_worker_settings()
