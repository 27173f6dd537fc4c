"""Seed data of the simulated PLM: Chinese manufacturing products with several revisions each.

Part numbers follow the ERP's material numbers (MAT-10001 is the ERP's 数控车床 CK6140), so MDM can
match PLM and ERP records. Every part has revisions in lifecycle states INWORK, RELEASED or
OBSOLETE; only the latest RELEASED revision of a part may become a canonical product.

    store = seed()                                   # the demo catalogue with its bad rows
    store.modify("FG-HC100-SS", "B", name="…")       # modifiedAt moves past every other row
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

CHINA = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 9, 1, 9, 0, tzinfo=CHINA)

Option = dict[str, Any]

MOTOR: Option = {"code": "MOTOR_BRAND", "name": "电机品牌", "mandatory": True, "defaultValue": "WOLONG",
                 "values": [{"code": "ABB", "name": "ABB"}, {"code": "SIEMENS", "name": "西门子"},
                            {"code": "WOLONG", "name": "卧龙"}]}
PLC: Option = {"code": "PLC", "name": "控制系统", "mandatory": False,
               "values": [{"code": "S7-1200", "name": "西门子 S7-1200"}, {"code": "H3U", "name": "汇川 H3U"}]}
CNC: Option = {"code": "CNC_SYSTEM", "name": "数控系统", "mandatory": True, "defaultValue": "GSK980",
               "values": [{"code": "GSK980", "name": "广数 GSK980TDi"},
                          {"code": "FANUC-0I", "name": "发那科 0i-TF"},
                          {"code": "KND1000", "name": "凯恩帝 K1000TI"}]}
CHUCK: Option = {"code": "CHUCK", "name": "卡盘", "mandatory": False, "defaultValue": "MANUAL",
                 "values": [{"code": "MANUAL", "name": "手动三爪卡盘"},
                            {"code": "HYDRAULIC", "name": "液压卡盘"}]}
SEAL: Option = {"code": "SEAL", "name": "密封形式", "mandatory": True, "defaultValue": "MECH",
                "values": [{"code": "MECH", "name": "机械密封"}, {"code": "PACKING", "name": "填料密封"}]}


@dataclass(frozen=True)
class Product:
    """One part of the catalogue: its number, name, attributes and revision history."""

    number: str
    name: str
    unit: str
    attributes: dict[str, str]
    options: tuple[Option, ...]
    revisions: tuple[tuple[str, str], ...]  # (revision, lifecycle state), oldest first
    bom_items: int = 0


CATALOGUE: tuple[Product, ...] = (
    Product("FG-HC100-SS", "HC-100 不锈钢搅拌设备", "台",
            {"category": "设备", "productLine": "搅拌设备", "model": "HC-100",
             "specification": "100kW / 380V / 304不锈钢", "power_kw": "100", "material": "不锈钢",
             "voltage": "380V", "protection": "IP55", "drawingNo": "HC100-000-00", "brand": "华成",
             "netWeight": "1720", "grossWeight": "1850.5"},
            (MOTOR, PLC), (("A", "OBSOLETE"), ("B", "RELEASED"), ("C", "INWORK")), 42),
    Product("FG-HC100-CS", "HC-100 碳钢搅拌设备", "台",
            {"category": "设备", "productLine": "搅拌设备", "model": "HC-100",
             "specification": "100kW / 380V / Q235碳钢", "power_kw": "100", "material": "碳钢",
             "voltage": "380V", "protection": "IP55", "drawingNo": "HC100-000-01", "brand": "华成",
             "netWeight": "1690", "grossWeight": "1815"},
            (MOTOR, PLC), (("A", "RELEASED"),), 40),
    Product("FG-HC200-SS", "HC-200 不锈钢搅拌设备", "台",
            {"category": "设备", "productLine": "搅拌设备", "model": "HC-200",
             "specification": "200kW / 380V / 316L不锈钢", "power_kw": "200", "material": "不锈钢",
             "voltage": "380V", "protection": "IP55", "drawingNo": "HC200-000-00", "brand": "华成",
             "netWeight": "2960", "grossWeight": "3150"},
            (MOTOR, PLC, SEAL), (("A", "RELEASED"), ("B", "RELEASED"), ("C", "INWORK")), 57),
    Product("FG-FYF500-SS", "FYF-500 不锈钢反应釜", "台",
            {"category": "设备", "productLine": "反应釜", "model": "FYF-500",
             "specification": "500L / 37kW / 304不锈钢", "power_kw": "37", "material": "不锈钢",
             "voltage": "380V", "drawingNo": "FYF500-000-00", "brand": "华成"},
            (SEAL,), (("A", "INWORK"),), 0),
    Product("MAT-10001", "数控车床 CK6140", "台",
            {"category": "设备", "productLine": "数控车床", "model": "CK6140",
             "specification": "φ400×1000 / 7.5kW / 铸铁床身", "power_kw": "7.5", "material": "铸铁",
             "voltage": "380V", "drawingNo": "CK6140-000-00", "brand": "华成",
             "netWeight": "2100", "grossWeight": "2350"},
            (CNC, CHUCK), (("A", "RELEASED"), ("B", "INWORK")), 128),
    Product("MAT-10002", "立式加工中心 VMC850", "台",
            {"category": "设备", "productLine": "加工中心", "model": "VMC850",
             "specification": "850×500×550 / 11kW / 铸铁", "power_kw": "11", "material": "铸铁",
             "voltage": "380V", "drawingNo": "VMC850-000-00", "brand": "华成",
             "netWeight": "5200", "grossWeight": "5600"},
            (CNC,), (("A", "OBSOLETE"), ("B", "OBSOLETE"), ("C", "RELEASED")), 214),
    Product("MAT-10007", "液压泵站 HPS-22", "套",
            {"category": "部件", "productLine": "液压系统", "model": "HPS-22",
             "specification": "22kW / 25MPa / 碳钢油箱", "power_kw": "22", "material": "碳钢",
             "voltage": "380V", "drawingNo": "HPS22-000-00"},
            (), (("A", "RELEASED"),), 36),
    Product("MAT-10019", "成套电控柜", "套",
            {"category": "部件", "productLine": "电控系统", "model": "DK-800",
             "specification": "800×600×2000 / 冷轧钢板", "material": "碳钢", "voltage": "380V",
             "protection": "IP54", "drawingNo": "DK800-000-00"},
            (PLC,), (("01", "RELEASED"), ("02", "INWORK")), 65),
)

# Rows a mapping or the stream must reject: (number, revision, what is wrong).
BAD_ROWS: tuple[tuple[str, str, str], ...] = (
    ("", "A", "missing number"),
    ("FG-BAD-DATE", "A", "unparseable modifiedAt"),
    ("FG-BAD-UNIT", "A", "unknown unit"),
)


@dataclass
class PlmStore:
    """Part revisions in (modifiedAt, number, revision) order, BOM headers; thread-safe."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    boms: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, row: dict[str, Any], at: dt.datetime) -> None:
        """Add one revision, modified at `at` (the ordering key, even when modifiedAt is broken)."""
        with self._lock:
            row.setdefault("modifiedAt", at.isoformat())
            self.rows.append({**row, "_at": at})
            self.rows.sort(key=_order)

    def page(self, since: dt.datetime | None, page: int, size: int) -> tuple[list[dict[str, Any]], int]:
        """Rows modified at or after `since` (inclusive), one page of them, and the total count."""
        with self._lock:
            chosen = [r for r in self.rows if since is None or r["_at"] >= since]
        start = (page - 1) * size
        return [_public(r) for r in chosen[start:start + size]], len(chosen)

    def part(self, number: str) -> dict[str, Any] | None:
        """The part master: its number, name and every revision with its state."""
        with self._lock:
            revisions = [r for r in self.rows if r.get("number") == number]
        if not revisions:
            return None
        return {"number": number, "name": revisions[-1].get("name"),
                "revisions": [{"revision": r["revision"], "lifecycleState": r["lifecycleState"],
                               "modifiedAt": r["modifiedAt"]} for r in revisions]}

    def bom(self, number: str, revision: str) -> dict[str, Any] | None:
        """The BOM header of one revision, or None."""
        with self._lock:
            return copy.deepcopy(self.boms.get((number, revision)))

    def modify(self, number: str, revision: str, **changes: Any) -> dict[str, Any]:
        """Change one revision; its modifiedAt moves one second past every other row."""
        with self._lock:
            row = next(r for r in self.rows if r.get("number") == number and r.get("revision") == revision)
            latest = max(r["_at"] for r in self.rows)
            at = latest + dt.timedelta(seconds=1)
            row.update(changes, _at=at, modifiedAt=at.isoformat())
            self.rows.sort(key=_order)
            return _public(row)

    def count(self) -> int:
        """How many revisions the store holds."""
        with self._lock:
            return len(self.rows)


