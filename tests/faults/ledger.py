"""The ledger of a fault scenario: what each source produced, and what became of every event.

It is filled from real data, never from what the test meant to happen: outbox rows, messages
drained from a queue, the deliveries a consumer took, the consumers' effect tables. Then it is
judged: nothing lost, no gap in any source's sequence, no effect applied twice.

    ledger = Ledger(subject_number("AR-"))
    ledger.expect_events(events)           # what the source produced, numbered per source
    ledger.read_outbox(db)                 # written to the outbox, and each publish outcome
    ledger.drain_queue(bus_url, queue)     # what the broker holds for the subscriber
    ledger.read_inbox(db, "crm")           # effects applied
    ledger.assert_clean()

A source is a CloudEvents `source` (or a connector stream, or an IoT device); its sequence numbers
start at 1 in the order the source produced its records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pika
from sqlalchemy import select

from hub.core.consumer import Consumer
from hub.core.db import Database
from hub.core.errors import RecordError
from hub.core.events import CanonicalEvent, parse_event
from hub.core.models import InboxMessage, OutboxRow, ProcessedEvent
from tests.integration.test_bus import receivable_event

Sequencer = Callable[[CanonicalEvent], tuple[str, int]]

# The best publish outcome of an event wins when the outbox holds it more than once.
_RANK = {"pending": 0, "refused": 1, "dead": 2, "sent": 3}


@dataclass
class Entry:
    """One event of one source and what became of it."""

    source: str
    seq: int
    event_id: str | None = None
    produced: bool = False
    written: int = 0             # outbox rows
    publish: str | None = None   # sent | refused (tried, not confirmed) | pending (not tried) | dead
    received: int = 0            # deliveries taken from the broker
    applied: int = 0             # effects in the consumer's tables

    @property
    def delivered(self) -> bool:
        """The broker handed it over (or its effect is there)."""
        return self.received > 0 or self.applied > 0

    @property
    def pending(self) -> bool:
        """Not delivered, but still waiting in the outbox for the relay."""
        return not self.delivered and self.publish in ("pending", "refused")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The counts a clean scenario has at zero (`pending` too, once the outbox is drained)."""

    produced: int
    delivered: int
    pending: int
    lost: int
    gaps: int
    applied_twice: int
    unexpected: int

    @property
    def clean(self) -> bool:
        """Nothing lost, no gap, no double effect, nothing nobody produced."""
        return self.lost == self.gaps == self.applied_twice == self.unexpected == 0


