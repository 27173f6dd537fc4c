"""The dealer files connector: settings → the drop folder, a health check and the inventory report stream."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.base import Connector, Stream
from connectors.dealer_files.client import DropFolder, read_cells
from connectors.dealer_files.reference import References, load_references
from connectors.dealer_files.streams import GapRule, InventoryReportStream
from connectors.dealer_files.template import TemplateError, validate

if TYPE_CHECKING:
    from hub.core.settings import DealerFilesSettings, HubSettings

log = logging.getLogger(__name__)


class DealerFilesConnector(Connector):
    """进销存 reports that dealers and distributors drop as CSV or XLSX files into a folder."""

    name = "dealer_files"

    def __init__(self, settings: DealerFilesSettings) -> None:
        self.settings = settings
        self.folder = DropFolder(settings.inbox, settings.quarantine, settings.processed,
                                 max_file_bytes=settings.max_file_bytes)

    @classmethod
    def from_settings(cls, settings: HubSettings) -> DealerFilesConnector:
        """The connector for `settings.dealer_files`; no folder is touched yet."""
        return cls(settings.dealer_files)

    @property
    def system(self) -> str:
        """The system name in event ids (settings.dealer_files.system, "dms" by default)."""
        return self.settings.system

    def references(self) -> References:
        """The contracted volumes and the ERP sell-in, read from the files the settings name."""
        return load_references(self.settings.contracts_path, self.settings.sell_in_path)

    def check(self) -> None:
        """The three folders exist and are writable, the reference files load; the error says what to fix."""
        self.folder.check()
        references = self.references()
        log.info("dealer files: %d waiting in %s; %d contracts, %d sell-in rows", len(self.folder.pending()),
                 self.settings.inbox, len(references.contracts), len(references.sell_in))

    def streams(self) -> list[Stream]:
        """The inventory reports."""
        rules = self.settings
        gap = GapRule(Decimal(str(rules.purchase_gap_ratio)), Decimal(str(rules.purchase_gap_min)))
        return [InventoryReportStream(self.folder, self.references, gap=gap, settle_s=self.settings.settle_s,
                                      max_rows=self.settings.max_rows)]

    def validate_file(self, path: Path) -> list[str]:
        """The template errors of one file, row by row (empty: it would load); nothing is moved."""
        try:
            validate(read_cells(path.name, path.read_bytes()), self.settings.max_rows)
        except TemplateError as exc:
            return exc.lines()
        return []
