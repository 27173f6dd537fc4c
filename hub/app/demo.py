"""`hub demo`: every tier once against the bundled simulated source systems, then what arrived.

1. start the simulated ERP (a SOAP server on loopback) and declare the topology;
2. sync every ERP stream into the outbox (mapping, schema check, checkpoint) and relay it;
3. play the CRM: publish an activated sales contract; the erp.commands consumer creates the ERP
   order once and publishes erp.order.created;
4. drain every subscriber queue as its subscriber would, and print what each one received.

Running it again publishes nothing new: checkpoints are at the end and event ids are the same.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.orm import Session

from connectors import load_connector
from connectors.base import Connector
from hub.app.demo_sources import SOURCES
from hub.app.erp_commands import contract_handler
from hub.app.mdm_intake import mdm_intake_handler
from hub.app.pipeline import StreamSync, SyncResult
from hub.app.progress import progress_display
from hub.app.runtime import Runtime
from hub.core import dlq, outbox
from hub.core.amqp import describe
from hub.core.consumer import Consumer, ConsumerStats
from hub.core.events import CanonicalEvent, make_event
from hub.core.models import InboxMessage
from hub.core.schemas import schema_id
from hub.core.settings import HubSettings
from hub.core.topology import apply

DEMO_CONTRACT_NO = "HT-2026-0001"
SAP_CONTRACT_NO = "HT-2026-0002"


@dataclass
class DemoReport:
    """Everything the demo prints at the end."""

    syncs: list[SyncResult] = field(default_factory=list)
    relayed: outbox.RelayResult = field(default_factory=outbox.RelayResult)
    queues: dict[str, ConsumerStats] = field(default_factory=dict)
    dead_letters: int = 0
    iot_events: dict[str, int] = field(default_factory=dict)


def demo_contract(customer_number: str = "CUST-000101") -> dict[str, Any]:
    """An activated CRM sales contract for the simulated ERP (data of crm.contract.activated.v1)."""
    return {
        "source_system": "crm", "source_id": "c1d9a3e2-7b41-4f0e-9a51-2e6c0b7d4f18",
        "contract_no": DEMO_CONTRACT_NO, "customer_source_id": customer_number, "sign_date": "2026-11-20",
        "currency": "CNY", "total_amount": "261850.00", "status": "active", "erp_system": "erp",
        "requested_delivery_date": "2026-12-15", "updated_at": "2026-11-20T09:00:00Z",
        "lines": [
            {"line_no": 1, "product_source_id": "MAT-10001", "product_name": "数控车床 CK6140",
             "quantity": "2", "unit": "台", "unit_price": "128000.00", "amount": "256000.00"},
            {"line_no": 2, "product_source_id": "MAT-10003", "product_name": "伺服电机 1.5kW",
             "quantity": "2", "unit": "台", "unit_price": "2850.00", "amount": "5700.00"},
            {"line_no": 3, "product_source_id": "MAT-10017", "product_name": "光电传感器",
             "quantity": "5", "unit": "件", "unit_price": "30.00", "amount": "150.00"},
        ],
    }


def sap_contract() -> dict[str, Any]:
    """An activated contract for a customer whose orders SAP fulfils."""
    contract = demo_contract("100005")
    contract.update(contract_no=SAP_CONTRACT_NO, source_id="5e0b7f1c-2a44-4d2b-8f0e-3c9a1d6b7e25",
                    erp_system="sap", total_amount="261700.00")
    contract["lines"] = [
        {"line_no": 1, "product_source_id": "100001", "product_name": "数控车床 CK6140", "quantity": "2",
         "unit": "台", "unit_price": "128000.00", "amount": "256000.00"},
        {"line_no": 2, "product_source_id": "100003", "product_name": "伺服电机 1.5kW", "quantity": "2",
         "unit": "台", "unit_price": "2850.00", "amount": "5700.00"},
    ]
    return contract


def contract_event(contract: dict[str, Any]) -> CanonicalEvent:
    """The CRM's crm.contract.activated.v1 event (deterministic id: same contract, same id)."""
    return make_event(system="crm", entity="contract", type="crm.contract.activated.v1",
                      key=contract["contract_no"], version="activated", data=contract,
                      dataschema=schema_id("sales/contract.v1"),
                      time=dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc))


def _inbox_handler(consumer: str):  # type: ignore[no-untyped-def]
    def handle(event: CanonicalEvent, session: Session) -> None:
        session.add(InboxMessage(consumer=consumer, event_id=event.id, type=event.type, subject=event.subject))
    return handle


