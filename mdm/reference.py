"""Reference data of the normalisers, loaded once from `mdm/data/*.yaml`: regions, terms, legal forms."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pypinyin import lazy_pinyin

from hub.core.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file; a missing or malformed file is a ConfigError naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot be read as YAML ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a YAML mapping")
    return data


@functools.lru_cache(maxsize=1_000_000)
def latin_key(text: str) -> str:
    """Pinyin without tones or spaces, lower case: 苏州 → suzhou (latin text is kept as it is)."""
    return "".join(lazy_pinyin(text)).replace(" ", "").lower()


@dataclass(frozen=True)
class Regions:
    """Provinces and cities by every name they go by, and the sales region of each province."""

    province_names: dict[str, str]  # full or short name → full province name
    city_province: dict[str, str]  # city without 市 → full province name
    region_of: dict[str, str]  # full province name → sales region
    latin_places: dict[str, tuple[str, str]]  # pinyin → (province, city or "")
    max_name_len: int
    municipality_city: dict[str, str]  # 北京市 → 北京: provinces that are one city


@functools.lru_cache(maxsize=1)
def regions() -> Regions:
    """The region table from `data/regions.yaml`."""
    data = load_yaml(DATA_DIR / "regions.yaml")["provinces"]
    names: dict[str, str] = {}
    cities: dict[str, str] = {}
    region_of: dict[str, str] = {}
    latin: dict[str, tuple[str, str]] = {}
    for full, spec in data.items():
        region_of[full] = spec["region"]
        shorts = [s for s in spec.get("short", []) if len(s) >= 2]  # one-letter abbreviations are plates
        for name in (full, *shorts):
            names[name] = full
        latin.setdefault(latin_key(shorts[0] if shorts else full), (full, ""))
        for city in spec.get("cities", []):
            cities.setdefault(city, full)
            latin.setdefault(latin_key(city), (full, city))
    longest = max(len(n) for n in [*names, *cities]) + 1
    single = {full: spec["cities"][0] for full, spec in data.items() if len(spec.get("cities", [])) == 1}
    return Regions(names, cities, region_of, latin, longest, single)


@dataclass(frozen=True)
class Terms:
    """Industry words (Chinese → canonical English, English/pinyin phrase → canonical), legal forms, org kinds."""

    industry_zh: dict[str, str]
    industry_latin: dict[tuple[str, ...], str]
    legal_zh: list[tuple[str, str]]  # (suffix, form), longest first
    legal_latin: list[tuple[tuple[str, ...], str]]
    org_zh: list[tuple[str, str]]
    org_latin: list[tuple[tuple[str, ...], str]]


def _latin_phrases(spec: dict[str, list[str]]) -> list[tuple[tuple[str, ...], str]]:
    """Every latin phrase of every entry as a token tuple, longest first."""
    out = [(tuple(p.split()), key) for key, phrases in spec.items() for p in phrases if p.isascii()]
    return sorted(out, key=lambda item: -len(item[0]))


def _zh_suffixes(spec: dict[str, list[str]]) -> list[tuple[str, str]]:
    out = [(p, key) for key, phrases in spec.items() for p in phrases if not p.isascii()]
    return sorted(out, key=lambda item: -len(item[0]))


def _industry(spec: dict[str, list[str]]) -> tuple[dict[str, str], dict[tuple[str, ...], str]]:
    zh = {term: words[0] for term, words in spec.items()}
    latin: dict[tuple[str, ...], str] = {}
    for term, words in spec.items():  # a canonical word wins over the same word as an alternative
        latin[tuple(words[0].split())] = words[0]
    for term, words in spec.items():
        for word in words[1:]:
            latin.setdefault(tuple(word.split()), words[0])
        latin.setdefault((latin_key(term),), words[0])  # pinyin written as one word: jixie
        latin.setdefault(tuple(lazy_pinyin(term)), words[0])  # or one syllable a word: ji xie
    return zh, latin


@functools.lru_cache(maxsize=1)
def terms() -> Terms:
    """The term tables from `data/terms.yaml`."""
    data = load_yaml(DATA_DIR / "terms.yaml")
    zh, latin = _industry(data["industry_terms"])
    return Terms(zh, latin, _zh_suffixes(data["legal_forms"]), _latin_phrases(data["legal_forms"]),
                 _zh_suffixes(data["org_markers"]), _latin_phrases(data["org_markers"]))
