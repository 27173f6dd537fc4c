"""Read-only queries of the steward pages over the MDM tables (every change goes through mdm.steward).

What `mdm.steward` does not offer and the pages need:

    review_page(session, filters, sla)   open pairs oldest first, filtered by entity, source, region,
                                         score and age, with counts per entity and overdue
    pair_view(session, rules, pair_id)   both records side by side, the golden record they would make
    golden_view(session, golden_id)      members, codes, quality findings, open pairs, full history
    search(session, entity, text)        by name (Chinese, traditional, pinyin, pinyin initials), code,
                                         credit code or phone
    overdue(session, sla)                pending reviews past their SLA, per entity

Nothing here writes: the functions run in `Database.reading()` sessions.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pypinyin import Style, lazy_pinyin
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from mdm.golden import build_golden
from mdm.models import Audit, Code, Golden, Pair, QualityIssue, SourceRecord
from mdm.normalize import clean, halfwidth, has_cjk, phone_e164, simplified, squash, uscc_compact
from mdm.rules import Rules
from mdm.survivorship import Member

ENTITIES = ("customer", "channel", "product")
META_FIELDS = frozenset({"source_system", "source_id", "updated_at", "created_at", "entity"})
FIELD_ORDER = ("name", "short_name", "name_en", "credit_code", "phone", "mobile", "contact_mobile", "email",
               "contacts", "address", "province", "city", "district", "region", "industry", "channel_type",
               "status", "model", "specification", "category", "brand", "base_unit", "lifecycle_state",
               "revision", "drawing_no", "attributes")
ADDRESS_ORDER = ("province", "city", "district", "street", "postal_code")
Sla = Callable[[str], float]  # entity → hours


def utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A database time as aware UTC (SQLite hands back naive UTC)."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def _feature(record: type[SourceRecord] | Any, name: str) -> ColumnElement[str]:
    """One feature of a record as text (JSON ->> on PostgreSQL, json_extract on SQLite)."""
    column: ColumnElement[str] = record.features[name].as_string()
    return column


# -- display helpers ----------------------------------------------------------------------------

def display(value: Any) -> str:
    """A field value as one line of text (addresses in postal order, contacts joined)."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        if any(k in value for k in ADDRESS_ORDER):
            return " ".join(str(value[k]) for k in ADDRESS_ORDER if value.get(k))
        return "; ".join(f"{k}: {display(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list | tuple):
        return "; ".join(display(v) for v in value if v not in (None, ""))
    return str(value)


def field_names(*records: Mapping[str, Any]) -> list[str]:
    """Every non-technical field of the records, the usual ones first."""
    present = {k for r in records for k, v in r.items() if k not in META_FIELDS and v not in (None, "", [], {})}
    known = [k for k in FIELD_ORDER if k in present]
    return known + sorted(present - set(known))


@dataclass(frozen=True)
class Segment:
    """A piece of a value; `changed` pieces are highlighted."""

    text: str
    changed: bool


@dataclass(frozen=True)
class FieldRow:
    """One field of two records side by side."""

    name: str
    left: tuple[Segment, ...]
    right: tuple[Segment, ...]
    status: str  # same | differ | left_only | right_only


def _segments(a: str, b: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """Both texts cut into equal and changed pieces (character diff)."""
    left: list[Segment] = []
    right: list[Segment] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append(Segment(a[i1:i2], op != "equal"))
        if j2 > j1:
            right.append(Segment(b[j1:j2], op != "equal"))
    return tuple(left), tuple(right)


def compare_fields(left: Mapping[str, Any], right: Mapping[str, Any]) -> list[FieldRow]:
    """The fields of two records, with what differs marked (width, script and case do not count)."""
    rows = []
    for name in field_names(left, right):
        a, b = display(left.get(name)), display(right.get(name))
        if not a or not b:
            status = "left_only" if a else "right_only"
            rows.append(FieldRow(name, (Segment(a, False),) if a else (), (Segment(b, False),) if b else (), status))
        elif clean(a) == clean(b):
            rows.append(FieldRow(name, (Segment(a, False),), (Segment(b, False),), "same"))
        else:
            segs_a, segs_b = _segments(a, b)
            rows.append(FieldRow(name, segs_a, segs_b, "differ"))
    return rows


# -- the review queue ---------------------------------------------------------------------------

@dataclass(frozen=True)
class QueueFilter:
    """What the steward narrowed the queue to (None: any)."""

    entity: str | None = None
    source: str | None = None
    region: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    overdue: bool = False

    def query_params(self) -> dict[str, str]:
        """The filter as URL parameters (no personal data: entity, system, region, scores)."""
        out = {"entity": self.entity, "source": self.source, "region": self.region,
               "min_score": _num(self.min_score), "max_score": _num(self.max_score),
               "overdue": "1" if self.overdue else None}
        return {k: v for k, v in out.items() if v}


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


@dataclass(frozen=True)
class RecordBrief:
    """A source record as the queue lists it."""

    record_id: int
    source_system: str
    source_id: str
    name: str
    golden_id: str
    region: str


@dataclass(frozen=True)
class QueueRow:
    """One open pair in the queue."""

    pair_id: int
    entity: str
    score: float
    rule: str
    created_at: dt.datetime
    left: RecordBrief
    right: RecordBrief
    overdue: bool


@dataclass
class QueuePage:
    """A page of the queue and the counts around it."""

    rows: list[QueueRow]
    total: int
    by_entity: dict[str, int]
    overdue: int
    sources: list[str]
    regions: list[str]


def _sides() -> tuple[Any, Any]:
    return aliased(SourceRecord, name="l"), aliased(SourceRecord, name="r")


def _older_than_sla(sla: Sla, at: dt.datetime) -> ColumnElement[bool]:
    """Pairs created longer ago than their entity's SLA."""
    known = [and_(Pair.entity == e, Pair.created_at < at - dt.timedelta(hours=sla(e))) for e in ENTITIES]
    other = and_(Pair.entity.notin_(ENTITIES), Pair.created_at < at - dt.timedelta(hours=sla("")))
    return or_(*known, other)


def _open_pairs(left: Any, right: Any) -> Any:
    """Open pairs whose records are still in different golden records (what mdm.steward.review_queue lists)."""
    return (select(Pair).join(left, left.id == Pair.left_record_id).join(right, right.id == Pair.right_record_id)
            .where(Pair.status == "open", left.golden_id != right.golden_id))


def _filtered(query: Any, left: Any, right: Any, f: QueueFilter, sla: Sla, at: dt.datetime,
              *, entity: bool = True) -> Any:
    if entity and f.entity:
        query = query.where(Pair.entity == f.entity)
    if f.source:
        query = query.where(or_(left.source_system == f.source, right.source_system == f.source))
    if f.region:
        query = query.where(or_(_feature(left, "region") == f.region, _feature(right, "region") == f.region))
    if f.min_score is not None:
        query = query.where(Pair.score >= f.min_score)
    if f.max_score is not None:
        query = query.where(Pair.score <= f.max_score)
    if f.overdue:
        query = query.where(_older_than_sla(sla, at))
    return query


def _brief(row: SourceRecord) -> RecordBrief:
    return RecordBrief(row.id, row.source_system, row.source_id, str(row.data.get("name") or ""), row.golden_id,
                       str(row.features.get("region") or ""))


def review_page(session: Session, f: QueueFilter, sla: Sla, *, limit: int = 50, offset: int = 0) -> QueuePage:
    """Open pairs oldest first under the filter, with counts per entity and of overdue pairs."""
    at = now()
    left, right = _sides()
    base = _filtered(_open_pairs(left, right), left, right, f, sla, at)
    rows = session.execute(base.add_columns(left, right).order_by(Pair.created_at, Pair.id)
                           .limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    counts = _filtered(_open_pairs(left, right), left, right, f, sla, at, entity=False).subquery()
    by_entity: dict[str, int] = {str(e): int(n) for e, n in session.execute(
        select(counts.c.entity, func.count()).group_by(counts.c.entity))}
    overdue_query = _filtered(_open_pairs(left, right), left, right, replace(f, overdue=True),
                              sla, at)
    overdue_count = session.scalar(select(func.count()).select_from(overdue_query.subquery())) or 0
    return QueuePage([_queue_row(p, lr, rr, sla, at) for p, lr, rr in rows], total, by_entity, overdue_count,
                     _sources(session, f.entity), _regions(session, f.entity))


def _queue_row(pair: Pair, left: SourceRecord, right: SourceRecord, sla: Sla, at: dt.datetime) -> QueueRow:
    created = utc(pair.created_at) or at
    return QueueRow(pair.id, pair.entity, pair.score, pair.rule, created, _brief(left), _brief(right),
                    created < at - dt.timedelta(hours=sla(pair.entity)))


def _sources(session: Session, entity: str | None) -> list[str]:
    query = select(SourceRecord.source_system).distinct().order_by(SourceRecord.source_system)
    if entity:
        query = query.where(SourceRecord.entity == entity)
    return [s for s in session.scalars(query) if s]


def _regions(session: Session, entity: str | None) -> list[str]:
    """Regions of records that are in open pairs (the values the region filter can take)."""
    left, right = _sides()
    found: set[str] = set()
    for side in (left, right):
        query = _open_pairs(left, right).with_only_columns(_feature(side, "region")).distinct()
        if entity:
            query = query.where(Pair.entity == entity)
        found.update(r for r in session.scalars(query) if r)
    return sorted(found)


def neighbour(session: Session, f: QueueFilter, sla: Sla, after: Pair | None) -> int | None:
    """The next open pair in queue order after `after` (or the first one), under the filter."""
    left, right = _sides()
    query = _filtered(_open_pairs(left, right), left, right, f, sla, now())
    if after is not None:
        query = query.where(Pair.id != after.id, or_(Pair.created_at > after.created_at,
                                                      and_(Pair.created_at == after.created_at, Pair.id > after.id)))
    found: int | None = session.scalar(query.with_only_columns(Pair.id).order_by(Pair.created_at, Pair.id).limit(1))
    return found


def first_open(session: Session, f: QueueFilter, sla: Sla, exclude: int | None = None) -> int | None:
    """The oldest open pair under the filter (other than `exclude`)."""
    left, right = _sides()
    query = _filtered(_open_pairs(left, right), left, right, f, sla, now())
    if exclude is not None:
        query = query.where(Pair.id != exclude)
    found: int | None = session.scalar(query.with_only_columns(Pair.id).order_by(Pair.created_at, Pair.id).limit(1))
    return found


# -- one pair -----------------------------------------------------------------------------------

@dataclass
class PairView:
    """A pair as the steward decides it."""

    pair: Pair
    left: SourceRecord
    right: SourceRecord
    left_golden: Golden | None
    right_golden: Golden | None
    rows: list[FieldRow]
    preview: dict[str, Any]
    preview_rows: list[tuple[str, str]]
    survivor: str  # golden id that keeps its code on a merge
    absorbed: str  # golden id whose code becomes an alias
    members: dict[str, int]  # golden id → number of source records
    explanation: dict[str, Any]

    @property
    def decidable(self) -> bool:
        """Open and still across two golden records."""
        return self.pair.status == "open" and self.left.golden_id != self.right.golden_id


def _member(row: SourceRecord) -> Member:
    return Member(row.source_system, row.source_id, row.data, str(row.data.get("updated_at", "")))


def members(session: Session, golden_id: str) -> list[SourceRecord]:
    """Source records of a golden record, by system and id."""
    query = select(SourceRecord).where(SourceRecord.golden_id == golden_id)
    return sorted(session.scalars(query), key=lambda r: (r.source_system, r.source_id))


def survivor_of(left: Golden | None, right: Golden | None, counts: Mapping[str, int]) -> tuple[str, str]:
    """Which golden record keeps its code: more members, then the older one, then the left one."""
    assert left is not None and right is not None

    def rank(g: Golden) -> tuple[int, float]:
        created = utc(g.created_at)
        return -counts.get(g.golden_id, 0), created.timestamp() if created else 0.0

    return (left.golden_id, right.golden_id) if rank(left) <= rank(right) else (right.golden_id, left.golden_id)


def pair_view(session: Session, rules: Rules | None, pair_id: int) -> PairView | None:
    """Both records of a pair, their differences, explanation and the golden record a merge would make."""
    pair = session.get(Pair, pair_id)
    if pair is None:
        return None
    left, right = session.get(SourceRecord, pair.left_record_id), session.get(SourceRecord, pair.right_record_id)
    if left is None or right is None:
        return None
    lg, rg = session.get(Golden, left.golden_id), session.get(Golden, right.golden_id)
    rows_l, rows_r = members(session, left.golden_id), members(session, right.golden_id)
    counts = {left.golden_id: len(rows_l), right.golden_id: len(rows_r)}
    preview: dict[str, Any] = {}
    if rules is not None and lg is not None and rg is not None:
        together = rows_l if left.golden_id == right.golden_id else rows_l + rows_r
        preview = build_golden(pair.entity, [_member(r) for r in together], rules.survivorship)
    survivor, absorbed = (survivor_of(lg, rg, counts) if lg is not None and rg is not None
                          else (left.golden_id, right.golden_id))
    return PairView(pair, left, right, lg, rg, compare_fields(left.data, right.data), preview,
                    [(k, display(preview[k])) for k in field_names(preview)], survivor, absorbed, counts,
                    dict(pair.explanation or {}))


# -- one golden record --------------------------------------------------------------------------

@dataclass
class MemberView:
    """A source record of a golden record and its quality findings."""

    record: SourceRecord
    issues: list[tuple[str, str]]


@dataclass
class GoldenView:
    """A golden record with everything a steward checks."""

    golden: Golden
    members: list[MemberView]
    aliases: list[str]
    flags: list[str]
    fields: list[tuple[str, str]]
    history: list[Audit]
    undoable: list[tuple[str, str]]  # (golden id merged in, its code) whose merge can be undone
    open_pairs: list[int]
    codes: dict[str, str] = field(default_factory=dict)  # golden id → code, for the history


def golden_view(session: Session, golden_id: str) -> GoldenView | None:
    """A golden record, its members (cross-reference), aliases, findings, open pairs and history."""
    golden = session.get(Golden, golden_id)
    if golden is None:
        return None
    rows = members(session, golden_id)
    issues: dict[int, list[tuple[str, str]]] = {r.id: [] for r in rows}
    for issue in session.scalars(select(QualityIssue).where(QualityIssue.golden_id == golden_id)):
        issues.setdefault(issue.record_id, []).append((issue.check, issue.field))
    aliases = list(session.scalars(select(Code.code).where(Code.golden_id == golden_id, Code.kind == "alias")
                                   .order_by(Code.code)))
    # The full history: this record's and that of every golden record merged into it.
    lineage = {golden_id, *(str(g) for g in golden.data.get("merged_from") or [])}
    history = list(session.scalars(select(Audit).where(or_(Audit.golden_id.in_(lineage),
                                                           Audit.other_golden_id.in_(lineage)))
                                   .order_by(Audit.id.desc()).limit(500)))
    undoable = _undoable(session, golden_id)
    others = {a.other_golden_id for a in history if a.other_golden_id} | {a.golden_id for a in history if a.golden_id}
    codes = dict(session.execute(select(Golden.golden_id, Golden.code).where(Golden.golden_id.in_(others))).all())
    data = {k: v for k, v in golden.data.items()
            if k not in ("golden_id", "code", "aliases", "members", "quality_flags", "updated_at", "merged_from",
                         "split_from")}
    return GoldenView(golden, [MemberView(r, sorted(issues.get(r.id, []))) for r in rows], aliases,
                      list(golden.data.get("quality_flags") or []), [(k, display(data[k])) for k in field_names(data)],
                      history, undoable, _pairs_of(session, [r.id for r in rows]), codes)


def _undoable(session: Session, golden_id: str) -> list[tuple[str, str]]:
    """Golden records merged into this one whose merge has not been undone."""
    query = (select(Audit.other_golden_id, Golden.code).join(Golden, Golden.golden_id == Audit.other_golden_id)
             .where(Audit.operation == "merge", Audit.golden_id == golden_id, Audit.undone_by.is_(None),
                    Golden.status == "merged", Golden.merged_into == golden_id).order_by(Audit.id.desc()))
    seen: dict[str, str] = {}
    for other, code in session.execute(query):
        if other:
            seen.setdefault(other, code)
    return list(seen.items())


def _pairs_of(session: Session, record_ids: Sequence[int]) -> list[int]:
    if not record_ids:
        return []
    query = (select(Pair.id).where(Pair.status == "open", or_(Pair.left_record_id.in_(record_ids),
                                                               Pair.right_record_id.in_(record_ids)))
             .order_by(Pair.created_at, Pair.id).limit(50))
    return list(session.scalars(query))


def active_golden(session: Session, golden_id: str) -> Golden | None:
    """The golden record, or the one it was merged into (followed a few steps)."""
    golden = session.get(Golden, golden_id)
    for _ in range(10):
        if golden is None or golden.status == "active" or not golden.merged_into:
            return golden
        golden = session.get(Golden, golden.merged_into)
    return golden


# -- search -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchHit:
    """A golden record found by a search, and what matched."""

    golden_id: str
    code: str
    name: str
    region: str
    members: int
    matched: str  # code | credit_code | phone | name | pinyin | initials


_DIGITS = re.compile(r"\D")
_PHONEISH = re.compile(r"^[\d\s()+\-—－/转xX.]+$")
_SCAN_BATCH = 5000


@functools.lru_cache(maxsize=200_000)
def pinyin_forms(name_norm: str) -> tuple[str, str]:
    """(full pinyin, pinyin initials) of a normalised name: 苏州华成机械 → (suzhouhuachengjixie, szhcjx)."""
    if not has_cjk(name_norm):
        return name_norm, ""
    full = "".join(lazy_pinyin(name_norm)).lower()
    initials = "".join(lazy_pinyin(name_norm, style=Style.FIRST_LETTER)).lower()
    return full, initials


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _by_code(session: Session, entity: str, text: str, limit: int) -> list[str]:
    variants = {text, simplified(halfwidth(text)), halfwidth(text).upper()}
    conditions = [Code.code.like(_like_escape(v) + "%", escape="\\") for v in variants if v]
    query = select(Code.golden_id).where(Code.entity == entity, or_(*conditions)).order_by(Code.code).limit(limit)
    return list(dict.fromkeys(session.scalars(query)))


def _records(session: Session, entity: str, condition: ColumnElement[bool], limit: int) -> list[str]:
    query = (select(SourceRecord.golden_id).where(SourceRecord.entity == entity, condition)
             .order_by(SourceRecord.id).limit(limit * 4))
    return list(dict.fromkeys(session.scalars(query)))[:limit]


def _by_credit_code(session: Session, entity: str, text: str, limit: int) -> list[str]:
    code = uscc_compact(text)
    if len(code) != 18:
        return []
    condition = or_(_feature(SourceRecord, "credit_code") == code,
                    SourceRecord.data["credit_code"].as_string() == text)  # also an invalid one, as typed
    return _records(session, entity, condition, limit)


def _by_phone(session: Session, entity: str, text: str, limit: int) -> list[str]:
    digits = _DIGITS.sub("", text)
    if len(digits) < 7 or not _PHONEISH.match(text):
        return []
    e164 = phone_e164(text)
    tail = e164.removeprefix("+86") if e164 else digits.lstrip("0")
    conditions = [_feature(SourceRecord, k).like("%" + tail) for k in ("phone", "landline", "mobile")]
    return _records(session, entity, or_(*conditions), limit)


def _by_name(session: Session, entity: str, folded: str, limit: int) -> list[str]:
    if not folded:
        return []
    pattern = "%" + _like_escape(folded) + "%"
    condition = or_(_feature(SourceRecord, "name_norm").like(pattern, escape="\\"),
                    _feature(SourceRecord, "brand_key").like(pattern, escape="\\"))
    return _records(session, entity, condition, limit)


def _by_pinyin(session: Session, entity: str, folded: str, limit: int) -> tuple[list[str], list[str]]:
    """Records whose name's full pinyin or initials contain the (latin) query: one pass over the names.

    The store keeps no initials column, so this reads every name of the entity once; the
    conversions are cached, so a steward's next searches are fast.
    """
    full_hits: dict[str, None] = {}
    initial_hits: dict[str, None] = {}
    query = (select(SourceRecord.golden_id, _feature(SourceRecord, "name_norm"))
             .where(SourceRecord.entity == entity).order_by(SourceRecord.id))
    for golden_id, name_norm in session.execute(query.execution_options(yield_per=_SCAN_BATCH)):
        full, initials = pinyin_forms(name_norm or "")
        if folded in full:
            full_hits[golden_id] = None
        elif folded in initials:
            initial_hits[golden_id] = None
        if len(full_hits) + len(initial_hits) >= limit:
            break
    return list(full_hits), list(initial_hits)


def _matchers(session: Session, entity: str, text: str, limit: int) -> Iterable[tuple[str, list[str]]]:
    yield "code", _by_code(session, entity, text, limit)
    yield "credit_code", _by_credit_code(session, entity, text, limit)
    yield "phone", _by_phone(session, entity, text, limit)
    folded = squash(clean(text))
    yield "name", _by_name(session, entity, folded, limit)
    if folded and folded.isascii() and folded.isalpha():
        full, initials = _by_pinyin(session, entity, folded, limit)
        yield "pinyin", full
        yield "initials", initials


def search(session: Session, entity: str, text: str, *, limit: int = 30) -> list[SearchHit]:
    """Golden records of `entity` matching a name, code, credit code or phone, each with what matched."""
    text = text.strip()[:100]
    if not text:
        return []
    found: dict[str, str] = {}
    for how, golden_ids in _matchers(session, entity, text, limit):
        for golden_id in golden_ids:
            found.setdefault(golden_id, how)
        if len(found) >= limit:
            break
    return _hits(session, found, limit)


def _hits(session: Session, found: Mapping[str, str], limit: int) -> list[SearchHit]:
    resolved: dict[str, tuple[Golden, str]] = {}
    for golden_id, how in found.items():
        golden = active_golden(session, golden_id)
        if golden is not None:
            resolved.setdefault(golden.golden_id, (golden, how))
    ids = list(resolved)[:limit]
    if not ids:
        return []
    counts = dict(session.execute(select(SourceRecord.golden_id, func.count()).where(SourceRecord.golden_id.in_(ids))
                                  .group_by(SourceRecord.golden_id)).all())
    return [SearchHit(g.golden_id, g.code, str(g.data.get("name") or ""), str(g.data.get("region") or ""),
                      int(counts.get(g.golden_id, 0)), how) for g, how in (resolved[i] for i in ids)]


# -- overdue reviews ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Overdue:
    """Pending reviews of one entity past their SLA."""

    entity: str
    count: int
    oldest: dt.datetime
    pair_ids: tuple[int, ...]  # the oldest few, for links


def overdue(session: Session, sla: Sla, *, sample: int = 3) -> list[Overdue]:
    """Per entity: how many open pairs are older than the entity's SLA, the oldest one and a few ids."""
    at = now()
    left, right = _sides()
    base = _open_pairs(left, right).where(_older_than_sla(sla, at))
    sub = base.subquery()
    groups = session.execute(select(sub.c.entity, func.count(), func.min(sub.c.created_at))
                             .group_by(sub.c.entity).order_by(sub.c.entity)).all()
    out = []
    for entity, count, oldest in groups:
        ids = session.scalars(base.where(Pair.entity == entity).with_only_columns(Pair.id)
                              .order_by(Pair.created_at, Pair.id).limit(sample))
        out.append(Overdue(entity, int(count), utc(oldest) or at, tuple(ids)))
    return out
