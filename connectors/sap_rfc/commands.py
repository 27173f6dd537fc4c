"""Outbound: a CRM contract became active → the SAP sales order, created at most once per contract.

The contract number goes into the customer reference (ORDER_HEADER_IN-PURCH_NO_C, stored as
VBKD-BSTKD). SAP does not enforce unique references, so the hub looks the reference up first: a
consumer that is redelivered the same command (after a crash, or a timeout that hid a created
order) finds the order and creates nothing. Two consumers racing on one contract are not
protected: keep one consumer on the erp.commands queue.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from hub.core.errors import MappingError

if TYPE_CHECKING:
    from connectors.sap_rfc.client import SapRfcClient
    from hub.core.settings import SapRfcSettings

log = logging.getLogger(__name__)

BSTKD_LENGTH = 35  # VBKD-BSTKD, the customer reference


@dataclass(frozen=True, slots=True)
class SalesArea:
    """Where orders are created: order type, price condition, sales area (organisation, channel, division)."""

    order_type: str = "TA"
    price_condition: str = "ZPR1"
    sales_org: str = "1000"
    distr_chan: str = "10"
    division: str = "00"

    @classmethod
    def of(cls, settings: SapRfcSettings) -> SalesArea:
        """The sales area of the connector's settings."""
        return cls(settings.order_type, settings.price_condition, settings.sales_org, settings.distr_chan,
                   settings.division)


def create_order_for_contract(client: SapRfcClient, contract: dict[str, Any], area: SalesArea
                              ) -> tuple[str, bool]:
    """(VBELN, created?) for the `data` of a crm.contract.activated.v1 event; idempotent per contract_no."""
    order = sap_order(contract, area)  # a bad contract fails here, before any SAP call
    reference = order["ORDER_HEADER_IN"]["PURCH_NO_C"]
    existing = client.find_order_by_reference(reference)
    if existing:
        log.info("contract %s already has SAP order %s; nothing created", reference, existing)
        return existing, False
    document = client.create_order(order)
    log.info("contract %s → SAP order %s created", reference, document)
    return document, True


def sap_order(contract: dict[str, Any], area: SalesArea) -> dict[str, Any]:
    """The parameters of BAPI_SALESORDER_CREATEFROMDAT2 for a contract: the whole mapping in one place."""
    lines = contract.get("lines")
    if not isinstance(lines, list) or not lines:
        raise MappingError("a contract needs at least one line", field="/lines")
    currency = _text(contract, "currency").upper()
    delivery = _date(contract, "requested_delivery_date", optional=True)
    items = [_item(line, n) for n, line in enumerate(lines)]
    return {
        "ORDER_HEADER_IN": {
            "DOC_TYPE": area.order_type, "SALES_ORG": area.sales_org, "DISTR_CHAN": area.distr_chan,
            "DIVISION": area.division, "PURCH_NO_C": _reference(contract), "PURCH_DATE": _date(contract, "sign_date"),
            "REQ_DATE_H": delivery or "", "CURRENCY": currency,
        },
        "ORDER_HEADER_INX": {"UPDATEFLAG": "I", "DOC_TYPE": "X", "SALES_ORG": "X", "DISTR_CHAN": "X",
                             "DIVISION": "X", "PURCH_NO_C": "X", "PURCH_DATE": "X", "REQ_DATE_H": "X"},
        "ORDER_PARTNERS": [{"PARTN_ROLE": "AG", "PARTN_NUMB": alpha(_text(contract, "customer_source_id"), 10)}],
        "ORDER_ITEMS_IN": [{"ITM_NUMBER": i["ITM_NUMBER"], "MATERIAL": i["MATERIAL"], "TARGET_QTY": i["TARGET_QTY"]}
                           for i in items],
        "ORDER_ITEMS_INX": [{"ITM_NUMBER": i["ITM_NUMBER"], "UPDATEFLAG": "I", "MATERIAL": "X", "TARGET_QTY": "X"}
                            for i in items],
        "ORDER_SCHEDULES_IN": [{"ITM_NUMBER": i["ITM_NUMBER"], "REQ_QTY": i["TARGET_QTY"],
                                "REQ_DATE": delivery or ""} for i in items],
        "ORDER_CONDITIONS_IN": [{"ITM_NUMBER": i["ITM_NUMBER"], "COND_TYPE": area.price_condition, "COND_VALUE": i["PRICE"],
                                 "CURRENCY": currency} for i in items],
    }


def alpha(value: str, width: int) -> str:
    """SAP's ALPHA input conversion: a number is padded with leading zeros, anything else is kept."""
    return value.zfill(width) if value.isdigit() and len(value) <= width else value


def _item(line: dict[str, Any], n: int) -> dict[str, Any]:
    where = f"/lines/{n}"
    number = _text(line, "line_no", where)
    if not (number.isascii() and number.isdigit()) or not 0 < int(number) <= 9999:
        raise MappingError("must be a line number from 1 to 9999", field=f"{where}/line_no")
    return {"ITM_NUMBER": f"{int(number) * 10:06d}",  # SAP numbers items 10, 20, 30 …
            "MATERIAL": alpha(_text(line, "product_source_id", where), 18),
            "TARGET_QTY": _number(line, "quantity", where),
            "PRICE": _number(line, "unit_price", where, allow_zero=True)}  # tax included: see price_condition


def _reference(contract: dict[str, Any]) -> str:
    reference = _text(contract, "contract_no")
    if len(reference) > BSTKD_LENGTH:
        raise MappingError(f"longer than SAP's customer reference (BSTKD, {BSTKD_LENGTH} characters)",
                           field="/contract_no")
    return reference


def _text(data: dict[str, Any], name: str, where: str = "") -> str:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None or str(value).strip() == "":
        raise MappingError("required", field=f"{where}/{name}")
    return str(value).strip()


def _number(data: dict[str, Any], name: str, where: str = "", *, allow_zero: bool = False) -> Decimal:
    try:
        value = Decimal(_text(data, name, where))
    except InvalidOperation:
        raise MappingError("not a number", field=f"{where}/{name}") from None
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise MappingError("must be a number greater than 0", field=f"{where}/{name}")
    return value


def _date(data: dict[str, Any], name: str, optional: bool = False) -> str | None:
    """An ISO date (or date-time) of the contract as SAP's DATS YYYYMMDD."""
    if optional and not data.get(name):
        return None
    try:
        return dt.date.fromisoformat(_text(data, name)[:10]).strftime("%Y%m%d")
    except ValueError:
        raise MappingError("not an ISO date", field=f"/{name}") from None
