"""Lookup tables in `mappings/lookups/`: `<name>.yaml` ({name, description, entries}) or `<name>.csv`.

Tables are read once per directory and kept as plain dicts, so a lookup at run time is one dict get.
Keys are always text (source values are text); CSV cells are stripped of surrounding spaces.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mappings._problems import Problems, did_you_mean
from mappings._yaml import LineDict, YamlProblem, read_yaml

_YAML_KEYS = ("name", "description", "entries")
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class LookupTable:
    """One table: its entries (key → value), where it came from and the line of each key."""

    name: str
    description: str
    entries: dict[str, Any]
    path: Path
    lines: dict[str, int] = field(default_factory=dict)


class LookupStore:
    """The tables of one lookups folder, each read on first use and then kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._tables: dict[str, LookupTable | None] = {}
        self._problems: dict[str, list[tuple[str, int, str]]] = {}

    def names(self) -> list[str]:
        """Every table name in the folder."""
        if not self.directory.is_dir():
            return []
        return sorted({p.stem for p in self.directory.iterdir() if p.suffix in (".yaml", ".csv")})

    def table(self, name: str, problems: Problems) -> LookupTable | None:
        """The table, or None after adding to `problems` why it cannot be used."""
        if name not in self._tables:
            sink: list[tuple[str, int, str]] = []
            self._tables[name] = self._read(name, Problems(self.directory, sink))
            self._problems[name] = sink
        for file, line, message in self._problems[name]:
            problems.for_file(Path(file)).add(line, message)
        return self._tables[name]

    def missing_message(self, name: str) -> str:
        """Why `name` is not a table, with a suggestion."""
        return f"unknown lookup table {name!r}{did_you_mean(name, self.names())}"

    def _read(self, name: str, problems: Problems) -> LookupTable | None:
        paths = [p for p in (self.directory / f"{name}.yaml", self.directory / f"{name}.csv") if p.is_file()]
        if not paths:
            return None
        if len(paths) > 1:
            problems.for_file(paths[1]).add(1, f"lookup table {name!r} exists as both .yaml and .csv")
        path = paths[0]
        reader = _read_yaml_table if path.suffix == ".yaml" else _read_csv_table
        return reader(path, problems.for_file(path))


def _read_yaml_table(path: Path, problems: Problems) -> LookupTable | None:
    try:
        doc, key_problems = read_yaml(path)
    except YamlProblem as exc:
        problems.add(exc.line, exc.message)
        return None
    for line, message in key_problems:
        problems.add(line, message)
    if not isinstance(doc, LineDict):
        problems.add(1, "a lookup table is a mapping with name, description and entries")
        return None
    _check_yaml_header(doc, path, problems)
    entries = doc.get("entries")
    if not isinstance(entries, LineDict) or not entries:
        problems.add(doc.line_of("entries"), "entries must be a non-empty mapping of key: value")
        return None
    bad = [key for key, value in entries.items() if not isinstance(value, _SCALARS)]
    for key in bad:
        problems.add(entries.line_of(key), f"entry {key!r}: the value must be text, a number or true/false")
    if bad:
        return None
    description = str(doc.get("description") or "")
    return LookupTable(path.stem, description, dict(entries), path, dict(entries.key_lines))


def _check_yaml_header(doc: LineDict, path: Path, problems: Problems) -> None:
    for key in doc:
        if key not in _YAML_KEYS:
            problems.add(doc.line_of(key), f"unknown key {key!r}{did_you_mean(key, _YAML_KEYS)}")
    if doc.get("name") != path.stem:
        problems.add(doc.line_of("name"), f"name must be {path.stem!r} (the file name)")
    if not isinstance(doc.get("description"), str):
        problems.add(doc.line_of("description"), "description is required: say what the table maps and why")


def _read_csv_table(path: Path, problems: Problems) -> LookupTable | None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))  # Excel writes a BOM
    if not rows or [c.strip() for c in rows[0]] != ["key", "value"]:
        problems.add(1, "the first line must be the header key,value")
        return None
    entries: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip():
            problems.add(number, "a row must have exactly two cells: key,value (quote cells with commas)")
            continue
        key, value = row[0].strip(), row[1].strip()
        if key in entries:
            problems.add(number, f"duplicate key {key!r} (first on line {lines[key]})")
        entries.setdefault(key, value)
        lines.setdefault(key, number)
    if not entries:
        problems.add(1, "the table has no rows")
        return None
    return LookupTable(path.stem, "", entries, path, lines)


@functools.lru_cache(maxsize=16)
def store_for(directory: Path) -> LookupStore:
    """The shared store of a lookups folder (tables are read once per process)."""
    return LookupStore(directory)
