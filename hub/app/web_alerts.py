"""`POST /alertmanager/webhook`: Alertmanager notifications as WeCom group-robot markdown.

Alertmanager (monitoring/alertmanager.yml) posts its webhook JSON here; the router formats one
markdown message per notification and hands it to a sender callable, normally a WeCom robot's
`notify` (connectors/wecom/robot.py: ≤ 20 messages a minute, the excess merged into digests):

    app.include_router(alerts_router(wecom_robot_sender(settings), metrics=metrics, token=...))

or `install` in hub.app.web's INSTALLERS (after web_metrics.install): it sends through the robot
HUB_WORKER__ALERT_ROBOT of HUB_WECOM__ROBOT_KEYS (only logs when that robot is not configured).

A sender that raises answers 503, so Alertmanager retries the notification later.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field, SecretStr

from hub.core.metrics import HubMetrics

log = logging.getLogger(__name__)

Sender = Callable[[str], object]
MAX_BYTES = 4096  # WeCom markdown content limit (UTF-8 bytes)
MAX_ALERTS = 10   # listed one by one; the rest are counted


class Alert(BaseModel):
    """One alert of an Alertmanager notification (webhook version 4)."""

    status: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""
    endsAt: str = ""


class Notification(BaseModel):
    """Alertmanager's webhook body."""

    version: str = "4"
    status: str
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[Alert] = Field(default_factory=list)


def _fit(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "…"


# Labels worth showing on a phone; ids of customers or orders never are labels.
_SHOWN = ("connector", "stream", "tier", "queue", "consumer", "worker", "entity", "component")


def _alert_line(alert: Alert) -> str:
    where = ", ".join(f"{k}={alert.labels[k]}" for k in _SHOWN if k in alert.labels)
    text = (alert.annotations.get("summary") or alert.annotations.get("description")
            or alert.labels.get("alertname", ""))
    mark = "✅" if alert.status == "resolved" else "🔴"
    return f"> {mark} **{alert.labels.get('alertname', 'alert')}**{f' ({where})' if where else ''}: {text}"


def format_alerts(notification: Notification) -> str:
    """WeCom markdown for one notification: a coloured title, one line per alert (as many as fit), the runbook."""
    firing = [a for a in notification.alerts if a.status == "firing"]
    colour = "warning" if notification.status == "firing" else "info"
    name = notification.groupLabels.get("alertname") or notification.commonLabels.get("alertname", "hub alerts")
    severity = notification.commonLabels.get("severity", "")
    head = [(f"## <font color=\"{colour}\">[{notification.status.upper()}{f':{len(firing)}' if firing else ''}] "
            f"{name}</font>")] + ([f"severity: <font color=\"comment\">{severity}</font>"] if severity else [])
    runbook = notification.commonAnnotations.get("runbook")
    tail = ([f"runbook: {_fit(runbook, 300)}"] if runbook else []) + (
        [f"[Alertmanager]({notification.externalURL})"] if notification.externalURL else [])
    budget = MAX_BYTES - len("\n".join(head + tail).encode()) - 40  # room for the "and N more" line
    lines: list[str] = []
    for alert in notification.alerts[:MAX_ALERTS]:
        line = _fit(_alert_line(alert), 400)
        if len("\n".join([*lines, line]).encode()) > budget:
            break
        lines.append(line)
    if len(lines) < len(notification.alerts):
        lines.append(f"> … and {len(notification.alerts) - len(lines)} more")
    return _fit("\n".join(head + lines + tail), MAX_BYTES)


def _authorised(expected: SecretStr | None, header: str | None) -> bool:
    if expected is None or not expected.get_secret_value():
        return True
    given = (header or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def alerts_router(sender: Sender, *, metrics: HubMetrics | None = None, token: SecretStr | None = None,
                  path: str = "/alertmanager/webhook") -> APIRouter:
    """The receiver: format each notification and hand it to `sender` (optionally bearer-token protected)."""
    router = APIRouter(tags=["monitoring"])

    @router.post(path)
    def receive(notification: Notification, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        if not _authorised(token, authorization):
            raise HTTPException(status_code=401, detail="bad or missing bearer token")
        try:
            sender(format_alerts(notification))
        except Exception as exc:  # Alertmanager retries on 5xx: the alert is not lost
            log.warning("alert forwarding failed (%s)", type(exc).__name__)
            if metrics is not None:
                metrics.alerts_forwarded.labels("failed").inc()
            raise HTTPException(status_code=503, detail="could not forward the alert") from None
        if metrics is not None:
            metrics.alerts_forwarded.labels("sent").inc()
        return {"status": "forwarded", "alerts": len(notification.alerts)}

    return router


def wecom_robot_sender(settings: Any, robot: str = "alerts") -> Sender:
    """The `notify` of WeCom robot `robot` (HUB_WECOM__ROBOT_KEYS), its digest thread started."""
    from connectors.wecom.connector import default_client
    from connectors.wecom.robot import robots_from_settings
    from hub.core.errors import ConfigError

    robots = robots_from_settings(settings.wecom, default_client(settings.wecom))
    if robot not in robots:
        known = ", ".join(sorted(robots)) or "none"
        raise ConfigError(f"HUB_WECOM__ROBOT_KEYS has no robot {robot!r}; robots: {known}")
    robots[robot].start()
    return robots[robot].notify


class _RobotService:
    """The robot's digest thread as a web-app service (started and stopped by the app's lifespan)."""

    def __init__(self, robot: Any) -> None:
        self.robot = robot

    def start(self) -> None:
        """Send queued digests whenever the rate window allows."""
        self.robot.start()

    def stop(self) -> None:
        """Stop the thread (what is still queued is logged)."""
        self.robot.close()


def _log_only(text: str) -> None:
    log.warning("alert (no WeCom robot configured): %s", text)


def install(app: FastAPI, context: Any) -> None:
    """hub.app.web installer: /alertmanager/webhook → the alerts robot (or the log when there is none)."""
    from hub.app.ops_settings import worker_settings

    settings = worker_settings(context.settings)
    sender: Sender = _log_only
    keys = getattr(getattr(context.settings, "wecom", None), "robot_keys", {})
    if settings.alert_robot in keys:
        from connectors.wecom.connector import default_client
        from connectors.wecom.robot import robots_from_settings

        wecom = context.settings.wecom
        robot = robots_from_settings(wecom, default_client(wecom))[settings.alert_robot]
        context.services.append(_RobotService(robot))
        sender = robot.notify
    metrics = getattr(app.state, "hub_metrics", None)
    app.include_router(alerts_router(sender, metrics=metrics, token=settings.alert_webhook_token))
