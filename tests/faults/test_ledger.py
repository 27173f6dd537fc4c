"""The fault ledger can fail: it sees a loss, a sequence gap and an effect applied twice."""

from __future__ import annotations

import pytest

from hub.core import outbox
from hub.core.db import Database
from hub.core.events import CanonicalEvent
from hub.core.models import InboxMessage, OutboxRow, ProcessedEvent
from hub.core.settings import load_settings
from hub.core.topology import build_topology
from tests.faults.ledger import Ledger, change_order, key_order, receivables, spans
from tests.integration.test_bus import receivable_event


def ledger_of(count: int) -> tuple[Ledger, list[CanonicalEvent]]:
    events, ledger = receivables(count)
    return ledger, events


def test_everything_delivered_once_is_clean() -> None:
    ledger, events = ledger_of(5)
    for event in events + events[:2]:  # redelivered copies are fine: received twice, applied once
        ledger.receive(event.to_json())
    for event in events:
        ledger.applied(event.id)
    verdict = ledger.assert_clean()
    assert (verdict.produced, verdict.delivered, verdict.lost, verdict.gaps) == (5, 5, 0, 0)


def test_a_lost_event_fails() -> None:
    ledger, events = ledger_of(5)
    for event in events[:4]:
        ledger.receive(event.to_json())
    verdict = ledger.verdict()
    assert (verdict.lost, verdict.gaps, verdict.applied_twice) == (1, 0, 0)  # the last one: no gap to see
    with pytest.raises(AssertionError, match=r"lost: seq 5; ids " + events[4].id):
        ledger.assert_clean()


def test_a_gap_fails_even_when_the_missing_event_is_still_pending() -> None:
    ledger, events = ledger_of(6)
    for event in events:
        ledger.written(event, "sent" if event is not events[2] else "pending", attempts=1)
    for event in events[:2] + events[3:]:
        ledger.receive(event.to_json())
    verdict = ledger.verdict()
    assert (verdict.lost, verdict.pending, verdict.gaps) == (0, 1, 1)
    with pytest.raises(AssertionError, match="sequence gaps: 3"):
        ledger.assert_clean(allow_pending=True)


def test_an_effect_applied_twice_fails() -> None:
    ledger, events = ledger_of(3)
    for event in events:
        ledger.applied(event.id)
    ledger.applied(events[1].id)
    verdict = ledger.verdict()
    assert (verdict.lost, verdict.gaps, verdict.applied_twice) == (0, 0, 1)
    with pytest.raises(AssertionError, match="applied twice: seq 2"):
        ledger.assert_clean()


def test_pending_is_not_lost_but_not_clean_either() -> None:
    ledger, events = ledger_of(2)
    ledger.written(events[0], "sent")
    ledger.written(events[1], "pending", attempts=2)  # the broker refused it; the relay will retry
    ledger.receive(events[0].to_json())
    assert ledger.entries[("/hub/erp", 2)].publish == "refused"
    assert ledger.assert_clean(allow_pending=True).pending == 1
    with pytest.raises(AssertionError, match="pending: seq 2"):
        ledger.assert_clean()


def test_an_effect_nobody_produced_fails() -> None:
    ledger, events = ledger_of(1)
    ledger.applied(events[0].id)
    ledger.applied("not-an-event-of-this-scenario")
    assert ledger.verdict().unexpected == 1
    with pytest.raises(AssertionError, match="never produced"):
        ledger.assert_clean()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_filled_from_the_outbox_and_the_effect_table(db: Database) -> None:
    topology = build_topology(load_settings().bus)
    ledger, events = ledger_of(4)
    with db.transaction() as session:
        outbox.add_events(session, events, topology)
        session.add_all([InboxMessage(consumer="crm", event_id=e.id, type=e.type, subject=e.subject)
                         for e in events[:3] + events[:1]])
    with db.transaction() as session:
        session.query(OutboxRow).filter(OutboxRow.event_id == events[3].id).update({"attempts": 1})
    assert ledger.read_outbox(db) == 4 and ledger.read_inbox(db, "crm") == 4
    verdict = ledger.verdict()
    assert (verdict.delivered, verdict.pending, verdict.applied_twice) == (3, 1, 1)
    assert ledger.entries[("/hub/erp", 4)].publish == "refused"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_filled_from_processed_ids(db: Database) -> None:
    ledger, events = ledger_of(3)
    with db.transaction() as session:
        session.add_all([ProcessedEvent(consumer="crm", event_id=e.id) for e in events[1:]])
    assert ledger.read_processed(db, "crm") == 2
    verdict = ledger.verdict()
    assert (verdict.delivered, verdict.lost, verdict.gaps) == (2, 1, 1)  # the first one never came


def test_source_record_order_gives_the_sequence() -> None:
    rows = {"C2": {"FModifyDate": "2026-01-01T00:00:00"}, "C1": {"FModifyDate": "2026-01-01T00:00:00"},
            "C0": {"FModifyDate": "2026-02-01T00:00:00"}}
    keys = change_order(rows)
    assert keys == ["C1", "C2", "C0"]
    event = receivable_event(0)
    assert key_order(["AR-1", "AR-0"])(event) == ("/hub/erp", 2)
    assert spans([9, 1, 2, 3, 7, 10]) == "1-3, 7, 9-10"
