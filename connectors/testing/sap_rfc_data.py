"""The tables of the simulated SAP system: DDIC-style definitions and deterministic seeded rows.

Real table and field names, types and lengths (KNA1, KNVV, CDHDR, MARA, MAKT, T001L, MARD, VBAK,
VBAP, VBUK, VBKD, BSID, BSAD), values in SAP's internal format: ALPHA-padded numbers (KUNNR
`0000100001`, MATNR with 18 characters), dates `YYYYMMDD` with `00000000` for "no date", times
`HHMMSS`, packed numbers as Decimal, Chinese NAME1 and English NAME2 for export customers.
Many changes share one day (SAP change dates are days) to exercise the connector's tie-breaks.
`seed(bad_rows=True)` adds rows the mapping layer must dead-letter.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.testing.erp_data import make_uscc

Row = dict[str, Any]
Key = tuple[str, ...]

TODAY = "20261120"  # the simulated system's sy-datum: keeps seeded dates deterministic
NO_DATE = "00000000"
DAY_OF_MANY_CHANGES = "20261118"  # a mass change touched many customers, materials and orders that day


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One DDIC field: name, ABAP type (C N D T P), length in characters (digits for P), decimals."""

    name: str
    type: str
    length: int
    decimals: int = 0
    text: str = ""

    @property
    def out_length(self) -> int:
        """Characters the field takes in an RFC_READ_TABLE work area (packed: sign and point too)."""
        if self.type == "P":
            return self.length + (1 if self.decimals else 0) + 1
        return self.length


