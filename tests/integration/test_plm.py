"""The PLM connector end to end on SQLite and PostgreSQL: simulator → stream → mapping → outbox + checkpoint.

A PLM failure mid-sync (5xx, rate limit beyond the bound, malformed JSON, a slow answer, a
revoked permission) must leave the checkpoint after the last committed page and publish nothing
of the failed one; the next run finishes the job with the same ids.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from connectors import load_connector
from connectors.base import Connector
from connectors.testing.plm_data import seed
from connectors.testing.plm_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PlmServer
from hub.app.pipeline import StreamSync, SyncResult, sync_stream
from hub.core import state
from hub.core.db import Database
from hub.core.errors import SourceAuthError, SourceError, SourceProtocolError, SourceUnavailable
from hub.core.models import Checkpoint, OutboxRow
from hub.core.settings import load_settings
from hub.core.topology import Topology, build_topology

PAGE = 3
RELEASED = {"FG-HC100-SS": "B", "FG-HC100-CS": "A", "FG-HC200-SS": "B", "MAT-10001": "A", "MAT-10002": "C",
            "MAT-10007": "A", "MAT-10019": "01"}


@pytest.fixture
def plm() -> Iterator[PlmServer]:
    with PlmServer(store=seed(bad_rows=True)) as server:
        yield server


def plm_connector(plm: PlmServer, **overrides: object) -> Connector:
    settings = {"base_url": plm.base_url, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                "page_size": PAGE, "retries": 0, "timeout_s": 1.0, "max_retry_after_s": 1.0} | overrides
    return load_connector("plm", load_settings(plm=settings))


@pytest.fixture
def connector(plm: PlmServer) -> Iterator[Connector]:
    built = plm_connector(plm)
    yield built
    built.close()


@pytest.fixture
def topology() -> Topology:
    return build_topology(load_settings().bus)


def outbox_rows(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def checkpoint(db: Database) -> Checkpoint | None:
    with db.transaction() as session:
        return session.get(Checkpoint, ("plm", "products"))


def test_released_products_are_published_and_bad_rows_dead_lettered(db: Database, connector: Connector,
                                                                   topology: Topology) -> None:
    result = sync_stream(db, topology, connector, "products")
    rows = outbox_rows(db)
    events = [json.loads(r.body) for r in rows if r.exchange == topology.events.name]
    dead = [r for r in rows if r.exchange == topology.dead.name]
    assert {e["data"]["source_id"]: e["data"]["revision"] for e in events} == RELEASED
    assert {e["type"] for e in events} == {"src.plm.product.changed.v1"}
    assert all(e["data"]["lifecycle_state"] == "released" for e in events)
    assert result.received == result.published + result.dead_lettered and result.published == len(RELEASED)
    reasons = sorted(r.headers["x-hub-reason"] for r in dead)
    assert reasons == ["mapping_failed", "record_invalid", "record_invalid"]
    unit = next(r for r in dead if r.headers["x-hub-reason"] == "mapping_failed")
    assert json.loads(unit.body)["number"] == "FG-BAD-UNIT" and "/defaultUnit" in unit.headers["x-hub-error"]

    mixer = next(e["data"] for e in events if e["data"]["source_id"] == "FG-HC100-SS")
    assert (mixer["category"], mixer["model"], mixer["attributes"]["功率"], mixer["attributes"]["材质"]) == (
        "设备", "HC-100", "100kW", "不锈钢")  # what MDM codes 设备-100KW-不锈钢 from
    assert mixer["configuration_options"][0]["code"] == "MOTOR_BRAND"

    again = sync_stream(db, topology, connector, "products")
    assert again.received == 0 and len(outbox_rows(db)) == len(rows)


def test_rerun_of_the_same_interval_gives_the_same_event_ids(db: Database, connector: Connector,
                                                             topology: Topology) -> None:
    sync_stream(db, topology, connector, "products")
    first = {r.event_id for r in outbox_rows(db) if r.exchange == topology.events.name}
    with db.transaction() as session:
        state.reset(session, "plm", "products")
    sync_stream(db, topology, connector, "products")
    events = [r.event_id for r in outbox_rows(db) if r.exchange == topology.events.name]
    assert len(events) == 2 * len(first) and set(events) == first


def test_an_inwork_revision_is_never_published(db: Database, connector: Connector, topology: Topology,
                                               plm: PlmServer) -> None:
    sync_stream(db, topology, connector, "products")
    before = len(outbox_rows(db))
    plm.store.modify("FG-FYF500-SS", "A", name="FYF-500 不锈钢反应釜（设计变更）")
    plm.store.modify("MAT-10001", "B", name="数控车床 CK6140（改进型）")
    result = sync_stream(db, topology, connector, "products")
    assert result.published == 0 and len(outbox_rows(db)) == before
    assert checkpoint(db).cursor["after_number"] == "MAT-10001"  # type: ignore[union-attr]


FAULTS = [
    ("http_500", SourceUnavailable, "HTTP 500"),
    ("rate_limited", SourceUnavailable, "HTTP 429"),
    ("malformed", SourceProtocolError, "malformed JSON"),
    ("slow", SourceUnavailable, "did not answer"),
    ("forbidden", SourceAuthError, "HTTP 403"),
]


@pytest.mark.parametrize(("fault", "error", "wording"), FAULTS, ids=[f[0] for f in FAULTS])
def test_source_failure_mid_sync_keeps_the_checkpoint_and_publishes_nothing_of_the_bad_page(
        db: Database, connector: Connector, topology: Topology, plm: PlmServer, fault: str,
        error: type[SourceError], wording: str, caplog: pytest.LogCaptureFixture) -> None:
    committed: dict[str, object] = {}

    def break_after_two_pages(result: SyncResult) -> None:
        if result.pages == 2:
            committed.update(cursor=checkpoint(db).cursor, rows=len(outbox_rows(db)))  # type: ignore[union-attr]
            plm.fault_next(fault, delay_s=3.0, retry_after_s=60)

    sync = StreamSync(db, topology, connector, connector.stream("products"), on_page=break_after_two_pages)
    with pytest.raises(error, match=wording) as info:
        sync.run()
    assert DEMO_CLIENT_SECRET not in str(info.value) and DEMO_CLIENT_SECRET not in caplog.text
    assert checkpoint(db).cursor == committed["cursor"]  # type: ignore[union-attr]
    assert len(outbox_rows(db)) == committed["rows"]

    plm.clear_faults()
    sync_stream(db, topology, connector, "products")  # the next run picks up where it stopped
    events = [r for r in outbox_rows(db) if r.exchange == topology.events.name]
    assert sorted(json.loads(r.body)["data"]["source_id"] for r in events) == sorted(RELEASED)
    assert len({r.event_id for r in events}) == len(events)


def test_check_passes_against_the_simulator(connector: Connector) -> None:
    connector.check()


def test_check_says_what_is_wrong_without_the_secret(plm: PlmServer) -> None:
    wrong = plm_connector(plm, client_secret="wrong-secret-value")
    with pytest.raises(SourceAuthError) as info:
        wrong.check()
    assert "HUB_PLM__CLIENT_SECRET" in str(info.value) and "wrong-secret-value" not in str(info.value)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = plm_connector(plm, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(SourceUnavailable, match="unreachable .*HUB_PLM__BASE_URL") as unreachable:
        nowhere.check()
    assert DEMO_CLIENT_SECRET not in str(unreachable.value)
