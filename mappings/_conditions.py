"""`when` and `filter`: a small declarative condition language, compiled to predicates (no eval).

    {present: FTaxRegisterNo}             value is there and not ""
    {absent: FTaxRegisterNo}              the opposite
    {equals: {FForbidStatus: "B"}}        compared as text
    {in: {FDocumentStatus: [C, D]}}       one of the texts
    {not_in: {FDocumentStatus: [Z]}}      none of them (a missing value is "not in")
    {matches: {FTaxRegisterNo: "^9"}}     regular expression search (anchor it yourself)
    {all: [...]}, {any: [...]}, {not: {...}}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mappings._paths import Getter, compile_getter, parse_source
from mappings._problems import Problems, did_you_mean
from mappings._yaml import LineDict, LineList

Predicate = Callable[[Any, Any], bool]
_Builder = Callable[[Any, int, Problems], Predicate]

SYNTAX = ("a condition is one key: present, absent, equals, in, not_in, matches, all, any or not, "
          "e.g. {present: FTaxRegisterNo} or {equals: {FForbidStatus: B}}")


def _never(src: Any, root: Any) -> bool:
    return False


def compile_condition(raw: Any, line: int, problems: Problems) -> Predicate:
    """A predicate `(source object, record root) -> bool`; problems are recorded with their line."""
    if not isinstance(raw, dict) or len(raw) != 1:
        problems.add(getattr(raw, "line", line), SYNTAX)
        return _never
    op, arg = next(iter(raw.items()))
    line = raw.line_of(op) if isinstance(raw, LineDict) else line
    builder = _OPS.get(op)
    if builder is None:
        problems.add(line, f"unknown condition {op!r}{did_you_mean(op, _OPS)}")
        return _never
    return builder(arg, line, problems)


def _getter(text: Any, line: int, problems: Problems) -> Getter | None:
    try:
        return compile_getter(parse_source(text))
    except ValueError as exc:
        problems.add(line, str(exc))
        return None


def _text(v: Any) -> str | None:
    """Source values compare as text: numbers from JSON sources by their text."""
    if v is None or v == "":
        return None
    return v if type(v) is str else str(v)


def _present(arg: Any, line: int, problems: Problems) -> Predicate:
    get = _getter(arg, line, problems)
    if get is None:
        return _never
    return lambda src, root: _text(get(src, root)) is not None


def _absent(arg: Any, line: int, problems: Problems) -> Predicate:
    present = _present(arg, line, problems)
    return lambda src, root: not present(src, root)


def _operand_text(value: Any, line: int, problems: Problems) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problems.add(line, "compare with text (quote it) or a number; source values are text")
        return None
    return str(value)


def _one_pair(arg: Any, op: str, line: int, problems: Problems) -> tuple[Getter, Any] | None:
    if not isinstance(arg, dict) or len(arg) != 1:
        problems.add(line, f"{op} takes one `SourcePath: value` pair, e.g. {{{op}: {{FStatus: A}}}}")
        return None
    path, value = next(iter(arg.items()))
    get = _getter(path, line, problems)
    return None if get is None else (get, value)


def _equals(arg: Any, line: int, problems: Problems) -> Predicate:
    pair = _one_pair(arg, "equals", line, problems)
    want = _operand_text(pair[1], line, problems) if pair else None
    if pair is None or want is None:
        return _never
    get = pair[0]
    return lambda src, root: _text(get(src, root)) == want


def _members(arg: Any, op: str, line: int, problems: Problems) -> tuple[Getter, frozenset[str]] | None:
    pair = _one_pair(arg, op, line, problems)
    if pair is None:
        return None
    if not isinstance(pair[1], list) or not pair[1]:
        problems.add(line, f"{op} takes a non-empty list of values")
        return None
    texts = [_operand_text(v, line, problems) for v in pair[1]]
    return None if None in texts else (pair[0], frozenset(t for t in texts if t is not None))


def _in(arg: Any, line: int, problems: Problems) -> Predicate:
    found = _members(arg, "in", line, problems)
    if found is None:
        return _never
    get, allowed = found
    return lambda src, root: _text(get(src, root)) in allowed


def _not_in(arg: Any, line: int, problems: Problems) -> Predicate:
    found = _members(arg, "not_in", line, problems)
    if found is None:
        return _never
    get, banned = found
    return lambda src, root: _text(get(src, root)) not in banned


def _matches(arg: Any, line: int, problems: Problems) -> Predicate:
    pair = _one_pair(arg, "matches", line, problems)
    if pair is None:
        return _never
    try:
        search = re.compile(str(pair[1])).search
    except re.error as exc:
        problems.add(line, f"invalid regular expression: {exc}")
        return _never
    get = pair[0]

    def matches(src: Any, root: Any) -> bool:
        v = _text(get(src, root))
        return v is not None and search(v) is not None

    return matches


def _children(arg: Any, op: str, line: int, problems: Problems) -> list[Predicate]:
    if not isinstance(arg, list) or not arg:
        problems.add(line, f"{op} takes a non-empty list of conditions")
        return []
    lines = arg.item_lines if isinstance(arg, LineList) else [line] * len(arg)
    return [compile_condition(item, item_line, problems) for item, item_line in zip(arg, lines, strict=True)]


def _all(arg: Any, line: int, problems: Problems) -> Predicate:
    preds = tuple(_children(arg, "all", line, problems))
    return lambda src, root: all(p(src, root) for p in preds)


def _any(arg: Any, line: int, problems: Problems) -> Predicate:
    preds = tuple(_children(arg, "any", line, problems))
    return lambda src, root: any(p(src, root) for p in preds)


def _not(arg: Any, line: int, problems: Problems) -> Predicate:
    inner = compile_condition(arg, line, problems)
    return lambda src, root: not inner(src, root)


_OPS: dict[str, _Builder] = {
    "present": _present, "absent": _absent, "equals": _equals, "in": _in, "not_in": _not_in,
    "matches": _matches, "all": _all, "any": _any, "not": _not,
}
