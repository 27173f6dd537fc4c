"""A consumer dies after its effect committed but before the ack; the message comes three times.

The ledger afterwards (events numbered per source, deliveries as the consumers took them, effects
from the inbox table): each event's effect applied exactly once, none lost, no gap.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.core import outbox
from hub.core.db import Database
from hub.core.models import InboxMessage
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings
from hub.core.topology import apply, build_topology
from tests.faults.ledger import RecordingConsumer, receivables
from tests.integration.test_bus import crm_queue, inbox_handler, publish_raw

pytestmark = [pytest.mark.integration]


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class DiesBeforeAck(RecordingConsumer):
    """Commits the batch's effects, then dies before acknowledging anything."""

    def _settle(self, channel, dead, batch):  # type: ignore[no-untyped-def]
        raise Killed()


def effects(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        rows = session.execute(select(InboxMessage.subject, func.count()).group_by(InboxMessage.subject)).all()
    return {subject: int(count) for subject, count in rows}


@pytest.mark.timeout(60)
def test_effect_applies_once_when_killed_before_ack_and_delivered_three_times(
        db: Database, hub_settings: HubSettings) -> None:
    topology = build_topology(hub_settings.bus)
    apply(hub_settings.bus, topology)
    events, ledger = receivables(10)
    with db.transaction() as session:
        outbox.add_events(session, events, topology)
    with Publisher(hub_settings.bus) as publisher:
        outbox.Relay(db, publisher, topology).drain()
    queue = crm_queue(topology)

    with pytest.raises(Killed):
        DiesBeforeAck(hub_settings.bus, db, topology, queue, inbox_handler("crm"), ledger=ledger).run(
            idle_timeout_s=1)
    assert sum(effects(db).values()) == 10  # the effects committed; no ack reached the broker

    for _ in range(2):  # the producer's retries deliver the first event twice more
        publish_raw(hub_settings, topology, events[0].type, events[0].to_json())
    stats = RecordingConsumer(hub_settings.bus, db, topology, queue, inbox_handler("crm"), ledger=ledger).run(
        idle_timeout_s=1)
    assert stats.received == 12 and stats.applied == 0 and stats.deduplicated == 12
    assert effects(db) == {e.subject: 1 for e in events}
    assert ledger.of_event(events[0]).received == 4  # taken by the one that died, then three times more
    ledger.read_outbox(db)
    ledger.read_inbox(db, "crm")
    ledger.assert_clean()
