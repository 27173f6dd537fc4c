"""Company names taken apart: region, core, brand, industry words, legal form, group / branch.

    苏州華成機械股份有限公司 → region 江苏省/苏州, brand 华成, industry [machinery],
                              legal form joint_stock, latin key "huacheng machinery"
    "Suzhou Huacheng Machinery Co., Ltd." → region 江苏省/苏州, brand huacheng, industry
                              [machinery], legal form limited, latin key "huacheng machinery"

The legal form and the organisation kind (group, branch) are kept as features rather than
thrown away: they decide hard negatives (a group and its subsidiary, two branches).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from mdm.address import take_city, take_district, take_place
from mdm.normalize import clean, has_cjk, squash, words
from mdm.reference import latin_key, regions, terms

_BRACKETS = re.compile(r"[(\[]([^()\[\]]*)[)\]]")


@dataclass(frozen=True, slots=True)
class NameParts:
    """The features of one company name."""

    norm: str = ""  # folded, no punctuation: the exact-match form
    core: str = ""  # without region, brackets, legal form, group / branch markers (CJK names only)
    brand: str = ""  # core without industry words
    industry: str = ""  # canonical English industry words, sorted, space separated
    latin: str = ""  # brand in pinyin + industry words: comparable across scripts
    province: str = ""
    city: str = ""
    legal_form: str = ""
    org_kind: str = ""  # "", group or branch
    branch: str = ""  # where a branch is (苏州分公司 → 苏州)


def _split_brackets(text: str) -> tuple[str, list[str]]:
    inner = _BRACKETS.findall(text)
    return _BRACKETS.sub("", text), inner


def _strip_suffix(text: str, table: list[tuple[str, str]]) -> tuple[str, str]:
    for suffix, value in table:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)], value
    return text, ""


def _branch(text: str) -> tuple[str, str, str]:
    """"华成机械有限公司苏州分公司" → ("华成机械有限公司", "branch", "苏州")."""
    rest, kind = _strip_suffix(text, [(s, k) for s, k in terms().org_zh if k == "branch"])
    if not kind:
        return text, "", ""
    for suffix, _form in terms().legal_zh:
        at = rest.rfind(suffix)
        if at > 0:
            return rest[: at + len(suffix)], kind, _place_word(rest[at + len(suffix):])
    return rest, kind, ""


def _place_word(text: str) -> str:
    city = take_city(text)[0]
    return city or text


def _strip_industry(core: str) -> tuple[str, list[str]]:
    """Industry words taken off the end of a CJK core, repeatedly: 华成机械科技 → 华成, [machinery, technology]."""
    found: list[str] = []
    table = terms().industry_zh
    changed = True
    while changed:
        changed = False
        for size in range(min(len(core) - 1, 5), 1, -1):
            word = table.get(core[-size:])
            if word is not None:
                found.append(word)
                core = core[:-size]
                changed = True
                break
    return core, found


def _cjk_parts(text: str) -> NameParts:
    body, inner = _split_brackets(text)
    body = squash(body)
    body, org_kind, branch = _branch(body)
    body, legal_form = _strip_suffix(body, terms().legal_zh)
    body, group = _strip_suffix(body, [(s, k) for s, k in terms().org_zh if k == "group"])
    province, city, body = take_place(body)
    if city:  # 佛山市顺德区粤达机电: the district is part of the place, not of the brand
        body = take_district(body)[1]
    for item in inner:  # 华成机械（苏州）有限公司: the bracket names the place
        p, c, rest = take_place(squash(item))
        if p and not rest.replace("中国", ""):
            province, city = province or p, city or c
    if not legal_form:
        body, legal_form = _strip_suffix(body, terms().legal_zh)
    brand, industry = _strip_industry(body)
    brand = brand or body
    words_en = " ".join(sorted(industry))
    return NameParts(squash(text), body, brand, words_en, (latin_key(brand) + " " + words_en).strip(),
                     province, city, legal_form, org_kind or group, branch)


def _take_phrases(tokens: list[str], table: list[tuple[tuple[str, ...], str]], *, end: bool) -> tuple[list[str], str]:
    """Remove one known phrase at the end (or anywhere, when end=False) → (rest, its value)."""
    for phrase, value in table:
        n = len(phrase)
        if end and tuple(tokens[-n:]) == phrase and len(tokens) > n:
            return tokens[:-n], value
        if not end:
            for i in range(len(tokens) - n + 1):
                if tuple(tokens[i:i + n]) == phrase:
                    return tokens[:i] + tokens[i + n:], value
    return tokens, ""


def _latin_region(tokens: list[str]) -> tuple[list[str], str, str]:
    places = regions().latin_places
    for index in (0, len(tokens) - 1):
        if len(tokens) > 1 and tokens[index] in places:
            province, city = places[tokens[index]]
            return tokens[:index] + tokens[index + 1:], province, city
    return tokens, "", ""


def _latin_industry(tokens: list[str]) -> tuple[list[str], list[str]]:
    table = terms().industry_latin
    found: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        for n in (4, 3, 2, 1):
            word = table.get(tuple(tokens[i:i + n])) if i + n <= len(tokens) else None
            if word is not None:
                found.append(word)
                i += n
                break
        else:
            rest.append(tokens[i])
            i += 1
    return rest, found


def _latin_parts(text: str) -> NameParts:
    tokens = [t for t in words(text) if t not in ("the", "china", "prc", "and")]
    tokens, branch_kind = _take_phrases(tokens, [p for p in terms().org_latin if p[1] == "branch"], end=True)
    legal_form = ""
    for _ in range(2):  # "Co., Ltd." is two phrases: co + ltd, or one: co ltd
        tokens, form = _take_phrases(tokens, terms().legal_latin, end=True)
        legal_form = legal_form or form
    tokens, group = _take_phrases(tokens, [p for p in terms().org_latin if p[1] == "group"], end=False)
    tokens, province, city = _latin_region(tokens)
    brand_tokens, industry = _latin_industry(tokens)
    brand = "".join(brand_tokens) or "".join(tokens)
    words_en = " ".join(sorted(industry))
    return NameParts(squash(text), "", brand, words_en, (brand + " " + words_en).strip(), province, city,
                     legal_form, branch_kind or group, "")


@functools.lru_cache(maxsize=300_000)
def name_parts(name: str | None) -> NameParts:
    """Take a company name apart (Chinese, English or pinyin; any width or script)."""
    text = clean(name)
    if not text:
        return NameParts()
    return _cjk_parts(text) if has_cjk(text) else _latin_parts(text)
