"""Daily data-quality report of the master data: a self-contained HTML file and stored scores.

Four dimensions per entity (customer, product, channel):

    completeness   records with every expected field filled / records
    validity       records that passed mapping and schema validation / records received
    consistency    records agreeing with the other records that share their key
                   (customers: one credit code, one name) / records
    uniqueness     1 − duplicates pending a steward's review / records

The numbers come from a QualitySource, the first that is available of:

    MdmQualitySource         `mdm.quality.entity_counts(db)`, if MDM offers it (the interface below)
    MdmTablesQualitySource   MDM's tables: source records, their quality findings (missing_* →
                             completeness, invalid_* → validity, conflicting_* → consistency, as
                             named in mdm/rules/*.yaml) and open pairs
    OutboxQualitySource      the source master events the hub published and their dead letters

Scores are stored in `hub_quality_score`; the metrics collector exposes them as
`hub_quality_score_ratio{entity,dimension}` at every scrape.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from hub.core import ops
from hub.core.db import Database
from hub.core.models import OutboxRow
from hub.core.settings import HubSettings

log = logging.getLogger(__name__)

ENTITIES = ("customer", "product", "channel")
DIMENSIONS = ("completeness", "validity", "consistency", "uniqueness")

# Fields a master record should have filled to count as complete (beyond what its schema requires).
EXPECTED_FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("name", "credit_code", "address", "phone", "industry", "sales_rep"),
    "product": ("name", "model", "category", "base_unit", "lifecycle_state"),
    "channel": ("name", "channel_type", "region", "credit_code", "contact_name", "contact_mobile"),
}
# Records sharing the first field's value must agree on the second's.
CONSISTENCY_RULES: dict[str, tuple[str, str]] = {
    "customer": ("credit_code", "name"),
    "channel": ("credit_code", "name"),
}


@dataclass(frozen=True, slots=True)
class EntityCounts:
    """The interface between MDM and the report: counts for one entity."""

    entity: str
    total: int  # records measured
    complete: int
    valid: int
    received: int  # records received, valid or not (validity's denominator)
    consistent: int
    duplicates_pending: int

    def scores(self) -> list[ops.Score]:
        """The four scores of this entity."""
        return [
            ops.Score(self.entity, "completeness", self.complete, self.total),
            ops.Score(self.entity, "validity", self.valid, self.received),
            ops.Score(self.entity, "consistency", self.consistent, self.total),
            ops.Score(self.entity, "uniqueness", max(self.total - self.duplicates_pending, 0), self.total),
        ]


class QualitySource(Protocol):
    """Anything that can count quality per entity (MDM, or the outbox fallback)."""

    name: str

    def entity_counts(self) -> list[EntityCounts]:
        """Counts for each master entity."""


class MdmQualitySource:
    """MDM's own counts: `mdm.quality.entity_counts(db)` returning EntityCounts-like objects or dicts."""

    name = "mdm"

    def __init__(self, db: Database, function: Any) -> None:
        self.db, self.function = db, function

    def entity_counts(self) -> list[EntityCounts]:
        """What MDM reports, normalised to EntityCounts."""
        out = []
        for item in self.function(self.db):
            values = item if isinstance(item, dict) else {f: getattr(item, f) for f in EntityCounts.__slots__}
            out.append(EntityCounts(**{f: values[f] for f in EntityCounts.__slots__}))
        return out


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


