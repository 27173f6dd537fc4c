"""The simulated source systems of `hub demo`, each started on loopback with demo data.

Each source is a context manager that yields the settings overrides pointing its connector at the
simulator. Files and databases live under `var/demo/`, so a second run sees the same data and the
checkpoints make it publish nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_DIR = Path("var/demo")


@dataclass(frozen=True)
class DemoSource:
    """A connector and the simulator it runs against in the demo."""

    connector: str
    label: str
    start: Callable[[], AbstractContextManager[dict[str, Any]]]


@contextmanager
def soap_erp() -> Iterator[dict[str, Any]]:
    """The Kingdee-style SOAP ERP, with a few bad rows that end in dead letters."""
    from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer

    with ErpSoapServer() as erp:
        yield {"soap_erp": {"wsdl_url": erp.wsdl_url, "password": DEMO_PASSWORD}}


@contextmanager
def sap_rfc() -> Iterator[dict[str, Any]]:
    """SAP through the bundled pyrfc-compatible simulator (real BAPI and table names)."""
    yield {"sap_rfc": {"simulator": True, "password": "hub-demo-secret"}}


@contextmanager
def mes() -> Iterator[dict[str, Any]]:
    """The MES database (SQLite under var/demo), recreated with the same rows each run."""
    from connectors.testing.mes_db import MesDatabase

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{DEMO_DIR / 'mes.db'}"
    (DEMO_DIR / "mes.db").unlink(missing_ok=True)
    MesDatabase(url).create(bad_rows=True).dispose()
    yield {"mes": {"url": url}}


@contextmanager
def plm() -> Iterator[dict[str, Any]]:
    """The PLM REST API with OAuth2; only released revisions become products."""
    from connectors.testing.plm_data import seed
    from connectors.testing.plm_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PlmServer

    with PlmServer(store=seed()) as server:
        yield {"plm": {"base_url": server.base_url, "client_id": DEMO_CLIENT_ID,
                       "client_secret": DEMO_CLIENT_SECRET}}


@contextmanager
def dealer_files() -> Iterator[dict[str, Any]]:
    """Dealers' sell-through reports dropped into var/demo/dealer (one broken file is quarantined)."""
    from connectors.testing.dealer_reports import drop_demo_files, write_broken, write_contracts

    root = DEMO_DIR / "dealer"
    folders = {name: root / name for name in ("inbox", "quarantine", "processed")}
    first_run = not root.exists()
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    if first_run:
        drop_demo_files(folders["inbox"])
        write_broken(folders["inbox"], "non_numeric_row7")
    contracts = write_contracts(root / "contracts.csv")
    yield {"dealer_files": {**{k: str(v) for k, v in folders.items()}, "contracts_path": str(contracts),
                            "settle_s": 0}}


@contextmanager
def wecom() -> Iterator[dict[str, Any]]:
    """The WeCom API (check-ins) on loopback."""
    from connectors.testing.wecom_server import WecomServer, seed

    with WecomServer(data=seed()) as server:
        yield {"wecom": server.settings()}


SOURCES = (
    DemoSource("soap_erp", "ERP (SOAP)", soap_erp),
    DemoSource("sap_rfc", "SAP (RFC)", sap_rfc),
    DemoSource("plm", "PLM (REST)", plm),
    DemoSource("mes", "MES (SQL)", mes),
    DemoSource("dealer_files", "dealer reports (files)", dealer_files),
    DemoSource("wecom", "WeChat Work (API)", wecom),
)
