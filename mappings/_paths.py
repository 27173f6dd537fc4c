"""Source and target paths: parsed once at load time into tuples, compiled into small getters.

Source paths: `FName`, `Addr.City`, `FEntries[0].FQty`, `FEntries[*].FQty` (every element),
`$.FCurrency` (from the record root, inside an `each`). Target paths: `name`, `address.city`,
`contacts[0].name`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Part = str | int | None  # None stands for `[*]`
Getter = Callable[[Any, Any], Any]  # (current source object, record root) -> value or None

_SRC_NAME = r"[^.\[\]\s$][^.\[\]\s]*"
_SOURCE_RE = re.compile(rf"(?:\$\.)?{_SRC_NAME}(?:\.{_SRC_NAME}|\[(?:[0-9]+|\*)\])*")
_SOURCE_TOKEN = re.compile(rf"\.?({_SRC_NAME})|\[([0-9]+|\*)\]")
_TGT_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TARGET_RE = re.compile(rf"{_TGT_NAME}(?:\.{_TGT_NAME}|\[[0-9]+\])*")
_TARGET_TOKEN = re.compile(rf"\.?({_TGT_NAME})|\[([0-9]+)\]")


@dataclass(frozen=True, slots=True)
class SourcePath:
    """A parsed source path: keys, indexes and wildcards, relative to the current object or the root."""

    text: str
    parts: tuple[Part, ...]
    rooted: bool = False

    @property
    def pointer_parts(self) -> tuple[str | int, ...]:
        """The parts a JSON Pointer can name: everything before the first wildcard."""
        out: list[str | int] = []
        for part in self.parts:
            if part is None:
                break
            out.append(part)
        return tuple(out)


def parse_source(text: Any) -> SourcePath:
    """Parse a source path; ValueError says what is wrong."""
    if not isinstance(text, str) or not _SOURCE_RE.fullmatch(text):
        raise ValueError(f"malformed source path {text!r}: write Name, A.B, Name[0], Name[*].Sub or $.Name")
    rooted = text.startswith("$.")
    body = text[2:] if rooted else text
    parts: list[Part] = []
    for name, index in _SOURCE_TOKEN.findall(body):
        parts.append(name if name else (None if index == "*" else int(index)))
    return SourcePath(text, tuple(parts), rooted)


def parse_target(text: Any) -> tuple[str | int, ...]:
    """Parse a target path like `contacts[0].name`; ValueError says what is wrong."""
    if not isinstance(text, str) or not _TARGET_RE.fullmatch(text):
        raise ValueError(f"malformed target field {text!r}: write name, address.city or contacts[0].name")
    return tuple(name if name else int(index) for name, index in _TARGET_TOKEN.findall(text))


def pointer(parts: tuple[str | int, ...]) -> str:
    """A JSON Pointer (RFC 6901) for the parts, e.g. `/FEntries/2/FQty`."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


def rule_text(parts: tuple[str | int, ...]) -> str:
    """A target path as people write it, e.g. `lines[2].quantity`."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def compile_getter(path: SourcePath) -> Getter:
    """A fast getter for the path; a missing key, bad index or wrong container type gives None."""
    parts = path.parts
    if None in parts:
        return _wildcard_getter(parts, path.rooted)
    if len(parts) == 1 and isinstance(parts[0], str):
        return _key_getter(parts[0], path.rooted)
    return _walk_getter(parts, path.rooted)


def _key_getter(key: str, rooted: bool) -> Getter:
    if rooted:
        return lambda src, root: root.get(key)
    return lambda src, root: src.get(key)


def _step(obj: Any, part: str | int) -> Any:
    if isinstance(part, int):
        return obj[part] if isinstance(obj, list) and part < len(obj) else None
    return obj.get(part) if isinstance(obj, dict) else None


def _walk_getter(parts: tuple[Part, ...], rooted: bool) -> Getter:
    steps = tuple(p for p in parts if p is not None)

    def get(src: Any, root: Any) -> Any:
        obj = root if rooted else src
        for part in steps:
            obj = _step(obj, part)
            if obj is None:
                return None
        return obj

    return get


def _wildcard_getter(parts: tuple[Part, ...], rooted: bool) -> Getter:
    """Every element at the first `[*]`, then the rest of the path; missing ones are skipped."""
    cut = parts.index(None)
    head = _walk_getter(parts[:cut], rooted)
    tail = _rest_getter(parts[cut + 1:])

    def get(src: Any, root: Any) -> Any:
        items = head(src, root)
        if isinstance(items, dict):
            items = [items]  # XML converters turn a one-element list into an object
        if not isinstance(items, list):
            return None
        values = [v for v in (tail(item) for item in items) if v is not None and v != ""]
        return values or None

    return get


def _rest_getter(parts: tuple[Part, ...]) -> Callable[[Any], Any]:
    """The rest of a path after `[*]`; an element may be anything, so no `_key_getter` fast path."""
    if not parts:
        return lambda item: item
    rest = _wildcard_getter(parts, False) if None in parts else _walk_getter(parts, False)
    return lambda item: rest(item, item)