def _order(row: dict[str, Any]) -> tuple[dt.datetime, str, str]:
    return row["_at"], str(row.get("number") or ""), str(row.get("revision") or "")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy({k: v for k, v in row.items() if not k.startswith("_")})
    number, revision = out.get("number") or "", out.get("revision") or ""
    out["links"] = {"self": f"/api/v1/parts/{number}?revision={revision}",
                    "bom": f"/api/v1/parts/{number}/bom?revision={revision}"}
    return out


STATE_DISPLAY = {"INWORK": "工作中", "RELEASED": "已发布", "OBSOLETE": "已废弃"}


def revision_row(product: Product, revision: str, state: str, serial: int) -> dict[str, Any]:
    """One revision of a product as the PLM's REST API shows it."""
    return {
        "id": f"OR:wt.part.WTPart:{700000 + serial}",
        "number": product.number,
        "name": product.name,
        "revision": revision,
        "iteration": "1",
        "version": f"{revision}.1",
        "lifecycleState": state,
        "lifecycleStateDisplay": STATE_DISPLAY.get(state, state),
        "defaultUnit": product.unit,
        "view": "Design",
        "source": "make",
        "attributes": dict(product.attributes),
        "configurationOptions": copy.deepcopy(list(product.options)),
    }


def bom_header(product: Product, revision: str, state: str) -> dict[str, Any]:
    """The engineering BOM header of one revision."""
    return {"partNumber": product.number, "partRevision": revision, "bomNumber": f"BOM-{product.number}",
            "bomType": "EBOM", "alternate": "0", "itemCount": product.bom_items, "lifecycleState": state}


