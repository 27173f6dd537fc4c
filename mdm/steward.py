"""Steward operations: the API the steward web UI (and `hub mdm …`) calls.

    review_queue(session, entity, …)                      open pairs with their explanations
    merge(session, rules, left_golden_id, right_golden_id, actor, reason) -> MergeResult
    reject(session, rules, pair_id, actor, reason)        -> RejectResult   ("not a duplicate")
    unmerge(session, rules, golden_id, member, actor, reason) -> UnmergeResult
    recheck(session, rules, actor)                        the daily batch over the whole store

Each writes one audit row (actor, time, rule, score, before / after) and returns the events
to publish; the caller adds them to the outbox in the same transaction. A merge keeps the left
golden record: the right one's code becomes an alias of it and is never given out again. An
unmerge of a merged golden record restores the exact state before the merge (same golden id,
code, aliases, members and attributes; only `updated_at` moves on, so consumers take it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.core.errors import MdmError
from hub.core.events import CanonicalEvent
from mdm.engine import build_dataset, dedupe
from mdm.events import golden_event
from mdm.models import Audit, Code, Golden, Pair, SourceRecord
from mdm.rules import Rules
from mdm.store import (
    Candidate,
    audit,
    create_golden,
    get_golden,
    members_of,
    now_iso,
    propose,
    refresh,
    score_against,
    snapshot,
)


@dataclass
class MergeResult:
    """The survivor, the golden record merged into it, the audit row and the events."""

    survivor_id: str
    merged_id: str
    audit_id: int
    events: list[CanonicalEvent] = field(default_factory=list)


@dataclass
class RejectResult:
    """The rejected pair and its audit row (no events: nothing changed for subscribers)."""

    pair_id: int
    audit_id: int
    events: list[CanonicalEvent] = field(default_factory=list)


@dataclass
class UnmergeResult:
    """The golden record that was split off (restored or new), the one it left, and the events."""

    golden_id: str
    restored_id: str
    audit_id: int
    events: list[CanonicalEvent] = field(default_factory=list)


@dataclass
class ReviewItem:
    """One open pair for the steward: both records, their golden records, score and explanation."""

    pair_id: int
    score: float
    left: dict[str, Any]
    right: dict[str, Any]
    explanation: dict[str, Any]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pair_between(session: Session, entity: str, left_id: str, right_id: str) -> Pair | None:
    """The best open pair whose records lie in the two golden records."""
    left = select(SourceRecord.id).where(SourceRecord.golden_id == left_id)
    right = select(SourceRecord.id).where(SourceRecord.golden_id == right_id)
    query = select(Pair).where(Pair.entity == entity, Pair.status.in_(("open", "rejected")), (
        (Pair.left_record_id.in_(left) & Pair.right_record_id.in_(right))
        | (Pair.left_record_id.in_(right) & Pair.right_record_id.in_(left)))).order_by(Pair.score.desc())
    return session.scalars(query).first()


def _lock(session: Session, *golden_ids: str) -> None:
    """Lock the golden rows an operation changes, always in the same order (no deadlock between two
    stewards), and re-read them: a concurrent merge of the same records waits, then sees the result."""
    for golden_id in sorted(set(golden_ids)):
        session.get(Golden, golden_id, with_for_update=True, populate_existing=True)


def merge(session: Session, rules: Rules, left_golden_id: str, right_golden_id: str, actor: str,
          reason: str = "") -> MergeResult:
    """Merge the right golden record into the left one (the survivor keeps its id and code)."""
    if left_golden_id == right_golden_id:
        raise MdmError("cannot merge a golden record with itself", field="right_golden_id")
    _lock(session, left_golden_id, right_golden_id)
    survivor = get_golden(session, rules.entity, left_golden_id)
    merged = get_golden(session, rules.entity, right_golden_id)
    before = {"survivor": snapshot(session, survivor), "merged": snapshot(session, merged)}
    pair = _pair_between(session, rules.entity, left_golden_id, right_golden_id)
    session.execute(update(SourceRecord).where(SourceRecord.golden_id == merged.golden_id)
                    .values(golden_id=survivor.golden_id))
    session.execute(update(Code).where(Code.golden_id == merged.golden_id).values(golden_id=survivor.golden_id,
                                                                                  kind="alias"))
    merged.status, merged.merged_into = "merged", survivor.golden_id
    merged.data = {**merged.data, "updated_at": now_iso(merged.data.get("updated_at"))}
    survivor.data = {**survivor.data, "merged_from": sorted({*survivor.data.get("merged_from", []),
                                                             merged.golden_id})}
    session.flush()
    refresh(session, rules, survivor, force=True)
    if pair is not None:
        pair.status, pair.decided_at, pair.decided_by = "merged", _now(), actor
    row = audit(session, rules.entity, "merge", actor, survivor.golden_id, other=merged.golden_id,
                pair_id=pair.id if pair else None, rule=pair.rule if pair else "steward",
                score=pair.score if pair else None, reason=reason, before=before,
                after={"survivor": snapshot(session, survivor), "merged": snapshot(session, merged)})
    return MergeResult(survivor.golden_id, merged.golden_id, row.id,
                       [golden_event(rules.entity, "merged", survivor.data)])


def reject(session: Session, rules: Rules, pair_id: int, actor: str, reason: str = "") -> RejectResult:
    """Mark a proposed pair "not a duplicate"; it is remembered and never proposed again."""
    pair = session.get(Pair, pair_id)
    if pair is None or pair.entity != rules.entity:
        raise MdmError("no such candidate pair", field="pair_id")
    if pair.status not in ("open", "auto"):
        raise MdmError(f"the pair is already {pair.status}", field="pair_id")
    before = {"status": pair.status}
    pair.status, pair.decided_at, pair.decided_by = "rejected", _now(), actor
    left, right = session.get(SourceRecord, pair.left_record_id), session.get(SourceRecord, pair.right_record_id)
    row = audit(session, rules.entity, "reject", actor, left.golden_id if left else None,
                other=right.golden_id if right else None, pair_id=pair.id, rule=pair.rule, score=pair.score,
                reason=reason, before=before, after={"status": "rejected"})
    return RejectResult(pair.id, row.id)


def _merge_audit(session: Session, survivor_id: str, merged_id: str) -> Audit | None:
    query = select(Audit).where(Audit.operation == "merge", Audit.golden_id == survivor_id,
                                Audit.other_golden_id == merged_id, Audit.undone_by.is_(None))
    return session.scalars(query.order_by(Audit.id.desc())).first()


def _find_member(session: Session, entity: str, golden_id: str, member: str) -> SourceRecord | None:
    system, _, source_id = member.partition(":")
    query = select(SourceRecord).where(SourceRecord.entity == entity, SourceRecord.golden_id == golden_id,
                                       SourceRecord.source_system == system, SourceRecord.source_id == source_id)
    return session.scalars(query).first()


def unmerge(session: Session, rules: Rules, golden_id: str, member: str, actor: str,
            reason: str = "") -> UnmergeResult:
    """Undo a merge (`member` = the golden id merged in) or split one source record off (`system:source_id`)."""
    _lock(session, golden_id, *([member] if ":" not in member else []))
    survivor = get_golden(session, rules.entity, golden_id)
    merge_row = _merge_audit(session, golden_id, member)
    if merge_row is not None:
        return _undo_merge(session, rules, survivor, merge_row, actor, reason)
    record = _find_member(session, rules.entity, golden_id, member)
    if record is None:
        raise MdmError("neither a golden record merged into this one nor one of its source records", field="member")
    return _split(session, rules, survivor, record, actor, reason)


def _restore(golden: Golden, state: dict[str, Any], updated_at: str) -> None:
    golden.status, golden.merged_into, golden.code = state["status"], state["merged_into"], state["code"]
    golden.data = {**state["data"], "updated_at": updated_at}
    golden.version += 1


def _undo_merge(session: Session, rules: Rules, survivor: Golden, merge_row: Audit, actor: str,
                reason: str) -> UnmergeResult:
    before_merge = merge_row.before or {}
    merged = session.get(Golden, merge_row.other_golden_id)
    assert merged is not None
    before = {"survivor": snapshot(session, survivor), "merged": snapshot(session, merged)}
    old_merged, old_survivor = before_merge["merged"], before_merge["survivor"]
    session.execute(update(SourceRecord).where(SourceRecord.id.in_(old_merged["members"]))
                    .values(golden_id=merged.golden_id))
    for code, kind in old_merged["codes"]:
        session.execute(update(Code).where(Code.entity == rules.entity, Code.code == code)
                        .values(golden_id=merged.golden_id, kind=kind))
    _restore(merged, old_merged, now_iso(merged.data.get("updated_at")))
    if sorted(r.id for r in members_of(session, survivor.golden_id)) == sorted(old_survivor["members"]):
        _restore(survivor, old_survivor, now_iso(survivor.data.get("updated_at")))  # nothing joined since
    else:
        survivor.data = {**survivor.data, "merged_from": [g for g in survivor.data.get("merged_from", [])
                                                          if g != merged.golden_id]}
        refresh(session, rules, survivor, force=True)
    session.flush()
    row = audit(session, rules.entity, "unmerge", actor, survivor.golden_id, other=merged.golden_id,
                pair_id=merge_row.pair_id, rule=merge_row.rule, score=merge_row.score, reason=reason, before=before,
                after={"survivor": snapshot(session, survivor), "merged": snapshot(session, merged)})
    merge_row.undone_by = row.id
    unmerged = {**merged.data, "split_from": survivor.golden_id}
    return UnmergeResult(merged.golden_id, survivor.golden_id, row.id,
                         [golden_event(rules.entity, "unmerged", unmerged),
                          golden_event(rules.entity, "upserted", survivor.data)])


def _split(session: Session, rules: Rules, survivor: Golden, record: SourceRecord, actor: str,
           reason: str) -> UnmergeResult:
    if len(members_of(session, survivor.golden_id)) < 2:
        raise MdmError("the golden record has no other member to split from", field="member")
    before = snapshot(session, survivor)
    others = [r for r in members_of(session, survivor.golden_id) if r.id != record.id]
    split = create_golden(session, rules, [record], lineage={"split_from": survivor.golden_id})
    refresh(session, rules, survivor, force=True)
    for other in others:  # remember: these records are not the same entity
        found = score_against(rules, record.features, [(other.id, survivor.golden_id, other.features)])
        pair_id = propose(session, rules, record.id, found[0] if found else Candidate(other.id, "", 0, 0, False, {}),
                          status="rejected")
        pair = session.get(Pair, pair_id)
        if pair is not None:
            pair.status, pair.decided_at, pair.decided_by = "rejected", _now(), actor
    row = audit(session, rules.entity, "split", actor, survivor.golden_id, other=split.golden_id, reason=reason,
                before={"survivor": before}, after={"survivor": snapshot(session, survivor),
                                                    "split": snapshot(session, split)})
    return UnmergeResult(split.golden_id, survivor.golden_id, row.id,
                         [golden_event(rules.entity, "unmerged", split.data),
                          golden_event(rules.entity, "code_assigned", split.data),
                          golden_event(rules.entity, "upserted", survivor.data)])


def _record_view(session: Session, record_id: int) -> dict[str, Any]:
    row = session.get(SourceRecord, record_id)
    if row is None:
        return {}
    golden = session.get(Golden, row.golden_id)
    return {"record_id": row.id, "source_system": row.source_system, "source_id": row.source_id,
            "golden_id": row.golden_id, "code": golden.code if golden else None, "data": row.data}


def review_queue(session: Session, entity: str, *, min_score: float = 0.0, max_score: float = 1.0,
                 limit: int = 50, offset: int = 0) -> list[ReviewItem]:
    """Open pairs whose records are still in different golden records, best first."""
    query = (select(Pair).where(Pair.entity == entity, Pair.status == "open", Pair.score >= min_score,
                                Pair.score <= max_score).order_by(Pair.score.desc(), Pair.id))
    items = []
    for pair in session.scalars(query.offset(offset).limit(limit * 2)):
        left, right = _record_view(session, pair.left_record_id), _record_view(session, pair.right_record_id)
        if left.get("golden_id") and left.get("golden_id") != right.get("golden_id"):
            items.append(ReviewItem(pair.id, pair.score, left, right, pair.explanation))
    return items[:limit]


@dataclass
class RecheckResult:
    """What the batch re-check of the whole store found and did."""

    records: int
    proposed: int
    merged: int
    events: list[CanonicalEvent] = field(default_factory=list)


def recheck(session: Session, rules: Rules, actor: str = "mdm-recheck", *, auto_merge: bool = False) -> RecheckResult:
    """Match every stored record with every candidate (batch engine); propose or merge across golden records."""
    rows = session.execute(select(SourceRecord.id, SourceRecord.golden_id, SourceRecord.data)
                           .where(SourceRecord.entity == rules.entity).order_by(SourceRecord.id)).all()
    if len(rows) < 2:
        return RecheckResult(len(rows), 0, 0)
    data = build_dataset(rules, ((str(r.id), r.data) for r in rows))
    result = dedupe(rules, data, with_codes=False)
    pairs = result.pairs
    cross = np.flatnonzero((pairs.probability >= rules.review)
                           & (np.array([rows[i].golden_id for i in pairs.left.tolist()], dtype=object)
                              != np.array([rows[j].golden_id for j in pairs.right.tolist()], dtype=object)))
    out = RecheckResult(len(rows), 0, 0)
    for k in cross.tolist():
        i, j = int(pairs.left[k]), int(pairs.right[k])
        explanation = result.explain(rules, k)
        candidate = Candidate(rows[j].id, rows[j].golden_id, float(pairs.probability[k]), float(pairs.weight[k]),
                              False, explanation)
        pair_id = propose(session, rules, rows[i].id, candidate)
        out.proposed += 1
        if auto_merge and candidate.probability >= rules.auto:
            out.merged += _merge_if_open(session, rules, pair_id, actor, out)
    return out


def _merge_if_open(session: Session, rules: Rules, pair_id: int, actor: str, out: RecheckResult) -> int:
    pair = session.get(Pair, pair_id)
    if pair is None or pair.status != "open":
        return 0
    left, right = session.get(SourceRecord, pair.left_record_id), session.get(SourceRecord, pair.right_record_id)
    if left is None or right is None or left.golden_id == right.golden_id:
        return 0
    result = merge(session, rules, left.golden_id, right.golden_id, actor, "batch re-check")
    out.events += result.events
    return 1
