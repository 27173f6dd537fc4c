"""The MES connector: settings → a lazily created read-only engine, a health check and one stream."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from connectors.base import Connector, Stream
from connectors.mes.streams import STREAMS

if TYPE_CHECKING:
    from connectors.mes.client import MesClient
    from hub.core.settings import HubSettings, MesSettings

log = logging.getLogger(__name__)

ClientFactory = Callable[["MesSettings"], "MesClient"]


def default_client(settings: MesSettings) -> MesClient:
    """A read-only client of the MES database (SQLAlchemy is imported by the client module)."""
    from connectors.mes.client import MesClient

    return MesClient(settings)


class MesConnector(Connector):
    """A manufacturing execution system's database: work orders and their progress."""

    name = "mes"

    def __init__(self, settings: MesSettings, client_factory: ClientFactory = default_client) -> None:
        self.settings = settings
        self._client_factory = client_factory
        self._client: MesClient | None = None

    @classmethod
    def from_settings(cls, settings: HubSettings) -> MesConnector:
        """The connector for `settings.mes`; nothing connects yet."""
        return cls(settings.mes)

    @property
    def system(self) -> str:
        """The system name in ids (settings.mes.system, "mes" by default)."""
        return self.settings.system

    def client(self) -> MesClient:
        """The shared client, built on first use."""
        if self._client is None:
            self._client = self._client_factory(self.settings)
        return self._client

    def check(self) -> None:
        """Connect, reflect the table and check the column map; errors name what to fix."""
        columns = self.client().check()
        log.info("MES %s: table %s has %d columns", self.client().location, self.settings.table, len(columns))

    def streams(self) -> list[Stream]:
        """Work orders."""
        return [cls(self.client, self.settings.page_size, self.settings.overlap_s) for cls in STREAMS]

    def close(self) -> None:
        """Dispose of the engine, if one was created."""
        if self._client is not None:
            self._client.close()
            self._client = None
