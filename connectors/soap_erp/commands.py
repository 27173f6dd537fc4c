"""Outbound: a CRM contract became active → the ERP sales order, created at most once per contract.

The ERP does not enforce unique contract numbers, so the hub looks the order up first. A consumer
that is redelivered the same command (after a crash or a timeout that hid a created order) finds
the order and creates nothing. Two consumers racing on the same contract are not protected:
keep one consumer on the erp.commands queue, or give FContractNo a unique index in the ERP.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from hub.core.errors import MappingError

if TYPE_CHECKING:
    from connectors.soap_erp.client import ErpSoapClient

log = logging.getLogger(__name__)


def create_order_for_contract(client: ErpSoapClient, contract: dict[str, Any]) -> tuple[str, bool]:
    """(FBillNo, created?) for the `data` of a crm.contract.activated.v1 event; idempotent per contract_no."""
    order = erp_order(contract)  # a bad contract fails here, before any ERP call
    existing = client.find_order_by_contract(order["FContractNo"])
    if existing:
        log.info("contract %s already has ERP order %s; nothing created", order["FContractNo"], existing)
        return existing, False
    bill_no = client.create_order(order)
    log.info("contract %s → ERP order %s created", order["FContractNo"], bill_no)
    return bill_no, True


def erp_order(contract: dict[str, Any]) -> dict[str, Any]:
    """The ERP's CreateSalesOrder `order` for a contract: the whole field mapping in one place."""
    lines = contract.get("lines")
    if not isinstance(lines, list) or not lines:
        raise MappingError("a contract needs at least one line", field="/lines")
    delivery = _date(contract, "requested_delivery_date", optional=True)
    return {
        "FDate": _date(contract, "sign_date"),
        "FCustomerNumber": _text(contract, "customer_source_id"),
        "FContractNo": _text(contract, "contract_no"),
        "FCurrency": _text(contract, "currency"),
        "FTotalAmount": _amount(contract, "total_amount"),
        "FDeliveryDate": delivery,
        "FEntries": [
            {
                "FSeq": _text(line, "line_no", f"/lines/{n}"),
                "FMaterialNumber": _text(line, "product_source_id", f"/lines/{n}"),
                "FQty": _number(line, "quantity", f"/lines/{n}"),
                "FUnit": line.get("unit") or None,
                "FPrice": _amount(line, "unit_price", f"/lines/{n}"),
                "FAmount": _amount(line, "amount", f"/lines/{n}"),
                "FDeliveryDate": delivery,
            }
            for n, line in enumerate(lines)
        ],
    }


def _text(data: dict[str, Any], name: str, where: str = "") -> str:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None or str(value).strip() == "":
        raise MappingError("required", field=f"{where}/{name}")
    return str(value).strip()


def _number(data: dict[str, Any], name: str, where: str = "") -> str:
    try:
        value = Decimal(_text(data, name, where))
    except InvalidOperation:
        raise MappingError("not a number", field=f"{where}/{name}") from None
    if not value.is_finite():
        raise MappingError("not a finite number", field=f"{where}/{name}")
    return format(value.normalize(), "f")


def _amount(data: dict[str, Any], name: str, where: str = "") -> str:
    return format(Decimal(_number(data, name, where)).quantize(Decimal("0.01")), "f")


def _date(data: dict[str, Any], name: str, optional: bool = False) -> str | None:
    if optional and not data.get(name):
        return None
    try:
        return dt.date.fromisoformat(_text(data, name)[:10]).isoformat()  # a date-time keeps its date
    except ValueError:
        raise MappingError("not an ISO date", field=f"/{name}") from None
