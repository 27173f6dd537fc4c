"""The test hook: a simulated SAP system, and the settings overrides that point the connector at it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from connectors.testing.sap_rfc_data import seed
from connectors.testing.sap_rfc_fake import DEMO_PASSWORD, DEMO_USER, FakeSapSystem


@contextlib.contextmanager
def simulated_settings() -> Iterator[dict[str, Any]]:
    """Keyword overrides for `load_settings(**overrides)` while a seeded FakeSapSystem is reachable."""
    with FakeSapSystem(seed()) as sap:
        yield {"sap_rfc": {"simulator": True, "ashost": sap.ashost, "sysnr": sap.sysnr, "client": sap.client,
                           "user": DEMO_USER, "password": DEMO_PASSWORD, "retries": 0, "page_size": 7}}


def broken_settings(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variants of the simulated overrides whose check() must fail: wrong endpoint, wrong credentials."""
    sap = overrides["sap_rfc"]
    return {"endpoint": {"sap_rfc": {**sap, "ashost": "sap-nowhere.invalid"}},
            "credentials": {"sap_rfc": {**sap, "password": "not-the-password-7431"}}}
