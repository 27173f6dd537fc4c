"""Sync tiers: `dags/tiers.yaml` says which connector stream runs in which tier, and when.

    realtime   `hub worker` polls the stream every `interval` (or a push source feeds it); the
               `hub_realtime_watchdog` DAG checks the worker is alive and the streams are fresh
    hourly     an Airflow DAG per connector on the tier's cron schedule
    daily      the same, plus jobs (MDM batch re-check, data-quality report) after the syncs

This module is Airflow-free: it parses and validates the file (every problem with its line, an
unknown name with a did-you-mean) and holds the thin functions the DAG tasks call, so the same
code runs from `hub` commands, the worker and tests. Validation builds connectors from settings
to list their streams; building a connector never touches the network.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.core.errors import ConfigError, Disposition, HubError, is_retriable
from hub.core.settings import HubSettings, load_settings

log = logging.getLogger(__name__)

REALTIME = "realtime"
STREAM_KEYS = {"connector", "stream", "tier", "schedule", "interval", "stale_after"}
JOB_KEYS = {"job", "tier", "stale_after"}
TIER_KEYS = {"description", "schedule", "stale_after", "max_active_tasks", "watchdog"}
WATCHDOG_KEYS = {"schedule", "heartbeat_max_age", "outbox_max_age", "components"}
DEFAULT_KEYS = {"timezone", "start_date", "retries", "retry_delay", "relay"}
TOP_KEYS = {"version", "defaults", "tiers", "streams", "jobs"}

# Jobs a tier may run besides stream syncs: name → "module:function(settings) -> JobResult".
JOBS: dict[str, str] = {
    "mdm_recheck": "hub.app.tiers:mdm_recheck",
    "quality_report": "hub.app.quality_report:daily_report_job",
}


# -- the file's model ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Defaults:
    """Settings every tier DAG shares unless a tier or entry says otherwise."""

    timezone: str = "UTC"
    start_date: dt.date = dt.date(2026, 1, 1)
    retries: int = 3
    retry_delay_s: float = 300.0
    relay: bool = True  # each scheduled DAG ends with a task that drains the outbox


@dataclass(frozen=True, slots=True)
class Watchdog:
    """What `hub_realtime_watchdog` checks, and how often."""

    schedule: str = "*/5 * * * *"
    heartbeat_max_age_s: float = 120.0
    outbox_max_age_s: float = 600.0
    components: tuple[str, ...] = ("relay",)


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: a cron schedule (none for realtime) and how stale a stream of it may get."""

    name: str
    schedule: str | None
    stale_after_s: float
    description: str = ""
    max_active_tasks: int = 2
    watchdog: Watchdog | None = None


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """A connector stream placed in a tier."""

    connector: str
    stream: str
    tier: str
    line: int
    schedule: str | None = None  # own schedule: the stream gets a DAG of its own
    interval_s: float | None = None  # realtime: the worker polls it this often
    stale_after_s: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(connector, stream)."""
        return self.connector, self.stream


@dataclass(frozen=True, slots=True)
class JobEntry:
    """A batch job (MDM re-check, quality report) placed in a tier; runs after that tier's syncs."""

    job: str
    tier: str
    line: int


@dataclass(frozen=True)
class TiersConfig:
    """The whole tiers file, validated."""

    path: Path
    defaults: Defaults
    tiers: dict[str, Tier]
    streams: tuple[StreamEntry, ...]
    jobs: tuple[JobEntry, ...] = ()

    def in_tier(self, tier: str) -> list[StreamEntry]:
        """Streams of one tier, in file order."""
        return [s for s in self.streams if s.tier == tier]

    def stream_tiers(self) -> dict[tuple[str, str], str]:
        """(connector, stream) → tier: the `tier` label of the freshness metric."""
        return {s.key: s.tier for s in self.streams}

    def stale_after_s(self, entry: StreamEntry) -> float:
        """How old a stream's last successful sync may be before it counts as stale."""
        return entry.stale_after_s or self.tiers[entry.tier].stale_after_s

    def pollers(self) -> list[StreamEntry]:
        """Realtime streams the worker polls (those with an interval)."""
        return [s for s in self.in_tier(REALTIME) if s.interval_s]

    @property
    def watchdog(self) -> Watchdog:
        """The realtime tier's watchdog settings (defaults when the file names none)."""
        tier = self.tiers.get(REALTIME)
        return tier.watchdog if tier and tier.watchdog else Watchdog()


