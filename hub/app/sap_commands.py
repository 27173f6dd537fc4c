"""The erp.commands handler for SAP: `crm.contract.activated` → an SAP sales order → `erp.order.created`.

Contracts whose `erp_system` is this connector's system ("sap") are fulfilled here; the others are
left to the handler of their ERP. The order is created at most once per contract (the customer
reference BSTKD is looked up first), then read back from SAP and mapped with the same mapping as
the sales order stream, so the event carries SAP's own numbers, prices and units; it is written to
the outbox in the consumer's transaction, beside the processed contract event id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from connectors.sap_rfc.commands import SalesArea, create_order_for_contract
from connectors.sap_rfc.connector import SapRfcConnector
from connectors.sap_rfc.streams import SalesOrderStream, valid_day
from hub.app.pipeline import MappingLoader, default_mapping_loader
from hub.core import outbox
from hub.core.consumer import Handler
from hub.core.errors import SourceUnavailable
from hub.core.events import CanonicalEvent, make_event
from hub.core.schemas import registry, schema_id
from hub.core.topology import Topology

CONTRACT_ACTIVATED = "crm.contract.activated."
ORDER_CREATED = "erp.order.created.v1"


def order_record(connector: SapRfcConnector, document: str) -> dict[str, Any]:
    """The sales order as SAP holds it (the sales order stream's payload), with UDATE set."""
    payload = SalesOrderStream(connector.client, connector.settings).fetch([(document,)]).get((document,))
    if payload is None:  # committed with WAIT, so this is a replication lag or a dropped connection
        raise SourceUnavailable(f"SAP order {document.lstrip('0')} cannot be read back yet")
    changed = [d for d in (payload.get("AEDAT", ""), payload.get("ERDAT", "")) if valid_day(d)]
    payload.update(UDATE=max(changed, default=""), UTIME="000000")
    return payload


def contract_handler(connector: SapRfcConnector, topology: Topology,
                     mapping_loader: MappingLoader = default_mapping_loader) -> Handler:
    """A consumer handler that fulfils contracts addressed to this connector's SAP system."""
    mapping = mapping_loader("sap_rfc/order")
    schemas = registry()

    def handle(event: CanonicalEvent, session: Session) -> None:
        contract = event.data
        if not event.type.startswith(CONTRACT_ACTIVATED) or contract.get("erp_system") != connector.system:
            return  # another ERP fulfils this contract
        document, _created = create_order_for_contract(connector.client(), contract, SalesArea.of(connector.settings))
        data = mapping.apply(order_record(connector, document))
        schemas.validate(mapping.target, data)
        order_event = make_event(
            system=connector.system, entity="order", type=ORDER_CREATED, key=data["source_id"],
            version=f"contract:{contract['contract_no']}", data=data, dataschema=schema_id(mapping.target),
            mappingversion=mapping.version,
        )
        outbox.add_events(session, [order_event], topology)

    return handle
