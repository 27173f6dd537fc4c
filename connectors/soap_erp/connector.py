"""The SOAP ERP connector: settings → a lazily connected client, a health check and four streams."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from connectors.base import Connector, Stream
from connectors.soap_erp.streams import STREAMS

if TYPE_CHECKING:
    from connectors.soap_erp.client import ErpSoapClient
    from hub.core.settings import HubSettings, SoapErpSettings

log = logging.getLogger(__name__)

ClientFactory = Callable[["SoapErpSettings"], "ErpSoapClient"]


def default_client(settings: SoapErpSettings) -> ErpSoapClient:
    """A hardened zeep client from the settings (imports zeep only now)."""
    from connectors.soap_erp.client import ErpSoapClient

    return ErpSoapClient(settings.wsdl_url, settings.username, settings.password,
                         timeout_s=settings.timeout_s, retries=settings.retries)


class SoapErpConnector(Connector):
    """A Kingdee / Yonyou / Dynamics style ERP reached through its SOAP web service."""

    name = "soap_erp"

    def __init__(self, settings: SoapErpSettings, client_factory: ClientFactory = default_client) -> None:
        self.settings = settings
        self._client_factory = client_factory
        self._client: ErpSoapClient | None = None

    @classmethod
    def from_settings(cls, settings: HubSettings) -> SoapErpConnector:
        """The connector for `settings.soap_erp`; nothing touches the network yet."""
        return cls(settings.soap_erp)

    @property
    def system(self) -> str:
        """The system name in event types and ids (settings.soap_erp.system, "erp" by default)."""
        return self.settings.system

    def client(self) -> ErpSoapClient:
        """The shared client, built on first use (the WSDL is fetched on its first call)."""
        if self._client is None:
            self._client = self._client_factory(self.settings)
        return self._client

    def check(self) -> None:
        """Call Ping: raises SourceAuthError / SourceUnavailable / … with a message saying what to fix."""
        version = self.client().ping()
        log.info("ERP %s answers: %s", self.system, version)

    def streams(self) -> list[Stream]:
        """Customers, sales orders, inventory and receivables."""
        return [cls(self.client, self.settings.page_size, self.settings.overlap_s) for cls in STREAMS]

    def close(self) -> None:
        """Close the client's HTTP session, if one was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None
