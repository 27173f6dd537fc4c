"""Reading mapping and lookup YAML: safe, with line numbers, keys as written, YAML 1.2-style scalars.

PyYAML follows YAML 1.1, where `no` is False, `010` is the octal number 8 and `2026-01-01` is a date:
all three silently corrupt ERP codes. This loader keeps every mapping key as the text written, and
resolves only `true`/`false`, `null`/`~`, decimal numbers without leading zeros and floats; anything
else stays a string. Mappings and lists remember their line; scalars are found by their key's line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver


class LineDict(dict[str, Any]):
    """A YAML mapping that knows its own line and the line of each key (1-based)."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        """The line of `key`, or of the mapping itself when the key is absent."""
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A YAML sequence that knows its own line and the line of each item (1-based)."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        """The line of item `index`, or of the list itself."""
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class YamlProblem(Exception):
    """The file is not readable YAML; `line` is where the parser gave up."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """SafeLoader with line-aware containers and YAML 1.2-style implicit types."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}  # our own set, not SafeLoader's

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_problems: list[tuple[int, str]] = []


_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$",
     "-+0123456789."),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]
for _tag, _pattern, _first in _RESOLVERS:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_mapping(loader: _Loader, node: MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict(node.start_mark.line + 1)
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, ScalarNode):
            loader.key_problems.append((line, "a key must be plain text"))
            continue
        key = str(key_node.value)  # the text as written: `010` stays "010", `no` stays "no"
        if key in out:
            loader.key_problems.append((line, f"duplicate key {key!r} (first on line {out.key_lines[key]})"))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines.setdefault(key, line)
    return out


def _construct_sequence(loader: _Loader, node: SequenceNode) -> LineList:
    out = LineList(node.start_mark.line + 1)
    for item in node.value:
        out.append(loader.construct_object(item, deep=True))
        out.item_lines.append(item.start_mark.line + 1)
    return out


_Loader.add_constructor(BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(text: str) -> tuple[Any, list[tuple[int, str]]]:
    """The document and its key problems (duplicates…); YamlProblem when it is not YAML at all."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlProblem(line, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML error: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    return data, loader.key_problems


def read_yaml(path: Path) -> tuple[Any, list[tuple[int, str]]]:
    """`parse_yaml` of a UTF-8 file (a BOM is accepted)."""
    return parse_yaml(path.read_text(encoding="utf-8-sig"))
