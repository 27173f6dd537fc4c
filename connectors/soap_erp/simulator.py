"""The test hook: the simulated SOAP ERP on a free loopback port, and the settings overrides for it."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from connectors.testing.erp_data import seed
from connectors.testing.erp_soap_server import DEMO_PASSWORD, DEMO_USERNAME, ErpSoapServer


@contextlib.contextmanager
def simulated_settings() -> Iterator[dict[str, Any]]:
    """Keyword overrides for `load_settings(**overrides)` while the ERP simulator serves on loopback."""
    with ErpSoapServer(data=seed()) as erp:
        yield {"soap_erp": {"wsdl_url": erp.wsdl_url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD,
                            "retries": 0, "timeout_s": 5, "page_size": 7}}


def broken_settings(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variants whose check() must fail: a closed port, a wrong password."""
    erp = overrides["soap_erp"]
    return {"endpoint": {"soap_erp": {**erp, "wsdl_url": f"http://127.0.0.1:{_closed_port()}/erp?wsdl"}},
            "credentials": {"soap_erp": {**erp, "password": "not-the-password-7431"}}}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