@dataclass(frozen=True, slots=True)
class TableDef:
    """A transparent table: its key fields and every field in DDIC order."""

    name: str
    keys: tuple[str, ...]
    fields: tuple[FieldDef, ...]

    def field(self, name: str) -> FieldDef | None:
        """The field called `name`, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def initial(self) -> Row:
        """A row of initial values: blanks, zeros, 00000000."""
        return {f.name: _initial(f) for f in self.fields}


def _initial(f: FieldDef) -> Any:
    return {"P": Decimal(0), "D": NO_DATE, "T": "000000", "N": "0" * f.length}.get(f.type, "")


def _f(spec: str, text: str = "") -> FieldDef:
    """`"NAME1 C35"`, `"WRBTR P13.2"` → a FieldDef."""
    name, kind = spec.split()
    length, _, decimals = kind[1:].partition(".")
    return FieldDef(name, kind[0], int(length), int(decimals or 0), text)


def _table(name: str, keys: str, *fields: str | tuple[str, str]) -> TableDef:
    defs = tuple(_f(*f) if isinstance(f, tuple) else _f(f) for f in fields)
    return TableDef(name, tuple(keys.split()), defs)


_ITEM_FIELDS = (
    ("BUKRS C4", "公司代码"), ("KUNNR C10", "客户"), ("AUGDT D8", "清账日期"), ("AUGBL C10", "清账凭证"),
    "ZUONR C18", ("GJAHR N4", "会计年度"), ("BELNR C10", "凭证编号"), ("BUZEI N3", "行项目"),
    ("BUDAT D8", "过账日期"), ("BLDAT D8", "凭证日期"), ("CPUDT D8", "输入日期"), ("WAERS C5", "货币"),
    "XBLNR C16", ("BLART C2", "凭证类型"), ("SHKZG C1", "借贷标识"), ("WRBTR P13.2", "凭证货币金额"),
    ("SGTXT C50", "项目文本"), ("ZFBDT D8", "基准日期"), "ZBD1T P3", "ZBD2T P3", "ZBD3T P3",
    ("REBZG C10", "发票参考"), "REBZJ N4", "REBZZ N3", ("VBEL2 C10", "销售凭证"),
)

TABLES: dict[str, TableDef] = {t.name: t for t in (
    _table("KNA1", "KUNNR",
           ("KUNNR C10", "客户编号"), "LAND1 C3", ("NAME1 C35", "名称"), ("NAME2 C35", "名称 2"), "NAME3 C35",
           "NAME4 C35", ("ORT01 C35", "城市"), ("ORT02 C35", "地区"), ("PSTLZ C10", "邮政编码"),
           ("REGIO C3", "地区（省/自治区/直辖市）"), ("STRAS C35", "街道"), ("TELF1 C16", "电话"), "TELFX C31",
           ("STCD5 C60", "税号 5"), "STCEG C20", ("BRSCH C4", "行业"), "KTOKD C4", ("ERDAT D8", "创建日期"),
           "ERNAM C12", ("LOEVM C1", "删除标记"), ("SPERR C1", "冻结记账"), ("AUFSD C2", "订单冻结"),
           "SORTL C10", "SPRAS C1", "ADRNR C10", ("KNURL C132", "网址")),
    _table("KNVV", "KUNNR VKORG VTWEG SPART",
           "KUNNR C10", ("VKORG C4", "销售组织"), "VTWEG C2", "SPART C2", "ERDAT D8", "KDGRP C2", "VKBUR C4",
           "VKGRP C3", "WAERS C5", "ZTERM C4", "AUFSD C2", "LOEVM C1"),
    _table("CDHDR", "OBJECTCLAS OBJECTID CHANGENR",
           "OBJECTCLAS C15", "OBJECTID C90", "CHANGENR C10", "USERNAME C12", ("UDATE D8", "更改日期"),
           ("UTIME T6", "时间"), "TCODE C20", "CHANGE_IND C1"),
    _table("MARA", "MATNR",
           ("MATNR C18", "物料编号"), ("ERSDA D8", "创建日期"), ("LAEDA D8", "上次更改日期"), "MTART C4",
           ("MATKL C9", "物料组"), ("MEINS C3", "基本计量单位"), ("BRGEW P13.3", "毛重"), ("NTGEW P13.3", "净重"),
           "GEWEI C3", ("LVORM C1", "删除标记"), "MSTAE C2", ("ZEINR C22", "图号"), "ZEIVR C2",
           ("GROES C32", "规格"), ("NORMT C18", "型号"), "SPART C2", "PRDHA C18"),
    _table("MAKT", "MATNR SPRAS", "MATNR C18", "SPRAS C1", ("MAKTX C40", "物料描述")),
    _table("T001L", "WERKS LGORT", "WERKS C4", "LGORT C4", ("LGOBE C16", "库存地点描述")),
    _table("MARD", "MATNR WERKS LGORT",
           "MATNR C18", ("WERKS C4", "工厂"), ("LGORT C4", "库存地点"), "LVORM C1", "ERSDA D8",
           ("LABST P13.3", "非限制库存"), ("UMLME P13.3", "在途"), ("INSME P13.3", "质检库存"),
           ("EINME P13.3", "受限库存"), ("SPEME P13.3", "冻结库存"), ("RETME P13.3", "退货冻结")),
    _table("VBAK", "VBELN",
           ("VBELN C10", "销售凭证"), ("ERDAT D8", "创建日期"), "ERZET T6", "ERNAM C12", ("AUDAT D8", "凭证日期"),
           "VBTYP C1", ("AUART C4", "销售凭证类型"), ("AEDAT D8", "更改日期"), "VKORG C4", "VTWEG C2",
           "SPART C2", ("NETWR P15.2", "净价值"), ("WAERK C5", "凭证货币"), ("KUNNR C10", "售达方"),
           ("VDATU D8", "请求交货日期"), "BSTNK C20"),
    _table("VBAP", "VBELN POSNR",
           "VBELN C10", ("POSNR N6", "项目"), ("MATNR C18", "物料"), ("ARKTX C40", "短文本"), "PSTYV C4",
           ("KWMENG P15.3", "订单数量"), ("VRKME C3", "销售单位"), ("NETPR P11.2", "净价"),
           ("NETWR P15.2", "净值"), ("MWSBP P13.2", "税额"), "WAERK C5", ("ABGRU C2", "拒绝原因"), "ERDAT D8"),
    _table("VBUK", "VBELN",
           "VBELN C10", ("GBSTK C1", "总体状态"), ("LFSTK C1", "交货状态"), ("FKSTK C1", "开票状态"),
           ("ABSTK C1", "拒绝状态"), ("CMGST C1", "信用状态")),
    _table("VBKD", "VBELN POSNR",
           "VBELN C10", "POSNR N6", ("BSTKD C35", "客户参考"), "BSTDK D8", "ZTERM C4"),
    _table("BSID", "BUKRS KUNNR AUGDT AUGBL ZUONR GJAHR BELNR BUZEI", *_ITEM_FIELDS),
    _table("BSAD", "BUKRS KUNNR AUGDT AUGBL ZUONR GJAHR BELNR BUZEI", *_ITEM_FIELDS),
)}
STRUCTURES = frozenset({"BAPIRET2", "BAPIRETURN", "BAPISDHD1", "BAPISDITM", "BAPIPARNR", "BAPICUSTOMER_ADDRESSDATA"})


# ---------------------------------------------------------------------------------------------- store


@dataclass
class SapTables:
    """Every table's rows by key, thread-safe; a simulated clock gives change dates and times."""

    rows: dict[str, dict[Key, Row]] = field(default_factory=lambda: {name: {} for name in TABLES})
    today: str = TODAY
    clock: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 11, 20, 9, 0, 0))
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _change_no: int = 0

    def insert(self, table: str, **values: Any) -> Row:
        """Add (or replace) a row; fields not given get their initial value."""
        definition = TABLES[table]
        unknown = set(values) - {f.name for f in definition.fields}
        if unknown:
            raise KeyError(f"{table} has no field {min(unknown)}")
        row = {**definition.initial(), **values}
        with self.lock:
            self.rows[table][tuple(str(row[k]) for k in definition.keys)] = row
        return row

    def select(self, table: str) -> list[Row]:
        """Copies of every row, in key order (as a database reads a table by its primary index)."""
        with self.lock:
            return [copy.deepcopy(self.rows[table][k]) for k in sorted(self.rows[table])]

    def find(self, table: str, **equal: Any) -> list[Row]:
        """Rows whose fields equal the given values (live rows: callers under the lock may change them)."""
        with self.lock:
            return [r for r in self.rows[table].values() if all(r.get(k) == v for k, v in equal.items())]

    def delete(self, table: str, row: Row) -> None:
        """Remove one row."""
        with self.lock:
            self.rows[table].pop(tuple(str(row[k]) for k in TABLES[table].keys), None)

    def count(self, table: str) -> int:
        """Rows in one table."""
        with self.lock:
            return len(self.rows[table])

    def tick(self) -> tuple[str, str]:
        """(UDATE, UTIME) of a change now: today, one second after the previous change."""
        with self.lock:
            self.clock += dt.timedelta(seconds=1)
            return self.today, self.clock.strftime("%H%M%S")

    def set_today(self, day: str) -> None:
        """Move the simulated date (YYYYMMDD), e.g. to the next day."""
        with self.lock:
            self.today = day
            self.clock = dt.datetime.strptime(day + "080000", "%Y%m%d%H%M%S")

    def change_document(self, object_class: str, object_id: str, tcode: str) -> None:
        """Write a CDHDR header, as every change of a master record or sales document does."""
        with self.lock:
            self._change_no += 1
            day, time = self.tick()
            self.insert("CDHDR", OBJECTCLAS=object_class, OBJECTID=object_id, CHANGENR=f"{self._change_no:010d}",
                        USERNAME="WANGLEI", UDATE=day, UTIME=time, TCODE=tcode, CHANGE_IND="U")

    # ------------------------------------------------------------------------ business changes

    def change_customer(self, kunnr: str, **values: Any) -> None:
        """Change KNA1 fields of a customer the way XD02 does (with a change document)."""
        with self.lock:
            self.find("KNA1", KUNNR=kunnr)[0].update(values)
            self.change_document("DEBI", kunnr, "XD02")

    def change_material(self, matnr: str, **values: Any) -> None:
        """Change MARA fields of a material the way MM02 does (LAEDA and a change document)."""
        with self.lock:
            self.find("MARA", MATNR=matnr)[0].update(values, LAEDA=self.today)
            self.change_document("MATERIAL", matnr, "MM02")

    def change_order(self, vbeln: str, **status: Any) -> None:
        """Change a sales order's status the way VA02 does (AEDAT and a change document)."""
        with self.lock:
            self.find("VBAK", VBELN=vbeln)[0]["AEDAT"] = self.today
            self.find("VBUK", VBELN=vbeln)[0].update(status)
            self.change_document("VERKBELEG", vbeln, "VA02")

    def set_stock(self, matnr: str, werks: str, lgort: str, **quantities: Any) -> None:
        """Post a goods movement: MARD quantities change (MARD itself keeps no change date)."""
        with self.lock:
            self.find("MARD", MATNR=matnr, WERKS=werks, LGORT=lgort)[0].update(
                {k: Decimal(str(v)) for k, v in quantities.items()})

    def post_payment(self, belnr: str, amount: Decimal | str) -> None:
        """An incoming payment against an open invoice item: partial (a DZ item) or clearing."""
        with self.lock:
            invoice = self.find("BSID", BELNR=belnr, SHKZG="S")[0]
            paid = sum((p["WRBTR"] for p in self.find("BSID", REBZG=belnr, SHKZG="H")), Decimal(0))
            number = 1000 + len(self.rows["BSID"]) + len(self.rows["BSAD"])  # seeded payments are below 1000
            payment = _payment(invoice, number, Decimal(str(amount)), self.today)
            if paid + payment["WRBTR"] < invoice["WRBTR"]:
                self.insert("BSID", **payment)
                return
            cleared = [invoice, *self.find("BSID", REBZG=belnr, SHKZG="H")]
            for row in cleared:
                self.delete("BSID", row)
            for row in [*cleared, payment]:  # clearing moves the items to BSAD
                self.insert("BSAD", **{**row, "AUGDT": self.today, "AUGBL": payment["BELNR"]})


