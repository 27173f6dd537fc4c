"""Data-quality checks from the rule files: completeness, validity, consistency.

Per-record checks (`required`, `required_any`, `valid_uscc`, `valid_phone`) run on each source
record; `consistent` runs across records sharing a key (the same credit code under different
names). Findings are snake_case flags, stored per record and counted for metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mdm.names import name_parts
from mdm.normalize import phone_e164, uscc_compact, uscc_valid

Check = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]  # (record, check spec) → finding?
CHECKS: dict[str, Check] = {}


def check(kind: str) -> Callable[[Check], Check]:
    """Register a per-record check kind."""
    def register(fn: Check) -> Check:
        CHECKS[kind] = fn
        return fn
    return register


def _empty(value: Any) -> bool:
    return value in (None, "", [], {})


@check("required")
def _required(record: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    return _empty(record.get(spec["field"]))


@check("required_any")
def _required_any(record: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    return all(_empty(record.get(name)) for name in spec.get("of", [spec["field"]]))


@check("valid_uscc")
def _valid_uscc(record: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    value = record.get(spec["field"])
    return not _empty(value) and not uscc_valid(str(value))


@check("valid_phone")
def _valid_phone(record: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    value = record.get(spec["field"])
    return not _empty(value) and not phone_e164(str(value))


def record_findings(checks: Iterable[Mapping[str, Any]], record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(check, field) of every per-record finding."""
    return [(spec["check"], spec["field"]) for spec in checks
            if spec.get("kind") in CHECKS and CHECKS[spec["kind"]](record, spec)]


def consistency_key(spec: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """The value records must agree under (a credit code), "" when the record has none."""
    value = record.get(spec.get("key", ""))
    return uscc_compact(str(value)) if value else ""


def comparable(spec: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """The value that must be the same under one key (a name without width, script or legal-form noise)."""
    value = str(record.get(spec["field"]) or "")
    return name_parts(value).core or name_parts(value).latin if spec["field"] == "name" else value


def inconsistent(spec: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> bool:
    """True when records sharing the key disagree on the field."""
    return len({comparable(spec, r) for r in records if r.get(spec["field"])}) > 1


def summary(findings: Iterable[str]) -> dict[str, int]:
    """Count of each finding, for metrics and `hub mdm quality`."""
    return dict(Counter(findings).most_common())


def entity_counts(db: Any) -> list[dict[str, Any]]:
    """Quality counts per master entity for the data-quality report (hub/app/quality_report.py).

    A record counts as incomplete, invalid or inconsistent when it has a `missing_…`, `invalid_…`
    or `conflicting_…` finding; duplicates pending are the open pairs of the review queue.
    """
    from sqlalchemy import func, select

    from mdm.models import Pair, QualityIssue, SourceRecord

    with db.reading() as session:
        totals = dict(session.execute(select(SourceRecord.entity, func.count()).group_by(SourceRecord.entity)).all())
        findings = session.execute(select(QualityIssue.entity, QualityIssue.check, QualityIssue.record_id)).all()
        pending = dict(session.execute(select(Pair.entity, func.count()).where(Pair.status == "open")
                                       .group_by(Pair.entity)).all())
    flagged: dict[tuple[str, str], set[int]] = {}
    for entity, name, record_id in findings:
        kind = next((k for prefix, k in _DIMENSIONS.items() if str(name).startswith(prefix)), None)
        if kind:
            flagged.setdefault((entity, kind), set()).add(record_id)
    out = []
    for entity in ("customer", "product", "channel"):
        total = int(totals.get(entity, 0))
        bad = {kind: len(flagged.get((entity, kind), ())) for kind in _DIMENSIONS.values()}
        out.append({"entity": entity, "total": total, "complete": total - bad["complete"],
                    "valid": total - bad["valid"], "received": total, "consistent": total - bad["consistent"],
                    "duplicates_pending": int(pending.get(entity, 0))})
    return out


_DIMENSIONS = {"missing_": "complete", "invalid_": "valid", "conflicting_": "consistent"}
