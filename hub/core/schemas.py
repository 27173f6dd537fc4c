"""The canonical schema registry: compiled validators for the hot path, detailed errors when one fails.

jsonschema-rs (Rust) compiles each schema once and checks data about 5 times faster than
fastjsonschema, formats included; when it says no, the reused `jsonschema` validator explains
where: a JSON Pointer and the rule, never the value.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from hub.core.errors import ConfigError, SchemaValidationError
from schemas import ID_PREFIX, SCHEMA_DIR

Validator = Callable[[Any], bool]


def short_name(schema_id: str) -> str:
    """`https://…/customer/customer.v1.json` → `customer/customer.v1`."""
    return schema_id.removeprefix(ID_PREFIX).removesuffix(".json")


def schema_id(name: str) -> str:
    """`customer/customer.v1` → its `$id`; a full `$id` is returned as it is."""
    return name if name.startswith(ID_PREFIX) else f"{ID_PREFIX}{name}.json"


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path)


class SchemaRegistry:
    """Every canonical schema under a folder, by `$id` and by short name."""

    def __init__(self, root: Path = SCHEMA_DIR) -> None:
        self._schemas: dict[str, dict[str, Any]] = {}
        for path in sorted(root.glob("*/*.v*.json")):
            schema = json.loads(path.read_text(encoding="utf-8"))
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"{path}: not a valid JSON Schema ({exc.message})") from None
            sid = schema.get("$id")
            if sid != schema_id(f"{path.parent.name}/{path.stem}"):
                raise ConfigError(f"{path}: $id must be {schema_id(path.parent.name + '/' + path.stem)}")
            self._schemas[sid] = schema
        self._fast: dict[str, Validator] = {}
        self._detailed: dict[str, jsonschema.protocols.Validator] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self._schemas)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and schema_id(name) in self._schemas

    def schema(self, name: str) -> dict[str, Any]:
        """The schema document for a short name or `$id`."""
        try:
            return self._schemas[schema_id(name)]
        except KeyError:
            known = ", ".join(sorted(short_name(s) for s in self._schemas))
            raise ConfigError(f"unknown canonical schema {name!r}; known: {known}") from None

    def fast_validator(self, name: str) -> Validator:
        """The compiled check `data -> bool` (built on first use, then reused)."""
        sid = schema_id(name)
        if sid not in self._fast:
            compiled = jsonschema_rs.validator_for(self.schema(sid), validate_formats=True)
            self._fast[sid] = compiled.is_valid
        return self._fast[sid]

    def validate(self, name: str, data: Any, at: str = "") -> None:
        """Raise SchemaValidationError naming the JSON Pointer (under `at`) and rule when `data` does not fit."""
        if not self.fast_validator(name)(data):
            raise self.explain(name, data, at)

    def explain(self, name: str, data: Any, at: str = "") -> SchemaValidationError:
        """The detailed error for invalid data: first problem by path, without echoing values."""
        sid = schema_id(name)
        if sid not in self._detailed:
            schema = self.schema(sid)
            cls = jsonschema.validators.validator_for(schema)
            self._detailed[sid] = cls(schema, format_checker=cls.FORMAT_CHECKER)
        errors = sorted(self._detailed[sid].iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        if not errors:
            return SchemaValidationError("does not match the schema", field=at or "/")
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        path = list(first.absolute_path)
        if first.validator == "required" and isinstance(first.instance, dict):
            missing = [p for p in first.validator_value if p not in first.instance]
            path += missing[:1]  # point at the missing property itself, not at its parent
        return SchemaValidationError(f"fails '{first.validator}' of {short_name(sid)}{more}",
                                     field=at + _pointer(path))


@functools.lru_cache(maxsize=1)
def registry() -> SchemaRegistry:
    """The process-wide registry of the bundled schemas."""
    return SchemaRegistry()