# ------------------------------------------------------------------------------------------ seeding

# province REGIO, city, district, area code, administrative division, English city
_REGIONS = (
    ("100", "苏州市", "虎丘区", "0512", "320505", "Suzhou"), ("100", "无锡市", "滨湖区", "0510", "320211", "Wuxi"),
    ("130", "宁波市", "北仑区", "0574", "330206", "Ningbo"), ("190", "深圳市", "宝安区", "0755", "440306", "Shenzhen"),
    ("020", "上海市", "嘉定区", "021", "310114", "Shanghai"), ("120", "青岛市", "黄岛区", "0532", "370211", "Qingdao"),
    ("130", "杭州市", "萧山区", "0571", "330109", "Hangzhou"), ("190", "东莞市", "长安镇", "0769", "441900", "Dongguan"),
    ("030", "天津市", "滨海新区", "022", "120116", "Tianjin"), ("170", "武汉市", "东西湖区", "027", "420112", "Wuhan"),
    ("230", "成都市", "双流区", "028", "510116", "Chengdu"), ("010", "北京市", "大兴区", "010", "110115", "Beijing"),
)
_BRANDS = (("华成", "Huacheng"), ("恒力", "Hengli"), ("金鼎", "Jinding"), ("宏达", "Hongda"), ("瑞丰", "Ruifeng"),
           ("永盛", "Yongsheng"), ("博远", "Boyuan"), ("天工", "Tiangong"), ("鑫源", "Xinyuan"), ("嘉禾", "Jiahe"),
           ("精诚", "Jingcheng"), ("海川", "Haichuan"), ("卓越", "Zhuoyue"))
