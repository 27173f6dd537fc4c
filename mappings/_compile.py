"""Compiling a checked target tree into nested closures: one call per target value, no parsing per record.

Hot-path rules: path getters are prebuilt, transform chains are bound functions, constants of an
object are copied from a prebuilt dict, and the happy path raises nothing. When a transform
raises, the chain is re-run step by step (transforms are pure) to name the failing transform;
the original exception is dropped so the source value cannot leak into logs through `__context__`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.core.errors import MappingError
from mappings._paths import SourcePath, compile_getter, pointer, rule_text
from mappings._spec import UNSET, ConcatSpec, MappingSpec, RuleSpec
from mappings._transforms import Bound, TransformError
from mappings._tree import Each, Leaf, Node, Obj, Slots

Fn = Callable[[Any, Any], Any]  # (current source object, record root) -> value, None when missing
_BROKEN = object()
_IMMUTABLE = (str, int, float, bool, type(None))


class _Failure(Exception):
    """A rule failed; carries relative source and target parts until `Mapping.apply` makes a MappingError."""

    def __init__(self, message: str, source: SourcePath | None, rule: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.source = source.pointer_parts if source is not None else None
        self.rooted = source.rooted if source is not None else False
        self.rule = rule

    def inside(self, each: RuleSpec, src_index: int, out_index: int) -> _Failure:
        """Prefix the pointer and rule with the array item the failure happened in."""
        path = each.source
        if path is not None and self.source is not None and not self.rooted:
            self.source = path.pointer_parts + (src_index,) + self.source
            self.rooted = path.rooted
        self.rule = each.target_parts + (out_index,) + self.rule
        return self

    def error(self) -> MappingError:
        """The public error: JSON Pointer of the source field, target rule, message without the value."""
        field = pointer(self.source) if self.source is not None else None
        return MappingError(self.message, field=field, rule=rule_text(self.rule))


class Mapping:
    """A compiled mapping: `apply(payload)` gives canonical data or raises MappingError."""

    __slots__ = ("_run", "description", "name", "path", "target", "version")

    def __init__(self, spec: MappingSpec, run: Fn) -> None:
        self.name = spec.name
        self.version = spec.version
        self.target = spec.target
        self.description = spec.description
        self.path: Path = spec.path
        self._run = run

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Canonical data for one source record (not yet schema-validated), or MappingError."""
        if type(payload) is not dict:
            raise MappingError("the record is not a JSON object", field="", rule="")
        try:
            return self._run(payload, payload)  # type: ignore[no-any-return]
        except _Failure as failure:
            error = failure.error()
        raise error  # outside the except: no chained context

    def __repr__(self) -> str:
        return f"Mapping({self.name!r}, version={self.version!r}, target={self.target!r})"


def compile_tree(root: Obj) -> Fn:
    """The `(record, record)` → canonical data function of a checked tree."""
    return _object(root)


def _node(node: Node, with_default: bool = True) -> Fn:
    if isinstance(node, Leaf):
        return _leaf(node, with_default)
    if isinstance(node, Obj):
        return _object(node)
    if isinstance(node, Each):
        return _each(node)
    return _slots(node)


# -------------------------------------------------------------------------------------------- objects

# key, source key, transform chain, required, default
Row = tuple[str, str, tuple[Callable[..., Any], ...], bool, Any]


def _plain_const(node: Node) -> Any:
    """The constant value of a leaf that can be copied into every record as is, else UNSET."""
    if isinstance(node, Leaf) and node.rule.when is None and isinstance(node.rule.const, _IMMUTABLE):
        return node.rule.const
    return UNSET


def _row(key: str, node: Node, with_default: bool) -> tuple[Row, bool] | None:
    """A simple leaf (top-level source key, no `when`) as a loop row, and whether it reads the record."""
    if not isinstance(node, Leaf):
        return None
    rule = node.rule
    path = rule.source
    if path is None or path.rooted or len(path.parts) != 1 or not isinstance(path.parts[0], str):
        return None
    if rule.when is not None or rule.keep_empty:
        return None
    default = rule.default if with_default and rule.default is not UNSET else None
    if not isinstance(default, _IMMUTABLE):
        return None
    contextual = any(b.contextual for b in rule.transforms)
    fns = tuple(b.fn if b.contextual or not contextual else _lift(b.fn) for b in rule.transforms)
    return (key, path.parts[0], fns, node.required, default), contextual


