"""The ERP's entities as streams: one small declaration each, one shared keyset-paging reader.

The cursor is the last row's (FModifyDate, key): the ERP returns rows strictly after that pair in
(FModifyDate, key) order, so rows sharing one FModifyDate are neither missed nor repeated across
pages. `overlap_s` re-reads that many seconds before a stored cursor, for rows an ERP commits
late with an older FModifyDate; the duplicates are harmless, event ids being deterministic.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.base import Cursor, Page, SourceRecord, Stream
from hub.core.errors import ConfigError, SourceProtocolError

if TYPE_CHECKING:
    from connectors.soap_erp.client import ErpSoapClient

BEGINNING = "1900-01-01T00:00:00"  # "modified since" of a first sync: before any ERP row


class SoapErpStream(Stream):
    """An ERP entity read page by page with keyset paging on (FModifyDate, key_field)."""

    event: ClassVar[str] = "changed"
    cursor_field: ClassVar[str | None] = "FModifyDate"
    operation: ClassVar[str]  # the Get* SOAP operation
    key_field: ClassVar[str]  # the ERP's business key, the keyset tie-break

    def __init__(self, client: Callable[[], ErpSoapClient], page_size: int = 200, overlap_s: int = 0) -> None:
        self._client = client  # a getter, so building streams never connects
        self.page_size = page_size
        self.overlap_s = overlap_s

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages of rows changed after `cursor`; each page's cursor is its last row's position."""
        position = self.start_position(cursor)
        while True:
            rows, has_more = self._client().page(self.operation, position[0], position[1], self.page_size)
            page = self.to_page(rows, position)
            if page.records or page.rejected:
                yield page
            following = (page.cursor["modified_since"], page.cursor["after_key"])
            if not has_more:
                return
            if following == position:
                raise SourceProtocolError(f"ERP {self.operation} returned a full page without any usable "
                                          f"{self.key_field}/FModifyDate; the cursor cannot advance")
            position = following

    def start_position(self, cursor: Cursor | None) -> tuple[str, str]:
        """(modified_since, after_key) to ask for first: the stored cursor, minus the overlap."""
        if not cursor:
            return BEGINNING, ""
        since, after = str(cursor.get("modified_since") or BEGINNING), str(cursor.get("after_key") or "")
        if not self.overlap_s:
            return since, after
        return _earlier(since, self.overlap_s), ""  # no after-key: every row of that window again

    def to_page(self, rows: list[dict[str, Any]], position: tuple[str, str]) -> Page:
        """Records for rows with a key and a FModifyDate; the others are rejected, not dropped."""
        records: list[SourceRecord] = []
        rejected: list[tuple[bytes, str]] = []
        cursor: Cursor = {"modified_since": position[0], "after_key": position[1]}
        for row in rows:
            key, version = row.get(self.key_field), row.get("FModifyDate")
            if not key or not version:
                missing = self.key_field if not key else "FModifyDate"
                rejected.append((_raw(row), f"{self.name}: row without {missing}"))
                continue
            records.append(SourceRecord.from_payload(str(key), str(version), row))
            cursor = {"modified_since": str(version), "after_key": str(key)}
        return Page(records=records, cursor=cursor, rejected=rejected)


class CustomerStream(SoapErpStream):
    """Customers (客户), keyed by FNumber."""

    name = "customers"
    entity = "customer"
    mapping = "soap_erp/customer"
    primary_key = ("FNumber",)
    operation = "GetCustomers"
    key_field = "FNumber"


class SalesOrderStream(SoapErpStream):
    """Sales orders (销售订单) with their lines in FEntries, keyed by FBillNo."""

    name = "sales_orders"
    entity = "order"
    mapping = "soap_erp/order"
    primary_key = ("FBillNo",)
    operation = "GetSalesOrders"
    key_field = "FBillNo"


class InventoryStream(SoapErpStream):
    """Stock per warehouse and material (即时库存), keyed by FKey = FStockNumber/FMaterialNumber."""

    name = "inventory"
    entity = "inventory"
    mapping = "soap_erp/inventory"
    primary_key = ("FKey",)
    operation = "GetInventory"
    key_field = "FKey"


class ReceivableStream(SoapErpStream):
    """Receivables (应收单), keyed by FBillNo."""

    name = "receivables"
    entity = "receivable"
    mapping = "soap_erp/receivable"
    primary_key = ("FBillNo",)
    operation = "GetReceivables"
    key_field = "FBillNo"


STREAMS: tuple[type[SoapErpStream], ...] = (
    CustomerStream, SalesOrderStream, InventoryStream, ReceivableStream,
)


def _earlier(stamp: str, seconds: int) -> str:
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        raise ConfigError("stored soap_erp cursor: modified_since is not an ISO date-time") from None
    return (moment - dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _raw(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, default=str, sort_keys=True).encode()