class OutboxQualitySource:
    """Counts from the source master events in the outbox (latest version per record) and its dead letters."""

    name = "outbox"

    def __init__(self, db: Database) -> None:
        self.db = db

    def entity_counts(self) -> list[EntityCounts]:
        """Completeness, validity and consistency from source events; duplicates from MDM's table if any."""
        latest, invalid = self._latest_records()
        pending = _pending_reviews(self.db)
        return [self._count(entity, list(latest[entity].values()), invalid[entity], pending.get(entity, 0))
                for entity in ENTITIES]

    def _count(self, entity: str, records: list[dict[str, Any]], invalid: int, pending: int) -> EntityCounts:
        expected = EXPECTED_FIELDS.get(entity, ())
        complete = sum(1 for r in records if all(_filled(r.get(f)) for f in expected))
        return EntityCounts(entity=entity, total=len(records), complete=complete, valid=len(records),
                            received=len(records) + invalid, consistent=_consistent(entity, records),
                            duplicates_pending=pending)

    def _latest_records(self) -> tuple[dict[str, dict[tuple[str, str], dict[str, Any]]], dict[str, int]]:
        """Latest data per (source, record) for each entity, and how many records were dead-lettered."""
        latest: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
        invalid: dict[str, int] = defaultdict(int)
        query = select(OutboxRow.routing_key, OutboxRow.headers, OutboxRow.body).order_by(OutboxRow.id)
        with self.db.reading() as session:
            for key, headers, body in session.execute(query.execution_options(yield_per=1000)):
                entity = _entity(key) or _entity(str((headers or {}).get("x-hub-original-routing-key", "")))
                if entity is None:
                    continue
                if headers and "x-hub-reason" in headers:  # a dead letter of that entity
                    invalid[entity] += 1
                    continue
                event = orjson.loads(body)
                latest[entity][(event.get("source", ""), event.get("subject", ""))] = event.get("data") or {}
        return latest, invalid



def _pending_reviews(db: Database) -> dict[str, int]:
    """Open MDM pairs per entity (none when MDM's tables are not there)."""
    try:
        with db.reading() as session:
            rows = session.execute(text("SELECT entity, COUNT(*) FROM mdm_pair WHERE status = 'open' "
                                        "GROUP BY entity")).all()
    except SQLAlchemyError:
        return {}
    return {str(entity): int(count) for entity, count in rows}


# MDM finding names (mdm/rules/*.yaml `check:`) by prefix → the dimension they lower.
FINDING_DIMENSIONS = {"missing_": "complete", "invalid_": "valid", "conflicting_": "consistent"}


class MdmTablesQualitySource:
    """Counts from MDM's tables: records per entity, records with findings of each kind, open pairs."""

    name = "mdm tables"

    def __init__(self, db: Database) -> None:
        self.db = db

    def available(self) -> bool:
        """True when MDM's tables exist and hold records."""
        try:
            with self.db.reading() as session:
                return bool(session.execute(text("SELECT COUNT(*) FROM mdm_record")).scalar())
        except SQLAlchemyError:
            return False

    def entity_counts(self) -> list[EntityCounts]:
        """One EntityCounts per master entity."""
        with self.db.reading() as session:
            rows = session.execute(text("SELECT entity, COUNT(*) FROM mdm_record GROUP BY entity")).all()
            totals: dict[str, int] = {str(entity): int(n) for entity, n in rows}
            findings = session.execute(text('SELECT entity, "check", record_id FROM mdm_quality_issue')).all()
        flagged: dict[tuple[str, str], set[int]] = defaultdict(set)
        for entity, check, record_id in findings:
            for prefix, kind in FINDING_DIMENSIONS.items():
                if str(check).startswith(prefix):
                    flagged[(entity, kind)].add(record_id)
        pending = _pending_reviews(self.db)
        out = []
        for entity in ENTITIES:
            total = int(totals.get(entity, 0))
            bad = {kind: len(flagged[(entity, kind)]) for kind in FINDING_DIMENSIONS.values()}
            out.append(EntityCounts(entity=entity, total=total, complete=total - bad["complete"],
                                    valid=total - bad["valid"], received=total,
                                    consistent=total - bad["consistent"], duplicates_pending=pending.get(entity, 0)))
        return out


def _entity(routing_key: str) -> str | None:
    """`src.erp.customer.changed.v1` → customer (source masters only)."""
    parts = routing_key.split(".")
    return parts[2] if len(parts) >= 4 and parts[0] == "src" and parts[2] in ENTITIES else None


def _consistent(entity: str, records: list[dict[str, Any]]) -> int:
    """Records that agree with every other record sharing their key (records without the key count as agreeing)."""
    rule = CONSISTENCY_RULES.get(entity)
    if rule is None:
        return len(records)
    key, attribute = rule
    values: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if _filled(record.get(key)):
            values[str(record[key]).strip().upper()].add(str(record.get(attribute, "")).strip())
    return sum(1 for r in records
               if not _filled(r.get(key)) or len(values[str(r[key]).strip().upper()]) == 1)


