"""Survivorship: which member's value each attribute of a golden record takes, by rules in YAML.

Each attribute lists strategies in order of precedence (`trusted`, `recent`, `complete`,
`valid_uscc`, `valid_phone`, `frequent`); the member whose value ranks highest by them wins.
Only members that have a value take part, so a trusted source without a phone never blanks it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.core.events import utc_iso
from mdm.normalize import phone_e164, simplified, uscc_valid


@dataclass(frozen=True)
class Member:
    """One source record as survivorship sees it."""

    source_system: str
    source_id: str
    data: Mapping[str, Any]
    updated_at: str  # RFC 3339; compares as text within one offset convention, parsed otherwise


Strategy = Callable[[Member, Any, Mapping[str, Any], Sequence[Any]], Any]
STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str) -> Callable[[Strategy], Strategy]:
    """Register a strategy: (member, value, rules, all values) → a sort key, higher wins."""
    def register(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn
    return register


@strategy("trusted")
def _trusted(member: Member, _value: Any, rules: Mapping[str, Any], _values: Sequence[Any]) -> int:
    trust = rules.get("trust") or {}
    return int(trust.get(member.source_system, trust.get("default", 0)))


@strategy("recent")
def _recent(member: Member, _value: Any, _rules: Mapping[str, Any], _values: Sequence[Any]) -> str:
    try:
        return utc_iso(dt.datetime.fromisoformat(member.updated_at))
    except ValueError:
        return ""


def _filled(value: Any) -> int:
    if isinstance(value, Mapping):
        return sum(_filled(v) for v in value.values())
    if isinstance(value, list | tuple):
        return len(value)
    return len(str(value)) if value not in (None, "") else 0


@strategy("complete")
def _complete(_member: Member, value: Any, _rules: Mapping[str, Any], _values: Sequence[Any]) -> int:
    return _filled(value)


@strategy("valid_uscc")
def _valid_uscc(_member: Member, value: Any, _rules: Mapping[str, Any], _values: Sequence[Any]) -> bool:
    return bool(uscc_valid(str(value)))


@strategy("valid_phone")
def _valid_phone(_member: Member, value: Any, _rules: Mapping[str, Any], _values: Sequence[Any]) -> bool:
    return bool(phone_e164(str(value)))


@strategy("simplified")
def _simplified(_member: Member, value: Any, _rules: Mapping[str, Any], _values: Sequence[Any]) -> bool:
    return not isinstance(value, str) or simplified(value) == value


@strategy("frequent")
def _frequent(_member: Member, value: Any, _rules: Mapping[str, Any], values: Sequence[Any]) -> int:
    return Counter(repr(v) for v in values)[repr(value)]


def survive(attribute: str, members: Sequence[Member], rules: Mapping[str, Any]) -> tuple[Any, Member | None]:
    """The winning value of one attribute and the member it came from (None, None when nobody has it)."""
    order = (rules.get("attributes") or {}).get(attribute) or rules.get("default") or ["trusted", "recent"]
    candidates = [(m, m.data.get(attribute)) for m in members if _filled(m.data.get(attribute))]
    if not candidates:
        return None, None
    values = [v for _, v in candidates]

    def rank(item: tuple[Member, Any]) -> tuple[Any, ...]:
        member, value = item
        return tuple(STRATEGIES[name](member, value, rules, values) for name in order)

    member, value = max(candidates, key=rank)
    return value, member
