"""The WeCom connector: settings → a lazily built API client, a health check and the check-in stream.

Approvals and external contacts arrive by callback (`hub/app/web_wecom.py`), not by polling: see
`connectors/wecom/callbacks.py`. Group robots are in `connectors/wecom/robot.py`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectors.base import ClientConnector, Stream
from connectors.wecom.streams import CheckinStream
from hub.core.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from connectors.wecom.client import WecomClient
    from hub.core.settings import WecomSettings

log = logging.getLogger(__name__)

APPS = ("checkin", "approval", "contact", "directory")
SETTING_NAMES = {app: f"HUB_WECOM__{app.upper()}_SECRET" for app in APPS}
SETTING_NAMES["directory"] = "HUB_WECOM__DIRECTORY_SECRET (or HUB_WECOM__CHECKIN_SECRET when it is empty)"


def app_secrets(settings: WecomSettings) -> dict[str, SecretStr]:
    """Secret per app; the directory falls back to the check-in app's secret."""
    directory = settings.directory_secret if settings.directory_secret.get_secret_value() else settings.checkin_secret
    return {"checkin": settings.checkin_secret, "approval": settings.approval_secret,
            "contact": settings.contact_secret, "directory": directory}


def default_client(settings: WecomSettings) -> WecomClient:
    """An httpx-based client from the settings (imports httpx only now)."""
    from connectors.wecom.client import WecomClient

    return WecomClient(settings.api_base_url, settings.corp_id, app_secrets(settings),
                       setting_names=SETTING_NAMES, timeout_s=settings.timeout_s, retries=settings.retries)


class WecomConnector(ClientConnector["WecomSettings", "WecomClient"]):
    """WeChat Work: check-ins polled; approvals and external contacts by callback; group robots."""

    name = "wecom"
    default_client = staticmethod(default_client)

    def configured_apps(self) -> list[str]:
        """Apps with a secret (the directory counts only with its own secret)."""
        secrets = app_secrets(self.settings)
        own = [app for app in APPS if app != "directory" and secrets[app].get_secret_value()]
        return own + (["directory"] if self.settings.directory_secret.get_secret_value() else [])

    def check(self) -> None:
        """Get a token for every configured app: raises SourceAuthError / SourceUnavailable / ConfigError."""
        if not self.settings.corp_id:
            raise ConfigError("WeCom is not configured: set HUB_WECOM__CORP_ID and the app secrets")
        apps = self.configured_apps()
        if not apps:
            raise ConfigError("no WeCom app secret is set: HUB_WECOM__CHECKIN_SECRET, "
                              "HUB_WECOM__APPROVAL_SECRET or HUB_WECOM__CONTACT_SECRET")
        for app in apps:
            self.client().check(app)
        log.info("WeCom corp %s answers for apps %s", self.settings.corp_id, ", ".join(apps))

    def streams(self) -> list[Stream]:
        """Check-ins (the only polled entity)."""
        return [CheckinStream(self.client, self.settings)]
