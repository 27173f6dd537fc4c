"""The MES connector: settings → a lazily created read-only engine, a health check and one stream."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectors.base import ClientConnector, Stream
from connectors.mes.streams import STREAMS

if TYPE_CHECKING:
    from connectors.mes.client import MesClient
    from hub.core.settings import MesSettings

log = logging.getLogger(__name__)


def default_client(settings: MesSettings) -> MesClient:
    """A read-only client of the MES database (SQLAlchemy is imported by the client module)."""
    from connectors.mes.client import MesClient

    return MesClient(settings)


class MesConnector(ClientConnector["MesSettings", "MesClient"]):
    """A manufacturing execution system's database: work orders and their progress."""

    name = "mes"
    default_client = staticmethod(default_client)

    def check(self) -> None:
        """Connect, reflect the table and check the column map; errors name what to fix."""
        columns = self.client().check()
        log.info("MES %s: table %s has %d columns", self.client().location, self.settings.table, len(columns))

    def streams(self) -> list[Stream]:
        """Work orders."""
        return [cls(self.client, self.settings.page_size, self.settings.overlap_s) for cls in STREAMS]