_INDUSTRIES = (("MACH", "机械", "Machinery"), ("ELEC", "电子", "Electronics"), ("CHEM", "化工", "Chemical"),
               ("AUTP", "汽车部件", "Auto Parts"), ("NEWE", "新能源科技", "New Energy"), ("MEDI", "医疗器械", "Medical"))
_ROADS = ("长江路", "珠江路", "金山路", "科技大道", "工业园路", "滨河路", "创业路")

# MATNR number, Chinese description, English description, base unit, net weight kg, model, spec, group
MATERIALS = (
    (100001, "数控车床 CK6140", "CNC lathe CK6140", "TAI", "2150", "CK6140", "Φ400×1000mm", "Z001"),
    (100002, "立式加工中心 VMC850", "Vertical machining center VMC850", "TAI", "5200", "VMC850", "850×500×550mm",
     "Z001"),
    (100003, "伺服电机 1.5kW", "Servo motor 1.5 kW", "TAI", "6.5", "SM-15", "1.5kW 220V", "Z002"),
    (100004, "减速机 RV-40E", "Reducer RV-40E", "TAI", "9.3", "RV-40E", "i=121", "Z002"),
    (100005, "PLC 控制模块 CPU-1214C", "PLC module CPU-1214C", "ST", "0.415", "CPU-1214C", "DC/DC/DC", "Z003"),
    (100006, "变频器 7.5kW", "Frequency inverter 7.5 kW", "TAI", "4.8", "VF-75", "7.5kW 380V", "Z003"),
    (100007, "液压泵站 HPS-22", "Hydraulic power unit HPS-22", "SET", "320", "HPS-22", "22kW 21MPa", "Z004"),
    (100008, "气动元件套件", "Pneumatic component kit", "SET", "3.2", "PK-01", "", "Z004"),
    (100009, "精密滚珠丝杠 SFU2005", "Ball screw SFU2005", "ST", "2.1", "SFU2005", "L=1000mm", "Z005"),
    (100010, "直线导轨 HGH25", "Linear guide HGH25", "ST", "3.4", "HGH25", "L=1200mm", "Z005"),
    (100011, "六轴工业机器人 10kg", "Six-axis robot 10 kg", "TAI", "220", "IR-10", "负载10kg 臂展1420mm", "Z001"),
    (100012, "机器人气动夹爪", "Pneumatic gripper", "ST", "1.2", "GP-40", "", "Z005"),
    (100013, "304 不锈钢板 2mm", "Stainless steel sheet 304 2 mm", "KG", "1", "", "2mm 304", "Z006"),
    (100014, "6063 铝型材", "Aluminium profile 6063", "KG", "1", "", "40×40", "Z006"),
    (100015, "光电传感器", "Photoelectric sensor", "ST", "0.08", "PS-12", "", "Z003"),
    (100016, "10 寸触摸屏 HMI", "10-inch HMI touch panel", "TAI", "1.6", "HMI-10", "10.1寸", "Z003"),
    (100017, "成套电控柜", "Electrical control cabinet", "SET", "180", "ECC-01", "", "Z004"),
    (100018, "年度保养备件包", "Annual maintenance spare parts kit", "SET", "12", "", "", "Z007"),
)
PRICES = {100001: "128000.00", 100002: "365000.00", 100003: "2850.00", 100004: "6800.00", 100005: "3200.00",
          100006: "4200.00", 100007: "26500.00", 100008: "1580.00", 100009: "920.00", 100010: "760.00",
          100011: "158000.00", 100012: "5400.00", 100013: "18.50", 100014: "24.80", 100015: "260.00",
          100016: "2380.00", 100017: "48000.00", 100018: "8800.00"}
