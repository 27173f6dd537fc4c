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
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.orm import Session

from connectors.soap_erp.connector import SoapErpConnector
from connectors.testing.erp_soap_server import DEMO_PASSWORD, ErpSoapServer
from hub.app.erp_commands import contract_handler
from hub.app.pipeline import StreamSync, SyncResult
from hub.app.runtime import Runtime
from hub.core import dlq, outbox
from hub.core.consumer import Consumer, ConsumerStats
from hub.core.events import CanonicalEvent, make_event
from hub.core.models import InboxMessage
from hub.core.schemas import schema_id
from hub.core.settings import HubSettings
from hub.core.topology import apply

DEMO_CONTRACT_NO = "HT-2026-0001"


@dataclass
class DemoReport:
    """Everything the demo prints at the end."""

    syncs: list[SyncResult] = field(default_factory=list)
    relayed: outbox.RelayResult = field(default_factory=outbox.RelayResult)
    queues: dict[str, ConsumerStats] = field(default_factory=dict)
    dead_letters: int = 0


def demo_contract(customer_number: str) -> dict[str, Any]:
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


def contract_event(contract: dict[str, Any]) -> CanonicalEvent:
    """The CRM's crm.contract.activated.v1 event (deterministic id: same contract, same id)."""
    return make_event(system="crm", entity="contract", type="crm.contract.activated.v1",
                      key=contract["contract_no"], version="activated", data=contract,
                      dataschema=schema_id("sales/contract.v1"),
                      time=dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc))


def _progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console)


def _inbox_handler(consumer: str):  # type: ignore[no-untyped-def]
    def handle(event: CanonicalEvent, session: Session) -> None:
        session.add(InboxMessage(consumer=consumer, event_id=event.id, type=event.type, subject=event.subject))
    return handle


def _sync_all(rt: Runtime, connector: SoapErpConnector, progress: Progress, report: DemoReport) -> None:
    for stream in connector.streams():
        task = progress.add_task(f"sync erp/{stream.name}", total=None, note="")

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
    with ErpSoapServer(port=erp_port) as erp:
        settings = _demo_settings(rt.settings, erp.wsdl_url)
        rt.settings = settings
        console.rule("[bold]CRM integration hub — demo")
        console.print(f"simulated ERP (SOAP) at {erp.url}; database {_db_label(settings)}")
        apply(settings.bus, rt.topology)
        connector = SoapErpConnector.from_settings(settings)
        try:
            connector.check()
            with _progress(console) as progress:
                _sync_all(rt, connector, progress, report)
                _relay(rt, progress, report, "relay outbox → hub.events")
                _publish_contract(rt, erp.store.rows("customers")[0]["FNumber"])
                _relay(rt, progress, report, "CRM publishes contract")
                queue = _queue_for(rt, "crm.contract.activated.v1")
                report.queues[queue] = _consume(rt, queue, contract_handler(connector, rt.topology), progress)
                _relay(rt, progress, report, "relay erp.order.created")
                for q in rt.topology.queues:
                    if q.name != queue:
                        report.queues[q.name] = _consume(rt, q.name, _inbox_handler(q.name), progress)
        finally:
            connector.close()
        report.dead_letters = dlq.depth(settings.bus, rt.topology)
        _print_report(console, rt, report, erp.store.find_order_by_contract(DEMO_CONTRACT_NO))
    return report


def _demo_settings(settings: HubSettings, wsdl_url: str) -> HubSettings:
    erp = settings.soap_erp.model_copy(update={"wsdl_url": wsdl_url})
    if not erp.password.get_secret_value():
        from pydantic import SecretStr

        erp = erp.model_copy(update={"password": SecretStr(DEMO_PASSWORD)})
    return settings.model_copy(update={"soap_erp": erp})


def _db_label(settings: HubSettings) -> str:
    path = settings.sqlite_path()
    return f"SQLite {path}" if path else "PostgreSQL"


def _publish_contract(rt: Runtime, customer_number: str) -> None:
    """Play the CRM: send the activated contract once (a real CRM does not resend an unchanged one)."""
    from sqlalchemy import select

    from hub.core.models import OutboxRow

    event = contract_event(demo_contract(customer_number))
    with rt.db.transaction() as session:
        if session.scalar(select(OutboxRow.id).where(OutboxRow.event_id == event.id).limit(1)) is None:
            outbox.add_events(session, [event], rt.topology)


def _queue_for(rt: Runtime, routing_key: str) -> str:
    from fnmatch import fnmatch

    for queue in rt.topology.queues:
        if any(fnmatch(routing_key, p.replace("#", "*")) for p in queue.bindings):
            return queue.name
    raise LookupError(f"no subscriber queue binds {routing_key}")


def _print_report(console: Console, rt: Runtime, report: DemoReport, bill_no: str | None) -> None:
    table = Table(title="Sync (ERP → outbox)", title_justify="left")
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
    if bill_no:
        console.print(f"contract {DEMO_CONTRACT_NO} → ERP sales order [bold]{bill_no}[/bold] (created once)")
    else:
        console.print(f"contract {DEMO_CONTRACT_NO}: fulfilled in an earlier run, nothing created again")
    console.print("next: `hub state show`, `hub outbox status`, `hub dlq list`, `hub mappings check`")