def _lift(fn: Callable[[Any], Any]) -> Callable[[Any, Any, Any], Any]:
    """A value-only transform with the contextual signature, to share a chain with contextual ones."""
    return lambda v, src, root: fn(v)


def _object(obj: Obj) -> Fn:
    always = obj.always
    consts = {k: c for k, c in ((k, _plain_const(n)) for k, n in obj.children.items()) if c is not UNSET}
    rest = {k: n for k, n in obj.children.items() if k not in consts}
    # In an optional object, defaults are filled in only once a sourced value made it present.
    fill = {} if always else {k: n.rule.default for k, n in rest.items()
                              if isinstance(n, Leaf) and n.rule.default is not UNSET}
    rows = {k: r for k, r in ((k, _row(k, n, always)) for k, n in rest.items()) if r is not None}
    others = tuple((k, _node(n, with_default=always)) for k, n in rest.items() if k not in rows)
    rules = {k: n.rule for k, n in rest.items() if k in rows}  # type: ignore[union-attr]
    plain = [r for r, ctx in rows.values() if not ctx]
    tables = (tuple((k, sk, fns[0], req, d) for k, sk, fns, req, d in plain if len(fns) == 1),
              tuple(r for r in plain if len(r[2]) != 1), tuple(r for r, ctx in rows.values() if ctx))
    return _object_builder(consts if always else {}, tables, others,
                           None if always else ({**fill, **consts}, _required_check(obj)),
                           {k: _missing_failure(r) for k, r in rules.items()},
                           {k: _diagnoser(r) for k, r in rules.items()})


def _object_builder(start: dict[str, Any], tables: tuple[tuple[Any, ...], tuple[Row, ...], tuple[Row, ...]],
                    others: tuple[tuple[str, Fn], ...],
                    optional: tuple[dict[str, Any], Callable[[dict[str, Any]], None] | None] | None,
                    missing_of: dict[str, Callable[[], _Failure]],
                    diagnose_of: dict[str, Callable[[Any, Any, Any], _Failure]]) -> Fn:
    """The hot loop: simple leaves are rows run inline (no call per field); the rest are closures.

    The row loops differ only in how transforms are called (one `fn(v)`, a chain of them, or
    `fn(v, src, root)`); they are written out on purpose: a per-field branch or inner loop would
    cost every field of every record.
    """
    single_rows, rows, context_rows = tables
    key_source = {row[0]: row[1] for row in single_rows + rows + context_rows}

    def build(src: Any, root: Any) -> dict[str, Any] | None:
        out = start.copy()
        get = src.get
        key = ""
        broken = False
        try:
            for key, skey, fn, required, default in single_rows:
                v = get(skey)
                if v is not None and v != "":
                    v = fn(v)
                    if v is not None and v != "":
                        out[key] = v
                        continue
                if required:
                    raise missing_of[key]()
                if default is not None:
                    out[key] = default
            for key, skey, fns, required, default in rows:
                v = get(skey)
                if v is not None and v != "":
                    for fn in fns:
                        v = fn(v)
                        if v is None or v == "":
                            break
                    else:
                        out[key] = v
                        continue
                if required:
                    raise missing_of[key]()
                if default is not None:
                    out[key] = default
            for key, skey, fns, required, default in context_rows:
                v = get(skey)
                if v is not None and v != "":
                    for fn in fns:
                        v = fn(v, src, root)
                        if v is None or v == "":
                            break
                    else:
                        out[key] = v
                        continue
                if required:
                    raise missing_of[key]()
                if default is not None:
                    out[key] = default
        except _Failure:
            raise
        except Exception:  # noqa: BLE001 - any transform failure is diagnosed below, outside this handler
            broken = True
        if broken:
            raise diagnose_of[key](get(key_source[key]), src, root)
        for key, fn in others:
            v = fn(src, root)
            if v is not None:
                out[key] = v
        return out if optional is None else _finish_optional(out, optional)

    return build


