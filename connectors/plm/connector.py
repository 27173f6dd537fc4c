"""The PLM connector: settings → a lazily connected REST client, a health check and the products stream."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from connectors.base import Connector, Stream
from connectors.plm.streams import STREAMS

if TYPE_CHECKING:
    from connectors.plm.client import PlmClient
    from hub.core.settings import HubSettings, PlmSettings

log = logging.getLogger(__name__)

ClientFactory = Callable[["PlmSettings"], "PlmClient"]


def default_client(settings: PlmSettings) -> PlmClient:
    """An OAuth2 REST client from the settings (imports httpx only now)."""
    from connectors.plm.client import PlmClient

    return PlmClient(settings.base_url, settings.client_id, settings.client_secret,
                     token_url=settings.token_url, scope=settings.scope, timeout_s=settings.timeout_s,
                     retries=settings.retries, max_retry_after_s=settings.max_retry_after_s,
                     refresh_margin_s=settings.token_refresh_margin_s)


class PlmConnector(Connector):
    """A Windchill / Teamcenter style PLM reached through its REST API."""

    name = "plm"

    def __init__(self, settings: PlmSettings, client_factory: ClientFactory = default_client) -> None:
        self.settings = settings
        self._client_factory = client_factory
        self._client: PlmClient | None = None

    @classmethod
    def from_settings(cls, settings: HubSettings) -> PlmConnector:
        """The connector for `settings.plm`; nothing touches the network yet."""
        return cls(settings.plm)

    @property
    def system(self) -> str:
        """The system name in event types and ids (settings.plm.system, "plm" by default)."""
        return self.settings.system

    def client(self) -> PlmClient:
        """The shared client, built on first use (the token is fetched on its first call)."""
        if self._client is None:
            self._client = self._client_factory(self.settings)
        return self._client

    def check(self) -> None:
        """Fetch a token and one part: raises SourceAuthError / SourceUnavailable / … saying what to fix."""
        total = self.client().ping()
        log.info("PLM %s answers: %d part revisions", self.system, total)

    def streams(self) -> list[Stream]:
        """Released products."""
        return [cls(self.client, self.settings.page_size) for cls in STREAMS]

    def close(self) -> None:
        """Close the client's HTTP connections, if any were opened."""
        if self._client is not None:
            self._client.close()
            self._client = None