STORAGE = (("SZ01", "0001", "苏州成品库"), ("SZ01", "0002", "苏州原材料库"), ("NB01", "0001", "宁波成品库"),
           ("CD01", "0003", "成都备件库"))


def kunnr(n: int) -> str:
    """A customer number as SAP stores it (ALPHA: ten digits, leading zeros)."""
    return f"{n:010d}"


def matnr(n: int) -> str:
    """A material number as SAP stores it (eighteen digits, leading zeros)."""
    return f"{n:018d}"


def vbeln(n: int) -> str:
    """A sales document number as SAP stores it."""
    return f"{n:010d}"


def _day(base: str, days: int) -> str:
    return (dt.datetime.strptime(base, "%Y%m%d") + dt.timedelta(days=days)).strftime("%Y%m%d")


def _customers(db: SapTables, n: int) -> None:
    for i in range(n):
        regio, city, district, area, division, city_en = _REGIONS[(i * 7) % len(_REGIONS)]
        brand, brand_en = _BRANDS[i % len(_BRANDS)]
        industry, word, industry_en = _INDUSTRIES[i % len(_INDUSTRIES)]
        export = i % 4 == 0
        number = kunnr(100001 + i)
        db.insert("KNA1", KUNNR=number, LAND1="CN", NAME1=f"{city.removesuffix('市')}{brand}{word}有限公司",
                  NAME2=f"{city_en} {brand_en} {industry_en} Co., Ltd." if export else f"{brand}{word}",
                  ORT01=city, ORT02=district, PSTLZ=f"{division[:4]}{i % 100:02d}", REGIO=regio,
                  STRAS=f"{_ROADS[i % len(_ROADS)]}{100 + i * 7}号", TELF1=f"{area}-{5000 + i * 37:04d}{i:04d}",
                  STCD5=make_uscc(division, f"{(i * 7919 + 13) % 10**8:08d}"), BRSCH=industry, KTOKD="Z001",
                  ERDAT=_day("20190312", i * 61), ERNAM="LIUYANG", SPERR="X" if i == 7 else "",
                  AUFSD="01" if i == 11 else "", SORTL=brand_en.upper()[:10], SPRAS="1",
                  KNURL=f"http://www.{brand_en.lower()}-{i}.com.cn" if i % 3 == 0 else "")
        db.insert("KNVV", KUNNR=number, VKORG="1000", VTWEG="10", SPART="00", ERDAT=_day("20190312", i * 61),
                  KDGRP="01" if export else "02", VKBUR="SZ01", VKGRP=f"{100 + i % 4}", WAERS="CNY", ZTERM="Z030")
        if i % 5 == 0:
            db.insert("KNVV", KUNNR=number, VKORG="2000", VTWEG="10", SPART="00", WAERS="USD", ZTERM="Z060")
        if i % 3 == 0:  # changed on the day of the mass change, in the same minute
            _seeded_change(db, "DEBI", number, DAY_OF_MANY_CHANGES, f"0930{i % 60:02d}")
        elif i % 3 == 1:
            _seeded_change(db, "DEBI", number, _day("20261101", i % 17), "141500")


