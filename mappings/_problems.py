"""Collecting `file:line: message` problems so one load reports every mistake at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it (clickable in editors)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a close match, else the empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Problems:
    """Problems of one file; `for_file` gives a collector for another file sharing the same list."""

    def __init__(self, path: Path, sink: list[tuple[str, int, str]] | None = None) -> None:
        self.path = path
        self.file = display_path(path)
        self._sink: list[tuple[str, int, str]] = [] if sink is None else sink

    def add(self, line: int, message: str) -> None:
        """Record one problem at `line` of this file."""
        entry = (self.file, line, message)
        if entry not in self._sink:  # the same table problem may be reached from several rules
            self._sink.append(entry)

    def for_file(self, path: Path) -> Problems:
        """A collector for another file that reports into the same list."""
        return Problems(path, self._sink)

    def __bool__(self) -> bool:
        return bool(self._sink)

    def __len__(self) -> int:
        return len(self._sink)

    def lines(self) -> list[str]:
        """Every problem as `file:line: message`, sorted by file and line."""
        return [f"{f}:{line}: {msg}" for f, line, msg in sorted(self._sink, key=lambda e: (e[0], e[1]))]
