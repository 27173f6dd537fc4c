"""`hub mappings check` and `hub mappings test`: lint every mapping, or run one on a sample and diff it.

`test` prints the mapped JSON on stdout (so `> expected.out.json` captures exactly the output) and
its verdicts and the diff on stderr. Exit codes: 0 all good, 1 a problem, a difference or an invalid output,
2 the mapping file itself does not load.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from hub.core.errors import ConfigError, MappingError, SchemaValidationError
from hub.core.schemas import registry

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _out() -> Console:
    return Console(soft_wrap=True, highlight=False)


def _err() -> Console:
    return Console(soft_wrap=True, highlight=False, stderr=True)


@click.group("mappings")
def mappings() -> None:
    """Check and test the YAML mappings under mappings/."""


@mappings.command("check")
@click.option("--dir", "directory", type=_DIR, default=None, help="mappings folder (default: bundled one)")
def check(directory: Path | None) -> None:
    """Load every mapping, lookup table and sample; print each problem as file:line: message."""
    from mappings import MAPPINGS_DIR, check_all, mapping_names

    problems = check_all(directory)
    out = _out()
    for problem in problems:
        out.print(problem, markup=False)
    count = len(mapping_names((directory or MAPPINGS_DIR).resolve()))
    if problems:
        _err().print(f"[red]{len(problems)} problem(s)[/red] in {count} mapping(s)")
        sys.exit(1)
    _err().print(f"[green]OK[/green]: {count} mapping(s), their lookups and samples")


@mappings.command("test")
@click.argument("file", type=_FILE)
@click.option("--sample", "sample", type=_FILE, required=True, help="source record(s): JSON object or list")
@click.option("--expect", "expect", type=_FILE, default=None, help="expected canonical output (JSON)")
@click.option("--dir", "directory", type=_DIR, default=None,
              help="mappings folder (default: the folder above FILE's system folder)")
def test(file: Path, sample: Path, expect: Path | None, directory: Path | None) -> None:
    """Map a sample with FILE, print the result, validate it and compare it with --expect."""
    from mappings import load_mapping_file

    err = _err()
    try:
        mapping = load_mapping_file(file, directory)
    except ConfigError as exc:
        err.print(f"[red]{file} does not load:[/red]", highlight=False)
        for problem in exc.problems or [exc.message]:
            err.print(f"  {problem}", markup=False)
        sys.exit(2)
    source = _read_json(sample)
    single = not isinstance(source, list)
    outputs = _map_all(mapping, [source] if single else source)
    result = outputs[0] if single else outputs
    _out().print(_dump(result), markup=False)
    failed = _validate(mapping.target, outputs)
    if expect is not None:
        failed = _diff(_read_json(expect), result, expect) or failed
    sys.exit(1 if failed else 0)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        _err().print(f"[red]{path}:{exc.lineno}: not valid JSON: {exc.msg}[/red]")
        sys.exit(2)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _map_all(mapping: Any, records: list[Any]) -> list[dict[str, Any]]:
    outputs = []
    for index, record in enumerate(records):
        try:
            outputs.append(mapping.apply(record))
        except MappingError as exc:
            where = f"record {index}: " if len(records) > 1 else ""
            _err().print(f"[red]{where}mapping failed:[/red] {exc} (rule {exc.rule})", highlight=False)
            sys.exit(1)
    return outputs


def _validate(target: str, outputs: list[dict[str, Any]]) -> bool:
    """Print schema problems; True when any output is invalid."""
    failed = False
    for index, data in enumerate(outputs):
        try:
            registry().validate(target, data)
        except SchemaValidationError as exc:
            where = f"record {index}: " if len(outputs) > 1 else ""
            _err().print(f"[red]{where}not valid against {target}:[/red] {exc}", highlight=False)
            failed = True
    if not failed:
        _err().print(f"[green]valid[/green] against {target}")
    return failed


def _diff(expected: Any, got: Any, expect_path: Path) -> bool:
    """Print a unified diff of expected vs mapped output; True when they differ."""
    if expected == got:
        _err().print(f"[green]matches[/green] {expect_path}")
        return False
    lines = difflib.unified_diff(_dump(expected).splitlines(), _dump(got).splitlines(),
                                 fromfile=str(expect_path), tofile="mapped output", lineterm="")
    err = _err()
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in lines:
        err.print(Text(line, style=styles.get(line[:1], "")))
    err.print(f"[red]differs[/red] from {expect_path}")
    return True
