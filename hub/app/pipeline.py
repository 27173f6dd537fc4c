"""Sync pipeline: Stream.read(checkpoint) → mapping → schema check → outbox rows + checkpoint.

Each page the stream yields is committed in one transaction: its events, its dead letters and
the cursor after it. A source failure mid-sync leaves the cursor after the last committed page,
so nothing of the failed page is published and nothing before it is lost. Counts always add up:
received = published + dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from connectors.base import Connector, Page, SourceRecord, Stream
from hub.core import outbox, state
from hub.core.db import Database
from hub.core.deadletter import DeadLetter
from hub.core.errors import RecordError, is_retriable
from hub.core.events import CanonicalEvent, make_event
from hub.core.schemas import SchemaRegistry, registry, schema_id
from hub.core.topology import Topology

if TYPE_CHECKING:
    from hub.core.metrics import HubMetrics

log = logging.getLogger(__name__)

UNSERIALISABLE = "the mapped data cannot be written as JSON (a number beyond 64 bits or a non-text key)"


class RecordMapping(Protocol):
    """What the pipeline needs from a compiled mapping."""

    name: str
    version: str
    target: str

    def apply(self, payload: dict) -> dict:  # type: ignore[type-arg]
        """Canonical data for one source payload, or a MappingError."""
        ...


MappingLoader = Callable[[str], RecordMapping]


def default_mapping_loader(name: str) -> RecordMapping:
    """The YAML mapping engine's loader (imported here so the kernel never depends on it)."""
    from mappings import load_mapping

    return load_mapping(name)  # type: ignore[return-value]


@dataclass
class SyncResult:
    """What one sync of one stream did."""

    connector: str
    stream: str
    received: int = 0
    published: int = 0
    dead_lettered: int = 0
    pages: int = 0
    dead_reasons: dict[str, int] = field(default_factory=dict)

    def add_dead(self, reason: str) -> None:
        """Count one dead letter by reason."""
        self.dead_lettered += 1
        self.dead_reasons[reason] = self.dead_reasons.get(reason, 0) + 1


class StreamSync:
    """Maps one stream's records into events and commits them page by page."""

    def __init__(self, db: Database, topology: Topology, connector: Connector, stream: Stream, *,
                 mapping_loader: MappingLoader = default_mapping_loader, schemas: SchemaRegistry | None = None,
                 on_page: Callable[[SyncResult], None] | None = None,
                 metrics: HubMetrics | None = None) -> None:
        self.db, self.topology, self.connector, self.stream = db, topology, connector, stream
        self.metrics = metrics
        self.mapping = mapping_loader(stream.mapping)
        self.schemas = schemas or registry()
        self.type = (getattr(stream, "event_type", None)  # a stream may declare its full event type
                     or f"src.{connector.system}.{stream.entity}.{stream.event}.v{_major(self.mapping.target)}")
        self.on_page = on_page

    def run(self) -> SyncResult:
        """Sync everything changed since the stored checkpoint."""
        if self.metrics is None:
            return self._run()
        started, outcome = time.monotonic(), "fatal_error"
        try:
            result = self._run()
            outcome = "success"
            return result
        except Exception as exc:
            outcome = "retriable_error" if is_retriable(exc) else "fatal_error"
            raise
        finally:
            elapsed = time.monotonic() - started
            self.metrics.sync_finished(self.connector.name, self.stream.name, outcome, elapsed)

    def _run(self) -> SyncResult:
        result = SyncResult(self.connector.name, self.stream.name)
        with self.db.transaction() as session:
            cursor = state.load_cursor(session, self.connector.name, self.stream.name)
        for page in self.stream.read(cursor):
            self._commit(page, result)
            if self.on_page:
                self.on_page(result)
        with self.db.transaction() as session:
            state.mark_success(session, self.connector.name, self.stream.name)
        log.info("sync %s/%s: received %d, published %d, dead-lettered %d", result.connector, result.stream,
                 result.received, result.published, result.dead_lettered)
        return result

    def _commit(self, page: Page, result: SyncResult) -> None:
        events: list[dict[str, Any]] = []  # outbox rows, serialised here so one record cannot fail the page
        letters: list[DeadLetter] = []
        for record in page.records:
            try:
                events.append(outbox.event_row(self.to_event(record), self.topology.events.name))
            except RecordError as exc:
                letters.append(self._dead_letter(record.raw, exc))
            except orjson.JSONEncodeError:  # valid by the schema, but JSON cannot carry it (an integer > 64 bits)
                letters.append(self._dead_letter(record.raw, RecordError(UNSERIALISABLE)))
        for raw, reason in page.rejected:
            letters.append(DeadLetter(raw, "record_invalid", reason, origin=self._origin(),
                                      original_routing_key=self.type))
        with self.db.transaction() as session:
            outbox.add_rows(session, events)
            outbox.add_dead_letters(session, letters, self.topology)
            state.save_cursor(session, self.connector.name, self.stream.name, page.cursor,
                              len(page.records) + len(page.rejected))
        result.pages += 1
        result.received += len(page.records) + len(page.rejected)
        result.published += len(events)
        for letter in letters:
            result.add_dead(letter.reason)
        if self.metrics is not None:
            received = len(page.records) + len(page.rejected)
            self.metrics.sync_page(self.connector.name, self.stream.name, self.type, received, len(events),
                                   [x.reason for x in letters])

    def to_event(self, record: SourceRecord) -> CanonicalEvent:
        """Map and validate one record into its canonical event."""
        data = self.mapping.apply(record.payload)
        self.schemas.validate(self.mapping.target, data)
        return make_event(
            system=self.connector.system, entity=self.stream.entity, type=self.type, key=record.key,
            version=record.version, data=data, dataschema=schema_id(self.mapping.target),
            mappingversion=self.mapping.version,
        )

    def _dead_letter(self, raw: bytes, exc: RecordError) -> DeadLetter:
        error = str(exc) + (f" (rule {exc.rule})" if exc.rule else "")
        return DeadLetter(raw, exc.reason, error, origin=self._origin(), original_routing_key=self.type)

    def _origin(self) -> str:
        return f"{self.connector.name}/{self.stream.name} mapping {self.mapping.name}@{self.mapping.version}"


def _major(target: str) -> str:
    """`customer/customer.v1` → `1`: the event type's version follows the schema's major version."""
    return target.rsplit(".v", 1)[-1]


def sync_stream(db: Database, topology: Topology, connector: Connector, stream_name: str,
                **options: object) -> SyncResult:
    """Sync one stream of a connector (convenience for the CLI, DAGs and tests)."""
    return StreamSync(db, topology, connector, connector.stream(stream_name), **options).run()  # type: ignore[arg-type]
