"""`hub mdm …`: batch dedupe of a file, one record against the store, the steward's review queue,
merge / reject / unmerge, the batch re-check and data-quality counts.

Mount with `main.add_command(mdm)` (hub/app/cli.py). Commands that change the store write the
resulting `mdm.*` events to the outbox in the same transaction; `hub relay` publishes them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from hub.core import outbox
from hub.core.errors import HubError
from hub.core.events import CanonicalEvent

ENTITIES = click.Choice(["customer", "product", "channel"])
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _console(stderr: bool = False) -> Console:
    return Console(soft_wrap=True, highlight=False, stderr=stderr)


def _fail(exc: HubError) -> None:
    _console(stderr=True).print(f"[red]error:[/red] {exc}")
    sys.exit(2)


@contextmanager
def _store() -> Iterator[tuple[Session, Any]]:
    """A transaction on the hub database and the topology to queue events on."""
    from hub.app.runtime import runtime

    rt = None
    try:
        rt = runtime()
        with rt.db.transaction() as session:
            yield session, rt.topology
    except HubError as exc:
        _fail(exc)
    finally:
        if rt is not None:
            rt.close()


def _rules(entity: str, rules_file: Path | None) -> Any:
    from mdm.rules import load_rules, load_rules_file

    try:
        return load_rules_file(rules_file) if rules_file else load_rules(entity)
    except HubError as exc:
        _fail(exc)


def _publish(session: Session, topology: Any, events: list[CanonicalEvent]) -> None:
    count = outbox.add_events(session, events, topology)
    if count:
        _console(stderr=True).print(f"{count} event(s) queued: " + ", ".join(sorted({e.type for e in events})))


@click.group("mdm")
def mdm() -> None:
    """Master data: match, merge and code customers, products and channel partners."""


# -- batch ------------------------------------------------------------------------------------

@mdm.command("dedupe")
@click.argument("input_file", metavar="INPUT.csv", type=_FILE)
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="OUTPUT.csv: record_id, cluster_id, golden_code, decision")
@click.option("--rules", "rules_file", type=_FILE, default=None, help="a rule file instead of the bundled one")
@click.option("--workers", default=2, show_default=True, help="processes for feature extraction")
@click.option("--review-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write the review-band pairs with their explanation (JSON lines)")
def dedupe_command(input_file: Path, entity: str, out_file: Path, rules_file: Path | None, workers: int,
                   review_out: Path | None) -> None:
    """Deduplicate a whole CSV file: cluster, decide (auto / review / single) and code every record."""
    from mdm.engine import build_dataset, dedupe
    from mdm.io import count_rows, read_records, write_result

    rules = _rules(entity, rules_file)
    started = time.perf_counter()
    total = count_rows(input_file)
    try:
        with _progress() as bar:
            tasks: dict[str, Any] = {}

            def report(stage: str, done: int, of: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=of or None)
                bar.update(tasks[stage], completed=done, total=of or None)

            data = build_dataset(rules, read_records(input_file, entity), total=total, progress=report,
                                 workers=workers if total >= 50_000 else 1)
            result = dedupe(rules, data, report)
    except HubError as exc:
        _fail(exc)
    with out_file.open("w", encoding="utf-8", newline="") as handle:
        rows = write_result(result, handle)
    if review_out is not None:
        _write_review(rules, result, review_out)
    _summary(result, rows, time.perf_counter() - started, out_file)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=_console(stderr=True), transient=False)


def _write_review(rules: Any, result: Any, path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for k in result.review.tolist():
            i, j = int(result.pairs.left[k]), int(result.pairs.right[k])
            line = {"left": result.data.ids[i], "right": result.data.ids[j], **result.explain(rules, k)}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


def _summary(result: Any, rows: int, seconds: float, out_file: Path) -> None:
    decisions = {d: result.decision.count(d) for d in ("auto", "review", "single")}
    clusters = len(set(result.labels.tolist()))
    _console(stderr=True).print(
        f"{rows} records → {clusters} clusters ({decisions['auto']} auto-merged, {decisions['review']} for review, "
        f"{decisions['single']} single), {len(result.pairs.left)} candidate pairs, {seconds:.1f}s → {out_file}")


# -- one record against the store -------------------------------------------------------------------

@mdm.command("match")
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
@click.option("--record", "record_file", type=_FILE, required=True, help="canonical record (JSON)")
@click.option("--dry-run", is_flag=True, help="only show the candidates and the decision; change nothing")
@click.option("--actor", default="cli", show_default=True)
def match_command(entity: str, record_file: Path, dry_run: bool, actor: str) -> None:
    """Match one record against the store (incremental) and apply it unless --dry-run."""
    from mdm.features import all_features
    from mdm.store import candidates, decide, upsert

    rules = _rules(entity, None)
    record = json.loads(record_file.read_text(encoding="utf-8"))
    with _store() as (session, topology):
        found = candidates(session, rules, all_features(rules, record))
        decision = decide(rules, found)
        table = Table("golden id", "record", "probability", "veto")
        for c in sorted(found, key=lambda c: -c.probability)[:10]:
            table.add_row(c.golden_id, str(c.record_id), f"{c.probability:.4f}", c.explanation.get("veto") or "")
        _console().print(table)
        if dry_run:
            joined = decision.join.golden_id if decision.join else "-"
            _console().print(f"would join: {joined}; for review: {len(decision.review)}")
            session.rollback()
            return
        result = upsert(session, rules, record, actor)
        _publish(session, topology, result.events)
        _console().print(f"{result.decision}: golden {result.golden_id}, proposed pairs {result.proposed}")


# -- steward ------------------------------------------------------------------------------------

@mdm.group("review")
def review() -> None:
    """The steward's review queue."""


