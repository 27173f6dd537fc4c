"""The SOAP ERP connector: settings → a lazily connected client, a health check and four streams."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectors.base import ClientConnector, Stream
from connectors.soap_erp.streams import STREAMS

if TYPE_CHECKING:
    from connectors.soap_erp.client import ErpSoapClient
    from hub.core.settings import SoapErpSettings

log = logging.getLogger(__name__)


def default_client(settings: SoapErpSettings) -> ErpSoapClient:
    """A hardened zeep client from the settings (imports zeep only now)."""
    from connectors.soap_erp.client import ErpSoapClient

    return ErpSoapClient(settings.wsdl_url, settings.username, settings.password,
                         timeout_s=settings.timeout_s, retries=settings.retries)


class SoapErpConnector(ClientConnector["SoapErpSettings", "ErpSoapClient"]):
    """A Kingdee / Yonyou / Dynamics style ERP reached through its SOAP web service."""

    name = "soap_erp"
    default_client = staticmethod(default_client)

    def check(self) -> None:
        """Call Ping: raises SourceAuthError / SourceUnavailable / … with a message saying what to fix."""
        version = self.client().ping()
        log.info("ERP %s answers: %s", self.system, version)

    def streams(self) -> list[Stream]:
        """Customers, sales orders, inventory and receivables."""
        return [cls(self.client, self.settings.page_size, self.settings.overlap_s) for cls in STREAMS]