# -- parsing with line numbers ----------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    """A safe loader that remembers lines: of every mapping (`__line__`) and of each of its keys (`__lines__`)."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {str(key.value): key.start_mark.line + 1 for key, _value in node.value}
    return mapping


_META = {"__line__", "__lines__"}


def _line(item: dict[str, Any], key: str | None = None) -> int | None:
    """The line of `key` in a mapping read from the file (the mapping's own line without a key)."""
    if key is None:
        return item.get("__line__")
    return item.get("__lines__", {}).get(key) or item.get("__line__")


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """'30s', '5m', '2h', '1d' (or a number of seconds) → seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 2h or 1d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


# Cron fields: (lowest, highest, names). Airflow validates again when it builds the timetable.
_CRON_FIELDS = (
    ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}
_CRON_ITEM = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def check_cron(expression: str) -> None:
    """Raise ValueError saying which field of a 5-field cron expression (or preset) is wrong."""
    if expression in CRON_PRESETS:
        return
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r} needs 5 fields (minute hour day-of-month month day-of-week), "
                         f"has {len(fields)}")
    for text, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.lower().split(","):
            match = _CRON_ITEM.match(item)
            if not match or (match.group(2) is not None and int(match.group(2)) == 0):
                raise ValueError(f"cron {expression!r}: bad {label} {item!r}")
            if match.group(1) == "*":
                continue
            for bound in match.group(1).split("-"):
                number = names.index(bound) + (low if label == "month" else 0) if bound in names else bound
                if not str(number).isdigit() or not low <= int(number) <= high:
                    raise ValueError(f"cron {expression!r}: {label} {bound!r} is outside {low}-{high}")


class _Problems:
    """Collects every problem of the file, each prefixed with file:line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, line: int | None, message: str) -> None:
        self.items.append(f"{self.path.name}:{line or 1}: {message}")

    def raise_any(self) -> None:
        if self.items:
            raise ConfigError(f"{self.path} is invalid", self.items)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_keys(problems: _Problems, item: dict[str, Any], allowed: set[str], what: str) -> None:
    for key in sorted(set(item) - allowed - _META):
        problems.add(_line(item, key), f"unknown key {key!r} in {what}{_did_you_mean(key, sorted(allowed))}")


def _duration(problems: _Problems, item: dict[str, Any], key: str, default: float | None) -> float | None:
    if key not in item:
        return default
    try:
        return parse_duration(item[key])
    except ValueError as exc:
        problems.add(_line(item, key), f"{key}: {exc}")
        return default