def _seeded_change(db: SapTables, object_class: str, object_id: str, day: str, time: str) -> None:
    db._change_no += 1
    db.insert("CDHDR", OBJECTCLAS=object_class, OBJECTID=object_id, CHANGENR=f"{db._change_no:010d}",
              USERNAME="ZHANGMIN", UDATE=day, UTIME=time, TCODE="XD02" if object_class == "DEBI" else "VA02",
              CHANGE_IND="U")


def _materials(db: SapTables) -> None:
    for k, (number, name, name_en, unit, weight, model, spec, group) in enumerate(MATERIALS):
        net = Decimal(weight)
        db.insert("MARA", MATNR=matnr(number), ERSDA=_day("20200615", k * 45),
                  LAEDA=DAY_OF_MANY_CHANGES if k % 4 == 0 else (_day("20261020", k) if k % 4 == 1 else NO_DATE),
                  MTART="FERT" if group in ("Z001", "Z004") else "HAWA", MATKL=group, MEINS=unit,
                  BRGEW=(net * Decimal("1.1")).quantize(Decimal("0.001")), NTGEW=net, GEWEI="KG",
                  LVORM="X" if number == 100018 else "", ZEINR=f"DWG-{number}-00" if model else "",
                  ZEIVR="B" if model else "", GROES=spec, NORMT=model, SPART="00", PRDHA=f"00100{group}")
        db.insert("MAKT", MATNR=matnr(number), SPRAS="1", MAKTX=name)
        db.insert("MAKT", MATNR=matnr(number), SPRAS="E", MAKTX=name_en)


def _storage(db: SapTables) -> None:
    for werks, lgort, name in STORAGE:
        db.insert("T001L", WERKS=werks, LGORT=lgort, LGOBE=name)
    for k, (number, *_rest) in enumerate(MATERIALS):
        for s, (werks, lgort, _name) in enumerate(STORAGE):
            if (k + s) % 3 == 2:
                continue
            unit = MATERIALS[k][3]
            base = Decimal(100 + (k * 397 + s * 31) % 4900) + Decimal("0.500") if unit == "KG" \
                else Decimal((k * 7 + s * 3) % 41)
            db.insert("MARD", MATNR=matnr(number), WERKS=werks, LGORT=lgort, ERSDA="20210104", LABST=base,
                      UMLME=Decimal((k * 13) % 20 if s == 0 else 0), INSME=Decimal(k % 3),
                      SPEME=Decimal(1 if k % 7 == 0 else 0))


