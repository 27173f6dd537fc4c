"""Alert rules and their episodes: a state machine per device × rule, driven by reading times.

    idle ──breached──► pending ──still breached `for_s` later──► firing ──cleared──► idle
      ▲                  │ not breached                                (resolved)
      └──────────────────┘

"breached" is value > threshold (`above`) or < threshold (`below`); "cleared" is value ≤ clear
(or ≥ clear for `below`), so a value wobbling around the threshold does not fire again and again
(hysteresis). One episode fires once and resolves once; it is keyed by the time its condition
started. Readings older than the newest one applied to the rule are ignored (out of order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.core.errors import ConfigError

DEFAULT_RULES = Path(__file__).resolve().parent / "rules.yaml"
RULE_ID = r"^[a-z][a-z0-9_]*$"


class _RuleSpec(BaseModel):
    """One rule as written in the YAML file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=RULE_ID, max_length=64)
    metric: str = Field(pattern=RULE_ID)
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    for_s: float = Field(0.0, ge=0)
    severity: Literal["info", "warning", "critical"] = "warning"
    kind: Literal["alert", "maintenance"] = "alert"
    models: list[str] = Field(default_factory=list)
    message: str = ""
    resolved_message: str = ""
    suggested_action: str = ""

    @model_validator(mode="after")
    def _one_threshold(self) -> _RuleSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of `above` and `below`")
        if self.clear is not None and self.above is not None and self.clear > self.above:
            raise ValueError("`clear` must not be above `above` (it is the level the value falls back to)")
        if self.clear is not None and self.below is not None and self.clear < self.below:
            raise ValueError("`clear` must not be below `below` (it is the level the value climbs back to)")
        return self


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[_RuleSpec]


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule."""

    id: str
    metric: str
    operator: str  # "gt" (above) or "lt" (below), as in iot/alert.v1
    threshold: float
    clear: float
    for_ms: int
    severity: str
    kind: str
    models: tuple[str, ...] = ()
    message: str = ""
    resolved_message: str = ""
    suggested_action: str = ""

    def applies_to(self, model: str) -> bool:
        """True when the rule watches devices of this model."""
        return not self.models or model in self.models

    def breached(self, value: float) -> bool:
        """The alarm condition holds."""
        return value > self.threshold if self.operator == "gt" else value < self.threshold

    def cleared(self, value: float) -> bool:
        """The value is back past the clear level (hysteresis)."""
        return value <= self.clear if self.operator == "gt" else value >= self.clear


def compile_rule(spec: _RuleSpec) -> Rule:
    """A Rule from its validated spec."""
    operator, threshold = ("gt", spec.above) if spec.above is not None else ("lt", spec.below)
    assert threshold is not None  # the spec's validator guarantees one of them
    clear = threshold if spec.clear is None else spec.clear
    return Rule(spec.id, spec.metric, operator, threshold, clear, round(spec.for_s * 1000), spec.severity,
                spec.kind, tuple(spec.models), spec.message, spec.resolved_message, spec.suggested_action)


def parse_rules(document: Any, source: str = "rules") -> list[Rule]:
    """Rules from a parsed YAML document; every problem is listed in one ConfigError."""
    try:
        specs = _RulesFile.model_validate(document).rules
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)]
        raise ConfigError(f"invalid IoT rules in {source}", problems) from None
    duplicates = sorted({s.id for s in specs if sum(t.id == s.id for t in specs) > 1})
    if duplicates:
        raise ConfigError(f"invalid IoT rules in {source}", [f"duplicate rule id {d}" for d in duplicates])
    return [compile_rule(spec) for spec in specs]


def load_rules(path: Path | None = None) -> list[Rule]:
    """Rules from a YAML file (the bundled `rules.yaml` by default)."""
    path = path or DEFAULT_RULES
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read IoT rules file {path}: {type(exc).__name__}") from None
    return parse_rules(document, str(path))


# ---------------------------------------------------------------------------------------- episodes


@dataclass(frozen=True, slots=True)
class Episode:
    """The state of one rule on one device."""

    state: str = "idle"  # idle | pending | firing
    since_ms: int = 0    # when the condition started (pending and firing)
    value: float = 0.0   # the value that started the condition
    last_ms: int = -1    # newest reading applied


IDLE = Episode()


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert event to emit: the episode fired or resolved at `at_ms` with `value`."""

    state: str  # firing | resolved
    started_ms: int
    at_ms: int
    value: float


def step(rule: Rule, episode: Episode, ts_ms: int, value: float) -> tuple[Episode, Transition | None]:
    """Apply one reading's value to an episode: the new episode and the alert to emit, if any."""
    if ts_ms < episode.last_ms:
        return episode, None
    if episode.state == "firing":
        return _step_firing(rule, episode, ts_ms, value)
    if not rule.breached(value):
        return Episode(last_ms=ts_ms), None
    pending = episode if episode.state == "pending" else Episode("pending", ts_ms, value, ts_ms)
    if ts_ms - pending.since_ms >= rule.for_ms:
        firing = replace(pending, state="firing", last_ms=ts_ms)
        return firing, Transition("firing", pending.since_ms, ts_ms, value)
    return replace(pending, last_ms=ts_ms), None


def _step_firing(rule: Rule, episode: Episode, ts_ms: int, value: float) -> tuple[Episode, Transition | None]:
    if rule.cleared(value):
        return Episode(last_ms=ts_ms), Transition("resolved", episode.since_ms, ts_ms, value)
    return replace(episode, last_ms=ts_ms), None


def rules_for(rules: Sequence[Rule], model: str, metrics: Sequence[str] | dict[str, float]) -> list[Rule]:
    """The rules that watch a device of `model` and one of the given metrics."""
    return [rule for rule in rules if rule.metric in metrics and rule.applies_to(model)]