def _sync_all(rt: Runtime, connector: Connector, progress: Progress, report: DemoReport) -> None:
    for stream in connector.streams():
        task = progress.add_task(f"sync {connector.name}/{stream.name}", total=None, note="")

        def on_page(result: SyncResult, task: Any = task) -> None:
            progress.update(task, completed=result.received, total=result.received,
                            note=f"published {result.published}, dead-lettered {result.dead_lettered}")

        result = StreamSync(rt.db, rt.topology, connector, stream, on_page=on_page).run()
        progress.update(task, completed=result.received, total=max(result.received, 1),
                        note=f"published {result.published}, dead-lettered {result.dead_lettered}")
        report.syncs.append(result)


def _relay(rt: Runtime, progress: Progress, report: DemoReport, label: str) -> None:
    with rt.db.transaction() as session:
        pending = outbox.status(session).counts.get("pending", 0)
    task = progress.add_task(label, total=max(pending, 1), note="publisher confirms")
    result = outbox.Relay(rt.db, rt.publisher, rt.topology, rt.settings.relay.batch_size).drain()
    progress.update(task, completed=max(pending, 1), note=f"sent {result.sent}, unroutable {result.dead}")
    report.relayed.add(result)


def _consume(rt: Runtime, queue: str, handler: Any, progress: Progress) -> ConsumerStats:
    task = progress.add_task(f"consume {queue}", total=None, note="")
    stats = Consumer(rt.settings.bus, rt.db, rt.topology, queue, handler, name=f"demo:{queue}").run(
        idle_timeout_s=1.0)
    progress.update(task, completed=stats.received, total=max(stats.received, 1),
                    note=f"applied {stats.applied}, duplicates {stats.deduplicated}")
    return stats


def run_demo(rt: Runtime, console: Console, erp_port: int = 0) -> DemoReport:
    """Run the demo and print its report."""
    report = DemoReport()
    logging.getLogger("hub").setLevel(logging.WARNING)  # the report below says what the INFO lines would
    logging.getLogger("connectors").setLevel(logging.WARNING)
    console.rule("[bold]CRM integration hub — demo")
    console.print(f"database {_db_label(rt.settings)}; RabbitMQ {describe(rt.settings.bus)}")
    apply(rt.settings.bus, rt.topology)
    with ExitStack() as stack, progress_display(console) as progress:
        overrides = _start_sources(stack, console)
        rt.settings = _with_overrides(rt.settings, overrides)
        connectors = {s.connector: stack.enter_context(_closing(load_connector(s.connector, rt.settings)))
                      for s in SOURCES}
        for name, connector in connectors.items():
            _sync_all(rt, connector, progress, report)
        _run_iot(rt, progress, report)
        _relay(rt, progress, report, "relay outbox → hub.events")
        _publish_contracts(rt, connectors)
        _relay(rt, progress, report, "CRM publishes contracts")
        queue = _queue_for(rt, "crm.contract.activated.v1")
        report.queues[queue] = _consume(rt, queue, _contract_handlers(rt, connectors), progress)
        _relay(rt, progress, report, "relay erp.order.created")
        intake = _queue_for(rt, "src.erp.customer.changed.v1")
        report.queues[intake] = _consume(rt, intake, mdm_intake_handler(rt.topology), progress)
        _relay(rt, progress, report, "relay mdm.* golden records")
        for q in rt.topology.queues:
            if q.name not in (queue, intake):
                report.queues[q.name] = _consume(rt, q.name, _inbox_handler(q.name), progress)
    report.dead_letters = dlq.depth(rt.settings.bus, rt.topology)
    _print_report(console, rt, report)
    return report


def _run_iot(rt: Runtime, progress: Progress, report: DemoReport) -> None:
    """Simulated machines publish telemetry over MQTT; the listener turns it into alerts and tickets."""
    from hub.app.iot_worker import run_iot_demo

    task = progress.add_task("iot/telemetry (MQTT)", total=None, note="")
    iot = run_iot_demo(rt.settings, db=rt.db)
    received = sum(iot.outcomes.values())
    progress.update(task, completed=received, total=max(received, 1),
                    note=", ".join(f"{k} {v}" for k, v in sorted(iot.outcomes.items())))
    report.iot_events = dict(iot.events)
    report.relayed.sent += iot.relayed  # the IoT demo relays the outbox itself (everything pending so far)


