"""Readable codes from templates in the rule files: 机械-华东-001, 设备-100KW-不锈钢, 经销商-华南-001.

A template names code fields, each taken from features through a mapping table (data, not
code), and optionally `{seq:03d}`: a counter per prefix (机械-华东-) that only goes up, so a
code is never given out twice and 999 is followed by 1000. A template without `{seq}` gets a
`-2`, `-3` … suffix when its code is already taken. Allocation is behind a `Sequencer`, so the
batch CLI counts in memory and the store counts in a table safe under concurrent writers.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.core.errors import ConfigError


class Sequencer(Protocol):
    """Hands out the next number of a scope and says whether a code is taken."""

    def next(self, scope: str) -> int:
        """The next number of `scope` (1 for a new scope); never the same twice."""

    def taken(self, code: str) -> bool:
        """True when the code already belongs to a record (or is an alias)."""


@dataclass
class MemorySequencer:
    """Counters in memory (batch dedupe of a file)."""

    counters: dict[str, int] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def next(self, scope: str) -> int:
        """The next number of `scope`."""
        self.counters[scope] = self.counters.get(scope, 0) + 1
        return self.counters[scope]

    def taken(self, code: str) -> bool:
        """True when this run already gave out `code`."""
        return code in self.used

    def allocate(self, code: Mapping[str, Any], fields: Mapping[str, str]) -> str:
        """A new code, remembered as given out."""
        value = allocate(code, fields, self)
        self.used.add(value)
        return value


def _field_value(spec: Mapping[str, Any], features: Mapping[str, str]) -> str:
    """The first feature (in `from` order) that maps to a label; its raw value when no map is given."""
    table: Mapping[str, str] = spec.get("map") or {}
    for name in spec.get("from", []):
        value = features.get(name, "")
        if not value:
            continue
        if not table:
            return value
        if value in table:
            return str(table[value])
        label = next((str(v) for k, v in table.items() if str(k) in value), None)
        if label is not None:
            return label
    return ""


def code_fields(code: Mapping[str, Any], members: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Each code field from the members' features: the most common mapped value, else the default."""
    specs: Mapping[str, Mapping[str, Any]] = code.get("fields") or {}
    features = list(members)
    out = {}
    for name, spec in specs.items():
        values = [v for v in (_field_value(spec, f) for f in features) if v]
        out[name] = Counter(values).most_common(1)[0][0] if values else str(spec.get("default", "未知"))
    return out


def _has_seq(template: str) -> bool:
    return any(name == "seq" for _, name, _, _ in string.Formatter().parse(template) if name)


def render(template: str, fields: Mapping[str, str], seq: int | None = None) -> str:
    """The template filled in; `seq` is required when the template has {seq}."""
    try:
        return template.format(**fields, seq=seq if seq is not None else 0)
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"code template: cannot be filled ({type(exc).__name__}: {exc})") from None


def scope_of(template: str, fields: Mapping[str, str]) -> str:
    """The sequence scope: the template filled in without its counter (机械-华东-#)."""
    out = []
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append("#" if name == "seq" else format(fields.get(name, ""), spec or ""))
    return "".join(out)


def allocate(code: Mapping[str, Any], fields: Mapping[str, str], sequencer: Sequencer) -> str:
    """A new code that was never given out: next counter of the scope, or a -n suffix when taken."""
    template = str(code.get("template", ""))
    if not template:
        raise ConfigError("code.template: required")
    scope = scope_of(template, fields)
    if _has_seq(template):
        while True:  # a code imported by hand may already hold a number: skip it, never reuse it
            candidate = render(template, fields, sequencer.next(scope))
            if not sequencer.taken(candidate):
                return candidate
    candidate = render(template, fields)
    suffix = str(code.get("unique_suffix", "-{n}"))
    while sequencer.taken(candidate):
        candidate = render(template, fields) + suffix.format(n=sequencer.next(scope) + 1)
    return candidate
