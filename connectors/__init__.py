"""Connectors, one package per source system, looked up by name in a lazy registry.

Only `connectors/<x>/client.py` imports a vendor library, and lazily, so listing or configuring
connectors never needs SAP's SDK or zeep to be importable.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from hub.core.errors import ConfigError

if TYPE_CHECKING:
    from connectors.base import Connector
    from hub.core.settings import HubSettings

REGISTRY: dict[str, str] = {
    "soap_erp": "connectors.soap_erp.connector:SoapErpConnector",
    "iot": "connectors.iot.connector:IotConnector",
    "sap_rfc": "connectors.sap_rfc.connector:SapRfcConnector",
    "mes": "connectors.mes.connector:MesConnector",
    "wecom": "connectors.wecom.connector:WecomConnector",
    "plm": "connectors.plm.connector:PlmConnector",
    "dealer_files": "connectors.dealer_files.connector:DealerFilesConnector",
}


def connector_names() -> list[str]:
    """Names of every registered connector."""
    return sorted(REGISTRY)


def load_connector(name: str, settings: HubSettings) -> Connector:
    """Build the connector registered under `name`; an unknown name suggests the closest one."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown connector {name!r}{hint}; known: {', '.join(connector_names())}")
    module_name, _, class_name = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_settings(settings)  # type: ignore[no-any-return]