def _finish_optional(out: dict[str, Any],
                     optional: tuple[dict[str, Any], Callable[[dict[str, Any]], None] | None]) -> Any:
    """An optional object: None when nothing was sourced; else add defaults and constants, then check."""
    if not out:
        return None
    fill, check = optional
    for key, value in fill.items():
        if key not in out:
            out[key] = copy.deepcopy(value) if not isinstance(value, _IMMUTABLE) else value
    if check is not None:
        check(out)
    return out


def _missing_failure(rule: RuleSpec) -> Callable[[], _Failure]:
    return lambda: _Failure("required field is missing", rule.blame, rule.target_parts)


def _first_rule(node: Node) -> RuleSpec | None:
    if isinstance(node, (Leaf, Each)):
        return node.rule
    children = node.children.values() if isinstance(node, Obj) else node.slots.values()
    return next((r for r in map(_first_rule, children) if r is not None), None)


def _required_check(obj: Obj) -> Callable[[dict[str, Any]], None] | None:
    """For an optional object: once written, the schema-required keys must be there."""
    rules = {k: _first_rule(obj.children[k]) for k in obj.required_keys}
    if not rules:
        return None

    def check(out: dict[str, Any]) -> None:
        for key, rule in rules.items():
            if key not in out and rule is not None:
                raise _Failure("required field is missing", rule.blame, rule.target_parts)

    return check


def _slots(node: Slots) -> Fn:
    fns = tuple(_node(child) for _, child in sorted(node.slots.items()))

    def build(src: Any, root: Any) -> list[Any] | None:
        out = [v for v in (fn(src, root) for fn in fns) if v is not None]
        return out or None

    return build


# --------------------------------------------------------------------------------------------- arrays


def _item_path(path: SourcePath | None, index: int) -> SourcePath | None:
    """The source path of one element of a list."""
    return None if path is None else SourcePath(path.text, path.parts + (index,), path.rooted)


def _each(node: Each) -> Fn:
    rule = node.rule
    get = compile_getter(rule.source) if rule.source is not None else (lambda src, root: None)
    item = _object(node.item)
    keep = rule.filter
    missing = _missing(rule, node.required, None)

    def build(src: Any, root: Any) -> Any:  # the list of items, or what a missing value becomes
        items = get(src, root)
        if items is None or items == "":
            return missing()
        if type(items) is dict:
            items = [items]  # XML converters turn a one-element list into an object
        elif type(items) is not list:
            raise _Failure("expected a list", rule.source, rule.target_parts)
        out: list[dict[str, Any]] = []
        for i, it in enumerate(items):
            if type(it) is not dict:
                raise _Failure("expected an object", _item_path(rule.source, i),
                               rule.target_parts + (len(out),))
            if keep is not None and not keep(it, root):
                continue
            try:
                out.append(item(it, root))
            except _Failure as failure:
                raise failure.inside(rule, i, len(out))
        return out if out else missing()

    return _guarded(build, rule, node.required)


# --------------------------------------------------------------------------------------------- values


def _missing(rule: RuleSpec, required: bool, default: Any, why: str = "") -> Callable[[], Any]:
    """What a missing value becomes: the default, nothing (None), or a 'required' failure."""
    if required:
        def fail() -> Any:
            raise _Failure("required field is missing" + why, rule.blame, rule.target_parts)
        return fail
    if default is UNSET or default is None:
        return lambda: None
    if isinstance(default, _IMMUTABLE):
        return lambda: default
    return lambda: copy.deepcopy(default)


def _guarded(fn: Fn, rule: RuleSpec, required: bool) -> Fn:
    """Apply `when`: a false condition makes the value missing."""
    when = rule.when
    if when is None:
        return fn
    missing = _missing(rule, required, rule.default, " (its when condition is false)")

    def guarded(src: Any, root: Any) -> Any:
        return fn(src, root) if when(src, root) else missing()

    return guarded


