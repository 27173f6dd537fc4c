"""Parsing a mapping YAML document into dataclasses, checking its shape, recording each problem with its line.

Transforms are bound and conditions compiled here (both validate their parameters), so the
compiler only has to assemble closures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mappings._conditions import Predicate, compile_condition
from mappings._lookups import LookupStore, LookupTable
from mappings._paths import Getter, SourcePath, compile_getter, parse_source, parse_target
from mappings._problems import Problems, did_you_mean
from mappings._transforms import Bound, ParamError, bind
from mappings._yaml import LineDict, LineList

TOP_KEYS = ("mapping", "version", "target", "description", "fields")
RULE_KEYS = ("from", "const", "concat", "default", "required", "keep_empty", "transforms", "when", "each",
             "filter", "note")
_SOURCES = ("from", "const", "concat")
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()


@dataclass(frozen=True)
class ConcatSpec:
    """`concat`: source paths and literals joined with a separator; missing parts are skipped."""

    parts: tuple[SourcePath | str, ...]  # str = literal from {const: ...}
    separator: str


@dataclass
class RuleSpec:
    """One `target: {rule}` entry; targets inside `each` are relative to the item."""

    target: str
    target_parts: tuple[str | int, ...]
    line: int
    source: SourcePath | None = None
    const: Any = UNSET
    concat: ConcatSpec | None = None
    default: Any = UNSET
    required: bool | None = None
    keep_empty: bool = False
    transforms: tuple[Bound, ...] = ()
    when: Predicate | None = None
    each: tuple[RuleSpec, ...] | None = None
    each_line: int = 0
    filter: Predicate | None = None
    transform_lines: tuple[int, ...] = ()

    @property
    def blame(self) -> SourcePath | None:
        """The source path errors of this rule point at."""
        if self.source is not None:
            return self.source
        if self.concat is not None:
            return next((p for p in self.concat.parts if isinstance(p, SourcePath)), None)
        return None


@dataclass
class MappingSpec:
    """A parsed mapping file."""

    name: str
    version: str
    target: str
    description: str
    rules: tuple[RuleSpec, ...]
    path: Path
    lines: dict[str, int] = field(default_factory=dict)


class _Context:
    """The BuildContext transforms use: tables from the store, source paths, nested chains."""

    def __init__(self, lookups: LookupStore, problems: Problems) -> None:
        self.lookups, self.problems = lookups, problems

    def table(self, name: str) -> LookupTable:
        found = self.lookups.table(name, self.problems)
        if found is None:
            if name in self.lookups.names():
                raise ParamError(f"lookup table {name!r} cannot be read (see its problems)")
            raise ParamError(self.lookups.missing_message(name))
        return found

    def source(self, text: Any) -> tuple[SourcePath, Getter]:
        try:
            path = parse_source(text)
        except ValueError as exc:
            raise ParamError(str(exc)) from None
        return path, compile_getter(path)

    def chain(self, raw: Any) -> tuple[Bound, ...]:
        return tuple(bind(item, self) for item in raw)


def parse_mapping(doc: Any, path: Path, expected_name: str, lookups: LookupStore,
                  problems: Problems) -> MappingSpec | None:
    """The spec of one mapping document; problems are added for everything wrong in it."""
    if not isinstance(doc, LineDict):
        problems.add(1, "a mapping file is a YAML mapping with mapping, version, target and fields")
        return None
    _check_keys(doc, TOP_KEYS, "", problems)
    name = _required_text(doc, "mapping", problems)
    if name is not None and name != expected_name:
        problems.add(doc.line_of("mapping"), f"mapping {name!r} must equal its path {expected_name!r}")
    version = _required_text(doc, "version", problems)
    if version is not None and not _VERSION.fullmatch(version):
        problems.add(doc.line_of("version"), 'version must be text like "1.0.0" (quote it)')
    target = _required_text(doc, "target", problems)
    parser = _RuleParser(_Context(lookups, problems), problems)
    rules = parser.rules(doc.get("fields"), doc.line_of("fields"), "fields")
    raw_description = doc.get("description")
    description = raw_description if isinstance(raw_description, str) else ""
    return MappingSpec(expected_name, version or "0.0.0", target or "", description, tuple(rules), path,
                       dict(doc.key_lines) | {"fields": doc.line_of("fields")})


def _required_text(doc: LineDict, key: str, problems: Problems) -> str | None:
    value = doc.get(key)
    if key not in doc:
        problems.add(doc.line, f"{key!r} is required")
    elif not isinstance(value, str) or not value:
        problems.add(doc.line_of(key), f"{key!r} must be text (quote it)")
    else:
        return value
    return None


def _check_keys(raw: LineDict, allowed: tuple[str, ...], where: str, problems: Problems) -> None:
    for key in raw:
        if key not in allowed:
            problems.add(raw.line_of(key), f"unknown key {key!r}{where}{did_you_mean(key, allowed)}")


class _RuleParser:
    """Parses `fields` (and nested `each`) into RuleSpecs."""

    def __init__(self, ctx: _Context, problems: Problems) -> None:
        self.ctx, self.problems = ctx, problems

    def rules(self, raw: Any, line: int, what: str) -> list[RuleSpec]:
        """Every rule of a `fields` or `each` mapping."""
        if not isinstance(raw, LineDict) or not raw:
            where = getattr(raw, "line", line)
            self.problems.add(where, f"{what} must be a non-empty mapping of target: rule")
            return []
        found = (self.rule(target, body, raw.line_of(target)) for target, body in raw.items())
        return [rule for rule in found if rule is not None]

    def rule(self, target: str, raw: Any, line: int) -> RuleSpec | None:
        """One rule, or None when it is too broken to use (problems are recorded)."""
        try:
            parts = parse_target(target)
        except ValueError as exc:
            self.problems.add(line, str(exc))
            return None
        if not isinstance(raw, LineDict):
            self.problems.add(line, f"rule {target!r} must be a mapping like {{from: SourceField}}")
            return None
        _check_keys(raw, RULE_KEYS, f" in rule {target!r}", self.problems)
        rule = RuleSpec(target, parts, line)
        self._value_source(rule, raw)
        self._options(rule, raw)
        self._transforms(rule, raw)
        self._conditions(rule, raw)
        self._each(rule, raw)
        return rule

    def _value_source(self, rule: RuleSpec, raw: LineDict) -> None:
        given = [k for k in _SOURCES if k in raw]
        if len(given) != 1:
            what = "needs one of" if not given else "takes only one of"
            self.problems.add(rule.line, f"rule {rule.target!r} {what} from, const or concat")
        if "from" in raw:
            rule.source = self._path(raw["from"], raw.line_of("from"))
        if "const" in raw:
            rule.const = self._json_value(raw["const"], raw.line_of("const"), "const")
        if "concat" in raw:
            rule.concat = self._concat(raw["concat"], raw.line_of("concat"))

    def _path(self, text: Any, line: int) -> SourcePath | None:
        try:
            return parse_source(text)
        except ValueError as exc:
            self.problems.add(line, str(exc))
            return None

    def _json_value(self, value: Any, line: int, key: str) -> Any:
        if value is None:
            self.problems.add(line, f"{key} must not be null: missing values are left out, never null")
            return UNSET
        return value

    def _concat(self, raw: Any, line: int) -> ConcatSpec | None:
        if isinstance(raw, list):
            raw = {"parts": raw}
        if not isinstance(raw, dict) or not isinstance(raw.get("parts"), list) or not raw["parts"]:
            self.problems.add(line, "concat is a list of parts, or {parts: [...], separator: ' '}")
            return None
        if isinstance(raw, LineDict):
            _check_keys(raw, ("parts", "separator"), " in concat", self.problems)
        separator = raw.get("separator", "")
        if not isinstance(separator, str):
            self.problems.add(line, "concat separator must be text")
        parts = [self._concat_part(p, line) for p in raw["parts"]]
        if not any(isinstance(p, SourcePath) for p in parts):
            self.problems.add(line, "concat needs at least one source path (use const for a fixed text)")
        return ConcatSpec(tuple(p for p in parts if p is not None), str(separator))

    def _concat_part(self, part: Any, line: int) -> SourcePath | str | None:
        if isinstance(part, dict) and set(part) == {"const"} and isinstance(part["const"], (str, int, float)):
            return str(part["const"])
        return self._path(part, line)

    def _options(self, rule: RuleSpec, raw: LineDict) -> None:
        for key in ("required", "keep_empty"):
            if key in raw and not isinstance(raw[key], bool):
                self.problems.add(raw.line_of(key), f"{key} must be true or false")
        rule.required = raw.get("required") if isinstance(raw.get("required"), bool) else None
        rule.keep_empty = raw.get("keep_empty") is True
        if "default" in raw:
            rule.default = self._json_value(raw["default"], raw.line_of("default"), "default")
        if "default" in raw and rule.required:
            self.problems.add(raw.line_of("default"), "a required rule cannot have a default; choose one")
        if "const" in raw and "default" in raw and "when" not in raw:
            self.problems.add(raw.line_of("default"), "const with default only makes sense with when")
        if "note" in raw and not isinstance(raw["note"], str):
            self.problems.add(raw.line_of("note"), "note must be text")

    def _transforms(self, rule: RuleSpec, raw: LineDict) -> None:
        if "transforms" not in raw:
            return
        items = raw["transforms"]
        line = raw.line_of("transforms")
        if not isinstance(items, list) or not items:
            self.problems.add(line, "transforms must be a non-empty list, e.g. [trim, upper]")
            return
        if "const" in raw or "each" in raw:
            self.problems.add(line, "transforms apply to from or concat values, not to const or each")
        lines = items.item_lines if isinstance(items, LineList) else [line] * len(items)
        bound, bound_lines = [], []
        for item, item_line in zip(items, lines, strict=True):
            try:
                bound.append(bind(item, self.ctx))
                bound_lines.append(item_line)
            except ParamError as exc:
                self.problems.add(item_line, str(exc))
        rule.transforms, rule.transform_lines = tuple(bound), tuple(bound_lines)

    def _conditions(self, rule: RuleSpec, raw: LineDict) -> None:
        if "when" in raw:
            rule.when = compile_condition(raw["when"], raw.line_of("when"), self.problems)
        if "filter" in raw:
            rule.filter = compile_condition(raw["filter"], raw.line_of("filter"), self.problems)
            if "each" not in raw:
                self.problems.add(raw.line_of("filter"), "filter belongs to an each rule (it selects items)")

    def _each(self, rule: RuleSpec, raw: LineDict) -> None:
        if "each" not in raw:
            return
        rule.each_line = raw.line_of("each")
        if "from" not in raw:
            self.problems.add(rule.each_line, "an each rule needs from: the source list")
        elif rule.source is not None and None in rule.source.parts:
            self.problems.add(raw.line_of("from"), "the from of an each rule names one list: no [*]")
        for key in ("const", "concat", "default"):
            if key in raw:
                self.problems.add(raw.line_of(key), f"an each rule takes no {key}")
        rule.each = tuple(self.rules(raw["each"], rule.each_line, "each"))