def _cron(problems: _Problems, item: dict[str, Any], key: str = "schedule") -> str | None:
    value = item.get(key)
    if value is None:
        return None
    try:
        check_cron(str(value))
    except ValueError as exc:
        problems.add(_line(item, key), f"{key}: {exc}")
        return None
    return str(value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except OSError as exc:
        raise ConfigError(f"cannot read tiers file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark else path.name
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path.name}:1: must be a mapping with tiers, streams and jobs")
    return document


def _defaults(problems: _Problems, raw: Any) -> Defaults:
    base = Defaults()
    if not isinstance(raw, dict):
        return base
    _unknown_keys(problems, raw, DEFAULT_KEYS, "defaults")
    start = raw.get("start_date", base.start_date)
    if not isinstance(start, dt.date):
        problems.add(_line(raw, "start_date"), f"start_date: {start!r} is not a date like 2026-01-01")
        start = base.start_date
    retries = raw.get("retries", base.retries)
    if not isinstance(retries, int) or retries < 0:
        problems.add(_line(raw, "retries"), "retries: must be a whole number >= 0")
        retries = base.retries
    return Defaults(timezone=str(raw.get("timezone", base.timezone)), start_date=start, retries=retries,
                    retry_delay_s=_duration(problems, raw, "retry_delay", base.retry_delay_s) or base.retry_delay_s,
                    relay=bool(raw.get("relay", base.relay)))


def _watchdog(problems: _Problems, raw: Any) -> Watchdog | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add(None, "watchdog: must be a mapping")
        return None
    _unknown_keys(problems, raw, WATCHDOG_KEYS, "watchdog")
    base = Watchdog()
    return Watchdog(schedule=_cron(problems, raw) or base.schedule,
                    heartbeat_max_age_s=_duration(problems, raw, "heartbeat_max_age", base.heartbeat_max_age_s)
                    or base.heartbeat_max_age_s,
                    outbox_max_age_s=_duration(problems, raw, "outbox_max_age", base.outbox_max_age_s)
                    or base.outbox_max_age_s,
                    components=tuple(str(c) for c in raw.get("components", base.components)))


def _tiers(problems: _Problems, raw: Any) -> dict[str, Tier]:
    if not isinstance(raw, dict) or not [k for k in raw if k not in _META]:
        problems.add(None, "tiers: must map each tier name to its schedule (realtime, hourly, daily)")
        return {}
    out: dict[str, Tier] = {}
    for name, item in raw.items():
        if name in _META:
            continue
        if not isinstance(item, dict):
            problems.add(_line(raw, name), f"tier {name!r}: must be a mapping")
            continue
        _unknown_keys(problems, item, TIER_KEYS, f"tier {name!r}")
        schedule = _cron(problems, item)
        if name == REALTIME and schedule:
            problems.add(_line(item, "schedule"), "tier 'realtime' has no schedule: `hub worker` runs it "
                                                  "(give streams an interval instead)")
        if name != REALTIME and "schedule" not in item:
            problems.add(item["__line__"], f"tier {name!r} needs a cron schedule")
        stale = _duration(problems, item, "stale_after", None)
        if stale is None:
            problems.add(item["__line__"], f"tier {name!r} needs stale_after (e.g. 2h): the freshness alert uses it")
        out[str(name)] = Tier(name=str(name), schedule=schedule, stale_after_s=stale or 0.0,
                              description=str(item.get("description", "")),
                              max_active_tasks=int(item.get("max_active_tasks", 2)),
                              watchdog=_watchdog(problems, item.get("watchdog")))
    return out


def _tier_of(problems: _Problems, item: dict[str, Any], tiers: dict[str, Tier]) -> str | None:
    tier = item.get("tier")
    if tier is None:
        problems.add(item["__line__"], "missing key 'tier'")
        return None
    if tier not in tiers:
        problems.add(_line(item, "tier"), f"unknown tier {tier!r}{_did_you_mean(str(tier), sorted(tiers))}; "
                                       f"tiers: {', '.join(sorted(tiers))}")
        return None
    return str(tier)


def _stream(problems: _Problems, item: Any, tiers: dict[str, Tier]) -> StreamEntry | None:
    if not isinstance(item, dict):
        problems.add(None, f"streams: every entry must be a mapping, not {item!r}")
        return None
    line = item["__line__"]
    _unknown_keys(problems, item, STREAM_KEYS, "stream entry")
    missing = [k for k in ("connector", "stream") if not item.get(k)]
    if missing:
        problems.add(line, f"missing key(s) {', '.join(missing)}")
    tier = _tier_of(problems, item, tiers)
    schedule, interval = _cron(problems, item), _duration(problems, item, "interval", None)
    if tier == REALTIME and schedule:
        problems.add(_line(item, "schedule"), "a realtime stream has no schedule: give it an interval (e.g. 30s)")
    if tier and tier != REALTIME and interval:
        problems.add(_line(item, "interval"), f"interval is for realtime streams; a {tier} stream runs on "
                                              "the tier's schedule")
    if missing or tier is None:
        return None
    stale = _duration(problems, item, "stale_after", None)
    return StreamEntry(connector=str(item["connector"]), stream=str(item["stream"]), tier=tier, line=line,
                       schedule=schedule, interval_s=interval, stale_after_s=stale)


def _job(problems: _Problems, item: Any, tiers: dict[str, Tier]) -> JobEntry | None:
    if not isinstance(item, dict) or not item.get("job"):
        problems.add(item.get("__line__") if isinstance(item, dict) else None, "jobs: every entry needs a 'job'")
        return None
    _unknown_keys(problems, item, JOB_KEYS, "job entry")
    name, tier = str(item["job"]), _tier_of(problems, item, tiers)
    if name not in JOBS:
        problems.add(_line(item, "job"), f"unknown job {name!r}{_did_you_mean(name, sorted(JOBS))}; "
                                       f"jobs: {', '.join(sorted(JOBS))}")
        return None
    if tier == REALTIME:
        problems.add(item["__line__"], f"job {name!r} cannot be realtime: put it in a scheduled tier")
        return None
    return JobEntry(job=name, tier=tier, line=item["__line__"]) if tier else None


def _check_duplicates(problems: _Problems, streams: list[StreamEntry]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for entry in streams:
        if entry.key in seen:
            problems.add(entry.line, f"{entry.connector}/{entry.stream} is already placed on line {seen[entry.key]}: "
                                     "a stream is in exactly one tier")
        seen.setdefault(entry.key, entry.line)


StreamLister = Callable[[str], list[str]]


def connector_streams(settings: HubSettings | None = None) -> StreamLister:
    """A function listing a registered connector's stream names, building each connector once (no network)."""
    from connectors import REGISTRY, load_connector

    cache: dict[str, list[str]] = {}
    hub_settings = settings or load_settings()

    def streams_of(name: str) -> list[str]:
        if name not in cache:
            if name not in REGISTRY:
                raise LookupError(f"unknown connector {name!r}{_did_you_mean(name, sorted(REGISTRY))}; "
                                  f"connectors: {', '.join(sorted(REGISTRY))}")
            try:
                connector = load_connector(name, hub_settings)
            except HubError:
                raise
            except Exception as exc:  # registered, but its package is not there (yet) or broken
                raise LookupError(f"connector {name!r} is registered but cannot be loaded: "
                                  f"{type(exc).__name__}: {exc}") from None
            try:
                cache[name] = [s.name for s in connector.streams()]
            finally:
                connector.close()
        return cache[name]

    return streams_of


def _check_streams(problems: _Problems, streams: list[StreamEntry], lister: StreamLister) -> None:
    for entry in streams:
        try:
            known = lister(entry.connector)
        except (LookupError, HubError) as exc:
            problems.add(entry.line, str(exc).splitlines()[0])
            continue
        if entry.stream not in known:
            problems.add(entry.line, f"connector {entry.connector!r} has no stream {entry.stream!r}"
                                     f"{_did_you_mean(entry.stream, known)}; streams: {', '.join(known)}")


def load_tiers(path: Path | str, *, streams_of: StreamLister | None = None,
               check_streams: bool = True) -> TiersConfig:
    """Parse and validate a tiers file; every problem (with its line) is reported in one ConfigError."""
    path = Path(path)
    document = _read_yaml(path)
    problems = _Problems(path)
    _unknown_keys(problems, document, TOP_KEYS, "the file")
    defaults = _defaults(problems, document.get("defaults"))
    tiers = _tiers(problems, document.get("tiers"))
    streams = [e for e in (_stream(problems, i, tiers) for i in document.get("streams") or []) if e]
    jobs = [e for e in (_job(problems, i, tiers) for i in document.get("jobs") or []) if e]
    _check_duplicates(problems, streams)
    if check_streams:
        _check_streams(problems, streams, streams_of or connector_streams())
    problems.raise_any()
    return TiersConfig(path=path, defaults=defaults, tiers=tiers, streams=tuple(streams), jobs=tuple(jobs))


# -- what the DAG tasks call ----------------------------------------------------------------


@dataclass
class TaskResult:
    """What one tier task did (returned to Airflow as a JSON-able dict, shown in its XCom)."""

    task: str
    status: str = "success"  # success | skipped
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    interval: list[str | None] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The XCom value."""
        return asdict(self)


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


class SyncInterrupted(HubError):
    """A sync asked to stop between pages (worker shutdown): the committed pages stay committed."""

    disposition = Disposition.RETRY


def sync_and_record(db: Any, topology: Any, source: Any, stream: str, *, metrics: Any = None,
                    **options: Any) -> Any:
    """Sync one stream of a built connector and record how the run ended (feeds connector health)."""
    from hub.app.pipeline import sync_stream
    from hub.core import ops

    try:
        result = sync_stream(db, topology, source, stream, metrics=metrics, **options)
    except SyncInterrupted:
        raise  # not a failure of the source: nothing to record
    except Exception as exc:
        _record_failure(db, source.name, stream, exc)
        raise
    with db.transaction() as session:
        ops.record_run(session, source.name, stream, "success")
    return result


def run_sync(connector: str, stream: str, data_interval_start: Any = None, data_interval_end: Any = None, *,
             settings: HubSettings | None = None, metrics: Any = None) -> TaskResult:
    """Sync one stream into the outbox and record the run; what a tier task calls.

    The sync is incremental from the stream's checkpoint, not bounded by the data interval: a run
    reads everything changed since the last committed page, so a late or skipped run loses
    nothing, a re-run of an interval reads only what changed since (the same source versions give
    the same event ids, which consumers drop), and a backfill over many intervals costs one real
    read. The interval is returned with the counts for the audit trail.
    """
    from connectors import load_connector
    from hub.app.runtime import Runtime

    hub_settings = settings or load_settings()
    rt = Runtime(hub_settings)
    source = None
    try:
        source = load_connector(connector, hub_settings)
        result = sync_and_record(rt.db, rt.topology, source, stream, metrics=metrics)
        return TaskResult(task=f"sync {connector}/{stream}", interval=[_iso(data_interval_start),
                          _iso(data_interval_end)], counts={"received": result.received,
                          "published": result.published, "dead_lettered": result.dead_lettered})
    finally:
        if source is not None:
            source.close()
        rt.close()


def _record_failure(db: Any, connector: str, stream: str, exc: BaseException) -> None:
    """Store the failed run; hub errors name fields, never values, so their text is safe to keep."""
    from hub.core import ops

    error = f"{type(exc).__name__}: {exc}" if isinstance(exc, HubError) else type(exc).__name__
    try:
        with db.transaction() as session:
            ops.record_run(session, connector, stream, "retriable_error" if is_retriable(exc) else "fatal_error",
                           error[:1000])
    except Exception:  # the database itself may be what failed; the original error matters more
        log.warning("could not record the failed run of %s/%s", connector, stream)


def relay_outbox(*, settings: HubSettings | None = None) -> TaskResult:
    """Publish everything pending in the outbox with confirms (the last task of a tier DAG)."""
    from hub.app.runtime import Runtime
    from hub.core.outbox import Relay

    hub_settings = settings or load_settings()
    rt = Runtime(hub_settings)
    try:
        result = Relay(rt.db, rt.publisher, rt.topology, hub_settings.relay.batch_size).drain()
        return TaskResult(task="relay", counts={"sent": result.sent, "dead": result.dead, "failed": result.failed})
    finally:
        rt.close()


def run_job(name: str, *, settings: HubSettings | None = None) -> TaskResult:
    """Run a named job of JOBS (lazily imported, so parsing DAGs never imports MDM)."""
    if name not in JOBS:
        raise ConfigError(f"unknown job {name!r}{_did_you_mean(name, sorted(JOBS))}")
    module, _, function = JOBS[name].partition(":")
    job: Callable[[HubSettings], TaskResult] = getattr(importlib.import_module(module), function)
    return job(settings or load_settings())


MDM_ENTITIES = ("customer", "product", "channel")


def mdm_recheck(settings: HubSettings) -> TaskResult:
    """MDM batch re-check: match every stored record again under today's rules and propose pairs.

    Uses `mdm.jobs.recheck(db)` when MDM provides one; otherwise `mdm.steward.recheck` per entity,
    without automatic merges (stewards decide), in one transaction per entity.
    """
    from hub.app.runtime import Runtime

    rt = Runtime(settings)
    try:
        own = getattr(_optional_module("mdm.jobs"), "recheck", None)
        if own is not None:
            return TaskResult(task="mdm_recheck", counts=dict(own(rt.db) or {}))
        steward, rules = _optional_module("mdm.steward"), _optional_module("mdm.rules")
        if steward is None or rules is None:
            return TaskResult(task="mdm_recheck", status="skipped", detail="the MDM engine is not installed")
        counts: dict[str, int] = {}
        for entity in MDM_ENTITIES:
            with rt.db.transaction() as session:
                result = steward.recheck(session, rules.load_rules(entity))
            counts[f"{entity}_records"], counts[f"{entity}_proposed"] = result.records, result.proposed
        return TaskResult(task="mdm_recheck", counts=counts)
    finally:
        rt.close()


def _optional_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# -- the realtime watchdog --------------------------------------------------------------------


@dataclass
class WatchdogReport:
    """What the watchdog found; `problems` empty means realtime is alive and fresh."""

    problems: list[str] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is nothing to alert about."""
        return not self.problems

    def markdown(self) -> str:
        """The alert as WeCom markdown."""
        lines = ["## <font color=\"warning\">Hub realtime watchdog</font>"]
        lines += [f"> {problem}" for problem in self.problems]
        return "\n".join(lines)


def _heartbeat_problems(config: TiersConfig, session: Any) -> Iterator[str]:
    from hub.core import ops

    watchdog = config.watchdog
    beats = ops.heartbeats(session)
    alive = [b for b in beats if not b.stopped and b.age_s <= watchdog.heartbeat_max_age_s]
    if not alive:
        latest = min(beats, key=lambda b: b.age_s, default=None)
        state = "no worker has ever written a heartbeat" if latest is None else (
            f"worker {latest.worker} {'stopped' if latest.stopped else 'is silent'} "
            f"({latest.age_s:.0f}s since its last heartbeat)")
        yield f"no realtime worker is alive: {state}"
        return
    running = {c for b in alive for c in b.components}
    for component in watchdog.components:
        if component not in running:
            yield f"no live worker runs component {component!r} (running: {', '.join(sorted(running))})"


def _freshness_problems(config: TiersConfig, session: Any) -> Iterator[str]:
    from hub.core.models import Checkpoint

    now = dt.datetime.now(dt.timezone.utc)
    for entry in config.in_tier(REALTIME):
        row = session.get(Checkpoint, entry.key)
        success = row.last_success_at if row else None
        if success is None:
            yield f"{entry.connector}/{entry.stream} has never synced successfully"
            continue
        age = (now - (success if success.tzinfo else success.replace(tzinfo=dt.timezone.utc))).total_seconds()
        if age > config.stale_after_s(entry):
            limit = config.stale_after_s(entry)
            yield f"{entry.connector}/{entry.stream} last synced {age:.0f}s ago (limit {limit:.0f}s)"


def check_realtime(config: TiersConfig, *, settings: HubSettings | None = None) -> WatchdogReport:
    """Is a worker alive with the expected components, are realtime streams fresh, is the outbox moving?"""
    from hub.core import outbox
    from hub.core.db import open_database

    hub_settings = settings or load_settings()
    db = open_database(hub_settings.database_url.get_secret_value())
    report = WatchdogReport()
    try:
        with db.reading() as session:
            report.problems += list(_heartbeat_problems(config, session))
            report.problems += list(_freshness_problems(config, session))
            status = outbox.status(session)
        age = status.oldest_pending_age_s
        report.checked = {"outbox_pending": status.counts.get("pending", 0), "outbox_oldest_pending_s": age}
        if age is not None and age > config.watchdog.outbox_max_age_s:
            report.problems.append(f"the oldest pending outbox row is {age:.0f}s old: the relay is not keeping up")
    finally:
        db.dispose()
    return report


AlertSender = Callable[[str], None]


def alert_sender(import_path: str, settings: HubSettings | None = None) -> AlertSender | None:
    """The configured sender of WeCom markdown, or None: 'wecom:<robot>' or any 'module:function'."""
    if not import_path:
        return None
    module, _, function = import_path.partition(":")
    if module == "wecom":  # a group robot of HUB_WECOM__ROBOT_KEYS
        from hub.app.web_alerts import wecom_robot_sender

        return wecom_robot_sender(settings or load_settings(), function)  # type: ignore[return-value]
    try:
        sender: AlertSender = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"HUB_WORKER__ALERT_SENDER: cannot import {import_path!r} ({type(exc).__name__})") from None
    return sender


def raise_alert(report: WatchdogReport, sender: AlertSender | None) -> None:
    """Log the problems and, when a sender is configured, send them as WeCom markdown (best effort)."""
    for problem in report.problems:
        log.error("realtime watchdog: %s", problem)
    if sender is None:
        return
    try:
        sender(report.markdown())
    except Exception as exc:  # the alert channel failing must not hide the alert itself (logged above)
        log.error("realtime watchdog: could not send the WeCom alert (%s)", type(exc).__name__)