class Ledger:
    """Events keyed by (source, sequence), with their outcomes from outbox, broker and effects."""

    def __init__(self, sequence: Sequencer | None = None) -> None:
        self.sequence = sequence
        self.entries: dict[tuple[str, int], Entry] = {}
        self._by_id: dict[str, Entry] = {}
        self.unreadable = 0  # deliveries that were not events at all

    # -- what the sources produced ------------------------------------------------------------

    def expect(self, source: str, seq: int, event_id: str | None = None) -> Entry:
        """A source produced its `seq`-th record (event id known or not yet)."""
        entry = self.entry(source, seq, event_id)
        entry.produced = True
        return entry

    def expect_events(self, events: Iterable[CanonicalEvent]) -> None:
        """Events a test made itself, numbered by the sequencer."""
        for event in events:
            self.expect(*self._key(event), event.id)

    def expect_records(self, source: str, count: int) -> None:
        """The first `count` records of a source, whose event ids come with their first sighting."""
        for seq in range(1, count + 1):
            self.expect(source, seq)

    # -- what was observed --------------------------------------------------------------------

    def entry(self, source: str, seq: int, event_id: str | None = None) -> Entry:
        """The entry of (source, seq), created on first sight; remembers the event id."""
        entry = self.entries.setdefault((source, seq), Entry(source, seq))
        if event_id is not None:
            entry.event_id = entry.event_id or event_id
            self._by_id[event_id] = entry
        return entry

    def of_event(self, event: CanonicalEvent) -> Entry:
        """The entry an event belongs to."""
        return self.entry(*self._key(event), event.id)

    def of_id(self, event_id: str) -> Entry | None:
        """The entry of an event id already seen (produced, in the outbox or delivered)."""
        return self._by_id.get(event_id)

    def written(self, event: CanonicalEvent, status: str, attempts: int = 0) -> None:
        """One outbox row of the event: `pending` rows that were tried count as refused."""
        entry = self.of_event(event)
        entry.written += 1
        outcome = "refused" if status == "pending" and attempts > 0 else status
        if entry.publish is None or _RANK.get(outcome, -1) > _RANK.get(entry.publish, -1):
            entry.publish = outcome

    def receive(self, body: bytes) -> Entry | None:
        """One delivery from the broker (None when the body is no event)."""
        try:
            event = parse_event(body)
        except RecordError:
            self.unreadable += 1
            return None
        entry = self.of_event(event)
        entry.received += 1
        return entry

    def applied(self, event_id: str, times: int = 1) -> None:
        """An effect of an event id; an id nobody produced is kept under the source `?`."""
        entry = self.of_id(event_id) or self.entry("?", len(self.entries) + 1, event_id)
        entry.applied += times

    # -- filled from real data ----------------------------------------------------------------

    def read_outbox(self, db: Database) -> int:
        """Every event row of the outbox with its status (replaces an earlier reading); returns how many."""
        for entry in self.entries.values():
            entry.written, entry.publish = 0, None
        with db.reading() as session:
            rows = list(session.execute(select(OutboxRow.body, OutboxRow.status, OutboxRow.attempts)
                                        .where(OutboxRow.message_type != "hub.deadletter")))
        for body, status, attempts in rows:
            self.written(parse_event(body), status, attempts)
        return len(rows)

    def drain_queue(self, amqp_url: str, queue: str) -> int:
        """Take every message from a queue (basic_get until empty); returns how many."""
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel, taken = connection.channel(), 0
            while True:
                method, _props, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return taken
                self.receive(body)
                taken += 1
        finally:
            connection.close()

    def read_inbox(self, db: Database, consumer: str) -> int:
        """Effects from `hub_inbox`, one row per application so doubles show (read once); how many."""
        with db.reading() as session:
            query = select(InboxMessage.event_id).where(InboxMessage.consumer == consumer)
            ids = list(session.scalars(query))
        self._apply_all(ids)
        return len(ids)

    def read_processed(self, db: Database, consumer: str) -> int:
        """Effects from a consumer's processed ids, when it has no table of its own (read once); how many."""
        with db.reading() as session:
            query = select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == consumer)
            ids = list(session.scalars(query))
        self._apply_all(ids)
        return len(ids)

    def _apply_all(self, ids: Iterable[str]) -> None:
        for event_id, times in Counter(ids).items():
            self.applied(event_id, times)

    # -- judgement ----------------------------------------------------------------------------

    def verdict(self) -> Verdict:
        """Counts of produced, delivered, pending, lost, sequence gaps, double effects, strangers."""
        produced = [e for e in self.entries.values() if e.produced]
        return Verdict(
            produced=len(produced),
            delivered=sum(e.delivered for e in produced),
            pending=sum(e.pending for e in produced),
            lost=len(self._lost()),
            gaps=sum(len(missing) for missing in self.gaps().values()),
            applied_twice=len(self._twice()),
            unexpected=len(self._unexpected()),
        )

    def gaps(self) -> dict[str, list[int]]:
        """Per source: sequence numbers between 1 and the highest delivered that were not delivered."""
        delivered: dict[str, set[int]] = {}
        for entry in self.entries.values():
            if entry.delivered and entry.produced:
                delivered.setdefault(entry.source, set()).add(entry.seq)
        out = {source: sorted(set(range(1, max(seqs) + 1)) - seqs) for source, seqs in delivered.items()}
        return {source: missing for source, missing in out.items() if missing}

    def assert_clean(self, allow_pending: bool = False) -> Verdict:
        """Fail with a per-source report unless nothing is lost, missing, doubled (or still pending)."""
        verdict = self.verdict()
        if not verdict.clean or (verdict.pending and not allow_pending):
            raise AssertionError(self.report())
        return verdict

    def report(self) -> str:
        """The verdict, then per source what is lost, missing, doubled or pending."""
        v = self.verdict()
        lines = [f"ledger: produced={v.produced} delivered={v.delivered} pending={v.pending} lost={v.lost} "
                 f"gaps={v.gaps} applied_twice={v.applied_twice} unexpected={v.unexpected} "
                 f"unreadable={self.unreadable}"]
        gaps = self.gaps()
        for source in sorted({e.source for e in self.entries.values()}):
            entries = [e for e in self.entries.values() if e.source == source]
            problems = {
                "lost": [e for e in self._lost() if e.source == source],
                "applied twice": [e for e in self._twice() if e.source == source],
                "pending": [e for e in entries if e.produced and e.pending],
                "never produced": [e for e in self._unexpected() if e.source == source],
            }
            lines.append(f"  {source}: {sum(e.produced for e in entries)} produced, "
                         f"{sum(e.delivered for e in entries if e.produced)} delivered")
            if source in gaps:
                lines.append(f"    sequence gaps: {spans(gaps[source])}")
            for what, found in problems.items():
                if found:
                    lines.append(f"    {what}: seq {spans([e.seq for e in found])}; {_ids(found)}")
        return "\n".join(lines)

    def _lost(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.produced and not e.delivered and not e.pending]

    def _twice(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.applied > 1]

    def _unexpected(self) -> list[Entry]:
        return [e for e in self.entries.values() if not e.produced and e.delivered]

    def _key(self, event: CanonicalEvent) -> tuple[str, int]:
        if self.sequence is None:
            raise ValueError("this ledger has no sequencer for events")
        return self.sequence(event)


