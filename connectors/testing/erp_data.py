"""Seeded, deterministic data of the simulated Kingdee-style ERP, and the in-memory store serving it.

`seed()` builds customers, sales orders, inventory and receivables with Chinese master data, a few
near-duplicate customers (for MDM) and several rows sharing one FModifyDate (to exercise keyset
tie-breaks). `seed(bad_rows=True)` adds a handful of rows the mapping layer must dead-letter.
Every value is a string, as the ERP sends it; times are China local time without an offset.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import threading
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

Row = dict[str, Any]

CUSTOMER_FIELDS = (
    "FNumber", "FName", "FShortName", "FNameEn", "FTaxRegisterNo", "FIndustry", "FProvince", "FCity",
    "FDistrict", "FAddress", "FTel", "FContact", "FContactMobile", "FSalesman", "FCreditLimit",
    "FCurrency", "FForbidStatus", "FModifyDate",
)
ORDER_FIELDS = (
    "FBillNo", "FDate", "FCustomerNumber", "FContractNo", "FCurrency", "FTotalAmount", "FTaxAmount",
    "FDocumentStatus", "FDeliveryStatus", "FInvoiceStatus", "FPaymentStatus", "FModifyDate", "FEntries",
)
ENTRY_FIELDS = (
    "FSeq", "FMaterialNumber", "FMaterialName", "FQty", "FUnit", "FPrice", "FAmount", "FDeliveredQty",
    "FDeliveryDate",
)
INVENTORY_FIELDS = (
    "FKey", "FMaterialNumber", "FMaterialName", "FStockNumber", "FStockName", "FStockOrg", "FBaseQty",
    "FLockQty", "FAvailQty", "FOnOrderQty", "FUnit", "FModifyDate",
)
RECEIVABLE_FIELDS = (
    "FBillNo", "FCustomerNumber", "FSourceBillNo", "FCurrency", "FAmount", "FReceivedAmount",
    "FOpenAmount", "FDate", "FDueDate", "FStatus", "FModifyDate",
)

ENTITIES = ("customers", "orders", "inventory", "receivables")
KEY_FIELDS = {"customers": "FNumber", "orders": "FBillNo", "inventory": "FKey", "receivables": "FBillNo"}

TODAY = dt.date(2026, 11, 20)  # the simulated ERP's "today": keeps statuses and dates deterministic
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
CUSTOMER_TIE = "2026-11-20T08:15:30"   # a batch import touched several customers in the same second
ORDER_TIE = "2026-11-18T17:30:00"
INVENTORY_TIE = "2026-11-20T02:00:00"  # the nightly stock sync
RECEIVABLE_TIE = "2026-11-20T09:00:00"

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CENT = Decimal("0.01")

# province, city, district, telephone area code, administrative division code, city in pinyin
_REGIONS = (
    ("江苏省", "苏州市", "虎丘区", "0512", "320505", "Suzhou"),
    ("江苏省", "无锡市", "滨湖区", "0510", "320211", "Wuxi"),
    ("浙江省", "宁波市", "北仑区", "0574", "330206", "Ningbo"),
    ("广东省", "深圳市", "宝安区", "0755", "440306", "Shenzhen"),
    ("上海市", "上海市", "嘉定区", "021", "310114", "Shanghai"),
    ("江苏省", "南京市", "江宁区", "025", "320115", "Nanjing"),
    ("山东省", "青岛市", "黄岛区", "0532", "370211", "Qingdao"),
    ("浙江省", "杭州市", "萧山区", "0571", "330109", "Hangzhou"),
    ("广东省", "东莞市", "长安镇", "0769", "441900", "Dongguan"),
    ("天津市", "天津市", "滨海新区", "022", "120116", "Tianjin"),
    ("湖北省", "武汉市", "东西湖区", "027", "420112", "Wuhan"),
    ("江苏省", "苏州市", "吴中区", "0512", "320506", "Suzhou"),
)
_BRANDS = (
    ("华成", "Huacheng"), ("恒力", "Hengli"), ("金鼎", "Jinding"), ("宏达", "Hongda"), ("瑞丰", "Ruifeng"),
    ("永盛", "Yongsheng"), ("博远", "Boyuan"), ("天工", "Tiangong"), ("鑫源", "Xinyuan"), ("嘉禾", "Jiahe"),
    ("精诚", "Jingcheng"), ("海川", "Haichuan"), ("卓越", "Zhuoyue"), ("明阳", "Mingyang"), ("汇通", "Huitong"),
    ("国泰", "Guotai"), ("振华", "Zhenhua"), ("远东", "Yuandong"), ("新锐", "Xinrui"), ("立信", "Lixin"),
)
# industry, word in the company name, English word
_INDUSTRIES = (
    ("机械制造", "机械", "Machinery"), ("电子电器", "电子", "Electronics"), ("化工", "化工", "Chemical"),
    ("汽车零部件", "汽车部件", "Auto Parts"), ("新能源", "新能源科技", "New Energy Technology"),
    ("医疗器械", "医疗器械", "Medical Devices"),
)
_ROADS = ("长江路", "珠江路", "金山路", "科技大道", "工业园路", "滨河路", "创业路")
_SURNAMES = "王李张刘陈杨黄赵周吴徐孙"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明", "超", "丽")
_SALESMEN = ("张磊", "李娜", "陈杰", "周敏")
_MOBILE_PREFIXES = ("138", "139", "136", "137", "150", "186", "188", "135")
_CREDIT = ("100000.00", "200000.00", "300000.00", "500000.00", "800000.00", "1000000.00", "2000000.00")
_TRADITIONAL = str.maketrans({
    "苏": "蘇", "华": "華", "机": "機", "电": "電", "达": "達", "丰": "豐", "远": "遠", "诚": "誠",
    "阳": "陽", "汇": "匯", "国": "國", "东": "東", "锐": "銳", "车": "車", "医": "醫", "疗": "療",
    "无": "無", "锡": "錫", "宁": "寧", "广": "廣", "岛": "島", "汉": "漢", "门": "門", "业": "業",
})

# material number, name, unit, unit price (tax included)
MATERIALS = (
    ("MAT-10001", "数控车床 CK6140", "台", "128000.00"),
    ("MAT-10002", "立式加工中心 VMC850", "台", "365000.00"),
    ("MAT-10003", "伺服电机 1.5kW", "台", "2850.00"),
    ("MAT-10004", "减速机 RV-40E", "台", "6800.00"),
    ("MAT-10005", "PLC 控制模块 CPU-1214C", "件", "3200.00"),
    ("MAT-10006", "变频器 7.5kW", "台", "4200.00"),
    ("MAT-10007", "液压泵站 HPS-22", "套", "26500.00"),
    ("MAT-10008", "气动元件套件", "套", "1580.00"),
    ("MAT-10009", "精密滚珠丝杠 SFU2005", "件", "920.00"),
    ("MAT-10010", "直线导轨 HGH25", "件", "760.00"),
    ("MAT-10011", "六轴工业机器人 10kg", "台", "158000.00"),
    ("MAT-10012", "机器人气动夹爪", "件", "5400.00"),
    ("MAT-10013", "304 不锈钢板 2mm", "kg", "18.50"),
    ("MAT-10014", "6063 铝型材", "kg", "24.80"),
    ("MAT-10015", "环氧树脂 E-51", "kg", "21.60"),
    ("MAT-10016", "抗磨液压油 L-HM46", "kg", "15.20"),
    ("MAT-10017", "光电传感器", "件", "260.00"),
    ("MAT-10018", "10 寸触摸屏 HMI", "台", "2380.00"),
    ("MAT-10019", "成套电控柜", "套", "48000.00"),
    ("MAT-10020", "年度保养备件包", "套", "8800.00"),
)
# stock number, stock name, stock organisation (plant)
STOCKS = (
    ("WH-SZ-01", "苏州成品仓", "苏州工厂"),
    ("WH-SZ-02", "苏州原材料仓", "苏州工厂"),
    ("WH-NB-01", "宁波成品仓", "宁波工厂"),
    ("WH-CD-01", "成都备件仓", "成都工厂"),
)


class ValidationFailed(Exception):
    """An order the ERP refuses; `field` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


