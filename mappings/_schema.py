"""Walking a canonical JSON Schema the way a mapping's targets do: properties, items, required, `$ref`s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import jsonschema

from hub.core.schemas import SchemaRegistry


@dataclass(frozen=True)
class SchemaNode:
    """A (sub)schema with the document its `$ref`s resolve against; `$ref` and `allOf` are merged in."""

    schema: dict[str, Any]
    root: dict[str, Any]
    registry: SchemaRegistry

    @classmethod
    def of(cls, registry: SchemaRegistry, name: str) -> SchemaNode:
        """The root node of a canonical schema."""
        doc = registry.schema(name)
        return cls(doc, doc, registry).flat()

    def flat(self) -> SchemaNode:
        """This node with its `$ref` target and `allOf` members merged (properties and required unioned)."""
        merged: dict[str, Any] = {}
        root = self.root
        if isinstance(self.schema.get("$ref"), str):
            target = self._deref(self.schema["$ref"]).flat()
            merged, root = dict(target.schema), target.root
        for sub in self.schema.get("allOf", []):
            _merge(merged, SchemaNode(sub, root, self.registry).flat().schema)
        _merge(merged, {k: v for k, v in self.schema.items() if k not in ("$ref", "allOf")})
        return SchemaNode(merged, root, self.registry)

    def _deref(self, ref: str) -> SchemaNode:
        base = self.root.get("$id", "")
        address, _, fragment = urljoin(base, ref).partition("#")
        doc = self.root if address in ("", base) else self.registry.schema(address)
        node: Any = doc
        for part in filter(None, fragment.split("/")):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return SchemaNode(node, doc, self.registry)

    def properties(self) -> dict[str, SchemaNode]:
        """Named properties, each flattened."""
        props = self.schema.get("properties") or {}
        return {k: SchemaNode(v, self.root, self.registry).flat() for k, v in props.items()}

    def required(self) -> list[str]:
        """The `required` property names."""
        return list(self.schema.get("required") or [])

    def items(self) -> SchemaNode | None:
        """The schema of array items, if any."""
        items = self.schema.get("items")
        return SchemaNode(items, self.root, self.registry).flat() if isinstance(items, dict) else None

    def is_object(self) -> bool:
        """True when the schema describes an object with properties."""
        return "properties" in self.schema or _has_type(self.schema, "object")

    def is_array(self) -> bool:
        """True when the schema describes an array."""
        return "items" in self.schema or _has_type(self.schema, "array")

    def value_errors(self, value: Any) -> list[str]:
        """Why `value` does not fit this node (keywords only, e.g. `enum`); empty when it fits."""
        validator = _validator(self.root).evolve(schema=self.schema)
        return sorted({e.validator for e in validator.iter_errors(value)})


def _has_type(schema: dict[str, Any], name: str) -> bool:
    kind = schema.get("type")
    return kind == name or (isinstance(kind, list) and name in kind)


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if key == "properties" and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        elif key == "required" and isinstance(into.get(key), list):
            into[key] = into[key] + [r for r in value if r not in into[key]]
        else:
            into[key] = value


_VALIDATORS: dict[int, tuple[dict[str, Any], Any]] = {}  # id(root) → (root kept alive, validator)


def _validator(root: dict[str, Any]) -> Any:
    if id(root) not in _VALIDATORS:
        _VALIDATORS[id(root)] = (root, jsonschema.validators.validator_for(root)(root))
    return _VALIDATORS[id(root)][1]
