"""The MDM store: source records, cross-reference, golden records and codes, matched incrementally.

`upsert()` takes one canonical source record: an update of a known record refreshes its golden
record; a new one is matched against the store through its blocking keys (no full re-run),
then joins the golden record it matches (auto band), is proposed to the steward (review band)
or founds a golden record with a new code. Golden ids and codes never change because unrelated
data arrives. Every function works in the caller's session: the caller commits, together with
the events it writes to the outbox.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.core.errors import MdmError
from hub.core.events import CanonicalEvent, utc_iso
from mdm.blocking import record_keys
from mdm.codes import allocate, code_fields
from mdm.compare import explain, one_against
from mdm.events import golden_event
from mdm.features import all_features
from mdm.golden import build_golden
from mdm.models import Audit, BlockKey, Code, Golden, Pair, QualityIssue, SourceRecord
from mdm.models import Sequence as SequenceRow
from mdm.quality import consistency_key, inconsistent, record_findings
from mdm.rules import Rules
from mdm.survivorship import Member

SYSTEM_ACTOR = "mdm"


def now_iso(after: str | None = None) -> str:
    """Now in RFC 3339 UTC, strictly later than `after` (a golden record's versions always increase)."""
    moment = dt.datetime.now(dt.UTC)
    if after:
        previous = dt.datetime.fromisoformat(after)
        if moment <= previous:
            moment = previous + dt.timedelta(microseconds=1)
    return utc_iso(moment)


# -- codes --------------------------------------------------------------------------------------

def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


@dataclass
class DbSequencer:
    """Code counters in `mdm_sequence`: a row lock per scope makes concurrent writers take turns."""

    session: Session
    entity: str

    def next(self, scope: str) -> int:
        """The next number of a scope; never the same twice, also across processes."""
        ins = _insert(self.session)(SequenceRow).values(entity=self.entity, scope=scope, last_value=0)
        self.session.execute(ins.on_conflict_do_nothing())
        bump = (update(SequenceRow).where(SequenceRow.entity == self.entity, SequenceRow.scope == scope)
                .values(last_value=SequenceRow.last_value + 1).returning(SequenceRow.last_value))
        return int(self.session.execute(bump).scalar_one())

    def taken(self, code: str) -> bool:
        """True when the code was ever given out (aliases included)."""
        found = select(Code.code).where(Code.entity == self.entity, Code.code == code)
        return self.session.execute(found).first() is not None


def assign_code(session: Session, rules: Rules, golden: Mapping[str, Any]) -> str:
    """A new code for a golden record, from the template and the record's features."""
    features = all_features(rules, golden)
    return allocate(rules.code, code_fields(rules.code, [features]), DbSequencer(session, rules.entity))


# -- golden records -----------------------------------------------------------------------------

def members_of(session: Session, golden_id: str) -> list[SourceRecord]:
    """Source records of a golden record, in (system, id) order."""
    query = select(SourceRecord).where(SourceRecord.golden_id == golden_id)
    return sorted(session.scalars(query), key=lambda r: (r.source_system, r.source_id))


def aliases_of(session: Session, golden_id: str) -> list[str]:
    """Earlier codes that now resolve to this golden record."""
    query = select(Code.code).where(Code.golden_id == golden_id, Code.kind == "alias").order_by(Code.code)
    return list(session.scalars(query))


def _member(row: SourceRecord) -> Member:
    return Member(row.source_system, row.source_id, row.data, str(row.data.get("updated_at", "")))


def _flags(session: Session, rules: Rules, rows: Sequence[SourceRecord], golden_id: str) -> list[str]:
    """Record findings of the members plus consistency findings across them; stored per record."""
    found: dict[int, set[tuple[str, str]]] = {r.id: set(record_findings(rules.quality, r.data)) for r in rows}
    for spec in (s for s in rules.quality if s.get("kind") == "consistent"):
        groups: dict[str, list[SourceRecord]] = defaultdict(list)
        for row in rows:
            if consistency_key(spec, row.data):
                groups[consistency_key(spec, row.data)].append(row)
        for group in groups.values():
            if inconsistent(spec, [r.data for r in group]):
                for row in group:
                    found[row.id].add((spec["check"], spec["field"]))
    ids = [r.id for r in rows]
    session.execute(delete(QualityIssue).where(QualityIssue.record_id.in_(ids)))
    values = [{"record_id": rid, "check": c, "field": f, "entity": rules.entity, "golden_id": golden_id}
              for rid, issues in found.items() for c, f in sorted(issues)]
    if values:
        session.execute(insert(QualityIssue), values)
    return sorted({c for issues in found.values() for c, _ in issues})


def payload(session: Session, rules: Rules, golden: Golden, rows: Sequence[SourceRecord]) -> dict[str, Any]:
    """The golden record as published (schema mdm/golden_<entity>.v1), without updated_at."""
    data: dict[str, Any] = {"golden_id": golden.golden_id, "code": golden.code}
    data["aliases"] = aliases_of(session, golden.golden_id)
    data.update(build_golden(rules.entity, [_member(r) for r in rows], rules.survivorship))
    data["members"] = [{"source_system": r.source_system, "source_id": r.source_id} for r in rows]
    data["quality_flags"] = _flags(session, rules, rows, golden.golden_id)
    for lineage in ("merged_from", "split_from"):
        if golden.data.get(lineage):
            data[lineage] = golden.data[lineage]
    if "name" not in data:  # the schema requires a name; every source record has one
        data["name"] = rows[0].data.get("name", "") if rows else ""
    return data


def refresh(session: Session, rules: Rules, golden: Golden, *, force: bool = False) -> bool:
    """Recompute a golden record from its members; True (and a new version) when it changed."""
    rows = members_of(session, golden.golden_id)
    if not rows:
        return False
    data = payload(session, rules, golden, rows)
    old = {k: v for k, v in golden.data.items() if k != "updated_at"}
    if data == old and not force:
        return False
    data["updated_at"] = now_iso(golden.data.get("updated_at"))
    golden.data = data
    golden.version += 1
    golden.updated_at = dt.datetime.now(dt.UTC)
    return True


def create_golden(session: Session, rules: Rules, rows: Sequence[SourceRecord], *,
                  golden_id: str | None = None, lineage: Mapping[str, Any] | None = None) -> Golden:
    """A new golden record for some source records, with a new code."""
    golden_id = golden_id or str(uuid.uuid4())
    draft = build_golden(rules.entity, [_member(r) for r in rows], rules.survivorship)
    code = assign_code(session, rules, draft)
    golden = Golden(golden_id=golden_id, entity=rules.entity, code=code, status="active",
                    data=dict(lineage or {}), version=0)
    session.add(golden)
    session.add(Code(entity=rules.entity, code=code, golden_id=golden_id, kind="primary"))
    for row in rows:
        row.golden_id = golden_id
    session.flush()
    refresh(session, rules, golden, force=True)
    return golden


def get_golden(session: Session, entity: str, golden_id: str) -> Golden:
    """An active golden record; MdmError when unknown or merged away."""
    golden = session.get(Golden, golden_id)
    if golden is None or golden.entity != entity:
        raise MdmError("no such golden record", field="golden_id")
    if golden.status != "active":
        raise MdmError("the golden record was merged into another one", field="golden_id")
    return golden


def resolve_code(session: Session, entity: str, code: str) -> str | None:
    """The golden id a code (primary or alias) resolves to now."""
    row = session.get(Code, (entity, code))
    return row.golden_id if row else None


def xref(session: Session, entity: str, source_system: str, source_id: str) -> str | None:
    """Cross-reference: the golden id of a source record."""
    query = select(SourceRecord.golden_id).where(SourceRecord.entity == entity,
                                                 SourceRecord.source_system == source_system,
                                                 SourceRecord.source_id == source_id)
    return session.scalar(query)


# -- matching one record ------------------------------------------------------------------------

@dataclass
class Candidate:
    """A scored candidate record for a new record."""

    record_id: int
    golden_id: str
    probability: float
    weight: float
    veto: bool
    explanation: dict[str, Any]


def candidates(session: Session, rules: Rules, features: Mapping[str, str], *,
               exclude: int | None = None) -> list[Candidate]:
    """Records sharing a blocking key with `features`, scored against them (one cdist per field)."""
    keys = record_keys(rules, features)
    if not keys:
        return []
    ids_query = (select(BlockKey.record_id).where(BlockKey.entity == rules.entity, BlockKey.key.in_(keys))
                 .order_by(BlockKey.record_id.desc()).limit(rules.max_candidates * len(keys)))
    ids = sorted({i for i in session.scalars(ids_query) if i != exclude})
    if not ids:
        return []
    rows = session.execute(select(SourceRecord.id, SourceRecord.golden_id, SourceRecord.features)
                           .where(SourceRecord.id.in_(ids))).all()
    return score_against(rules, features, [(r.id, r.golden_id, r.features) for r in rows])


def score_against(rules: Rules, features: Mapping[str, str],
                  others: Sequence[tuple[int, str, Mapping[str, str]]]) -> list[Candidate]:
    """Score one record's features against candidates' features."""
    columns = {name: [o[2].get(name, "") for o in others] for name in rules.features}
    scores = one_against(rules, features, columns)
    return [Candidate(rid, gid, float(scores.probability[i]), float(scores.weight[i]), bool(scores.veto[i]),
                      explain(rules, scores, i)) for i, (rid, gid, _) in enumerate(others)]


@dataclass
class Decision:
    """Where a new record goes: a golden record to join, goldens to propose, those it must not join."""

    join: Candidate | None
    review: list[Candidate]


def decide(rules: Rules, found: Sequence[Candidate]) -> Decision:
    """Best candidate per golden record; join the auto band unless blocked or ambiguous."""
    best: dict[str, Candidate] = {}
    blocked: set[str] = set()
    for c in found:
        if c.veto or c.probability < rules.cannot_link:
            blocked.add(c.golden_id)  # no chaining: never join a golden with a member known to differ
        if c.golden_id not in best or c.weight > best[c.golden_id].weight:
            best[c.golden_id] = c
    ranked = sorted((c for g, c in best.items() if g not in blocked), key=lambda c: -c.weight)
    auto = [c for c in ranked if c.probability >= rules.auto]
    review = [c for c in ranked if rules.review <= c.probability < rules.auto]
    if len(auto) > 1 and auto[0].weight - auto[1].weight < rules.ambiguity_margin:
        return Decision(None, auto + review)  # as good a match for two golden records: the steward decides
    return Decision(auto[0] if auto else None, auto[1:] + review)


# -- upsert -------------------------------------------------------------------------------------

@dataclass
class UpsertResult:
    """What one source record did to the store, and the events to publish with it."""

    record_id: int
    golden_id: str
    decision: str  # new | auto | review | updated | unchanged | stale
    events: list[CanonicalEvent] = field(default_factory=list)
    proposed: list[int] = field(default_factory=list)  # pair ids put on the review queue


def _index(session: Session, rules: Rules, row: SourceRecord) -> None:
    session.execute(delete(BlockKey).where(BlockKey.entity == rules.entity, BlockKey.record_id == row.id))
    keys = [k[:255] for k in record_keys(rules, row.features)]
    if keys:
        session.execute(insert(BlockKey), [{"entity": rules.entity, "key": k, "record_id": row.id}
                                           for k in dict.fromkeys(keys)])


def _find(session: Session, entity: str, system: str, source_id: str) -> SourceRecord | None:
    query = select(SourceRecord).where(SourceRecord.entity == entity, SourceRecord.source_system == system,
                                       SourceRecord.source_id == source_id)
    return session.scalars(query).first()


def upsert(session: Session, rules: Rules, data: Mapping[str, Any], actor: str = SYSTEM_ACTOR) -> UpsertResult:
    """Apply one canonical source record (customer/customer.v1, product/product.v1, channel/channel.v1)."""
    system, source_id = str(data.get("source_system", "")), str(data.get("source_id", ""))
    if not system or not source_id:
        raise MdmError("a source record needs source_system and source_id", field="source_id")
    version = str(data.get("updated_at", ""))
    row = _find(session, rules.entity, system, source_id)
    if row is not None:
        return _update(session, rules, row, data, version)
    row = SourceRecord(entity=rules.entity, source_system=system, source_id=source_id, golden_id="",
                       data=dict(data), features=all_features(rules, data), source_version=version)
    session.add(row)
    session.flush()
    _index(session, rules, row)
    return _place(session, rules, row, actor)


def _update(session: Session, rules: Rules, row: SourceRecord, data: Mapping[str, Any], version: str) -> UpsertResult:
    if version and row.source_version and version <= row.source_version:
        return UpsertResult(row.id, row.golden_id, "stale")
    row.data, row.features, row.source_version = dict(data), all_features(rules, data), version
    row.updated_at = dt.datetime.now(dt.UTC)
    _index(session, rules, row)
    golden = get_golden(session, rules.entity, row.golden_id)
    if not refresh(session, rules, golden):
        return UpsertResult(row.id, row.golden_id, "unchanged")
    return UpsertResult(row.id, row.golden_id, "updated", [golden_event(rules.entity, "upserted", golden.data)])


def _place(session: Session, rules: Rules, row: SourceRecord, actor: str) -> UpsertResult:
    found = candidates(session, rules, row.features, exclude=row.id)
    decision = decide(rules, found)
    proposed = [propose(session, rules, row.id, c) for c in decision.review]
    if decision.join is not None:
        return _join(session, rules, row, decision.join, actor, proposed)
    golden = create_golden(session, rules, [row])
    audit(session, rules.entity, "create", actor, golden.golden_id, after=snapshot(session, golden))
    events = [golden_event(rules.entity, "upserted", golden.data),
              golden_event(rules.entity, "code_assigned", golden.data)]
    return UpsertResult(row.id, golden.golden_id, "review" if proposed else "new", events, proposed)


def _join(session: Session, rules: Rules, row: SourceRecord, best: Candidate, actor: str,
          proposed: list[int]) -> UpsertResult:
    golden = get_golden(session, rules.entity, best.golden_id)
    before = snapshot(session, golden)
    row.golden_id = golden.golden_id
    session.flush()
    refresh(session, rules, golden, force=True)
    pair_id = propose(session, rules, row.id, best, status="auto")
    audit(session, rules.entity, "auto_match", actor, golden.golden_id, pair_id=pair_id,
          rule=best.explanation.get("rule"), score=best.probability, before=before, after=snapshot(session, golden))
    return UpsertResult(row.id, golden.golden_id, "auto", [golden_event(rules.entity, "upserted", golden.data)],
                        proposed)


def propose(session: Session, rules: Rules, record_id: int, c: Candidate, status: str = "open") -> int:
    """Store a scored pair (with its explanation); a pair a steward rejected stays rejected."""
    left, right = sorted((record_id, c.record_id))
    existing = session.scalars(select(Pair).where(Pair.entity == rules.entity, Pair.left_record_id == left,
                                                  Pair.right_record_id == right)).first()
    if existing is not None:
        if existing.status not in ("rejected", "merged"):
            existing.score, existing.explanation, existing.status = c.probability, c.explanation, status
        return existing.id
    pair = Pair(entity=rules.entity, left_record_id=left, right_record_id=right, score=c.probability,
                band=rules.band(c.probability), status=status, rule=str(c.explanation.get("rule", "")),
                explanation=c.explanation)
    session.add(pair)
    session.flush()
    return pair.id


# -- snapshots and audit ------------------------------------------------------------------------

def snapshot(session: Session, golden: Golden) -> dict[str, Any]:
    """Everything needed to restore a golden record exactly: row, data, members, codes."""
    codes = session.execute(select(Code.code, Code.kind).where(Code.golden_id == golden.golden_id)).all()
    return {
        "golden_id": golden.golden_id, "code": golden.code, "status": golden.status,
        "merged_into": golden.merged_into, "version": golden.version, "data": golden.data,
        "members": [r.id for r in members_of(session, golden.golden_id)],
        "codes": sorted([c.code, c.kind] for c in codes),
    }


def audit(session: Session, entity: str, operation: str, actor: str, golden_id: str | None, *,
          other: str | None = None, pair_id: int | None = None, rule: str | None = None,
          score: float | None = None, reason: str | None = None, before: Any = None, after: Any = None) -> Audit:
    """Write one audit row."""
    row = Audit(entity=entity, operation=operation, actor=actor, golden_id=golden_id, other_golden_id=other,
                pair_id=pair_id, rule=rule, score=score, reason=reason, before=before, after=after)
    session.add(row)
    session.flush()
    return row


def upsert_many(session: Session, rules: Rules, records: Iterable[Mapping[str, Any]],
                actor: str = SYSTEM_ACTOR) -> list[UpsertResult]:
    """Upsert records one after another in the same session (each sees the ones before it)."""
    return [upsert(session, rules, record, actor) for record in records]


def quality_summary(session: Session, entity: str) -> dict[str, int]:
    """Records per data-quality finding (for metrics and `hub mdm quality`)."""
    query = (select(QualityIssue.check, func.count()).where(QualityIssue.entity == entity)
             .group_by(QualityIssue.check).order_by(func.count().desc()))
    return {check: int(count) for check, count in session.execute(query)}