def _orders(db: SapTables, n: int, n_customers: int) -> None:
    for i in range(n):
        number = vbeln(12001 + i)
        audat = _day("20261001", (i * 17) % 48)
        index = (i * 5) % n_customers
        customer = kunnr(100001 + (index + 1 if index in (7, 11) else index))  # not the blocked ones
        status = "ABCCCCCCC"[i % 9]
        delivered = {"A": "A", "B": "A", "C": "ABC"[i % 3]}[status]
        items = _items(db, number, i, audat)
        net = sum((it["NETWR"] for it in items), Decimal(0))
        aedat = DAY_OF_MANY_CHANGES if i % 4 == 1 else (_day(audat, 3) if i % 4 == 2 else NO_DATE)
        db.insert("VBAK", VBELN=number, ERDAT=audat, ERZET=f"{9 + i % 8:02d}{(i * 7) % 60:02d}00", ERNAM="CHENJIE",
                  AUDAT=audat, VBTYP="C", AUART="TA", AEDAT=aedat, VKORG="1000", VTWEG="10", SPART="00",
                  NETWR=net, WAERK="CNY", KUNNR=customer, VDATU=_day(audat, 30), BSTNK=f"PO-{i:05d}")
        rejected = i == 8
        db.insert("VBUK", VBELN=number, GBSTK="C" if rejected or delivered == "C" else ("A" if status == "A" else "B"),
                  LFSTK="A" if rejected else delivered, FKSTK="A" if rejected else delivered,
                  ABSTK="C" if rejected else "A", CMGST="B" if status == "A" else "D")
        db.insert("VBKD", VBELN=number, POSNR="000000", BSTKD=f"HT-2026-{101 + i:04d}" if i % 3 != 2 else "",
                  BSTDK=audat, ZTERM="Z030")
        if aedat == DAY_OF_MANY_CHANGES:
            _seeded_change(db, "VERKBELEG", number, DAY_OF_MANY_CHANGES, f"1630{i % 60:02d}")
    db.insert("VBAK", VBELN=vbeln(12900), ERDAT="20261115", ERZET="100000", AUDAT="20261115", VBTYP="B",
              AUART="AG", VKORG="1000", VTWEG="10", SPART="00", NETWR=Decimal("5700.00"), WAERK="CNY",
              KUNNR=kunnr(100002), VDATU="20261215")  # a quotation: not a sales order
    db.insert("VBKD", VBELN=vbeln(12900), POSNR="000000", BSTKD="HT-2026-0999", BSTDK="20261115")


def _items(db: SapTables, number: str, i: int, audat: str) -> list[Row]:
    items = []
    for seq in range(1, 2 + (i * 7) % 3):
        material = MATERIALS[(i * 3 + seq * 5) % len(MATERIALS)]
        qty = Decimal((250, 800, 1200)[seq % 3] if material[3] == "KG" else (1, 2, 3, 5, 8)[(i + seq) % 5])
        price = Decimal(PRICES[material[0]]) / Decimal("1.13")  # net of 13 % VAT
        net = (qty * price).quantize(Decimal("0.01"))
        items.append(db.insert("VBAP", VBELN=number, POSNR=f"{seq * 10:06d}", MATNR=matnr(material[0]),
                               ARKTX=material[1], PSTYV="TAN", KWMENG=qty, VRKME=material[3],
                               NETPR=price.quantize(Decimal("0.01")), NETWR=net,
                               MWSBP=(net * Decimal("0.13")).quantize(Decimal("0.01")), WAERK="CNY", ERDAT=audat))
    return items


def _receivables(db: SapTables) -> None:
    billed = [r for r in db.select("VBUK") if r["FKSTK"] in ("B", "C")]
    for j, status in enumerate(billed):
        order = db.find("VBAK", VBELN=status["VBELN"])[0]
        items = db.find("VBAP", VBELN=order["VBELN"])
        gross = sum((it["NETWR"] + it["MWSBP"] for it in items), Decimal(0))
        amount = gross if status["FKSTK"] == "C" else (gross * Decimal("0.3")).quantize(Decimal("0.01"))
        day = _day(order["AUDAT"], 5)
        invoice = _invoice(j, order, amount, min(day, TODAY))
        kind = j % 4  # 0 open, 1 partially paid, 2 paid (cleared), 3 open
        if kind == 2:
            payment = _payment(invoice, 500 + j, amount, min(_day(invoice["CPUDT"], 20), TODAY))
            for row in (invoice, payment):
                db.insert("BSAD", **{**row, "AUGDT": payment["CPUDT"], "AUGBL": payment["BELNR"]})
            continue
        db.insert("BSID", **invoice)
        if kind == 1:
            db.insert("BSID", **_payment(invoice, 500 + j, (amount * Decimal("0.4")).quantize(Decimal("0.01")),
                                         DAY_OF_MANY_CHANGES))


