"""The PLM connector: settings → a lazily connected REST client, a health check and the products stream."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectors.base import ClientConnector, Stream
from connectors.plm.streams import STREAMS

if TYPE_CHECKING:
    from connectors.plm.client import PlmClient
    from hub.core.settings import PlmSettings

log = logging.getLogger(__name__)


def default_client(settings: PlmSettings) -> PlmClient:
    """An OAuth2 REST client from the settings (imports httpx only now)."""
    from connectors.plm.client import PlmClient

    return PlmClient(settings.base_url, settings.client_id, settings.client_secret,
                     token_url=settings.token_url, scope=settings.scope, timeout_s=settings.timeout_s,
                     retries=settings.retries, max_retry_after_s=settings.max_retry_after_s,
                     refresh_margin_s=settings.token_refresh_margin_s)


class PlmConnector(ClientConnector["PlmSettings", "PlmClient"]):
    """A Windchill / Teamcenter style PLM reached through its REST API."""

    name = "plm"
    default_client = staticmethod(default_client)

    def check(self) -> None:
        """Fetch a token and one part: raises SourceAuthError / SourceUnavailable / … saying what to fix."""
        total = self.client().ping()
        log.info("PLM %s answers: %d part revisions", self.system, total)

    def streams(self) -> list[Stream]:
        """Released products."""
        return [cls(self.client, self.settings.page_size) for cls in STREAMS]
