"""One record whose data JSON cannot carry is dead-lettered; the rest of its page is published."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connectors.base import Connector, Page, SourceRecord, Stream
from hub.app.pipeline import UNSERIALISABLE, StreamSync
from hub.core.db import open_database
from hub.core.models import OutboxRow
from hub.core.settings import load_settings
from hub.core.topology import build_topology


class PassThrough:
    """A mapping that hands the payload on as the data (the schema check is stubbed below)."""

    name, version, target = "test/passthrough", "1.0.0", "finance/receivable.v1"

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload


class AnySchema:
    def validate(self, target: str, data: dict[str, Any]) -> None:
        """Every record passes: what is under test is what the outbox can hold."""


class OnePage(Stream):
    name, entity, mapping = "receivables", "receivable", "test/passthrough"

    def read(self, cursor: Any) -> Iterator[Page]:
        payloads = [{"amount": 1}, {"amount": 2**70}, {"amount": 3}]
        yield Page(records=[SourceRecord.from_payload(f"K{i}", "v1", p) for i, p in enumerate(payloads)],
                   cursor={"page": 1})


class Source(Connector):
    name, system = "test", "erp"  # type: ignore[assignment]

    def check(self) -> None:
        """Always reachable."""

    def streams(self) -> list[Stream]:
        return [OnePage()]


def test_a_record_json_cannot_carry_is_dead_lettered_and_the_page_goes_on(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/hub.db")
    topology = build_topology(load_settings().bus)
    source = Source()
    result = StreamSync(db, topology, source, source.stream("receivables"), mapping_loader=lambda _n: PassThrough(),
                        schemas=AnySchema()).run()  # type: ignore[arg-type]
    assert (result.received, result.published, result.dead_lettered) == (3, 2, 1)
    with db.transaction() as session:
        rows = list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))
    dead = [r for r in rows if r.exchange == topology.dead.name]
    assert len(rows) == 3 and len(dead) == 1
    assert UNSERIALISABLE in dead[0].headers["x-hub-error"] and b"1180591620717411303424" in dead[0].body
    db.dispose()
