"""Loading a mapping: read YAML, parse, place targets, check against the canonical schema, compile; cached."""

from __future__ import annotations

import functools
from pathlib import Path

from hub.core.errors import ConfigError
from hub.core.schemas import SchemaRegistry, registry, short_name
from hub.core.secrets import literal_secrets
from mappings._compile import Mapping, compile_tree
from mappings._lookups import store_for
from mappings._problems import Problems, did_you_mean
from mappings._schema import SchemaNode
from mappings._spec import MappingSpec, parse_mapping
from mappings._tree import Obj, build_tree, check_tree
from mappings._yaml import YamlProblem, read_yaml

MAPPINGS_DIR = Path(__file__).resolve().parent
_NOT_MAPPINGS = ("lookups", "samples")


def mapping_names(directory: Path) -> list[str]:
    """Every `<system>/<entity>` that has a YAML file under `directory`."""
    paths = (p for p in directory.glob("*/*.yaml") if p.parent.name not in _NOT_MAPPINGS)
    return sorted(p.relative_to(directory).with_suffix("").as_posix() for p in paths)


def analyse(path: Path, directory: Path, schemas: SchemaRegistry,
            problems: Problems) -> tuple[MappingSpec | None, Obj | None]:
    """Parse and check one mapping file; every problem goes to `problems`."""
    name = path.relative_to(directory).with_suffix("").as_posix()
    try:
        doc, key_problems = read_yaml(path)
    except YamlProblem as exc:
        problems.add(exc.line, exc.message)
        return None, None
    for line, message in key_problems:
        problems.add(line, message)
    for where in literal_secrets(doc):
        problems.add(1, f"'{where}' holds a literal secret; use the environment (HUB_…) instead")
    spec = parse_mapping(doc, path, name, store_for(directory / "lookups"), problems)
    if spec is None:
        return None, None
    tree = build_tree(spec.rules, spec.lines.get("fields", 1), problems)
    if spec.target and spec.target not in schemas:
        known = [short_name(sid) for sid in schemas]
        problems.add(spec.lines.get("target", 1),
                     f"unknown canonical schema {spec.target!r}{did_you_mean(spec.target, known)}")
    elif spec.target:
        check_tree(tree, SchemaNode.of(schemas, spec.target), spec.target, problems)
    return spec, tree


def compile_file(path: Path, directory: Path, schemas: SchemaRegistry) -> Mapping:
    """The compiled mapping of one file; ConfigError listing every problem when it is wrong."""
    path, directory = path.resolve(), directory.resolve()
    problems = Problems(path)
    spec, tree = analyse(path, directory, schemas, problems)
    if problems or spec is None or tree is None:
        raise ConfigError(f"mapping file {problems.file} has {len(problems)} problem(s)", problems.lines())
    return Mapping(spec, compile_tree(tree))


def load_mapping(name: str, directory: Path | None = None, *,
                 schemas: SchemaRegistry | None = None) -> Mapping:
    """The compiled mapping `<system>/<entity>` (cached per process); ConfigError lists all its problems."""
    return _load_cached(name, (directory or MAPPINGS_DIR).resolve(), schemas or registry())


@functools.lru_cache(maxsize=256)
def _load_cached(name: str, directory: Path, schemas: SchemaRegistry) -> Mapping:
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = mapping_names(directory)
        raise ConfigError(f"unknown mapping {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}")
    return compile_file(path, directory, schemas)


def load_mapping_file(path: Path, directory: Path | None = None, *,
                      schemas: SchemaRegistry | None = None) -> Mapping:
    """Compile a mapping file by path (not cached); its directory defaults to the folder above `<system>/`."""
    path = path.resolve()
    return compile_file(path, directory or path.parent.parent, schemas or registry())


def clear_caches() -> None:
    """Forget compiled mappings and lookup tables (after editing files in a running process)."""
    _load_cached.cache_clear()
    store_for.cache_clear()
