"""The `hub` command line: demo, sync, relay, topology, dead letters, checkpoints, outbox, mappings."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from hub.app.cli_mappings import mappings
from hub.app.cli_mdm import mdm
from hub.app.cli_ops import ops, tiers
from hub.app.cli_users import users
from hub.app.cli_worker import worker
from hub.app.runtime import Runtime, configure_logging, runtime
from hub.core import dlq, outbox, state
from hub.core.errors import HubError
from hub.core.settings import get_settings
from hub.core.topology import apply as apply_topology

console = Console()
F = TypeVar("F", bound=Callable[..., Any])


def _table(*columns: str) -> Table:
    """A table whose cells wrap instead of being cut, so ids and cursors stay whole on narrow terminals."""
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


@contextmanager
def _runtime() -> Iterator[Runtime]:
    """A Runtime for one command; hub errors become a clear message and exit code 2."""
    rt = None
    try:
        settings = get_settings()
        configure_logging(settings.log_level, console=console)
        rt = runtime(settings)
        yield rt
    except HubError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    finally:
        if rt is not None:
            rt.close()


@click.group()
def main() -> None:
    """Integration hub for manufacturers' CRM."""


@main.command()
@click.option("--erp-port", default=0, show_default=True, help="port of the simulated ERP (0: any free port)")
def demo(erp_port: int) -> None:
    """Run every tier once against the bundled simulated source systems and show what arrived."""
    from hub.app.demo import run_demo

    with _runtime() as rt:
        run_demo(rt, console, erp_port=erp_port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def web(host: str, port: int) -> None:
    """Serve the web app: steward UI, WeCom callback, /metrics and /health."""
    from hub.app.web import serve

    with _runtime() as rt:
        serve(rt.settings, host, port)


# -- topology -------------------------------------------------------------------------------

@main.group()
def topology() -> None:
    """The RabbitMQ exchanges, queues and bindings."""


@topology.command("apply")
@click.option("--definitions", "definitions_file", type=click.Path(exists=True, dir_okay=False),
              help="also import a definitions file (users, permissions) with rabbitmqctl on the broker host")
def topology_apply(definitions_file: str | None) -> None:
    """Declare exchanges, quorum queues and bindings (idempotent)."""
    with _runtime() as rt:
        topo = rt.topology
        if definitions_file:
            _import_definitions(definitions_file)
        apply_topology(rt.settings.bus, topo)
        table = _table("queue", "bound to", "arguments")
        for queue in topo.all_queues():
            table.add_row(queue.name, ", ".join(queue.bindings), json.dumps(queue.arguments))
        console.print(table)


@topology.command("definitions")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True), required=True)
@click.option("--vhost", default="/", show_default=True)
def topology_definitions(out_file: str, vhost: str) -> None:
    """Write a RabbitMQ definitions file: topology plus one limited user per service (HUB_BUS__USERS__…)."""
    from pathlib import Path

    from hub.core.definitions import definitions

    with _runtime() as rt:
        document = definitions(rt.settings.bus, rt.topology, vhost)
        path = Path(out_file)
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
        path.chmod(0o600)  # it holds password hashes
        console.print(f"wrote {path}: {len(document['users'])} user(s), {len(document['queues'])} queue(s)")


def _import_definitions(path: str) -> None:
    import shutil
    import subprocess

    if shutil.which("rabbitmqctl") is None:
        raise HubError("rabbitmqctl is not on this host: load the file with RabbitMQ's load_definitions instead")
    # Through standard input: rabbitmqctl may run as the broker's user, who cannot read our file.
    with open(path, "rb") as document:
        done = subprocess.run(["rabbitmqctl", "import_definitions"], stdin=document, capture_output=True,
                              timeout=120)
    if done.returncode != 0:
        raise HubError(f"rabbitmqctl import_definitions failed: {done.stderr.decode(errors='replace')[:300]}")