def _invoice(j: int, order: Row, amount: Decimal, day: str) -> Row:
    return {"BUKRS": "1000", "KUNNR": order["KUNNR"], "GJAHR": day[:4], "BELNR": f"{90000001 + j:010d}",
            "BUZEI": "001", "BUDAT": day, "BLDAT": day, "CPUDT": day, "WAERS": order["WAERK"],
            "XBLNR": f"{order['VBELN'][-6:]}", "BLART": "RV", "SHKZG": "S", "WRBTR": amount,
            "SGTXT": f"销售发票 {order['VBELN'].lstrip('0')}", "ZFBDT": day, "ZBD1T": Decimal(30),
            "VBEL2": order["VBELN"], "ZUONR": order["VBELN"]}


def _payment(invoice: Row, n: int, amount: Decimal, day: str) -> Row:
    return {"BUKRS": invoice["BUKRS"], "KUNNR": invoice["KUNNR"], "GJAHR": day[:4], "BELNR": f"{1400000001 + n:010d}",
            "BUZEI": "001", "BUDAT": day, "BLDAT": day, "CPUDT": day, "WAERS": invoice["WAERS"], "BLART": "DZ",
            "SHKZG": "H", "WRBTR": amount, "SGTXT": "银行收款", "ZFBDT": day, "REBZG": invoice["BELNR"],
            "REBZJ": invoice["GJAHR"], "REBZZ": invoice["BUZEI"], "ZUONR": invoice["ZUONR"]}


def _bad_rows(db: SapTables) -> None:
    """Rows the mappings must dead-letter: empty name, unknown unit, impossible dates, no customer."""
    db.insert("KNA1", KUNNR=kunnr(199001), LAND1="CN", NAME1="", ORT01="苏州市", REGIO="100", ERDAT="20261115")
    db.insert("MARA", MATNR=matnr(199001), ERSDA="20261115", MTART="HAWA", MEINS="XYZ", GEWEI="KG")
    db.insert("MAKT", MATNR=matnr(199001), SPRAS="1", MAKTX="试制样件")
    db.insert("VBAK", VBELN=vbeln(19001), ERDAT="20261115", ERZET="110000", AUDAT="20261115", VBTYP="C", AUART="TA",
              VKORG="1000", VTWEG="10", SPART="00", NETWR=Decimal("2522.12"), WAERK="CNY", KUNNR=kunnr(100002),
              VDATU="20261131")  # November has 30 days
    db.insert("VBUK", VBELN=vbeln(19001), GBSTK="A", LFSTK="A", FKSTK="A", ABSTK="A", CMGST="D")
    db.insert("VBAP", VBELN=vbeln(19001), POSNR="000010", MATNR=matnr(100003), ARKTX="伺服电机 1.5kW",
              KWMENG=Decimal(1), VRKME="TAI", NETPR=Decimal("2522.12"), NETWR=Decimal("2522.12"),
              MWSBP=Decimal("327.88"), WAERK="CNY", ERDAT="20261115")
    base = {"BUKRS": "1000", "GJAHR": "2026", "BUZEI": "001", "BUDAT": "20261115", "CPUDT": "20261115",
            "WAERS": "CNY", "BLART": "RV", "SHKZG": "S", "WRBTR": Decimal("1000.00"), "ZFBDT": "20261115"}
    db.insert("BSID", **base, KUNNR=kunnr(100003), BELNR="0099000001", BLDAT="20260230")  # no 30 February
    db.insert("BSID", **base, KUNNR="", BELNR="0099000002", BLDAT="20261115")  # no customer


def seed(n_customers: int = 36, n_orders: int = 24, *, bad_rows: bool = False) -> SapTables:
    """A deterministic SAP system: customers, materials, stock, orders, open and cleared items."""
    db = SapTables()
    _customers(db, n_customers)
    _materials(db)
    _storage(db)
    _orders(db, n_orders, n_customers)
    _receivables(db)
    if bad_rows:
        _bad_rows(db)
    return db