@review.command("list")
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
@click.option("--limit", default=50, show_default=True)
@click.option("--min-score", default=0.0, show_default=True)
def review_list(entity: str, limit: int, min_score: float) -> None:
    """Open candidate pairs, best first, with the fields that decided them."""
    from mdm.steward import review_queue

    with _store() as (session, _topology):
        items = review_queue(session, entity, min_score=min_score, limit=limit)
        table = Table("pair", "score", "left", "right", "fields")
        for item in items:
            fields = ", ".join(f"{k} {v['similarity']}" for k, v in item.explanation.get("fields", {}).items()
                               if v.get("similarity") is not None)
            table.add_row(str(item.pair_id), f"{item.score:.3f}", _label(item.left), _label(item.right), fields)
        for column in table.columns:
            column.overflow = "fold"
        _console().print(table)
        _console().print(f"{len(items)} open pair(s)")


def _label(view: dict[str, Any]) -> str:
    return f"{view.get('code')} {view.get('source_system')}:{view.get('source_id')} {view.get('data', {}).get('name', '')}"


@mdm.command("merge")
@click.argument("left_golden_id")
@click.argument("right_golden_id")
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
@click.option("--actor", required=True, help="who decides (kept in the audit trail)")
@click.option("--reason", default="", help="why")
def merge_command(left_golden_id: str, right_golden_id: str, entity: str, actor: str, reason: str) -> None:
    """Merge RIGHT into LEFT (LEFT keeps its id and code; RIGHT's code becomes an alias)."""
    from mdm.steward import merge

    with _store() as (session, topology):
        result = merge(session, _rules(entity, None), left_golden_id, right_golden_id, actor, reason)
        _publish(session, topology, result.events)
        _console().print(f"merged {result.merged_id} into {result.survivor_id} (audit {result.audit_id})")


@mdm.command("reject")
@click.argument("pair_id", type=int)
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
@click.option("--actor", required=True)
@click.option("--reason", default="")
def reject_command(pair_id: int, entity: str, actor: str, reason: str) -> None:
    """Mark a proposed pair "not a duplicate" (never proposed again)."""
    from mdm.steward import reject

    with _store() as (session, _topology):
        result = reject(session, _rules(entity, None), pair_id, actor, reason)
        _console().print(f"pair {result.pair_id} rejected (audit {result.audit_id})")


@mdm.command("unmerge")
@click.argument("golden_id")
@click.argument("member")
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
@click.option("--actor", required=True)
@click.option("--reason", default="")
def unmerge_command(golden_id: str, member: str, entity: str, actor: str, reason: str) -> None:
    """Undo a merge (MEMBER = the golden id merged in) or split off a record (MEMBER = system:source_id)."""
    from mdm.steward import unmerge

    with _store() as (session, topology):
        result = unmerge(session, _rules(entity, None), golden_id, member, actor, reason)
        _publish(session, topology, result.events)
        _console().print(f"{result.golden_id} split from {result.restored_id} (audit {result.audit_id})")


@mdm.command("recheck")
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
@click.option("--auto-merge", is_flag=True, help="merge pairs in the auto band instead of only proposing them")
def recheck_command(entity: str, auto_merge: bool) -> None:
    """The daily batch: match the whole store again and propose (or merge) duplicates across golden records."""
    from mdm.steward import recheck

    with _store() as (session, topology):
        result = recheck(session, _rules(entity, None), auto_merge=auto_merge)
        _publish(session, topology, result.events)
        _console().print(f"{result.records} records: {result.proposed} pair(s) proposed, {result.merged} merged")


@mdm.command("quality")
@click.option("--entity", type=ENTITIES, default="customer", show_default=True)
def quality_command(entity: str) -> None:
    """Data-quality findings per check (completeness, validity, consistency)."""
    from mdm.store import quality_summary

    with _store() as (session, _topology):
        for check, count in quality_summary(session, entity).items():
            _console().print(f"{check:28} {count}")