def _leaf(leaf: Leaf, with_default: bool = True) -> Fn:
    rule = leaf.rule
    if not with_default and rule.default is not UNSET:
        rule = dataclasses.replace(rule, default=UNSET)
    if rule.const is not UNSET:
        const = rule.const
        fn: Fn = (lambda src, root: const) if isinstance(const, _IMMUTABLE) else (
            lambda src, root: copy.deepcopy(const))
    else:
        fn = _sourced(rule, leaf.required)
    return _guarded(fn, rule, leaf.required)


def _reader(rule: RuleSpec) -> Fn:
    """The value reader of a rule: a source path getter or a concat."""
    if rule.concat is not None:
        return _concat_reader(rule.concat)
    if rule.source is None:
        return lambda src, root: None
    return compile_getter(rule.source)


def _sourced(rule: RuleSpec, required: bool) -> Fn:
    read = _reader(rule)
    return _generic_leaf(read, rule, _missing(rule, required, rule.default))


def _generic_leaf(read: Fn, rule: RuleSpec, missing: Callable[[], Any]) -> Fn:
    keep = rule.keep_empty
    chain = _context_chain(rule.transforms, keep)
    diagnose = _diagnoser(rule)

    def leaf(src: Any, root: Any) -> Any:
        v = read(src, root)
        if v is None or (v == "" and not keep):
            return missing()
        try:
            out = chain(v, src, root)
        except Exception:  # noqa: BLE001 - diagnosed below, outside the handler: nothing chains the value
            out = _BROKEN
        if out is _BROKEN:
            raise diagnose(v, src, root)
        if out is None or (out == "" and not keep):
            return missing()
        return out

    return leaf


def _concat_reader(spec: ConcatSpec) -> Fn:
    parts = tuple((compile_getter(p), "") if isinstance(p, SourcePath) else (None, p) for p in spec.parts)
    sep = spec.separator

    def read(src: Any, root: Any) -> str | None:
        texts: list[str] = []
        found = False
        for get, literal in parts:
            if get is None:
                texts.append(literal)
                continue
            v = get(src, root)
            if v is not None and v != "":
                found = True
                texts.append(v if type(v) is str else str(v))
        return sep.join(texts) if found else None

    return read


# --------------------------------------------------------------------------------------------- chains


def _context_chain(bounds: tuple[Bound, ...], keep_empty: bool) -> Callable[[Any, Any, Any], Any]:
    """Any chain, including transforms that read other fields of the record."""
    calls = tuple((b.fn, b.contextual) for b in bounds)

    def chain(v: Any, src: Any, root: Any) -> Any:
        for fn, contextual in calls:
            v = fn(v, src, root) if contextual else fn(v)
            if v is None or (v == "" and not keep_empty):
                return None
        return v

    return chain


def _diagnoser(rule: RuleSpec) -> Callable[[Any, Any, Any], _Failure]:
    """Re-run the chain step by step to name the failing transform, without quoting the value."""

    def diagnose(v: Any, src: Any, root: Any) -> _Failure:
        message, blame = "a transform failed", None
        for bound in rule.transforms:
            result = _try(bound, v, src, root)
            if isinstance(result, _Fault):
                message, blame = result.message, result.blame
                break
            v = result
            if v is None or (v == "" and not rule.keep_empty):
                break
        return _Failure(message, blame or rule.blame, rule.target_parts)

    return diagnose


class _Fault:
    """Why one transform failed in a diagnosis."""

    __slots__ = ("blame", "message")

    def __init__(self, message: str, blame: SourcePath | None) -> None:
        self.message, self.blame = message, blame


def _try(bound: Bound, v: Any, src: Any, root: Any) -> Any:
    """The transform's result, or a _Fault when it fails."""
    kind = type(v).__name__
    try:
        return bound.fn(v, src, root) if bound.contextual else bound.fn(v)
    except TransformError as exc:
        fault = _Fault(f"{bound.name}: {exc.message}", exc.source)
    except Exception:  # noqa: BLE001 - str methods on a number, unhashable keys…: name the type, never the value
        fault = _Fault(f"{bound.name}: cannot handle a value of type {kind}", None)
    return fault