def _start_sources(stack: ExitStack, console: Console) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for source in SOURCES:
        overrides.update(stack.enter_context(source.start()))
        console.print(f"  simulated {source.label} ready")
    return overrides


def _with_overrides(settings: HubSettings, overrides: dict[str, Any]) -> HubSettings:
    """The settings with each connector's section replaced by its simulator's values."""
    sections = {name: getattr(settings, name) for name in overrides}
    update = {name: type(section).model_validate({**section.model_dump(), **overrides[name]})
              for name, section in sections.items()}  # validated: plain strings become SecretStr etc.
    return settings.model_copy(update=update)


@contextmanager
def _closing(connector: Connector) -> Iterator[Connector]:
    try:
        connector.check()
        yield connector
    finally:
        connector.close()


def _contract_handlers(rt: Runtime, connectors: dict[str, Connector]) -> Any:
    """One handler for erp.commands: each ERP takes the contracts addressed to it."""
    from hub.app.sap_commands import contract_handler as sap_handler

    handlers = [contract_handler(connectors["soap_erp"], rt.topology),  # type: ignore[arg-type]
                sap_handler(connectors["sap_rfc"], rt.topology)]  # type: ignore[arg-type]

    def handle(event: CanonicalEvent, session: Session) -> None:
        for handler in handlers:
            handler(event, session)

    return handle


def _db_label(settings: HubSettings) -> str:
    path = settings.sqlite_path()
    return f"SQLite {path}" if path else "PostgreSQL"


def _publish_contracts(rt: Runtime, connectors: dict[str, Connector]) -> None:
    """Play the CRM: send each activated contract once (a real CRM does not resend an unchanged one)."""
    from sqlalchemy import select

    from hub.core.models import OutboxRow

    events = [contract_event(demo_contract()), contract_event(sap_contract())]
    with rt.db.transaction() as session:
        new = [e for e in events
               if session.scalar(select(OutboxRow.id).where(OutboxRow.event_id == e.id).limit(1)) is None]
        outbox.add_events(session, new, rt.topology)


def _queue_for(rt: Runtime, routing_key: str) -> str:
    from fnmatch import fnmatch

    for queue in rt.topology.queues:
        if any(fnmatch(routing_key, p.replace("#", "*")) for p in queue.bindings):
            return queue.name
    raise LookupError(f"no subscriber queue binds {routing_key}")


def _print_report(console: Console, rt: Runtime, report: DemoReport) -> None:
    table = Table(title="Sync (sources → outbox)", title_justify="left")
    for column in ("stream", "received", "published", "dead-lettered", "why"):
        table.add_column(column, justify="right" if column in ("received", "published", "dead-lettered") else "left")
    for r in report.syncs:
        why = ", ".join(f"{k} {v}" for k, v in r.dead_reasons.items()) or "-"
        table.add_row(f"{r.connector}/{r.stream}", str(r.received), str(r.published), str(r.dead_lettered), why)
    console.print(table)
    queues = Table(title="What each subscriber queue received", title_justify="left")
    for column in ("queue", "event type", "events"):
        queues.add_column(column)
    for name, stats in report.queues.items():
        types = Counter(stats.by_type)
        if not types:
            queues.add_row(name, "(nothing new)", "0")
        for event_type, count in sorted(types.items()):
            queues.add_row(name, event_type, str(count))
    console.print(queues)
    published = report.relayed.sent
    dedup = sum(s.deduplicated for s in report.queues.values())
    consumer_dead = sum(s.dead_lettered for s in report.queues.values())
    console.print(f"events published: [bold]{published}[/bold]   deduplicated by subscribers: [bold]{dedup}[/bold]"
                  f"   dead-lettered: [bold]{sum(r.dead_lettered for r in report.syncs) + report.relayed.dead + consumer_dead}[/bold]"
                  f" (in {rt.topology.dead_queue.name} now: {report.dead_letters}; see `hub dlq list`)")
    orders = report.queues.get("erp.commands")
    if orders and orders.applied:
        console.print(f"contracts {DEMO_CONTRACT_NO} (ERP) and {SAP_CONTRACT_NO} (SAP) → sales orders created, "
                      "each once; see erp.order.created.v1 above")
    else:
        console.print("contracts: fulfilled in an earlier run, nothing created again")
    console.print("next: `hub mdm review list --entity customer`, `hub web` (steward page at "
                  "http://127.0.0.1:8000/steward/queue, metrics at /metrics), `hub dlq list`, `hub state show`")
