"""The layering of the architecture holds: imports point down only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {  # package → packages it must never import
    "hub/core": ("hub.app", "connectors", "mappings", "mdm"),
    "connectors": ("hub.app", "mdm"),
    "mappings": ("hub.app", "connectors", "mdm"),
    "mdm": ("hub.app", "connectors", "mappings"),
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


CASES = [(pkg, path) for pkg in FORBIDDEN for path in sorted((ROOT / pkg).rglob("*.py"))
         if "testing" not in path.parts]


@pytest.mark.parametrize(("package", "path"), CASES, ids=[str(p.relative_to(ROOT)) for _, p in CASES])
def test_imports_point_down(package: str, path: Path) -> None:
    bad = [name for name in imports(path) for banned in FORBIDDEN[package]
           if name == banned or name.startswith(banned + ".")]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_client_modules_import_vendor_libraries() -> None:
    vendors = ("zeep", "pyrfc", "paho", "httpx", "requests")
    offenders = []
    for path in sorted((ROOT / "connectors").rglob("*.py")):
        if path.name == "client.py" or "testing" in path.parts:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {n}" for n in imports(path) if n.split(".")[0] in vendors]
    assert not offenders, offenders
