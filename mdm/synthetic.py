"""Synthetic Chinese customer data with known answers, for tests and benchmarks.

Each entity (a real company) gets one clean record and a random number of duplicates written
the way real source systems write them: traditional characters, other legal-form suffixes,
the city in brackets or spelled with its province, typos, short names, English or pinyin names,
phones and addresses in every format, missing fields. Hard negatives are separate entities:
the same brand and industry in another city, a group and its branch, the same name with
another credit code. `entity` is the answer key: records of one entity are true matches.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import opencc
from pypinyin import lazy_pinyin

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# province, city, telephone area code, districts
CITIES = (
    ("江苏省", "苏州", "512", ("吴中区", "虎丘区", "相城区", "姑苏区")),
    ("江苏省", "无锡", "510", ("滨湖区", "梁溪区", "新吴区")),
    ("江苏省", "南京", "25", ("江宁区", "鼓楼区", "浦口区")),
    ("江苏省", "常州", "519", ("武进区", "新北区")),
    ("浙江省", "杭州", "571", ("萧山区", "余杭区", "西湖区")),
    ("浙江省", "宁波", "574", ("北仑区", "鄞州区", "镇海区")),
    ("浙江省", "温州", "577", ("鹿城区", "瓯海区")),
    ("上海市", "上海", "21", ("嘉定区", "浦东新区", "松江区", "闵行区")),
    ("广东省", "深圳", "755", ("宝安区", "南山区", "龙岗区")),
    ("广东省", "广州", "20", ("番禺区", "黄埔区", "白云区")),
    ("广东省", "佛山", "757", ("顺德区", "南海区")),
    ("广东省", "东莞", "769", ("长安镇", "虎门镇")),
    ("山东省", "青岛", "532", ("黄岛区", "城阳区")),
    ("山东省", "济南", "531", ("历下区", "槐荫区")),
    ("天津市", "天津", "22", ("滨海新区", "西青区")),
    ("北京市", "北京", "10", ("海淀区", "朝阳区", "大兴区")),
    ("湖北省", "武汉", "27", ("东西湖区", "江夏区")),
    ("湖南省", "长沙", "731", ("雨花区", "岳麓区")),
    ("四川省", "成都", "28", ("武侯区", "双流区")),
    ("重庆市", "重庆", "23", ("渝北区", "江北区")),
    ("陕西省", "西安", "29", ("雁塔区", "未央区")),
    ("辽宁省", "沈阳", "24", ("铁西区", "浑南区")),
    ("辽宁省", "大连", "411", ("甘井子区", "金州区")),
    ("河南省", "郑州", "371", ("金水区", "中原区")),
    ("安徽省", "合肥", "551", ("蜀山区", "包河区")),
    ("福建省", "厦门", "592", ("思明区", "湖里区")),
)
# word in the name, industry as sources describe it, English word
INDUSTRIES = (
    ("机械", "通用设备制造业", "Machinery"), ("电子", "电子电器", "Electronics"), ("化工", "化学原料", "Chemical"),
    ("汽车部件", "汽车零部件", "Auto Parts"), ("新能源科技", "新能源", "New Energy Technology"),
    ("医疗器械", "医疗器械", "Medical Devices"), ("精密机械", "专用设备制造业", "Precision Machinery"),
    ("电气", "电气机械", "Electric"), ("材料科技", "新材料", "Material Technology"), ("自动化设备", "通用设备", "Automation Equipment"),
)
_BRAND_CHARS = ("华成恒力金鼎宏达瑞丰永盛博远天工鑫源嘉禾精诚海川卓越明阳汇通国泰振华远东新锐立信中科东方腾飞"
                "长城富康佳美宝丰同创万达盛世和兴隆昌德润泰安顺豪益民祥瑞光启星辰宇航正大信诚凯旋鼎盛"
                "伟业荣华中天银河力拓凌云飞跃联创思源弘毅普惠安信利华南丰北辰君诺亿通润达伟创致远")
_TYPOS = {"成": "诚", "华": "化", "达": "大", "力": "立", "鑫": "新", "盛": "胜", "远": "源", "信": "新",
          "丰": "峰", "明": "铭", "通": "同", "泰": "太", "德": "得", "安": "按", "飞": "非", "星": "兴"}
_ROADS = ("长江路", "珠江路", "金山路", "科技大道", "工业园路", "滨河路", "创业路", "人民路", "中山路", "建设路",
          "解放路", "新华路", "发展大道", "高新路", "东环路", "西环路", "北京路", "南京路", "黄河路", "兴业路")
_LEGAL = ("有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司")
_MOBILE = ("138", "139", "136", "137", "150", "186", "188", "135", "158", "189")


@functools.lru_cache(maxsize=1)
def _s2t() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def _check_digit(first17: str) -> str:
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(rng: random.Random) -> str:
    """A random Unified Social Credit Code with a correct check digit."""
    body = "91" + f"{rng.randrange(110000, 660000):06d}" + "".join(rng.choice(_USCC_ALPHABET) for _ in range(9))
    return body + _check_digit(body)


def pinyin_title(text: str) -> str:
    """华成 → Huacheng."""
    return "".join(lazy_pinyin(text)).capitalize()


@dataclass
class Company:
    """One real-world entity and the facts its records are written from."""

    entity: int
    brand: str
    city: tuple[str, str, str, tuple[str, ...]]
    industry: tuple[str, str, str]
    legal: str
    credit_code: str
    phone: str  # national significant number without the trunk 0
    mobile: str
    district: str
    street: str
    kind: str = ""  # "", group, branch
    branch_city: str = ""

    @property
    def name(self) -> str:
        """The registered legal name."""
        word = self.industry[0]
        if self.kind == "group":
            return f"{self.brand}{word}集团有限公司"
        if self.kind == "branch":
            return f"{self.brand}{word}{self.legal}{self.branch_city}分公司"
        return f"{self.city[1]}{self.brand}{word}{self.legal}"


def _company(entity: int, rng: random.Random, brand: str | None = None, city: Any = None,
             industry: Any = None) -> Company:
    city = city or rng.choice(CITIES)
    phone = city[2] + str(rng.randrange(2, 9)) + f"{rng.randrange(10**7):07d}"  # 8-digit local numbers
    mobile = rng.choice(_MOBILE) + f"{rng.randrange(10**8):08d}"
    brand = brand or "".join(rng.choice(_BRAND_CHARS) for _ in range(2 if rng.random() < 0.7 else 3))
    return Company(entity, brand, city, industry or rng.choice(INDUSTRIES), rng.choice(_LEGAL), make_uscc(rng),
                   phone, mobile, rng.choice(city[3]), f"{rng.choice(_ROADS)}{rng.randrange(1, 2000)}号")


# -- how sources write a company ------------------------------------------------------------------

def _phone_text(c: Company, rng: random.Random) -> str:
    area, number = c.phone[: len(c.city[2])], c.phone[len(c.city[2]):]
    formats = (f"0{area}-{number}", f"(0{area}){number[:4]} {number[4:]}", f"+86 {area} {number}", f"0{area}{number}",
               f"０{area}－{number}", f"{c.mobile[:3]} {c.mobile[3:7]} {c.mobile[7:]}", f"+86{c.mobile}")
    return rng.choice(formats)


def _address_text(c: Company, rng: random.Random) -> dict[str, str]:
    province, city = c.city[0], c.city[1]
    full = rng.choice((f"{province}{city}市{c.district}{c.street}", f"{city}市{c.district}{c.street}",
                       f"{city}{c.district}{c.street}", f"{c.district}{c.street}"))
    if rng.random() < 0.5:
        return {"address": full}
    return {"address": f"{c.district}{c.street}", "province": province, "city": f"{city}市"}


def _typo(text: str, rng: random.Random) -> str:
    spots = [i for i, ch in enumerate(text) if ch in _TYPOS]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + _TYPOS[text[i]] + text[i + 1:]


def _english(c: Company, rng: random.Random) -> str:
    city_py = pinyin_title(c.city[1])
    if rng.random() < 0.7:
        return f"{city_py} {pinyin_title(c.brand)} {c.industry[2]} Co., Ltd."
    words = " ".join(w.capitalize() for w in lazy_pinyin(c.industry[0]))
    return f"{city_py} {pinyin_title(c.brand)} {words} Youxian Gongsi"


_NAME_VARIANTS: tuple[tuple[float, Callable[[Company, str, random.Random], str]], ...] = (
    (0.20, lambda c, n, r: _s2t().convert(n)),                                        # traditional script
    (0.12, lambda c, n, r: n.replace(c.legal, r.choice([x for x in _LEGAL if x != c.legal] or [c.legal]))),
    (0.12, lambda c, n, r: f"{c.brand}{c.industry[0]}（{c.city[1]}）{c.legal}"),          # city in brackets
    (0.08, lambda c, n, r: f"{c.city[0]}{n}" if n.startswith(c.city[1]) and not c.city[0].startswith(c.city[1])
     else n),                                                                           # with the province
    (0.10, lambda c, n, r: _typo(n, r)),
    (0.06, lambda c, n, r: n.replace("（", "(").replace("）", ")") + " "),
)


def _variant_name(c: Company, rng: random.Random, allow_short: bool) -> str:
    if c.kind:
        return _s2t().convert(c.name) if rng.random() < 0.2 else c.name
    roll = rng.random()
    if roll < 0.07:
        return _english(c, rng)
    if allow_short and roll < 0.13:
        return f"{c.brand}{c.industry[0]}"
    name = c.name
    for chance, change in _NAME_VARIANTS:
        if rng.random() < chance:
            name = change(c, name, rng)
    return name


def _record(c: Company, n: int, rng: random.Random, source: str, clean: bool) -> dict[str, str]:
    keep_phone = clean or rng.random() < 0.7
    name = c.name if clean else _variant_name(c, rng, allow_short=keep_phone)
    record = {"record_id": f"R{c.entity:07d}-{n}", "source": source, "name": name, "phone": "", "address": "",
              "credit_code": "", "industry": c.industry[1] if clean or rng.random() < 0.6 else ""}
    if keep_phone:
        record["phone"] = _phone_text(c, rng)
    if clean or rng.random() < 0.7:
        record.update(_address_text(c, rng))
    if c.kind or clean or rng.random() < 0.5:
        code = c.credit_code
        record["credit_code"] = code.lower() if rng.random() < 0.05 else code
    return record


@dataclass
class Generated:
    """Records and their answer key."""

    records: list[dict[str, str]] = field(default_factory=list)
    entity: list[int] = field(default_factory=list)
    hard_negatives: list[tuple[int, int]] = field(default_factory=list)  # entity pairs that must stay apart


def _duplicates(rng: random.Random) -> int:
    roll = rng.random()
    return 0 if roll < 0.45 else 1 if roll < 0.8 else 2 if roll < 0.95 else 3


def _negatives(base: Company, next_id: int, rng: random.Random) -> list[Company]:
    """Entities that look like `base` but are not it."""
    kind = rng.randrange(4)
    other_city = rng.choice([c for c in CITIES if c[1] != base.city[1]])
    if kind == 0:  # same brand and industry, another city
        return [_company(next_id, rng, base.brand, other_city, base.industry)]
    if kind == 1:  # the group above it
        group = _company(next_id, rng, base.brand, base.city, base.industry)
        group.kind = "group"
        return [group]
    if kind == 2:  # a branch of it in another city
        branch = _company(next_id, rng, base.brand, other_city, base.industry)
        branch.kind, branch.branch_city, branch.legal = "branch", other_city[1], base.legal
        return [branch]
    twin = _company(next_id, rng, base.brand, base.city, base.industry)  # same name, other credit code
    twin.legal = base.legal
    return [twin]


def _sources(rng: random.Random) -> Iterator[str]:
    while True:
        yield rng.choice(("erp", "sap", "crm", "dms"))


def generate(entities: int, seed: int = 7, negatives: float = 0.08) -> Generated:
    """`entities` companies (plus hard negatives), each with 0–3 duplicates; shuffled records."""
    rng = random.Random(seed)
    out = Generated()
    companies: list[Company] = []
    next_id = 0
    while len(companies) < entities:
        base = _company(next_id, rng)
        companies.append(base)
        next_id += 1
        if rng.random() < negatives:
            for other in _negatives(base, next_id, rng):
                companies.append(other)
                out.hard_negatives.append((base.entity, other.entity))
                next_id += 1
    sources = _sources(rng)
    twins = {e for a, b in out.hard_negatives for e in (a, b)
             if companies[a].name == companies[b].name}  # same name: told apart by credit code only
    for c in companies:
        for n in range(1 + _duplicates(rng)):
            record = _record(c, n, rng, next(sources), clean=n == 0)
            if c.entity in twins and not record["credit_code"]:
                record["credit_code"] = c.credit_code  # a hard negative is defined by its own credit code
            out.records.append(record)
            out.entity.append(c.entity)
    order = list(range(len(out.records)))
    rng.shuffle(order)
    out.records = [out.records[i] for i in order]
    out.entity = [out.entity[i] for i in order]
    return out
