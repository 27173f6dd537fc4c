"""The target tree: rules placed at their dotted target paths, then checked against the canonical schema.

Objects (`address.city`), index slots (`contacts[0].name`) and array maps (`lines: {each: …}`)
become nodes; the checker walks the tree beside the JSON Schema, reports unknown and unmapped
fields, and marks which values are required (explicitly, or because the schema requires them
inside an object that is always written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mappings._problems import Problems, did_you_mean
from mappings._schema import SchemaNode
from mappings._spec import UNSET, RuleSpec


@dataclass
class Leaf:
    """A value rule."""

    rule: RuleSpec
    required: bool = False


@dataclass
class Obj:
    """An object built from its children; written only when it is not empty (unless always)."""

    line: int
    label: str
    children: dict[str, Node] = field(default_factory=dict)
    always: bool = False
    required_keys: tuple[str, ...] = ()  # checked at run time when this optional object is written


@dataclass
class Each:
    """An array mapped item by item from a source list."""

    rule: RuleSpec
    item: Obj
    required: bool = False


@dataclass
class Slots:
    """An array written element by element (`contacts[0].name`); empty elements are dropped."""

    line: int
    label: str
    slots: dict[int, Node] = field(default_factory=dict)


Node = Leaf | Obj | Each | Slots
Container = Obj | Slots


def _label(parent: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{parent}[{part}]"
    return f"{parent}.{part}" if parent else part


def _line(node: Node) -> int:
    return node.rule.line if isinstance(node, (Leaf, Each)) else node.line


def build_tree(rules: tuple[RuleSpec, ...], line: int, problems: Problems, label: str = "") -> Obj:
    """Place every rule at its target path; conflicting targets are problems."""
    root = Obj(line, label, always=True)
    for rule in rules:
        _insert(root, rule, problems)
    return root


def _get(container: Container, part: str | int) -> Node | None:
    if isinstance(container, Obj):
        return container.children.get(part) if isinstance(part, str) else None
    return container.slots.get(part) if isinstance(part, int) else None


def _put(container: Container, part: str | int, node: Node) -> None:
    if isinstance(container, Obj) and isinstance(part, str):
        container.children[part] = node
    elif isinstance(container, Slots) and isinstance(part, int):
        container.slots[part] = node


def _insert(root: Obj, rule: RuleSpec, problems: Problems) -> None:
    container: Container = root
    parts = rule.target_parts
    for i, part in enumerate(parts[:-1]):
        want: type[Obj | Slots] = Slots if isinstance(parts[i + 1], int) else Obj
        existing = _get(container, part)
        if existing is None:
            existing = want(rule.line, _label(container.label, part))
            _put(container, part, existing)
        elif not isinstance(existing, want):
            problems.add(rule.line, f"{rule.target!r} conflicts with the rule on line {_line(existing)}")
            return
        container = existing
    last = parts[-1]
    if _get(container, last) is not None:
        other = _get(container, last)
        problems.add(rule.line, f"{rule.target!r} conflicts with the rule on line {_line(other)}")  # type: ignore[arg-type]
        return
    label = _label(container.label, last)
    node: Node = Leaf(rule, rule.required is True)
    if rule.each is not None:
        item = build_tree(rule.each, rule.each_line, problems, label + "[]")
        node = Each(rule, item, rule.required is True)
    _put(container, last, node)


def check_tree(root: Obj, schema: SchemaNode, target: str, problems: Problems) -> None:
    """Compare the tree with the canonical schema; mark required values."""
    _check_obj(root, schema, target, problems)


def _check_obj(obj: Obj, schema: SchemaNode, target: str, problems: Problems) -> None:
    if not schema.is_object():
        problems.add(obj.line, f"{obj.label!r} is not an object in {target}")
        return
    props = schema.properties()
    for key, child in obj.children.items():
        if key not in props:
            where = f"{obj.label}.{key}" if obj.label else key
            problems.add(_line(child), f"target field {where!r} is not in {target}{did_you_mean(key, props)}")
        else:
            _check_child(child, props[key], target, problems)
    for key in schema.required():
        if key not in obj.children:
            field_name = _label(obj.label, key)
            problems.add(obj.line, f"required canonical field {field_name!r} of {target} is not mapped")
    _mark_required(obj, schema.required())


def _check_child(node: Node, prop: SchemaNode, target: str, problems: Problems) -> None:
    if isinstance(node, Obj):
        _check_obj(node, prop, target, problems)
    elif isinstance(node, Leaf):
        _check_leaf(node, prop, target, problems)
    elif not prop.is_array() or prop.items() is None:
        label = node.rule.target if isinstance(node, Each) else node.label
        problems.add(_line(node), f"{label!r} is not an array in {target}")
    elif isinstance(node, Each):
        _check_obj(node.item, prop.items(), target, problems)  # type: ignore[arg-type]
    else:
        for slot in node.slots.values():
            _check_child(slot, prop.items(), target, problems)  # type: ignore[arg-type]


def _check_leaf(leaf: Leaf, prop: SchemaNode, target: str, problems: Problems) -> None:
    rule = leaf.rule
    for key, value in (("const", rule.const), ("default", rule.default)):
        if value is not UNSET and (errors := prop.value_errors(value)):
            problems.add(rule.line, f"{key} of {rule.target!r} does not fit {target} ({', '.join(errors)})")
    if rule.transforms and (outputs := rule.transforms[-1].outputs) is not None:
        bad = sorted(str(v) for v in outputs if prop.value_errors(v))
        if bad:
            what = f"transform {rule.transforms[-1].name!r} of {rule.target!r}"
            problems.add(rule.transform_lines[-1], f"{what} can produce {', '.join(map(repr, bad))}, "
                                                   f"which {target} does not allow there")


def _mark_required(obj: Obj, required: list[str]) -> None:
    """Inside an object that is always written, schema-required values are required of the source."""
    present = tuple(k for k in required if k in obj.children)
    if not obj.always:
        obj.required_keys = present
        return
    for key in present:
        child = obj.children[key]
        if isinstance(child, (Leaf, Each)) and child.rule.required is None and child.rule.default is UNSET:
            child.required = True
        elif isinstance(child, Obj):
            child.always = True
            _mark_children_of_always(child)


def _mark_children_of_always(obj: Obj) -> None:
    """An object made always-present after its own check: re-apply the required marks."""
    keys: Any = obj.required_keys
    obj.required_keys = ()
    _mark_required(obj, list(keys))