# ---------------------------------------------------------------------------------------------- ids


def uscc_check_digit(first17: str) -> str:
    """The 18th character of a Unified Social Credit Code (GB 32100-2015)."""
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_digit(first8: str) -> str:
    """The 9th character of an organisation code (GB 11714), embedded in a USCC."""
    total = sum(int(ch, 36) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(division: str, body8: str) -> str:
    """A valid USCC for an enterprise ("91") in `division` with organisation code body `body8`."""
    first17 = "91" + division + body8 + org_code_check_digit(body8)
    return first17 + uscc_check_digit(first17)


def uscc_is_valid(code: str) -> bool:
    """True for an 18-character USCC whose check digit is right."""
    if len(code) != 18 or any(ch not in _USCC_ALPHABET for ch in code):
        return False
    return uscc_check_digit(code[:17]) == code[17]


# ------------------------------------------------------------------------------------------- helpers


def money(value: Decimal) -> str:
    """Two-decimal text, as the ERP prints amounts."""
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def parse_time(text: str | None) -> dt.datetime | None:
    """A naive China-local datetime from the ERP's text; None when missing or unparseable."""
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------- customers


def _customer(i: int, rng: random.Random) -> Row:
    province, city, district, area, division, city_en = _REGIONS[(i * 7) % len(_REGIONS)]
    brand, brand_en = _BRANDS[i % len(_BRANDS)]
    industry, word, industry_en = _INDUSTRIES[i % len(_INDUSTRIES)]
    modified = dt.datetime(2026, 11, 1, 8) + dt.timedelta(seconds=i * 33_437)
    return {
        "FNumber": f"CUST-{101 + i:06d}",
        "FName": f"{city.removesuffix('市')}{brand}{word}有限公司",
        "FShortName": f"{brand}{word}",
        "FNameEn": f"{city_en} {brand_en} {industry_en} Co., Ltd." if i % 3 == 0 else None,
        "FTaxRegisterNo": make_uscc(division, f"{rng.randrange(10**8):08d}"),
        "FIndustry": industry,
        "FProvince": province,
        "FCity": city,
        "FDistrict": district,
        "FAddress": f"{_ROADS[i % len(_ROADS)]}{rng.randrange(1, 300)}号",
        "FTel": f"{area}-{rng.randrange(5000, 8999):04d} {rng.randrange(10000):04d}",
        "FContact": _SURNAMES[i % len(_SURNAMES)] + _GIVEN[(i * 5) % len(_GIVEN)],
        "FContactMobile": f"{_MOBILE_PREFIXES[i % 8]} {rng.randrange(10000):04d} {rng.randrange(10000):04d}",
        "FSalesman": _SALESMEN[i % len(_SALESMEN)],
        "FCreditLimit": _CREDIT[(i * 3) % len(_CREDIT)],
        "FCurrency": "CNY",
        "FForbidStatus": "B" if i in (7, 23) else "A",
        "FModifyDate": CUSTOMER_TIE if i % 5 == 0 else _stamp(modified),
    }


def _near_duplicates(base: list[Row], first_number: int) -> list[Row]:
    """Variants of real customers an MDM has to merge: traditional script, legal form, short name."""
    variants: list[Row] = []
    edits = (
        {"FName": base[0]["FName"].translate(_TRADITIONAL), "FTel": base[0]["FTel"].replace(" ", "")},
        {"FName": base[1]["FName"].replace("有限公司", "股份有限公司")},
        {"FName": base[2]["FShortName"], "FTaxRegisterNo": "", "FNameEn": None},
        {"FName": _bracketed_city(base[3])},
    )
    for n, (row, edit) in enumerate(zip(base, edits)):
        variant = {**row, **edit, "FNumber": f"CUST-{first_number + n:06d}"}
        variant["FModifyDate"] = _stamp(dt.datetime(2026, 11, 19, 14) + dt.timedelta(minutes=7 * n))
        variants.append(variant)
    return variants


def _bracketed_city(row: Row) -> str:
    """"无锡恒力电子有限公司" → "恒力电子（无锡）有限公司", a common way of writing the same name."""
    return f"{row['FShortName']}（{row['FCity'].removesuffix('市')}）有限公司"


def _customers(n: int, rng: random.Random) -> list[Row]:
    n_dups = min(4, n // 10)
    base = [_customer(i, rng) for i in range(n - n_dups)]
    return base + _near_duplicates(base, 101 + len(base))[:n_dups]


# ------------------------------------------------------------------------------------------- orders


def _entries(i: int, order_date: dt.date, delivered: str) -> list[Row]:
    entries = []
    for seq in range(1, 2 + (i * 7) % 4):
        number, name, unit, price = MATERIALS[(i * 3 + seq * 5) % len(MATERIALS)]
        qty = Decimal((250, 800, 1200)[seq % 3] if unit == "kg" else (1, 2, 3, 5, 8, 10)[(i + seq) % 6])
        done = {"none": Decimal(0), "part": (qty / 2).to_integral_value(), "all": qty}[delivered]
        entries.append({
            "FSeq": str(seq), "FMaterialNumber": number, "FMaterialName": name, "FQty": str(qty),
            "FUnit": unit, "FPrice": price, "FAmount": money(qty * Decimal(price)),
            "FDeliveredQty": str(done if seq == 1 or delivered == "all" else Decimal(0)),
            "FDeliveryDate": (order_date + dt.timedelta(days=15 * seq)).isoformat(),
        })
    return entries


def _order(i: int, customer: Row) -> Row:
    order_date = dt.date(2026, 10, 1) + dt.timedelta(days=(i * 17) % 50)
    status = "ABCCCCCCDZ"[i % 10]
    delivered = ("none", "part", "all")[i % 3] if status == "C" else "none"
    entries = _entries(i, order_date, delivered)
    total = sum((Decimal(e["FAmount"]) for e in entries), Decimal(0))
    modified = dt.datetime.combine(order_date, dt.time(9)) + dt.timedelta(hours=(i * 5) % 30)
    tie = i % 5 == 1 and order_date <= dt.date(2026, 11, 18)
    return {
        "FBillNo": f"SO-2026-{31 + i:06d}",
        "FDate": order_date.isoformat(),
        "FCustomerNumber": customer["FNumber"],
        "FContractNo": f"HT-2026-{101 + i:04d}" if i % 3 != 2 else "",
        "FCurrency": "CNY",
        "FTotalAmount": money(total),
        "FTaxAmount": money(total * 13 / 113),  # prices include 13 % VAT
        "FDocumentStatus": status,
        "FDeliveryStatus": {"none": "未发货", "part": "部分发货", "all": "全部发货"}[delivered],
        "FInvoiceStatus": "未开票",
        "FPaymentStatus": "未收款",
        "FModifyDate": ORDER_TIE if tie else _stamp(modified),
        "FEntries": entries,
    }


def _orders(n: int, customers: list[Row]) -> list[Row]:
    usable = [c for c in customers if c["FForbidStatus"] == "A"][:30]
    return [_order(i, usable[(i * 11) % len(usable)]) for i in range(n)]


# ---------------------------------------------------------------------------------------- inventory


def _inventory(n: int) -> list[Row]:
    combos = [(s, m) for s in STOCKS for m in MATERIALS]
    picked = [c for k, c in enumerate(combos) if k % 4 != 3][:n]  # 60 of the 80 stock/material pairs
    return [_stock_row(k, stock, material) for k, (stock, material) in enumerate(picked)]


def _stock_row(k: int, stock: tuple[str, str, str], material: tuple[str, str, str, str]) -> Row:
    (stock_no, stock_name, org), (number, name, unit, _price) = stock, material
    base = Decimal(100 + (k * 397) % 4900) + Decimal("0.50") if unit == "kg" else Decimal((k * 7) % 41)
    lock = (base * Decimal("0.2")).to_integral_value() if k % 3 == 0 else Decimal(0)
    modified = dt.datetime(2026, 11, 10, 6) + dt.timedelta(minutes=k * 191)
    return {
        "FKey": f"{stock_no}/{number}", "FMaterialNumber": number, "FMaterialName": name,
        "FStockNumber": stock_no, "FStockName": stock_name, "FStockOrg": org,
        "FBaseQty": str(base), "FLockQty": str(lock), "FAvailQty": str(base - lock),
        "FOnOrderQty": str((k * 13) % 20), "FUnit": unit,
        "FModifyDate": INVENTORY_TIE if k % 6 == 0 else _stamp(modified),
    }


# -------------------------------------------------------------------------------------- receivables


def _receivables(n: int, orders: list[Row]) -> list[Row]:
    approved = [o for o in orders if o["FDocumentStatus"] == "C"]
    if not approved:
        return []
    twice = max(0, n - len(approved))  # the first orders are billed in two instalments (30 % + 70 %)
    plan: list[tuple[Row, Decimal]] = []
    for k, order in enumerate(approved):
        plan += [(order, Decimal("0.3")), (order, Decimal("0.7"))] if k < twice else [(order, Decimal(1))]
    return [_receivable(j, order, share) for j, (order, share) in enumerate(plan[:n])]


def _receivable(j: int, order: Row, share: Decimal) -> Row:
    amount = Decimal(order["FTotalAmount"]) * share
    received = (Decimal(0), amount * Decimal("0.4"), amount, Decimal(0))[j % 4]
    bill_date = min(dt.date.fromisoformat(order["FDate"]) + dt.timedelta(days=3), TODAY)
    due = bill_date + dt.timedelta(days=15 if j % 4 == 3 else 45)
    modified = dt.datetime.combine(bill_date, dt.time(10)) + dt.timedelta(minutes=j * 37)
    return {
        "FBillNo": f"AR-2026-{301 + j:06d}", "FCustomerNumber": order["FCustomerNumber"],
        "FSourceBillNo": order["FBillNo"], "FCurrency": order["FCurrency"],
        "FAmount": money(amount), "FReceivedAmount": money(received), "FOpenAmount": money(amount - received),
        "FDate": bill_date.isoformat(), "FDueDate": due.isoformat(),
        "FStatus": _receivable_status(amount - received, received, due),
        "FModifyDate": RECEIVABLE_TIE if j % 6 == 0 else _stamp(modified),
    }


def _receivable_status(open_amount: Decimal, received: Decimal, due: dt.date) -> str:
    if open_amount <= 0:
        return "已收款"
    if due < TODAY:
        return "已逾期"
    return "部分收款" if received > 0 else "未收款"


def _settle_orders(orders: list[Row], receivables: list[Row]) -> None:
    """Invoice and payment status of each order, from its receivables."""
    for order in orders:
        mine = [r for r in receivables if r["FSourceBillNo"] == order["FBillNo"]]
        billed = sum((Decimal(r["FAmount"]) for r in mine), Decimal(0))
        paid = sum((Decimal(r["FReceivedAmount"]) for r in mine), Decimal(0))
        total = Decimal(order["FTotalAmount"])
        order["FInvoiceStatus"] = "未开票" if not mine else ("全部开票" if billed >= total else "部分开票")
        order["FPaymentStatus"] = "未收款" if paid == 0 else ("全部收款" if paid >= total else "部分收款")


# ----------------------------------------------------------------------------------------- bad rows


def bad_seed_rows() -> dict[str, list[Row]]:
    """Rows the mapping layer must reject (dead letters in the demo): one or two per entity."""
    stamp = "2026-11-15T10:00:00"
    rng = random.Random(900)
    nameless, badly_taxed = _customer(41, rng), _customer(42, rng)  # names no seeded customer has
    order = _order(3, nameless)
    stock = _stock_row(1, STOCKS[0], ("MAT-99999", "试制样件", "件", "0.00"))
    return {
        "customers": [
            {**nameless, "FNumber": "CUST-900001", "FName": "", "FModifyDate": stamp},  # empty name
            {**badly_taxed, "FNumber": "CUST-900002", "FTaxRegisterNo": "9132050MA1X2Y3Z",  # 15 chars
             "FModifyDate": stamp},
        ],
        "orders": [{**order, "FBillNo": "SO-2026-900001", "FDate": "2026-13-45",  # no such date
                    "FCustomerNumber": "CUST-000102", "FModifyDate": stamp}],
        "inventory": [{**stock, "FBaseQty": "N/A", "FModifyDate": stamp}],  # not a number
        "receivables": [{
            **_receivable(1, order, Decimal(1)), "FBillNo": "AR-2026-900001", "FDueDate": "2026-02-30",
            "FSourceBillNo": "SO-2026-900001", "FCustomerNumber": "CUST-000102", "FModifyDate": stamp,
        }],  # no such due date
    }


# -------------------------------------------------------------------------------------------- store


@dataclass
class ErpStore:
    """The ERP's tables in memory; thread-safe, since the simulator serves requests in threads."""

    customers: dict[str, Row] = field(default_factory=dict)
    orders: dict[str, Row] = field(default_factory=dict)
    inventory: dict[str, Row] = field(default_factory=dict)
    receivables: dict[str, Row] = field(default_factory=dict)
    materials: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    created_orders: list[Row] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def table(self, entity: str) -> dict[str, Row]:
        """One table by entity name ("customers", "orders", "inventory", "receivables")."""
        if entity not in ENTITIES:
            raise KeyError(f"unknown entity {entity!r}; entities: {', '.join(ENTITIES)}")
        return getattr(self, entity)  # type: ignore[no-any-return]

    def rows(self, entity: str) -> list[Row]:
        """Copies of every row of one table."""
        with self.lock:
            return copy.deepcopy(list(self.table(entity).values()))

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.lock:
            return {entity: len(self.table(entity)) for entity in ENTITIES}

    def tick(self) -> str:
        """A FModifyDate later than every row's, so a change is always seen after any cursor."""
        with self.lock:
            stamps = [parse_time(r.get("FModifyDate")) for e in ENTITIES for r in self.table(e).values()]
            latest = max((s for s in stamps if s), default=dt.datetime.combine(TODAY, dt.time()))
            return _stamp(latest + dt.timedelta(seconds=1))

    def add(self, entity: str, row: Row) -> Row:
        """Insert (or replace) a row; without a FModifyDate it gets a fresh one."""
        with self.lock:
            stored = {**copy.deepcopy(row)}
            stored.setdefault("FModifyDate", self.tick())
            self.table(entity)[stored.get(KEY_FIELDS[entity]) or ""] = stored
            return copy.deepcopy(stored)

    def modify(self, entity: str, key: str, **changes: Any) -> Row:
        """Change fields of one row and bump its FModifyDate, as the ERP does on every save."""
        with self.lock:
            row = self.table(entity)[key]
            row.update(copy.deepcopy(changes))
            row["FModifyDate"] = self.tick()
            return copy.deepcopy(row)

    def page(self, entity: str, since: dt.datetime, after: str, size: int) -> tuple[list[Row], bool]:
        """Rows after (since, after) in (FModifyDate, key) order, at most `size`, and whether more follow.

        An empty `after` means "FModifyDate > since" (a timestamp-only client); with a key it is the
        keyset condition (FModifyDate, key) > (since, after), so a client passing the last row's
        pair never misses nor repeats a row, however many rows share one FModifyDate.
        """
        key_field = KEY_FIELDS[entity]
        with self.lock:
            rows = [(parse_time(r.get("FModifyDate")), r.get(key_field) or "", r)
                    for r in self.table(entity).values()]
        dated = sorted(((d, k, r) for d, k, r in rows if d is not None), key=lambda t: (t[0], t[1]))
        if after:
            picked = [r for d, k, r in dated if (d, k) > (since, after)]
        else:
            picked = [r for d, _k, r in dated if d > since]
        return copy.deepcopy(picked[:size]), len(picked) > size

    def find_order_by_contract(self, contract_no: str) -> str | None:
        """The bill number of the first order with this contract number."""
        with self.lock:
            found = sorted(o["FBillNo"] for o in self.orders.values()
                           if contract_no and o.get("FContractNo") == contract_no)
        return found[0] if found else None

    def create_order(self, order: Row) -> str:
        """Validate and store a new sales order (uniqueness of FContractNo is NOT enforced, like the ERP)."""
        entries = _validated_entries(self, order)
        with self.lock:
            bill_no = f"SO-2026-{self._next_bill_number():06d}"
            row = _new_order_row(bill_no, order, entries, self.tick())
            self.orders[bill_no] = row
            self.created_orders.append(copy.deepcopy(row))
            return bill_no

    def _next_bill_number(self) -> int:
        numbers = [int(no.rsplit("-", 1)[1]) for no in self.orders if no.rsplit("-", 1)[-1].isdigit()]
        return max((n for n in numbers if n < 900_000), default=0) + 1


def _validated_entries(store: ErpStore, order: Row) -> list[Row]:
    """Check a new order as the ERP would; the first problem raises ValidationFailed naming its field."""
    customer = store.customers.get(order.get("FCustomerNumber") or "")
    if customer is None:
        raise ValidationFailed("FCustomerNumber", "FCustomerNumber is not a known customer")
    if customer.get("FForbidStatus") == "B":
        raise ValidationFailed("FCustomerNumber", "FCustomerNumber is a forbidden customer (FForbidStatus B)")
    entries = order.get("FEntries") or []
    if not entries:
        raise ValidationFailed("FEntries", "FEntries is empty: an order needs at least one line")
    for n, entry in enumerate(entries, start=1):
        if (entry.get("FMaterialNumber") or "") not in store.materials:
            raise ValidationFailed("FMaterialNumber", f"FMaterialNumber is not a known material (line {n})")
        if _decimal(entry.get("FQty")) <= 0:
            raise ValidationFailed("FQty", f"FQty must be greater than 0 (line {n})")
    return entries


def _decimal(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _new_order_row(bill_no: str, order: Row, entries: list[Row], stamp: str) -> Row:
    lines = [_new_entry(entry) for entry in entries]
    total = sum((Decimal(e["FAmount"]) for e in lines), Decimal(0))
    return {
        "FBillNo": bill_no, "FDate": order.get("FDate") or stamp[:10],
        "FCustomerNumber": order["FCustomerNumber"], "FContractNo": order.get("FContractNo") or "",
        "FCurrency": order.get("FCurrency") or "CNY", "FTotalAmount": money(total),
        "FTaxAmount": money(total * 13 / 113), "FDocumentStatus": "A", "FDeliveryStatus": "未发货",
        "FInvoiceStatus": "未开票", "FPaymentStatus": "未收款", "FModifyDate": stamp, "FEntries": lines,
    }


def _new_entry(entry: Row) -> Row:
    _number, name, unit, list_price = MATERIALS_BY_NUMBER[entry["FMaterialNumber"]]
    qty = _decimal(entry["FQty"])
    price = _decimal(entry.get("FPrice") or list_price)
    return {
        "FSeq": str(entry.get("FSeq") or ""), "FMaterialNumber": entry["FMaterialNumber"],
        "FMaterialName": name,
        "FQty": str(qty), "FUnit": entry.get("FUnit") or unit, "FPrice": money(price),
        "FAmount": entry.get("FAmount") or money(qty * price), "FDeliveredQty": "0",
        "FDeliveryDate": entry.get("FDeliveryDate"),
    }


MATERIALS_BY_NUMBER = {m[0]: m for m in MATERIALS}


def seed(n_customers: int = 40, n_orders: int = 30, n_inventory: int = 60, n_receivables: int = 30,
         *, bad_rows: bool = False) -> ErpStore:
    """A deterministic store; `bad_rows=True` adds the rows the mapping layer must dead-letter."""
    rng = random.Random(20261120)  # a fixed seed: the same data on every machine and run
    customers = _customers(n_customers, rng)
    orders = _orders(n_orders, customers) if customers else []
    receivables = _receivables(n_receivables, orders)
    _settle_orders(orders, receivables)
    store = ErpStore(materials=dict(MATERIALS_BY_NUMBER))
    tables = {"customers": customers, "orders": orders, "inventory": _inventory(n_inventory),
              "receivables": receivables}
    extra = bad_seed_rows() if bad_rows else {}
    for entity, rows in tables.items():
        for row in rows + extra.get(entity, []):
            store.table(entity)[row[KEY_FIELDS[entity]]] = row
    return store


def demo_store() -> ErpStore:
    """The demo's data: the seeded rows plus the bad ones, so the demo shows dead letters."""
    return seed(bad_rows=True)
