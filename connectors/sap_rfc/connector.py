"""The SAP RFC connector: settings → a lazily logged-on client, a health check and five streams."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import TYPE_CHECKING

from connectors.base import ClientConnector, Stream
from connectors.sap_rfc.streams import STREAMS
from hub.core.errors import ConfigError

if TYPE_CHECKING:
    from connectors.sap_rfc.client import Connect, SapRfcClient
    from hub.core.settings import SapRfcSettings

log = logging.getLogger(__name__)


def logon_params(settings: SapRfcSettings) -> dict[str, str]:
    """pyrfc's connection parameters (without the password): an application server or a message server."""
    common = {"client": settings.client, "user": settings.user, "lang": settings.lang, "saprouter": settings.saprouter}
    if settings.mshost:
        return {**common, "mshost": settings.mshost, "msserv": settings.msserv, "sysid": settings.sysid,
                "group": settings.group}
    host = settings.ashost or (_simulator().DEMO_ASHOST if settings.simulator else "")
    if not host:
        raise ConfigError("HUB_SAP_RFC__ASHOST (or HUB_SAP_RFC__MSHOST) must name the SAP system; "
                          "or set HUB_SAP_RFC__SIMULATOR=true")
    return {**common, "ashost": host, "sysnr": settings.sysnr}


def default_client(settings: SapRfcSettings) -> SapRfcClient:
    """A client from the settings: pyrfc (imported at the first logon) or the bundled simulator."""
    from connectors.sap_rfc.client import SapRfcClient

    connect: Connect | None = _simulator().Connection if settings.simulator else None
    return SapRfcClient(logon_params(settings), settings.password, connect, timeout_s=settings.timeout_s,
                        retries=settings.retries, read_rows=settings.read_rows)


def _simulator() -> ModuleType:
    """The bundled simulator module (imported only when the settings ask for it)."""
    from connectors.testing import sap_rfc_fake

    return sap_rfc_fake


class SapRfcConnector(ClientConnector["SapRfcSettings", "SapRfcClient"]):
    """SAP ECC or S/4HANA reached over RFC: customers, materials, sales orders, stock, receivables."""

    name = "sap_rfc"
    default_client = staticmethod(default_client)

    def check(self) -> None:
        """Log on, ping and probe RFC_READ_TABLE: SourceAuthError / SourceUnavailable / ConfigError say what to fix."""
        info = self.client().ping()
        log.info("SAP %s answers: system %s release %s", self.system, info["sysid"], info["release"])

    def streams(self) -> list[Stream]:
        """Customers, materials, sales orders, inventory and receivables."""
        return [cls(self.client, self.settings) for cls in STREAMS]