class RecordingConsumer(Consumer):
    """A consumer that enters every delivery it takes into a ledger, duplicates included."""

    def __init__(self, *args: Any, ledger: Ledger, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = ledger

    def _parse(self, delivery: Any) -> None:
        self.ledger.receive(delivery.body)
        super()._parse(delivery)


# -- sources and their sequences --------------------------------------------------------------


def receivables(count: int) -> tuple[list[CanonicalEvent], Ledger]:
    """`count` test events of one source (/hub/erp, subjects AR-0, AR-1...) and a ledger expecting them."""
    events = [receivable_event(n) for n in range(count)]
    ledger = Ledger(subject_number("AR-"))
    ledger.expect_events(events)
    return events, ledger


def subject_number(prefix: str, first: int = 0) -> Sequencer:
    """(source, n) for subjects `<prefix><n>` numbered from `first` (tests' own events); 0 for others."""
    def sequence(event: CanonicalEvent) -> tuple[str, int]:
        number = event.subject.removeprefix(prefix)
        return event.source, int(number) - first + 1 if number.isdigit() else 0
    return sequence


def key_order(keys: Sequence[str]) -> Sequencer:
    """(source, position) of the event's subject in the source's own record order."""
    position = {key: seq for seq, key in enumerate(keys, start=1)}

    def sequence(event: CanonicalEvent) -> tuple[str, int]:
        return event.source, position.get(event.subject, 0)
    return sequence


def change_order(rows: Mapping[str, Mapping[str, Any]], version_field: str = "FModifyDate") -> list[str]:
    """Keys of source rows in the order the source changed them: (version, key), as it is read."""
    return sorted(rows, key=lambda key: (str(rows[key][version_field]), key))


def spans(numbers: Iterable[int]) -> str:
    """`1-3, 7, 9-10`: sequence numbers, compactly."""
    out: list[str] = []
    for n in sorted(set(numbers)):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def _ids(entries: Sequence[Entry], limit: int = 5) -> str:
    ids = [e.event_id or "id unknown" for e in entries[:limit]]
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    return "ids " + ", ".join(ids) + more
