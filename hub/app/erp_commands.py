"""The erp.commands consumer: `crm.contract.activated` → an ERP sales order → `erp.order.created`.

The order is created at most once per contract (the connector looks the contract number up
first); the resulting event is mapped with the same mapping as the ERP's order stream and
written to the outbox in the consumer's transaction, beside the processed contract event id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from connectors.soap_erp.commands import create_order_for_contract, erp_order
from connectors.soap_erp.connector import SoapErpConnector
from hub.app.pipeline import MappingLoader, default_mapping_loader
from hub.core import outbox
from hub.core.consumer import Handler
from hub.core.events import CanonicalEvent, make_event
from hub.core.schemas import registry, schema_id
from hub.core.topology import Topology

CONTRACT_ACTIVATED = "crm.contract.activated."
ORDER_CREATED = "erp.order.created.v1"

# What a freshly created ERP order looks like before anyone ships, invoices or pays.
_NEW_ORDER_STATUS = {"FDocumentStatus": "B", "FDeliveryStatus": "未发货", "FInvoiceStatus": "未开票",
                     "FPaymentStatus": "未收款"}


def created_order(contract: dict[str, Any], bill_no: str) -> dict[str, Any]:
    """The ERP order record as the ERP holds it right after CreateSalesOrder."""
    order = erp_order(contract)
    order.update(_NEW_ORDER_STATUS, FBillNo=bill_no,
                 FModifyDate=dt.datetime.now().replace(microsecond=0).isoformat())
    for entry in order["FEntries"]:
        entry.setdefault("FDeliveredQty", "0")
    return order


def contract_handler(connector: SoapErpConnector, topology: Topology,
                     mapping_loader: MappingLoader = default_mapping_loader) -> Handler:
    """A consumer handler that fulfils contracts addressed to this connector's ERP."""
    mapping = mapping_loader("soap_erp/order")
    schemas = registry()

    def handle(event: CanonicalEvent, session: Session) -> None:
        contract = event.data
        if not event.type.startswith(CONTRACT_ACTIVATED):
            return
        if contract.get("erp_system", connector.system) != connector.system:
            return  # another ERP fulfils this contract
        bill_no, _created = create_order_for_contract(connector.client(), contract)
        data = mapping.apply(created_order(contract, bill_no))
        schemas.validate(mapping.target, data)
        order_event = make_event(
            system=connector.system, entity="order", type=ORDER_CREATED, key=bill_no,
            version=f"contract:{contract['contract_no']}", data=data, dataschema=schema_id(mapping.target),
            mappingversion=mapping.version,
        )
        outbox.add_events(session, [order_event], topology)

    return handle
