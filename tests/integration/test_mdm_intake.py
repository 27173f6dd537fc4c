"""The MDM intake handler through the real Consumer on RabbitMQ: source masters in, golden-record
events out through the outbox, validated by a subscriber against their schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hub.app.mdm_intake import entity_of, mdm_intake_handler
from hub.core import outbox
from hub.core.consumer import Consumer
from hub.core.db import Database
from hub.core.events import CanonicalEvent, make_event
from hub.core.models import InboxMessage
from hub.core.publisher import Publisher
from hub.core.schemas import schema_id
from hub.core.settings import HubSettings
from hub.core.topology import Topology, apply, build_topology, delete
from mdm.models import Golden
from schemas import SCHEMA_DIR
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration
SAMPLES = {entity: json.loads((SCHEMA_DIR / domain / "samples" / f"{entity}.v1.json").read_text(encoding="utf-8"))
           for domain, entity in (("customer", "customer"), ("product", "product"), ("channel", "channel"))}


@pytest.fixture
def settings(db_url: str, amqp: str) -> Iterator[HubSettings]:
    """Isolated queues: one bound like mdm.intake, one CRM subscribed to mdm.#."""
    probe = isolated_settings(db_url, amqp)
    prefix = probe.bus.events_exchange.split(".")[0]
    hub = isolated_settings(db_url, amqp, bus={
        "events_exchange": f"{prefix}.events", "dead_exchange": f"{prefix}.dlx", "dead_queue": f"{prefix}.dead",
        "subscribers": {f"{prefix}.mdm": ["src.*.customer.#", "src.*.product.#", "src.*.channel.#"],
                        f"{prefix}.crm": ["mdm.#"]}})
    yield hub
    delete(hub.bus, build_topology(hub.bus))


@pytest.fixture
def clean(db: Database) -> Database:
    with db.engine.begin() as conn:
        for table in ("mdm_quality_issue", "mdm_audit", "mdm_pair", "mdm_sequence", "mdm_code", "mdm_golden",
                      "mdm_block_key", "mdm_record"):
            conn.execute(text(f"DELETE FROM {table}"))
    return db


def source_event(entity: str, system: str, data: dict[str, Any]) -> CanonicalEvent:
    data = {**data, "source_system": system}
    return make_event(system=system, entity=entity, type=f"src.{system}.{entity}.changed.v1", key=data["source_id"],
                      version=data["updated_at"], data=data, dataschema=schema_id(f"{entity}/{entity}.v1"))


def inbox(name: str):  # type: ignore[no-untyped-def]
    def handle(event: CanonicalEvent, session: Session) -> None:
        session.add(InboxMessage(consumer=name, event_id=event.id, type=event.type, subject=event.subject))
    return handle


def queue(topology: Topology, suffix: str) -> str:
    return next(q.name for q in topology.queues if q.name.endswith(suffix))


def test_intake_masters_sources_and_publishes_golden_events(clean: Database, settings: HubSettings) -> None:
    db, topology = clean, build_topology(settings.bus)
    apply(settings.bus, topology)
    customer = SAMPLES["customer"]
    events = [
        source_event("customer", "erp", customer),
        source_event("customer", "sap", {**customer, "source_id": "0000100231", "name": "蘇州華成機械股份有限公司",
                                         "updated_at": "2024-08-16T08:00:00+08:00"}),
        source_event("customer", "crm", {**customer, "source_id": "CRM-9", "name": "无锡恒力电子有限公司",
                                         "credit_code": "91320211MA1NX2L05X", "phone": "+8651088776655", "industry": "电子电器",
                                         "address": {"province": "江苏省", "city": "无锡市"}}),
        source_event("product", "plm", SAMPLES["product"]),
        source_event("channel", "sap", SAMPLES["channel"]),
    ]
    with Publisher(settings.bus) as publisher:
        with db.transaction() as session:
            outbox.add_events(session, events + events[:1], topology)  # a re-sent duplicate too
        outbox.Relay(db, publisher, topology).drain()
        intake = Consumer(settings.bus, db, topology, queue(topology, ".mdm"), mdm_intake_handler(topology),
                          name="mdm.intake")
        stats = intake.run(idle_timeout_s=1.0)
        assert (stats.applied, stats.deduplicated, stats.dead_lettered) == (5, 1, 0)
        outbox.Relay(db, publisher, topology).drain()
    crm = Consumer(settings.bus, db, topology, queue(topology, ".crm"), inbox("crm"))  # validates every schema
    stats = crm.run(idle_timeout_s=1.0)
    assert stats.dead_lettered == 0
    assert stats.by_type == {"mdm.customer.upserted.v1": 3, "mdm.customer.code_assigned.v1": 2,
                             "mdm.product.upserted.v1": 1, "mdm.product.code_assigned.v1": 1,
                             "mdm.channel.upserted.v1": 1, "mdm.channel.code_assigned.v1": 1}
    with db.transaction() as session:
        codes = set(session.scalars(select(Golden.code)))
        assert codes == {"机械-华东-001", "电子-华东-001", "经销商-华南-001", "设备-100KW-不锈钢"}
        assert session.scalar(select(func.count()).select_from(Golden)) == 4


@pytest.mark.parametrize(("event_type", "entity"), [
    ("src.erp.customer.changed.v1", "customer"), ("src.sap.product.deleted.v2", "product"),
    ("src.dms.channel.changed.v1", "channel"), ("src.erp.order.changed.v1", None), ("mdm.customer.upserted.v1", None),
])
def test_entity_of(event_type: str, entity: str | None) -> None:
    assert entity_of(event_type) == entity
