"""Dealer inventory reports end to end on SQLite and PostgreSQL: drop folder → stream → mapping → outbox.

A bad file is quarantined whole (nothing of it published) and the next good file still loads; a
folder outage mid-sync leaves the checkpoint after the last committed file; re-running over the
same files publishes no new ids.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors import load_connector
from connectors.base import Connector
from connectors.dealer_files.streams import InventoryReportStream
from connectors.testing.dealer_reports import aged, drop_demo_files, write_broken, write_contracts
from hub.app.pipeline import StreamSync, SyncResult, sync_stream
from hub.core import state
from hub.core.db import Database
from hub.core.errors import SourceUnavailable
from hub.core.models import Checkpoint, OutboxRow
from hub.core.settings import load_settings
from hub.core.topology import Topology, build_topology

STREAM = "inventory_reports"
EVENT_TYPE = "channel.inventory.reported.v1"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("inbox", "quarantine", "processed"):
        (tmp_path / name).mkdir()
    return tmp_path


@pytest.fixture
def connector(root: Path) -> Connector:
    settings = {name: root / name for name in ("inbox", "quarantine", "processed")}
    contracts = write_contracts(root / "contracts.csv")
    return load_connector("dealer_files", load_settings(dealer_files={**settings, "settle_s": 0,
                                                                     "contracts_path": contracts}))


@pytest.fixture
def topology() -> Topology:
    return build_topology(load_settings().bus)


def outbox_rows(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def checkpoint(db: Database) -> Checkpoint | None:
    with db.transaction() as session:
        return session.get(Checkpoint, ("dealer_files", STREAM))


def test_reports_are_published_as_channel_inventory_events(db: Database, connector: Connector,
                                                           topology: Topology, root: Path) -> None:
    drop_demo_files(root / "inbox")
    result = sync_stream(db, topology, connector, STREAM)
    rows = outbox_rows(db)
    events = [json.loads(r.body) for r in rows]
    assert result.received == result.published == len(rows) == 16 and result.dead_lettered == 0
    assert {e["type"] for e in events} == {EVENT_TYPE} and {r.routing_key for r in rows} == {EVENT_TYPE}
    weekly = next(e for e in events if e["data"]["period_type"] == "weekly")
    assert weekly["subject"].endswith(":W") and weekly["data"]["channel_source_id"] == "D0045"
    data = events[0]["data"]
    assert data["source_id"].startswith("D0031:") and data["source_system"] == "dms"
    assert "days_of_stock" in data  # D0031 has a contracted volume
    cp = checkpoint(db)
    assert cp is not None and len(cp.cursor["files"]) == 3

    again = sync_stream(db, topology, connector, STREAM)
    assert again.received == 0 and len(outbox_rows(db)) == len(rows)


def test_a_bad_file_is_quarantined_whole_and_the_next_good_file_still_loads(db: Database,
                                                                             connector: Connector,
                                                                             topology: Topology,
                                                                             root: Path) -> None:
    good = drop_demo_files(root / "inbox", age_s=30)
    aged(write_broken(root / "inbox", "negative_stock", fmt="xlsx"), 40)  # the oldest: read first
    stream = connector.stream(STREAM)
    result = StreamSync(db, topology, connector, stream).run()
    assert result.published == 16 and result.dead_lettered == 0
    assert isinstance(stream, InventoryReportStream)
    [quarantined] = stream.quarantined
    assert quarantined.errors == [
        "第4行 期末库存: 库存不能为负数 (row 4, 期末库存: stock must not be negative)"]
    reports = {(e["channel_source_id"], e["period_type"]) for e in (json.loads(r.body)["data"]
                                                                    for r in outbox_rows(db))}
    assert ("D0045", "monthly") not in reports  # the broken file was D0045's monthly report: none of it
    assert sorted(p.name for p in (root / "processed").iterdir()) == sorted(p.name for p in good)


def test_a_folder_outage_mid_sync_keeps_the_checkpoint_and_the_next_run_finishes(db: Database,
                                                                                 connector: Connector,
                                                                                 topology: Topology,
                                                                                 root: Path) -> None:
    drop_demo_files(root / "inbox")
    committed: dict[str, object] = {}

    def share_drops_after_first_file(result: SyncResult) -> None:
        if result.pages == 1:
            committed.update(cursor=checkpoint(db).cursor, rows=len(outbox_rows(db)))  # type: ignore[union-attr]
            shutil.move(root / "inbox", root / "inbox-offline")

    sync = StreamSync(db, topology, connector, connector.stream(STREAM), on_page=share_drops_after_first_file)
    with pytest.raises(SourceUnavailable, match="HUB_DEALER_FILES__INBOX"):
        sync.run()
    assert checkpoint(db).cursor == committed["cursor"]  # type: ignore[union-attr]
    assert len(outbox_rows(db)) == committed["rows"] == 6

    shutil.move(root / "inbox-offline", root / "inbox")  # the share is back
    finished = sync_stream(db, topology, connector, STREAM)
    ids = [r.event_id for r in outbox_rows(db)]
    assert finished.published == 10 and len(ids) == len(set(ids)) == 16
    assert not any((root / "inbox").iterdir())


def test_redropping_the_same_files_after_a_reset_gives_the_same_ids(db: Database, connector: Connector,
                                                                    topology: Topology, root: Path) -> None:
    drop_demo_files(root / "inbox")
    sync_stream(db, topology, connector, STREAM)
    first = {r.event_id for r in outbox_rows(db)}
    for path in (root / "processed").iterdir():  # the dealer sends everything again
        shutil.move(path, root / "inbox" / path.name)
        aged(root / "inbox" / path.name, 5)
    assert sync_stream(db, topology, connector, STREAM).received == 0  # recognised by name and hash

    with db.transaction() as session:
        state.reset(session, "dealer_files", STREAM)
    for path in (root / "processed").iterdir():
        shutil.move(path, root / "inbox" / path.name.replace(".", "-again.", 1))
    sync_stream(db, topology, connector, STREAM)
    ids = [r.event_id for r in outbox_rows(db)]
    assert len(ids) == 2 * len(first) and set(ids) == first
