"""Normalisers: width, script, case and punctuation; phones (E.164); credit codes (USCC).

Every function is pure and cached where the same value recurs (cities, legal forms, phones of
one switchboard), because a batch of a million records calls them millions of times.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import opencc
import phonenumbers
from stdnum.cn import uscc as _uscc

# Full-width ASCII (U+FF01–U+FF5E) sits exactly 0xFEE0 above its half-width form.
_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_WIDTH.update({0x3000: 0x20})  # ideographic space
# CJK punctuation with an ASCII counterpart that full-width folding does not cover.
_WIDTH.update({ord(a): ord(b) for a, b in zip("【】〔〕「」『』《》、。·–—～", "[][]\"\"\"\"<>,. --~", strict=True)})
_PUNCT = re.compile(r"[^\w\u3400-\u9fff]+")
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")


@functools.lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    # The converter ships its dictionaries inside the wheel: nothing is fetched at run time.
    return opencc.OpenCC("t2s")


def halfwidth(text: str) -> str:
    """Full-width letters, digits, punctuation and spaces → their ASCII forms."""
    return text.translate(_WIDTH)


@functools.lru_cache(maxsize=200_000)
def simplified(text: str) -> str:
    """Traditional Chinese → simplified (OpenCC t2s); other scripts pass through."""
    return _t2s().convert(text) if _CJK.search(text) else text


def clean(text: str | None) -> str:
    """Width, script, case and spacing folded: the common first step of every text feature."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", halfwidth(text))
    return _SPACES.sub(" ", simplified(text)).strip().lower()


def squash(text: str) -> str:
    """Letters, digits and CJK characters only (punctuation and spaces dropped)."""
    return _PUNCT.sub("", text).replace("_", "")


def words(text: str) -> list[str]:
    """Lower-case word tokens of latin text (punctuation splits)."""
    return [w for w in _PUNCT.sub(" ", text.replace("&", " and ")).lower().split() if w]


def has_cjk(text: str) -> bool:
    """True when the text contains a Chinese character."""
    return _CJK.search(text) is not None


# -- phones ------------------------------------------------------------------------------------

_PHONE_SPLIT = re.compile(r"[/;,，；、]|\s{2,}")
_EXTENSION = re.compile(r"(转|分机|ext\.?|x)\s*\d+$", re.IGNORECASE)


_NOT_DIGITS = re.compile(r"[^\d+]")


def _chinese_number(part: str) -> phonenumbers.PhoneNumber | None:
    """Mainland formats (0512-…, (0512)…, +86 512 …, 138 …) without the general parser, which is 5× slower."""
    digits = _NOT_DIGITS.sub("", part)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    else:
        if "+" in digits:
            return None
        digits = digits.removeprefix("0")
    if not 9 <= len(digits) <= 11 or not digits.isdigit():
        return None
    return phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))


def _parse_phone(part: str, region: str) -> phonenumbers.PhoneNumber | None:
    number = _chinese_number(part) if region == "CN" else None
    if number is not None and phonenumbers.is_valid_number(number):
        return number
    try:
        number = phonenumbers.parse(part, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


@functools.lru_cache(maxsize=500_000)
def phone_e164(text: str | None, region: str = "CN") -> str:
    """The first valid number in `text` as E.164 (landlines with area code, mobiles); "" when none."""
    if not text:
        return ""
    for part in _PHONE_SPLIT.split(halfwidth(text)):
        part = _EXTENSION.sub("", part.strip())
        if sum(ch.isdigit() for ch in part) < 7:
            continue
        number = _parse_phone(part, region)
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ""


def phone_kind(e164: str) -> str:
    """mobile, landline or other, for data-quality checks and survivorship."""
    if not e164:
        return ""
    if e164.startswith("+86"):  # mainland numbering: mobiles are the only numbers starting with 1
        return "mobile" if e164[3] == "1" and len(e164) == 14 else "landline"
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    if kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return "mobile"
    return "landline" if kind == phonenumbers.PhoneNumberType.FIXED_LINE else "other"


# -- Unified Social Credit Code ------------------------------------------------------------------

_USCC_NOISE = re.compile(r"[\s\-_.]")


def uscc_compact(text: str | None) -> str:
    """Upper-case, half-width, no spaces or dashes (the form it is checked in)."""
    return _USCC_NOISE.sub("", halfwidth(text or "")).upper()


@functools.lru_cache(maxsize=200_000)
def uscc_valid(text: str | None) -> str:
    """The credit code when its check digit (GB 32100-2015, python-stdnum) is right, else ""."""
    code = uscc_compact(text)
    return code if len(code) == 18 and _uscc.is_valid(code) else ""