def quality_source(db: Database) -> QualitySource:
    """MDM's own counts, else MDM's tables when they hold records, else the outbox."""
    try:
        return MdmQualitySource(db, importlib.import_module("mdm.quality").entity_counts)
    except (ImportError, AttributeError):
        pass
    tables = MdmTablesQualitySource(db)
    return tables if tables.available() else OutboxQualitySource(db)


# -- the report file ------------------------------------------------------------------------

_COLOURS = {"completeness": "#4e79a7", "validity": "#59a14f", "consistency": "#f28e2b", "uniqueness": "#b07aa1"}


def bar_chart(scores: list[ops.Score], width: int = 640, height: int = 240) -> str:
    """An inline SVG grouped bar chart: one group per entity, one bar per dimension (0–100 %)."""
    entities = list(dict.fromkeys(s.entity for s in scores))
    top, bottom, left = 20, 40, 40
    plot_h, group_w = height - top - bottom, (width - left) / max(len(entities), 1)
    bar_w = group_w * 0.8 / len(DIMENSIONS)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="data-quality scores per entity">')]
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{pct}%</text>')
    by_key = {(s.entity, s.dimension): s.ratio for s in scores}
    for i, entity in enumerate(entities):
        x0 = left + i * group_w + group_w * 0.1
        for j, dimension in enumerate(DIMENSIONS):
            ratio = by_key.get((entity, dimension), 0.0)
            h = plot_h * ratio
            parts.append(f'<rect x="{x0 + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                         f'height="{h:.1f}" fill="{_COLOURS[dimension]}"><title>{html.escape(entity)} '
                         f'{dimension}: {ratio:.1%}</title></rect>')
        parts.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{height - bottom + 16}" font-size="12" '
                     f'text-anchor="middle">{html.escape(entity)}</text>')
    for j, dimension in enumerate(DIMENSIONS):
        x = left + j * 130
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{_COLOURS[dimension]}"/>'
                     f'<text x="{x + 14}" y="{height - 5}" font-size="11">{dimension}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(counts: list[EntityCounts], source: str, day: dt.date) -> str:
    """The report: chart, then a table of counts and scores."""
    scores = [s for c in counts for s in c.scores()]
    rows = "".join(
        f"<tr><td>{html.escape(c.entity)}</td><td>{c.total}</td>"
        + "".join(f"<td>{s.ratio:.1%}</td>" for s in c.scores())
        + f"<td>{c.duplicates_pending}</td></tr>" for c in counts)
    head = "".join(f"<th>{d}</th>" for d in DIMENSIONS)
    return (f"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Data quality {day}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}</style>"
            f"<h1>Master data quality — {day}</h1><p>Source of the counts: {html.escape(source)}.</p>"
            f"{bar_chart(scores)}<table><tr><th>entity</th><th>records</th>{head}<th>duplicates pending</th></tr>"
            f"{rows}</table></html>")


@dataclass(frozen=True, slots=True)
class Report:
    """A generated report: where it was written and what it measured."""

    path: Path
    counts: list[EntityCounts]
    source: str


def generate(db: Database, out_dir: Path, *, source: QualitySource | None = None,
             day: dt.date | None = None) -> Report:
    """Count, write the HTML file and store the scores (for the metrics)."""
    chosen = source or quality_source(db)
    counts = chosen.entity_counts()
    day = day or dt.date.today()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"quality-{day.isoformat()}.html"
    path.write_text(render_html(counts, chosen.name, day), encoding="utf-8")
    with db.transaction() as session:
        ops.save_scores(session, (s for c in counts for s in c.scores()))
    log.info("quality report %s written from %s", path, chosen.name)
    return Report(path=path, counts=counts, source=chosen.name)


def daily_report_job(settings: HubSettings) -> Any:
    """The `quality_report` job of the daily tier."""
    from hub.app.ops_settings import worker_settings
    from hub.app.runtime import Runtime
    from hub.app.tiers import TaskResult

    rt = Runtime(settings)
    try:
        report = generate(rt.db, worker_settings(settings).reports_dir)
    finally:
        rt.close()
    counts = {f"{c.entity}_records": c.total for c in report.counts}
    return TaskResult(task="quality_report", counts=counts, detail=str(report.path))


def scores_of(counts: Iterable[EntityCounts]) -> Iterator[ops.Score]:
    """Every score of every entity."""
    for item in counts:
        yield from item.scores()
