"""Golden records: the survivorship result of a cluster, shaped like `mdm/golden_<entity>.v1`.

One shaper per entity (a registry) picks the attributes its golden schema has, normalises them
(credit code checked, phone in E.164, address parsed, region derived) and leaves out what no
member has. Identity (golden_id, code, aliases, members, updated_at) is added by the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mdm.address import parse_address, region_of
from mdm.names import name_parts
from mdm.normalize import phone_e164, uscc_valid
from mdm.survivorship import Member, survive

Shaper = Callable[[Sequence[Member], Mapping[str, Any]], dict[str, Any]]
SHAPERS: dict[str, Shaper] = {}
_ADDRESS_KEYS = ("province", "city", "district", "street", "postal_code")


def shaper(entity: str) -> Callable[[Shaper], Shaper]:
    """Register the golden-record shaper of an entity."""
    def register(fn: Shaper) -> Shaper:
        SHAPERS[entity] = fn
        return fn
    return register


def _pick(out: dict[str, Any], members: Sequence[Member], rules: Mapping[str, Any], *names: str) -> None:
    for name in names:
        value, _ = survive(name, members, rules)
        if value not in (None, ""):
            out[name] = value


def _address(value: Any) -> dict[str, str]:
    """A schema-shaped address from a dict or a single line of text (parsed)."""
    if isinstance(value, Mapping):
        parsed = parse_address(str(value.get("street", "")), str(value.get("province", "")),
                               str(value.get("city", "")), str(value.get("district", "")))
        extra = {"postal_code": str(value["postal_code"])} if value.get("postal_code") else {}
    else:
        parsed, extra = parse_address(str(value or "")), {}
    city = parsed.city + "市" if parsed.city and not parsed.city.endswith("市") else parsed.city
    parts = {"province": parsed.province, "city": city, "district": parsed.district, "street": parsed.street,
             **extra}
    return {k: v for k, v in parts.items() if v and k in _ADDRESS_KEYS}


def _organisation(members: Sequence[Member], rules: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _pick(out, members, rules, "name", "short_name")
    code, _ = survive("credit_code", members, rules)
    if code and uscc_valid(str(code)):
        out["credit_code"] = uscc_valid(str(code))
    return out


@shaper("customer")
def customer_golden(members: Sequence[Member], rules: Mapping[str, Any]) -> dict[str, Any]:
    """name, short name, credit code, industry, address, phone (E.164) and region."""
    out = _organisation(members, rules)
    _pick(out, members, rules, "industry")
    address, _ = survive("address", members, rules)
    if address:
        out["address"] = _address(address) or None
        out = {k: v for k, v in out.items() if v is not None}
    phone, _ = survive("phone", members, rules)
    if phone and phone_e164(str(phone)):
        out["phone"] = phone_e164(str(phone))
    province = (out.get("address") or {}).get("province") or name_parts(out.get("name")).province
    if region_of(province):
        out["region"] = region_of(province)
    return out


@shaper("channel")
def channel_golden(members: Sequence[Member], rules: Mapping[str, Any]) -> dict[str, Any]:
    """name, short name, channel type, province and region, credit code, status."""
    out = _organisation(members, rules)
    _pick(out, members, rules, "status")
    channel_type, _ = survive("channel_type", members, rules)
    out["channel_type"] = channel_type or "dealer"
    province, _ = survive("province", members, rules)
    address, _ = survive("address", members, rules)
    full = parse_address("", str(province or ""), "").province or _address(address).get("province", "")
    full = full or name_parts(out.get("name")).province
    if full:
        out["province"] = full
    if region_of(full):
        out["region"] = region_of(full)
    return out


@shaper("product")
def product_golden(members: Sequence[Member], rules: Mapping[str, Any]) -> dict[str, Any]:
    """Name, model, specification, category, unit, lifecycle (PLM wins), revision, merged attributes."""
    out: dict[str, Any] = {}
    _pick(out, members, rules, "name", "model", "specification", "category", "base_unit", "lifecycle_state",
          "revision")
    attributes: dict[str, str] = {}
    for member in sorted(members, key=lambda m: survive("name", [m], rules)[0] is None):
        for key, value in (member.data.get("attributes") or {}).items():
            attributes.setdefault(str(key), str(value))
    if attributes:
        out["attributes"] = attributes
    return out


def build_golden(entity: str, members: Sequence[Member], rules: Mapping[str, Any]) -> dict[str, Any]:
    """The survivorship attributes of a golden record of `entity` from its members."""
    return SHAPERS[entity](members, rules)