# -- sync and relay --------------------------------------------------------------------------

@main.command()
@click.argument("connector")
@click.argument("streams", nargs=-1)
def sync(connector: str, streams: tuple[str, ...]) -> None:
    """Sync streams of CONNECTOR (all when none is named) into the outbox."""
    from connectors import load_connector
    from hub.app.pipeline import SyncResult, sync_stream
    from hub.app.progress import progress_display

    with _runtime() as rt:
        source = load_connector(connector, rt.settings)
        try:
            for name in streams or [s.name for s in source.streams()]:
                with progress_display(console) as progress:
                    task = progress.add_task(f"sync {connector}/{name}", total=None, note="")

                    def on_page(result: SyncResult, task: Any = task, progress: Any = progress) -> None:
                        progress.update(task, completed=result.received, note=f"page {result.pages}, "
                                        f"published {result.published}, dead-lettered {result.dead_lettered}")

                    result = sync_stream(rt.db, rt.topology, source, name, on_page=on_page)
                    progress.update(task, completed=result.received, total=max(result.received, 1), note="")
                console.print(f"{connector}/{name}: received {result.received}, published {result.published}, "
                              f"dead-lettered {result.dead_lettered}")
        finally:
            source.close()


@main.command()
@click.option("--drain", is_flag=True, help="publish what is pending, then exit")
def relay(drain: bool) -> None:
    """Publish pending outbox rows with confirms (until SIGTERM, or once with --drain)."""
    with _runtime() as rt:
        worker = outbox.Relay(rt.db, rt.publisher, rt.topology, rt.settings.relay.batch_size)
        if drain:
            from hub.app.progress import progress_display

            with rt.db.reading() as session:
                pending = outbox.status(session).counts.get("pending", 0)
            with progress_display(console) as progress:
                task = progress.add_task("relay", total=max(pending, 1), note="publisher confirms")
                result = worker.drain(on_batch=lambda r: progress.update(
                    task, completed=r.sent + r.dead, note=f"sent {r.sent}, dead-lettered {r.dead}"))
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            result = worker.run(stop, rt.settings.relay.idle_poll_s, rt.settings.relay.max_backoff_s)
        console.print(f"relay: sent {result.sent}, dead-lettered {result.dead}, not confirmed {result.failed}")


# -- dead letters ----------------------------------------------------------------------------

@main.group("dlq")
def dlq_group() -> None:
    """Inspect, replay and purge dead letters (queue hub.dead)."""


@dlq_group.command("list")
@click.option("--limit", default=50, show_default=True)
def dlq_list(limit: int) -> None:
    """List dead letters with their reason (they stay in the queue)."""
    with _runtime() as rt:
        messages = dlq.browse(rt.settings.bus, rt.topology, limit)
        table = _table("message id", "reason", "routing key", "origin", "error", "bytes")
        for m in messages:
            table.add_row(m.message_id, m.reason, m.routing_key, m.origin, m.error[:80], str(len(m.body)))
        console.print(table)
        console.print(f"{len(messages)} shown, {dlq.depth(rt.settings.bus, rt.topology)} in {rt.topology.dead_queue.name}")


@dlq_group.command("show")
@click.argument("message_id")
def dlq_show(message_id: str) -> None:
    """Show one dead letter: headers and original body."""
    with _runtime() as rt:
        m = dlq.find(rt.settings.bus, rt.topology, message_id)
        console.print_json(data={k: str(v) for k, v in m.headers.items()})
        console.print(m.body.decode("utf-8", errors="replace"), markup=False, highlight=False)


