"""The steward's decisions, each one transaction: the MDM operation (its audit row names the actor)
and its events in the outbox commit together or not at all.

    merge_pair(db, topology, pair_id, actor)            "same company": the pair's golden records merge
    reject_pair(db, topology, pair_id, actor)           "not a duplicate": never proposed again
    split_member(db, topology, golden_id, record_id, actor)     one source record leaves its golden record
    undo_merge(db, topology, golden_id, merged_id, actor)       a merge is undone exactly

Nothing here writes MDM tables itself: `mdm.steward` does. The pair or golden row is read with
FOR UPDATE first (PostgreSQL), so two stewards deciding the same pair take turns and the second
one is told it was decided already.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from hub.app.steward_queries import members, survivor_of
from hub.core.db import Database
from hub.core.errors import MdmError
from hub.core.outbox import add_events
from hub.core.topology import Topology
from mdm import steward
from mdm.models import Golden, Pair, SourceRecord
from mdm.rules import Rules, load_rules

log = logging.getLogger(__name__)
RulesFor = Callable[[str], Rules]


@dataclass(frozen=True)
class Done:
    """What a decision did: the golden record to show next, the other one, its audit row and events."""

    operation: str  # merge | reject | split | unmerge
    golden_id: str
    other_id: str | None
    audit_id: int
    events: int
    pair_id: int | None = None


def _open_pair(session: Session, pair_id: int) -> tuple[Pair, SourceRecord, SourceRecord]:
    pair = session.get(Pair, pair_id, with_for_update=True)
    if pair is None:
        raise MdmError("no such candidate pair", field="pair_id")
    if pair.status != "open":
        raise MdmError(f"the pair was already decided ({pair.status})", field="pair_id")
    left, right = session.get(SourceRecord, pair.left_record_id), session.get(SourceRecord, pair.right_record_id)
    if left is None or right is None:
        raise MdmError("a record of the pair no longer exists", field="pair_id")
    if left.golden_id == right.golden_id:
        raise MdmError("both records are already in the same golden record", field="pair_id")
    return pair, left, right


def merge_pair(db: Database, topology: Topology, pair_id: int, actor: str, reason: str = "",
               rules_for: RulesFor = load_rules) -> Done:
    """Merge the golden records of an open pair (the one with more members keeps its code)."""
    with db.transaction() as session:
        pair, left, right = _open_pair(session, pair_id)
        lg, rg = session.get(Golden, left.golden_id), session.get(Golden, right.golden_id)
        counts = {g: len(members(session, g)) for g in (left.golden_id, right.golden_id)}
        survivor, absorbed = survivor_of(lg, rg, counts)
        result = steward.merge(session, rules_for(pair.entity), survivor, absorbed, actor, reason)
        sent = add_events(session, result.events, topology)
    log.info("steward: pair %s merged by %s (audit %s)", pair_id, actor, result.audit_id)
    return Done("merge", result.survivor_id, result.merged_id, result.audit_id, sent, pair_id)


def reject_pair(db: Database, topology: Topology, pair_id: int, actor: str, reason: str = "",
                rules_for: RulesFor = load_rules) -> Done:
    """Mark an open pair "not a duplicate"."""
    with db.transaction() as session:
        pair, left, right = _open_pair(session, pair_id)
        result = steward.reject(session, rules_for(pair.entity), pair_id, actor, reason)
        sent = add_events(session, result.events, topology)
    log.info("steward: pair %s rejected by %s (audit %s)", pair_id, actor, result.audit_id)
    return Done("reject", left.golden_id, right.golden_id, result.audit_id, sent, pair_id)


def _active(session: Session, golden_id: str) -> Golden:
    golden = session.get(Golden, golden_id, with_for_update=True)
    if golden is None:
        raise MdmError("no such golden record", field="golden_id")
    if golden.status != "active":
        raise MdmError("the golden record was merged into another one", field="golden_id")
    return golden


def split_member(db: Database, topology: Topology, golden_id: str, record_id: int, actor: str, reason: str = "",
                 rules_for: RulesFor = load_rules) -> Done:
    """Take one source record out of its golden record into a new one (with a new code)."""
    with db.transaction() as session:
        golden = _active(session, golden_id)
        record = session.get(SourceRecord, record_id)
        if record is None or record.golden_id != golden_id:
            raise MdmError("the record is not a member of this golden record", field="record_id")
        member = f"{record.source_system}:{record.source_id}"
        result = steward.unmerge(session, rules_for(golden.entity), golden_id, member, actor, reason)
        sent = add_events(session, result.events, topology)
    log.info("steward: a record split off a golden record by %s (audit %s)", actor, result.audit_id)
    return Done("split", result.restored_id, result.golden_id, result.audit_id, sent)


def undo_merge(db: Database, topology: Topology, golden_id: str, merged_id: str, actor: str, reason: str = "",
               rules_for: RulesFor = load_rules) -> Done:
    """Undo the merge of `merged_id` into `golden_id` (both come back as they were)."""
    with db.transaction() as session:
        golden = _active(session, golden_id)
        merged = session.get(Golden, merged_id)
        if merged is None or merged.merged_into != golden_id:
            raise MdmError("that golden record was not merged into this one", field="merged_id")
        result = steward.unmerge(session, rules_for(golden.entity), golden_id, merged_id, actor, reason)
        sent = add_events(session, result.events, topology)
    log.info("steward: a merge undone by %s (audit %s)", actor, result.audit_id)
    return Done("unmerge", result.restored_id, result.golden_id, result.audit_id, sent)
