"""Feature profiles: a source record (canonical dict) → the normalised features its rules compare.

A profile is registered by name (`customer`, `channel`, `product`, `generic`); the rule file
names the profile it uses. Named profiles know their entity's fields; `generic` folds every
field the rules mention (case, width, script, spacing), which is what FEBRL's person data needs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from hub.core.errors import ConfigError
from mdm.address import parse_address, region_of
from mdm.names import name_parts
from mdm.normalize import clean, phone_e164, phone_kind, squash, uscc_valid
from mdm.reference import DATA_DIR, latin_key, load_yaml
from mdm.rules import Rules

Record = Mapping[str, Any]
FeatureFn = Callable[[Record], dict[str, str]]
PROFILES: dict[str, FeatureFn] = {}

_POWER = re.compile(r"(\d+(?:\.\d+)?)\s*(kw|w|hp)\b", re.IGNORECASE)
_MODEL = re.compile(r"[a-z]{1,6}-?\d+[a-z0-9-]*", re.IGNORECASE)


def profile(name: str) -> Callable[[FeatureFn], FeatureFn]:
    """Register a feature profile under `name`."""
    def register(fn: FeatureFn) -> FeatureFn:
        PROFILES[name] = fn
        return fn
    return register


def _text(record: Record, key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else "" if value is None else str(value)


def _address(record: Record) -> tuple[str, str, str, str]:
    raw = record.get("address")
    if isinstance(raw, Mapping):
        street = _text(raw, "street")
        parsed = parse_address(street, _text(raw, "province") or _text(record, "province"),
                               _text(raw, "city") or _text(record, "city"), _text(raw, "district"))
    else:
        parsed = parse_address(_text(record, "address"), _text(record, "province"), _text(record, "city"))
    return parsed.province, parsed.city, parsed.district, parsed.street


def _phone_kinds(phone: str, record: Record) -> dict[str, str]:
    """The phone as landline or mobile: a company's switchboard and its buyer's mobile never disagree."""
    kind = phone_kind(phone)
    return {"landline": phone if kind == "landline" else "", "mobile": phone if kind == "mobile" else ""}


def _organisation(record: Record, phone: str) -> dict[str, str]:
    """Features shared by customers and channel partners: name parts, codes, phone, address."""
    parts = name_parts(_text(record, "name") or _text(record, "name_en"))
    province, city, district, street = _address(record)
    province = province or parts.province
    return {
        "name_norm": parts.norm, "core": parts.core, "brand": parts.brand,
        "brand_key": latin_key(parts.brand) if parts.core else parts.brand,
        "industry_words": parts.industry, "latin": parts.latin, "name_province": parts.province,
        "name_city": parts.city, "legal_form": parts.legal_form, "org_kind": parts.org_kind,
        "branch": parts.branch, "credit_code": uscc_valid(_text(record, "credit_code")),
        "phone": phone, **_phone_kinds(phone, record), "province": province, "city": city or parts.city, "district": district,
        "street": street, "region": region_of(province), "industry": clean(_text(record, "industry")),
    }


@profile("customer")
def customer_features(record: Record) -> dict[str, str]:
    """Company name parts, credit code, E.164 phone, parsed address and region."""
    phone = phone_e164(_text(record, "phone"))
    if not phone:  # a record without a switchboard is often known by its contact's mobile
        contacts = record.get("contacts") or []
        phone = next((phone_e164(c.get("mobile")) for c in contacts if phone_e164(c.get("mobile"))), "")
    return _organisation(record, phone)


@profile("channel")
def channel_features(record: Record) -> dict[str, str]:
    """Customer features plus the channel type; the contact's mobile stands in for a phone."""
    phone = phone_e164(_text(record, "phone")) or phone_e164(_text(record, "contact_mobile"))
    out = _organisation(record, phone)
    out["channel_type"] = _text(record, "channel_type")
    return out


def _material(text: str) -> str:
    return next((m for m in materials() if m in text), "")


@functools.lru_cache(maxsize=1)
def materials() -> tuple[str, ...]:
    """Materials named in product specifications, most specific first (data/terms.yaml)."""
    return tuple(load_yaml(DATA_DIR / "terms.yaml").get("materials", []))


@profile("product")
def product_features(record: Record) -> dict[str, str]:
    """Model, key specification (power), material, category and name of a product."""
    name = clean(_text(record, "name"))
    spec = clean(_text(record, "specification") + " " + " ".join(map(str, (record.get("attributes") or {}).values())))
    model = squash(clean(_text(record, "model")))
    if not model:
        found = _MODEL.search(name)
        model = squash(found.group(0)) if found else ""
    power = _POWER.search(spec) or _POWER.search(name)
    return {
        "name_norm": squash(name), "model": model, "spec": squash(spec),
        "power": (power.group(1) + power.group(2)).upper() if power else "",
        "material": _material(spec) or _material(name), "category": squash(clean(_text(record, "category"))),
        "brand": squash(clean(_text(record, "brand"))), "drawing_no": squash(clean(_text(record, "drawing_no"))),
        "name_latin": latin_key(squash(name)),
    }


def generic_features(record: Record, names: tuple[str, ...]) -> dict[str, str]:
    """Every named field folded (width, script, case, spacing); missing fields are empty."""
    out = {}
    for feature in names:
        value = clean(_text(record, feature))
        out[feature] = "" if value in ("nan", "none", "null") else value
    return out


def extractor(rules: Rules, extra: tuple[str, ...] = ()) -> tuple[tuple[str, ...], Callable[[Record], tuple[str, ...]]]:
    """(feature names, record → feature tuple) for the rules' profile; `extra` adds more features."""
    names = tuple(dict.fromkeys((*rules.features, *extra)))
    if rules.profile == "generic":
        return names, lambda record: tuple(generic_features(record, names).values())
    fn = PROFILES.get(rules.profile)
    if fn is None:
        raise ConfigError(f"{rules.source}: unknown profile {rules.profile!r} (known: generic, {', '.join(PROFILES)})")

    def extract(record: Record) -> tuple[str, ...]:
        found = fn(record)
        return tuple(found.get(n, "") for n in names)

    return names, extract


def all_features(rules: Rules, record: Record) -> dict[str, str]:
    """Every feature the profile knows for one record (stored with the record, shown to stewards)."""
    if rules.profile == "generic":
        return generic_features(record, rules.features)
    return PROFILES[rules.profile](record)