def seed(*, bad_rows: bool = True, extra_parts: int = 0) -> PlmStore:
    """The catalogue (each revision an hour after the previous one), optionally bad rows and filler parts."""
    store = PlmStore()
    serial, moment = 0, START
    for index, product in enumerate(CATALOGUE + tuple(_filler(n) for n in range(extra_parts))):
        for revision, state in product.revisions:
            serial += 1
            moment += dt.timedelta(hours=1)
            store.add(revision_row(product, revision, state, serial), moment)
            if product.bom_items and state != "INWORK":
                store.boms[(product.number, revision)] = bom_header(product, revision, state)
        if bad_rows and index == 2:  # the bad rows sit in the middle, never last
            _add_bad_rows(store, moment)
            moment += dt.timedelta(hours=1)
    return store


def _filler(n: int) -> Product:
    power = (5.5, 7.5, 11, 15, 22, 30, 37, 45, 55, 75)[n % 10]
    material = ("不锈钢", "碳钢")[n % 2]
    model = f"LB-{int(power * 10):04d}"
    suffix = "SS" if material == "不锈钢" else "CS"
    return Product(f"FG-LB{n:04d}-{suffix}", f"{model} {material}离心泵", "台",
                   {"category": "设备", "productLine": "离心泵", "model": model,
                    "specification": f"{power:g}kW / 380V / {material}", "power_kw": f"{power:g}",
                    "material": material, "voltage": "380V"},
                   (SEAL,), (("A", "RELEASED"),), 18)


def _add_bad_rows(store: PlmStore, moment: dt.datetime) -> None:
    product = CATALOGUE[1]
    for offset, (number, revision, problem) in enumerate(BAD_ROWS, start=1):
        row = revision_row(product, revision, "RELEASED", 900 + offset)
        row["number"], row["name"] = number, f"异常数据 {problem}"
        if problem == "unparseable modifiedAt":
            row["modifiedAt"] = "2026-13-45T25:61:00+08:00"
        if problem == "unknown unit":
            row["defaultUnit"] = "桶X"
        store.add(row, moment + dt.timedelta(minutes=10 * offset))
