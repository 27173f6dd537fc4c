"""Addresses → province / city / district / street, and the province → sales region."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from mdm.normalize import clean, squash
from mdm.reference import regions

_DISTRICT = re.compile(r"^([\u4e00-\u9fff]{1,6}?(?:自治县|新区|区|县|旗|镇))")
_CITY_SUFFIXES = ("市", "地区", "自治州", "盟")


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address; parts the text does not give are empty strings."""

    province: str = ""
    city: str = ""
    district: str = ""
    street: str = ""

    @property
    def region(self) -> str:
        """The sales region of the province (华东 …), "" when the province is unknown."""
        return region_of(self.province)


def region_of(province: str) -> str:
    """Sales region of a province given by full or short name."""
    table = regions()
    return table.region_of.get(table.province_names.get(province, ""), "")


def _take_prefix(text: str, names: dict[str, str]) -> tuple[str, str]:
    """The longest known name at the start of `text` → (its value, the rest)."""
    for size in range(min(len(text), regions().max_name_len), 1, -1):
        value = names.get(text[:size])
        if value is not None:
            return value, text[size:]
    return "", text


def take_province(text: str) -> tuple[str, str]:
    """Leading province (full or short name) → (full name, rest)."""
    return _take_prefix(text, regions().province_names)


def take_city(text: str) -> tuple[str, str, str]:
    """Leading city → (city, its province, rest); the 市 suffix is dropped."""
    table = regions()
    for size in range(min(len(text), table.max_name_len), 1, -1):
        head = text[:size]
        province = table.city_province.get(head)
        if province is not None and not text[size:size + 1] in ("区", "县"):  # 新北区 is a district
            rest = text[size:]
            for suffix in _CITY_SUFFIXES:
                rest = rest.removeprefix(suffix)
            return head, province, rest
    return "", "", text


def take_place(text: str) -> tuple[str, str, str]:
    """A leading province and/or city → (province, city, rest)."""
    province, rest = take_province(text)
    city, city_province, rest2 = take_city(rest)
    if city and (not province or province == city_province):
        return city_province, city, rest2
    if province:  # a municipality (北京市海淀区…) is its own city
        return province, regions().municipality_city.get(province, ""), rest
    return "", "", text


@functools.lru_cache(maxsize=100_000)
def parse_address(text: str, province: str = "", city: str = "", district: str = "") -> Address:
    """Parse an address; parts given separately (as canonical records carry them) win over the text."""
    rest = squash(clean(text))
    found_province, found_city, rest = take_place(rest)
    known = found_city or found_province or city or province
    found_district, rest = take_district(rest) if known else ("", rest)
    given_province = take_province(squash(clean(province)))[0]
    given_city = take_city(squash(clean(city)))[0]
    final_province = given_province or found_province or regions().city_province.get(given_city, "")
    return Address(final_province, given_city or found_city, squash(clean(district)) or found_district, rest)


def take_district(text: str) -> tuple[str, str]:
    """A leading district or county (吴中区, 顺德区, 长安镇) → (district, rest); only after a known city."""
    match = _DISTRICT.match(text)
    if match is None or len(text) == len(match.group(1)):
        return "", text
    return match.group(1), text[match.end():]