@dlq_group.command("replay")
@click.argument("message_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
def dlq_replay(message_id: str | None, replay_all: bool) -> None:
    """Send a dead letter (or all) back to the events exchange under its original routing key."""
    if not message_id and not replay_all:
        raise click.UsageError("name a MESSAGE_ID or pass --all")
    with _runtime() as rt:
        count = dlq.replay(rt.settings.bus, rt.topology, None if replay_all else message_id)
        console.print(f"replayed {count} message(s)")


@dlq_group.command("purge")
@click.option("--yes", is_flag=True, help="do not ask")
def dlq_purge(yes: bool) -> None:
    """Delete every dead letter."""
    if not yes:
        click.confirm("Delete every dead letter?", abort=True)
    with _runtime() as rt:
        console.print(f"purged {dlq.purge(rt.settings.bus, rt.topology)} message(s)")


# -- checkpoints -----------------------------------------------------------------------------

@main.group("state")
def state_group() -> None:
    """View, set and reset connector stream checkpoints."""


@state_group.command("show")
@click.argument("connector", required=False)
def state_show(connector: str | None) -> None:
    """Show checkpoints (of one connector, or all)."""
    with _runtime() as rt, rt.db.transaction() as session:
        table = _table("connector", "stream", "cursor", "records", "updated", "last full sync")
        for cp in state.list_checkpoints(session, connector):
            table.add_row(cp.connector, cp.stream, json.dumps(cp.cursor, ensure_ascii=False), str(cp.records_total),
                          str(cp.updated_at), str(cp.last_success_at or "-"))
        console.print(table)


@state_group.command("set")
@click.argument("connector")
@click.argument("stream")
@click.argument("cursor_json")
def state_set(connector: str, stream: str, cursor_json: str) -> None:
    """Set a stream's cursor, e.g. '{"modified_since": "2026-11-01T00:00:00", "after_key": ""}'."""
    try:
        cursor = json.loads(cursor_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg} at column {exc.colno}", param_hint="CURSOR_JSON") from None
    if not isinstance(cursor, dict):
        raise click.BadParameter("must be a JSON object", param_hint="CURSOR_JSON")
    with _runtime() as rt, rt.db.transaction() as session:
        state.save_cursor(session, connector, stream, cursor)
    console.print(f"{connector}/{stream} cursor set")


@state_group.command("reset")
@click.argument("connector")
@click.argument("stream", required=False)
def state_reset(connector: str, stream: str | None) -> None:
    """Forget cursors: the next sync starts from the beginning (same event ids, dropped as duplicates)."""
    with _runtime() as rt, rt.db.transaction() as session:
        count = state.reset(session, connector, stream)
    console.print(f"reset {count} checkpoint(s)")


# -- database ------------------------------------------------------------------------------

@main.group("db")
def db_group() -> None:
    """The hub's database schema (Alembic migrations)."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest migration (also done on every start)."""
    from hub.core.db import make_engine, migrate

    with _runtime() as rt:
        engine = make_engine(rt.settings.database_url.get_secret_value())
        migrate(engine)
        console.print(f"database at revision {_revision(engine)}")
        engine.dispose()


@db_group.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from hub.core.db import make_engine

    with _runtime() as rt:
        engine = make_engine(rt.settings.database_url.get_secret_value())
        console.print(_revision(engine) or "empty database (no migration applied yet)")
        engine.dispose()


def _revision(engine: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()  # type: ignore[no-any-return]


# -- outbox ----------------------------------------------------------------------------------

@main.group("outbox")
def outbox_group() -> None:
    """The transactional outbox."""


@outbox_group.command("status")
def outbox_status() -> None:
    """Rows per status and the age of the oldest pending row."""
    with _runtime() as rt, rt.db.transaction() as session:
        status = outbox.status(session)
    for name in ("pending", "sent", "dead"):
        console.print(f"{name:8} {status.counts.get(name, 0)}")
    age = status.oldest_pending_age_s
    console.print(f"oldest pending: {'-' if age is None else f'{age:.1f}s'}")


main.add_command(mappings)
main.add_command(mdm)
main.add_command(users)
main.add_command(worker)
main.add_command(ops)
main.add_command(tiers)


if __name__ == "__main__":
    main()
