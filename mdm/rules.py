"""Match rules per entity, read from YAML (`mdm/rules/<entity>.yaml`) and checked in one pass.

A rule file says which features are compared and how (exact or fuzzy, similarity levels and
their weights in log2 odds), which differences veto a match outright, how candidates are
blocked, the two thresholds (auto-merge at or above `auto`, steward review from `review`),
survivorship per attribute, the code template and the data-quality checks. See mdm/README.md.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.core.errors import ConfigError
from mdm.reference import load_yaml

RULES_DIR = Path(__file__).resolve().parent / "rules"
_KEY_PART = re.compile(r"^(?P<feature>[a-z_][a-z0-9_]*)(\[(?P<start>-?\d*):(?P<stop>-?\d*)\])?$")
VETO_KINDS = ("differ", "differ_or_one_missing")


@dataclass(frozen=True)
class FieldRule:
    """One comparison: feature, comparator, similarity levels → weights."""

    name: str
    feature: str
    compare: str
    levels: tuple[tuple[float, float], ...]  # (minimum similarity, weight), highest first
    otherwise: float  # weight below the lowest level
    missing: float = 0.0  # weight when either side is empty
    only_if_missing: str | None = None  # used only for pairs where that field is missing
    cross: str | None = None  # also compared with this feature of the other record (swapped name parts)
    or_equal: tuple[str, float] | None = None  # at least this similarity when that feature is equal (pinyin)


@dataclass(frozen=True)
class Veto:
    """A difference that makes two records different entities whatever else agrees."""

    feature: str
    when: str  # differ: both present and different; differ_or_one_missing: any difference


@dataclass(frozen=True)
class KeyPart:
    """A feature, optionally sliced: `surname[:3]`."""

    feature: str
    start: int | None = None
    stop: int | None = None

    def apply(self, value: str) -> str:
        """The part of a feature value the key uses."""
        return value[self.start:self.stop] if self.start is not None or self.stop is not None else value


@dataclass(frozen=True)
class BlockRule:
    """One blocking pass: records sharing the key (or neighbours in its sort order) become candidates."""

    name: str
    keys: tuple[KeyPart, ...]
    window: int
    sorted: bool = False  # sorted neighbourhood over the key instead of equal keys
    sort_by: str | None = None  # within a big block, neighbours by this feature
    incremental: bool = True  # usable for one record against the store (equal keys only)


@dataclass(frozen=True)
class Rules:
    """Everything the engine needs for one entity."""

    entity: str
    profile: str
    link_type: str
    prior: float
    auto: float
    review: float
    cannot_link: float
    ambiguity_margin: float
    fields: tuple[FieldRule, ...]
    vetoes: tuple[Veto, ...]
    blocking: tuple[BlockRule, ...]
    max_candidates: int
    survivorship: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    quality: tuple[dict[str, Any], ...] = ()
    columns: dict[str, str] = field(default_factory=dict)  # CSV column → record field (generic profile)
    source: str = ""

    @functools.cached_property
    def features(self) -> tuple[str, ...]:
        """Every feature the comparisons, vetoes and keys use."""
        names = [f.feature for f in self.fields] + [f.cross for f in self.fields if f.cross]
        names += [f.or_equal[0] for f in self.fields if f.or_equal]
        names += [v.feature for v in self.vetoes]
        names += [p.feature for b in self.blocking for p in b.keys] + [b.sort_by for b in self.blocking if b.sort_by]
        return tuple(dict.fromkeys(names))

    def band(self, probability: float) -> str:
        """auto, review or none for a match probability."""
        return "auto" if probability >= self.auto else "review" if probability >= self.review else "none"


def _levels(raw: Any, where: str, problems: list[str]) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list) or not all(isinstance(x, list) and len(x) == 2 for x in raw):
        problems.append(f"{where}.levels: must be a list of [minimum similarity, weight]")
        return ()
    try:
        levels = tuple(sorted(((float(a), float(b)) for a, b in raw), reverse=True))
    except (TypeError, ValueError):
        problems.append(f"{where}.levels: numbers expected")
        return ()
    if any(not 0.0 <= level <= 1.0 for level, _ in levels):
        problems.append(f"{where}.levels: similarities must lie in [0, 1]")
    return levels


def _or_equal(raw: Any, where: str, problems: list[str]) -> tuple[str, float] | None:
    if raw is None:
        return None
    if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], str)
            and isinstance(raw[1], int | float) and 0 <= raw[1] <= 1):
        problems.append(f"{where}.or_equal: [feature, similarity in 0..1]")
        return None
    return raw[0], float(raw[1])


def _field(name: str, raw: Any, problems: list[str]) -> FieldRule | None:
    from mdm.compare import COMPARATORS

    where = f"fields.{name}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    compare = raw.get("compare", "exact")
    if compare not in COMPARATORS:
        problems.append(f"{where}.compare: unknown comparator (known: {', '.join(sorted(COMPARATORS))})")
    levels = _levels(raw.get("levels", [[1.0, raw.get("agree", 1.0)]]), where, problems)
    unknown = set(raw) - {"feature", "compare", "levels", "agree", "else", "missing", "only_if_missing", "cross",
                             "or_equal"}
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return FieldRule(name, str(raw.get("feature", name)), compare, levels, float(raw.get("else", 0.0)),
                     float(raw.get("missing", 0.0)), raw.get("only_if_missing"), raw.get("cross"),
                     _or_equal(raw.get("or_equal"), where, problems))


def _key_parts(raw: Any, where: str, problems: list[str]) -> tuple[KeyPart, ...]:
    parts = []
    for text in raw if isinstance(raw, list) else [raw]:
        match = _KEY_PART.match(str(text))
        if match is None:
            problems.append(f"{where}: key part {text!r} is not feature or feature[start:stop]")
            continue
        start, stop = match.group("start"), match.group("stop")
        parts.append(KeyPart(match.group("feature"), int(start) if start else None, int(stop) if stop else None))
    return tuple(parts)


def _block(index: int, raw: Any, problems: list[str]) -> BlockRule | None:
    where = f"blocking.rules[{index}]"
    if not isinstance(raw, dict) or ("keys" not in raw) == ("sorted" not in raw):
        problems.append(f"{where}: needs exactly one of keys or sorted")
        return None
    is_sorted = "sorted" in raw
    keys = _key_parts(raw["sorted"] if is_sorted else raw["keys"], where, problems)
    window = raw.get("window", 10)
    if not isinstance(window, int) or window < 1:
        problems.append(f"{where}.window: a positive integer")
        window = 1
    name = str(raw.get("name", "+".join(p.feature for p in keys)))
    return BlockRule(name, keys, window, is_sorted, raw.get("sort_by"), bool(raw.get("incremental", not is_sorted)))


def _margin(raw: Any) -> float:
    return float(raw.get("ambiguity_margin", 3.0)) if isinstance(raw, dict) else 3.0


def _thresholds(raw: Any, problems: list[str]) -> tuple[float, float, float]:
    raw = raw if isinstance(raw, dict) else {}
    auto, review = float(raw.get("auto", 0.95)), float(raw.get("review", 0.5))
    cannot = float(raw.get("cannot_link", min(0.02, review)))
    if not 0.0 <= cannot <= review <= auto < 1.0:
        problems.append("thresholds: need 0 <= cannot_link <= review <= auto < 1")
    return auto, review, cannot


def parse_rules(data: dict[str, Any], source: str = "<rules>") -> Rules:
    """Rules from a parsed YAML mapping; every problem is reported at once as a ConfigError."""
    problems: list[str] = []
    for key in ("entity", "fields", "blocking"):
        if key not in data:
            problems.append(f"{key}: required")
    if problems:
        raise ConfigError(f"{source}: invalid match rules", problems)
    fields = [_field(name, raw, problems) for name, raw in (data["fields"] or {}).items()]
    vetoes = [Veto(str(v.get("feature")), str(v.get("when", "differ"))) for v in data.get("vetoes", [])]
    for veto in vetoes:
        if veto.when not in VETO_KINDS:
            problems.append(f"vetoes.{veto.feature}.when: one of {', '.join(VETO_KINDS)}")
    blocking = data["blocking"] or {}
    blocks = [_block(i, raw, problems) for i, raw in enumerate(blocking.get("rules", []))]
    if not blocks:
        problems.append("blocking.rules: at least one rule")
    auto, review, cannot = _thresholds(data.get("thresholds"), problems)
    link_type = data.get("link_type", "dedupe")
    if link_type not in ("dedupe", "link"):
        problems.append("link_type: dedupe or link")
    names = {f.name for f in fields if f}
    problems += [f"fields.{f.name}.only_if_missing: no field {f.only_if_missing!r}"
                 for f in fields if f and f.only_if_missing and f.only_if_missing not in names]
    if problems:
        raise ConfigError(f"{source}: invalid match rules", problems)
    return Rules(
        entity=str(data["entity"]), profile=str(data.get("profile", "generic")), link_type=link_type,
        prior=float(data.get("prior", 0.0)), auto=auto, review=review, cannot_link=cannot,
        ambiguity_margin=_margin(data.get("thresholds")),
        fields=tuple(f for f in fields if f), vetoes=tuple(vetoes), blocking=tuple(b for b in blocks if b),
        max_candidates=int(blocking.get("max_candidates", 500)), survivorship=data.get("survivorship") or {},
        code=data.get("code") or {}, quality=tuple(data.get("quality") or ()), columns=data.get("columns") or {},
        source=source,
    )


def load_rules_file(path: Path) -> Rules:
    """Rules from one YAML file."""
    return parse_rules(load_yaml(path), str(path))


@functools.lru_cache(maxsize=16)
def load_rules(entity: str, directory: Path | None = None) -> Rules:
    """The bundled (or `directory`'s) rules of an entity: customer, product or channel."""
    path = (directory or RULES_DIR) / f"{entity}.yaml"
    if not path.exists():
        raise ConfigError(f"no match rules for entity {entity!r} ({path.name} not found)")
    return load_rules_file(path)
