"""SAP's entities as streams: where their changes show, and how one record is put together.

SAP change dates are days (KNA1-ERDAT, MARA-LAEDA, VBAK-AEDAT, CDHDR-UDATE …). A stream first reads
its change index — narrow RFC_READ_TABLE calls on key and date fields, `date >= cursor day` — then
the full records for one page of keys at a time, in (change day, key) order. Every sync re-reads
the whole last day, because more changes may have come that day after the previous sync; the
cursor keeps a fingerprint of each record already emitted for that day, so a re-read record that
did not change again is not emitted twice, while one changed again the same day (its content
digest differs) is. The record version is `<day>T<time>#<digest>`: same content, same event id.

MARD keeps no change date, so stock is read as a snapshot on every sync; only storage locations
whose rows changed since the last complete snapshot are published, and a position's version is a
digest of its quantities, so a re-published unchanged position keeps its event id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.base import Cursor, Page, SourceRecord, Stream
from connectors.sap_rfc.client import Key, Row, Where, all_of, any_of, eq, ge, is_in, not_blank, quotable

if TYPE_CHECKING:
    from connectors.sap_rfc.client import SapRfcClient
    from hub.core.settings import SapRfcSettings

log = logging.getLogger(__name__)

PACKED_DIGITS = 31  # an ABAP packed number (type P) has at most 31 digits
MAX_SEEN = 50_000  # fingerprints kept for the cursor's day; beyond, a re-read may emit a duplicate id
LANGUAGES = {"ZH": "1", "EN": "E", "DE": "D", "JA": "J"}  # logon language → SAP's one-character SPRAS


@dataclass(frozen=True, slots=True)
class ChangeSource:
    """A table whose rows show that a record changed: the fields giving its key, the change dates."""

    table: str
    key_fields: tuple[str, ...]
    dates: tuple[str, ...]
    time: str | None = None
    where: Where = ()

    def condition(self, since: str | None) -> Where:
        """The rows changed on or after `since` (every row when None)."""
        if since is None:
            return self.where
        return all_of(self.where, any_of(*(ge(d, since) for d in self.dates)))


# ------------------------------------------------------------------------------------ cursor state


@dataclass
class DayCursor:
    """The newest change day emitted, the last key of that day, and fingerprints of that day's records."""

    day: str | None = None
    after_key: str = ""
    seen: dict[str, None] = field(default_factory=dict)  # an ordered set

    @classmethod
    def load(cls, cursor: Cursor | None) -> DayCursor:
        """The state of a stored cursor (None: a first sync)."""
        if not cursor:
            return cls()
        return cls(str(cursor.get("day") or "") or None, str(cursor.get("after_key") or ""),
                   dict.fromkeys(str(s) for s in cursor.get("seen") or []))

    def start(self, overlap_days: int) -> str | None:
        """The first day to read: the cursor's day (re-read), minus the overlap."""
        if self.day is None or not overlap_days:
            return self.day
        return _shift(self.day, -overlap_days)

    def admit(self, day: str, key: str, version: str) -> bool:
        """True for a record not emitted before; remembers it."""
        mark = _fingerprint(key, version)
        if self.day is not None and day < self.day:
            return True  # an overlap re-read: same version, same event id
        if day == self.day and mark in self.seen:
            return False
        if self.day is None or day > self.day:
            self.day, self.seen = day, {}
        self.seen[mark] = None
        self.after_key = key
        while len(self.seen) > MAX_SEEN:
            self.seen.pop(next(iter(self.seen)))
        return True

    def dump(self) -> Cursor:
        """The JSON cursor."""
        return {"day": self.day, "after_key": self.after_key, "seen": list(self.seen)}


def _fingerprint(key: str, version: str) -> str:
    return hashlib.sha256(f"{key}\0{version}".encode()).hexdigest()[:16]


def digest(payload: dict[str, Any]) -> str:
    """A short, stable digest of a record's content."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def valid_day(text: str) -> bool:
    """True for a real calendar date YYYYMMDD (not 00000000, not 20261131)."""
    try:
        dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


def _shift(day: str, days: int) -> str:
    return (dt.datetime.strptime(day, "%Y%m%d") + dt.timedelta(days=days)).strftime("%Y%m%d")


def amount(text: str | None) -> Decimal | None:
    """SAP number text to Decimal: `"1234.50-"` → -1234.50; None when blank or not a number SAP could hold."""
    value = (text or "").strip().replace(",", "")
    if not value:
        return None
    sign = -1 if value.endswith("-") else 1
    try:
        number = Decimal(value.rstrip("-"))
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number.adjusted()) > PACKED_DIGITS:  # NaN, 1E+999999999: no sums
        return None
    return sign * number


# ----------------------------------------------------------------------------------- base stream


class SapStream(Stream):
    """A stream read by change day and key: change index first, then full records a page at a time."""

    cursor_field: ClassVar[str | None] = "UDATE"
    key_fields: ClassVar[tuple[str, ...]]        # fields of the record key (raw SAP values)
    alpha: ClassVar[tuple[bool, ...]] = ()       # key parts shown without leading zeros (ALPHA output)

    def __init__(self, client: Callable[[], SapRfcClient], settings: SapRfcSettings) -> None:
        self._client = client  # a getter: building streams never logs on
        self.settings = settings

    @property
    def client(self) -> SapRfcClient:
        """The connector's client (logs on at its first call)."""
        return self._client()

    def change_sources(self) -> tuple[ChangeSource, ...]:
        """Where this entity's changes show."""
        raise NotImplementedError

    def fetch(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """The payload of each existing record (a record deleted meanwhile is simply absent)."""
        raise NotImplementedError

    def record_key(self, key: Key) -> str:
        """The business key as text: parts joined with /, ALPHA parts without leading zeros."""
        flags = self.alpha or (False,) * len(key)
        return "/".join((part.lstrip("0") or "0") if strip else part for part, strip in zip(key, flags, strict=True))

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of records changed on or after the cursor's day that were not emitted yet."""
        state = DayCursor.load(cursor)
        changed = self.changed_since(state.start(self.settings.overlap_days))
        ordered = sorted(changed.items(), key=lambda item: (item[1][:8], item[0]))
        for start in range(0, len(ordered), self.settings.page_size):
            chunk = ordered[start:start + self.settings.page_size]
            rejected = self.unreadable([(key, stamp) for key, stamp in chunk if not all(map(quotable, key))], state)
            records = self.records({key: stamp for key, stamp in chunk if all(map(quotable, key))}, state)
            if records or rejected:
                yield Page(records=records, cursor=state.dump(), rejected=rejected)

    def unreadable(self, keys: list[tuple[Key, str]], state: DayCursor) -> list[tuple[bytes, str]]:
        """Changed keys no condition can ask for (garbled change documents): dead letters, not a failed sync."""
        out = []
        for key, stamp in keys:
            text = "/".join(key)
            if state.admit(stamp[:8], text, "unreadable"):
                raw = json.dumps({"key": list(key), "changed": stamp}, ensure_ascii=False).encode()
                out.append((raw, f"{self.name}: the change documents name a key SAP cannot be asked for "
                                 "(too long or with control characters)"))
        return out

    def changed_since(self, since: str | None) -> dict[Key, str]:
        """Key → newest change stamp (YYYYMMDD[HHMMSS]) from every change source."""
        stamps: dict[Key, str] = {}
        for source in self.change_sources():
            fields = (*source.key_fields, *source.dates, *((source.time,) if source.time else ()))
            for row in self.client.read_all(source.table, fields, source.condition(since)):
                stamp = _stamp(row, source)
                key = tuple(row[f] for f in source.key_fields)
                if stamp and stamp > stamps.get(key, ""):
                    stamps[key] = stamp
        return stamps

    def records(self, stamps: dict[Key, str], state: DayCursor) -> list[SourceRecord]:
        """SourceRecords for one page of keys, in (day, key) order, leaving out those already emitted."""
        payloads = self.fetch(list(stamps))
        out = []
        for key, stamp in stamps.items():
            payload = payloads.get(key)
            if payload is None:
                continue
            payload.update(UDATE=stamp[:8], UTIME=stamp[8:14] or "000000")
            version = f"{stamp[:8]}T{stamp[8:14] or '000000'}#{digest(payload)}"
            text = self.record_key(key)
            if state.admit(stamp[:8], text, version):
                out.append(SourceRecord.from_payload(text, version, payload))
        return out


def _stamp(row: Row, source: ChangeSource) -> str:
    days = [row[d] for d in source.dates if valid_day(row[d])]
    if not days:
        return ""
    day = max(days)
    time = row.get(source.time or "", "") if len(source.dates) == 1 else ""
    return day + (time if len(time) == 6 and time.isdigit() else "")


def _index(rows: list[Row], *fields: str) -> dict[Key, Row]:
    return {tuple(r[f] for f in fields): r for r in rows}


def _group(rows: list[Row], *fields: str) -> dict[Key, list[Row]]:
    out: dict[Key, list[Row]] = {}
    for row in rows:
        out.setdefault(tuple(row[f] for f in fields), []).append(row)
    return out


# ---------------------------------------------------------------------------------------- customers

KNA1_FIELDS = ("KUNNR", "LAND1", "NAME1", "NAME2", "NAME3", "NAME4", "ORT01", "ORT02", "PSTLZ", "REGIO",
               "STRAS", "TELF1", "TELFX", "STCD5", "STCEG", "BRSCH", "KTOKD", "ERDAT", "LOEVM", "SPERR", "AUFSD")
KNVV_FIELDS = ("KUNNR", "VKORG", "VTWEG", "SPART", "KDGRP", "VKBUR", "VKGRP", "WAERS", "ZTERM", "AUFSD", "LOEVM")


class CustomerStream(SapStream):
    """Customer master: KNA1 with its sales area data (KNVV) for the configured sales area."""

    name = "customers"
    entity = "customer"
    mapping = "sap_rfc/customer"
    primary_key = ("KUNNR",)
    key_fields = ("KUNNR",)
    alpha = (True,)

    def change_sources(self) -> tuple[ChangeSource, ...]:
        """New customers (ERDAT) and change documents of class DEBI (XD02, VD02: KNA1 and KNVV)."""
        return (ChangeSource("KNA1", ("KUNNR",), ("ERDAT",)),
                ChangeSource("CDHDR", ("OBJECTID",), ("UDATE",), "UTIME", eq("OBJECTCLAS", "DEBI")))

    def fetch(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """KNA1 fields, and KNVV of the sales area as a nested dict."""
        s = self.settings
        area = all_of(eq("VKORG", s.sales_org), eq("VTWEG", s.distr_chan), eq("SPART", s.division))
        sales = _index(self.client.read_keys("KNVV", KNVV_FIELDS, ("KUNNR",), keys, area,
                                             keys=("KUNNR", "VKORG", "VTWEG", "SPART")), "KUNNR")
        out: dict[Key, dict[str, Any]] = {}
        for row in self.client.read_keys("KNA1", KNA1_FIELDS, ("KUNNR",), keys):
            key = (row["KUNNR"],)
            out[key] = {**row, **({"KNVV": sales[key]} if key in sales else {})}
        return out


# ---------------------------------------------------------------------------------------- materials

MARA_FIELDS = ("MATNR", "ERSDA", "LAEDA", "MTART", "MATKL", "MEINS", "BRGEW", "NTGEW", "GEWEI", "LVORM",
               "MSTAE", "ZEINR", "ZEIVR", "GROES", "NORMT", "SPART", "PRDHA")


class MaterialStream(SapStream):
    """Material master: MARA with its descriptions (MAKT) in the logon language and English."""

    name = "materials"
    entity = "product"
    mapping = "sap_rfc/product"
    primary_key = ("MATNR",)
    key_fields = ("MATNR",)
    alpha = (True,)

    def change_sources(self) -> tuple[ChangeSource, ...]:
        """Created (ERSDA) or changed (LAEDA) materials, and change documents of class MATERIAL (MAKT)."""
        return (ChangeSource("MARA", ("MATNR",), ("ERSDA", "LAEDA")),
                ChangeSource("CDHDR", ("OBJECTID",), ("UDATE",), "UTIME", eq("OBJECTCLAS", "MATERIAL")))

    def fetch(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """MARA fields, MAKTX (logon language, else English) and MAKTX_EN."""
        texts = descriptions(self.client, keys, self.settings.lang)
        return {(row["MATNR"],): {**row, **texts.get(row["MATNR"], {})}
                for row in self.client.read_keys("MARA", MARA_FIELDS, ("MATNR",), keys)}


def descriptions(client: SapRfcClient, keys: Sequence[Key], lang: str) -> dict[str, dict[str, str]]:
    """MATNR → {MAKTX, MAKTX_EN} from MAKT."""
    local = LANGUAGES.get(lang.upper(), "1")
    rows = client.read_keys("MAKT", ("MATNR", "SPRAS", "MAKTX"), ("MATNR",), keys, is_in("SPRAS", {local, "E"}),
                            keys=("MATNR", "SPRAS"))
    by_language = {(r["MATNR"], r["SPRAS"]): r["MAKTX"] for r in rows}
    out: dict[str, dict[str, str]] = {}
    for matnr in {k[0] for k in keys}:
        english = by_language.get((matnr, "E"), "")
        out[matnr] = {"MAKTX": by_language.get((matnr, local)) or english, "MAKTX_EN": english}
    return out


# ------------------------------------------------------------------------------------ sales orders

VBAK_FIELDS = ("VBELN", "ERDAT", "ERZET", "AUDAT", "VBTYP", "AUART", "AEDAT", "VKORG", "VTWEG", "SPART", "NETWR",
               "WAERK", "KUNNR", "VDATU", "BSTNK")
VBAP_FIELDS = ("VBELN", "POSNR", "MATNR", "ARKTX", "PSTYV", "KWMENG", "VRKME", "NETPR", "NETWR", "MWSBP", "ABGRU")
VBUK_FIELDS = ("VBELN", "GBSTK", "LFSTK", "FKSTK", "ABSTK", "CMGST")


class SalesOrderStream(SapStream):
    """Sales orders (VBTYP C): VBAK header, VBUK status, VBKD customer reference, VBAP items."""

    name = "sales_orders"
    entity = "order"
    mapping = "sap_rfc/order"
    primary_key = ("VBELN",)
    key_fields = ("VBELN",)
    alpha = (True,)

    def change_sources(self) -> tuple[ChangeSource, ...]:
        """Created or changed headers (ERDAT, AEDAT) and change documents of class VERKBELEG (VA02)."""
        return (ChangeSource("VBAK", ("VBELN",), ("ERDAT", "AEDAT"), where=eq("VBTYP", "C")),
                ChangeSource("CDHDR", ("OBJECTID",), ("UDATE",), "UTIME", eq("OBJECTCLAS", "VERKBELEG")))

    def fetch(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """Header, status, BSTKD, items (ITEMS), tax and gross totals, and the payment status."""
        c = self.client
        heads = [r for r in c.read_keys("VBAK", VBAK_FIELDS, ("VBELN",), keys) if r["VBTYP"] == "C"]
        found = [(r["VBELN"],) for r in heads]
        status = _index(c.read_keys("VBUK", VBUK_FIELDS, ("VBELN",), found), "VBELN")
        business = _index(c.read_keys("VBKD", ("VBELN", "POSNR", "BSTKD"), ("VBELN",), found,
                                      eq("POSNR", "000000"), keys=("VBELN", "POSNR")), "VBELN")
        items = _group(c.read_keys("VBAP", VBAP_FIELDS, ("VBELN",), found, keys=("VBELN", "POSNR")), "VBELN")
        paid = order_payment_status(c, self.settings.company_code, found)
        out: dict[Key, dict[str, Any]] = {}
        for head in heads:
            key = (head["VBELN"],)
            lines = sorted(items.get(key, []), key=lambda r: r["POSNR"])
            out[key] = {**head, **status.get(key, {}), "BSTKD": business.get(key, {}).get("BSTKD", ""),
                        "ITEMS": lines, **_totals(head, lines)}
            out[key]["HUB_PAYMENT_STATUS"] = _order_paid(paid.get(head["VBELN"]), out[key].get("FKSTK", ""))
        return out


def _totals(head: Row, lines: list[Row]) -> dict[str, str]:
    """HUB_TAX_AMOUNT (sum of MWSBP) and HUB_GROSS_AMOUNT (NETWR + tax); absent when not numbers."""
    net = amount(head.get("NETWR"))
    taxes = [amount(line.get("MWSBP")) for line in lines]
    if net is None or any(t is None for t in taxes):
        return {}
    tax = sum((t for t in taxes if t is not None), Decimal(0))
    return {"HUB_TAX_AMOUNT": str(tax), "HUB_GROSS_AMOUNT": str(net + tax)}


def _order_paid(invoices: list[tuple[Decimal, bool]] | None, billing: str) -> str:
    """A unpaid, B partially paid, C paid (every invoice cleared and the order fully billed)."""
    if not invoices or not any(received > 0 or cleared for received, cleared in invoices):
        return "A"
    return "C" if billing == "C" and all(cleared for _r, cleared in invoices) else "B"


# ------------------------------------------------------------------------------------- receivables

ITEM_FIELDS = ("BUKRS", "KUNNR", "GJAHR", "BELNR", "BUZEI", "BUDAT", "BLDAT", "CPUDT", "WAERS", "XBLNR", "BLART",
               "SHKZG", "WRBTR", "SGTXT", "ZFBDT", "ZBD1T", "ZBD2T", "ZBD3T", "AUGDT", "AUGBL", "VBEL2")
INVOICE_KEY = ("BUKRS", "BELNR", "GJAHR", "BUZEI")
PAYMENT_REF = ("BUKRS", "REBZG", "REBZJ", "REBZZ")


def invoices_and_payments(client: SapRfcClient, company: str, match: tuple[str, ...], values: Sequence[Key]
                          ) -> tuple[list[tuple[Row, bool]], dict[Key, Decimal]]:
    """Invoice items (debit, open in BSID or cleared in BSAD) matching `values`, and partial payments per invoice."""
    debit = all_of(eq("BUKRS", company), eq("SHKZG", "S"))
    invoices = [(row, table == "BSAD") for table in ("BSID", "BSAD")
                for row in client.read_keys(table, ITEM_FIELDS, match, values, debit, keys=INVOICE_KEY)]
    numbers = [(row["BELNR"],) for row, _cleared in invoices]
    credit = all_of(eq("BUKRS", company), eq("SHKZG", "H"), not_blank("REBZG"))
    payments: dict[Key, Decimal] = {}
    for row in client.read_keys("BSID", (*PAYMENT_REF, "BELNR", "GJAHR", "BUZEI", "WRBTR"), ("REBZG",), numbers,
                                credit, keys=INVOICE_KEY):
        key = tuple(row[f] for f in PAYMENT_REF)
        payments[key] = payments.get(key, Decimal(0)) + (amount(row["WRBTR"]) or Decimal(0))
    return invoices, payments


def order_payment_status(client: SapRfcClient, company: str, orders: Sequence[Key]
                         ) -> dict[str, list[tuple[Decimal, bool]]]:
    """VBELN → (received, cleared) of each of its invoices."""
    invoices, payments = invoices_and_payments(client, company, ("VBEL2",), orders)
    out: dict[str, list[tuple[Decimal, bool]]] = {}
    for row, cleared in invoices:
        received = payments.get(tuple(row[f] for f in INVOICE_KEY), Decimal(0))
        out.setdefault(row["VBEL2"], []).append((received, cleared))
    return out


class ReceivableStream(SapStream):
    """Customer invoices (debit items) of one company code: open in BSID, cleared in BSAD, with payments."""

    name = "receivables"
    entity = "receivable"
    mapping = "sap_rfc/receivable"
    primary_key = INVOICE_KEY
    key_fields = INVOICE_KEY

    def change_sources(self) -> tuple[ChangeSource, ...]:
        """New invoices (CPUDT), cleared invoices (AUGDT) and partial payments against an invoice (REBZG)."""
        company = eq("BUKRS", self.settings.company_code)
        return (ChangeSource("BSID", INVOICE_KEY, ("CPUDT",), where=all_of(company, eq("SHKZG", "S"))),
                ChangeSource("BSAD", INVOICE_KEY, ("CPUDT", "AUGDT"), where=all_of(company, eq("SHKZG", "S"))),
                ChangeSource("BSID", PAYMENT_REF, ("CPUDT",),
                             where=all_of(company, eq("SHKZG", "H"), not_blank("REBZG"))))

    def fetch(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """Each invoice item with HUB_RECEIVED, HUB_OPEN, HUB_PAYMENT_STATUS and HUB_DUE_DATE."""
        invoices, payments = invoices_and_payments(self.client, self.settings.company_code, INVOICE_KEY, keys)
        out: dict[Key, dict[str, Any]] = {}
        for row, cleared in invoices:
            key = tuple(row[f] for f in INVOICE_KEY)
            out[key] = {**row, **settlement(row, payments.get(key, Decimal(0)), cleared)}
        return out


def settlement(row: Row, received: Decimal, cleared: bool) -> dict[str, str]:
    """How much of an invoice item is paid: HUB_RECEIVED, HUB_OPEN, HUB_PAYMENT_STATUS (A/B/C), HUB_DUE_DATE."""
    due = due_date(row)
    total = amount(row.get("WRBTR"))
    if total is None:
        return {"HUB_DUE_DATE": due} if due else {}
    paid = total if cleared else min(received, total)
    status = "C" if cleared else ("B" if paid > 0 else "A")
    return {"HUB_RECEIVED": str(paid), "HUB_OPEN": str(total - paid), "HUB_PAYMENT_STATUS": status,
            **({"HUB_DUE_DATE": due} if due else {})}


def due_date(row: Row) -> str:
    """The net due date: baseline ZFBDT (else BLDAT) plus ZBD3T, ZBD2T or ZBD1T days; "" when unknown."""
    baseline = next((row.get(f, "") for f in ("ZFBDT", "BLDAT") if valid_day(row.get(f, ""))), "")
    days = next((d for d in (amount(row.get(f)) for f in ("ZBD3T", "ZBD2T", "ZBD1T")) if d), Decimal(0))
    try:
        return _shift(baseline, int(days)) if baseline else ""
    except OverflowError:  # a day count beyond the calendar: not a due date
        return ""


# --------------------------------------------------------------------------------------- inventory

MARD_FIELDS = ("MATNR", "WERKS", "LGORT", "LABST", "UMLME", "INSME", "EINME", "SPEME", "RETME", "LVORM")
MARD_KEY = ("MATNR", "WERKS", "LGORT")
QUANTITIES = ("LABST", "UMLME", "INSME", "EINME", "SPEME", "RETME")


class InventoryStream(SapStream):
    """Stock per material, plant and storage location (MARD), read as a snapshot on every sync.

    Only the storage locations whose stock changed since the last complete snapshot are published:
    the cursor keeps a digest of each location's MARD rows (a few dozen bytes per location).
    """

    name = "inventory"
    entity = "inventory"
    mapping = "sap_rfc/inventory"
    primary_key = MARD_KEY
    cursor_field = "MATNR"  # MARD keeps no change date: the cursor is a position in the snapshot
    key_fields = MARD_KEY

    def record_key(self, key: Key) -> str:
        """`<plant>/<storage location>/<material>`, e.g. `SZ01/0001/100001`."""
        return f"{key[1]}/{key[2]}/{key[0].lstrip('0') or '0'}"

    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """The positions of changed storage locations in key order; a stopped snapshot resumes after its last key."""
        resume = cursor if cursor and not cursor.get("complete") else None
        baseline = dict((resume or {}).get("baseline") or (cursor or {}).get("locations") or {})
        taken = str(resume["snapshot"]) if resume and resume.get("snapshot") else _now()
        after = tuple(str(resume.get("after_key", "")).split("|")) if resume else ()
        plants = is_in("WERKS", self.settings.plants) if self.settings.plants else ()
        rows = sorted(self.client.read_all("MARD", MARD_FIELDS, plants, keys=MARD_KEY),
                      key=lambda r: tuple(r[f] for f in MARD_KEY))
        current = location_digests(rows)
        changed = [r for r in rows if current[_location(r)] != baseline.get(_location(r))
                   and tuple(r[f] for f in MARD_KEY) > after]
        size = self.settings.page_size
        for start in range(0, len(changed), size):
            chunk, last = changed[start:start + size], start + size >= len(changed)
            position = {"snapshot": taken, "after_key": "|".join(chunk[-1][f] for f in MARD_KEY), "complete": last}
            state = {"locations": current} if last else {"baseline": baseline}
            yield Page(records=self.positions(chunk, taken), cursor={**position, **state})

    def positions(self, rows: list[Row], taken: str) -> list[SourceRecord]:
        """One record per MARD row, with HUB_ON_HAND, the unit (MARA-MEINS) and names."""
        keys = sorted({(r["MATNR"],) for r in rows})
        units = _index(self.client.read_keys("MARA", ("MATNR", "MEINS"), ("MATNR",), keys), "MATNR")
        texts = descriptions(self.client, keys, self.settings.lang)
        places = _index(self.client.read_keys("T001L", ("WERKS", "LGORT", "LGOBE"), ("WERKS",),
                                              sorted({(r["WERKS"],) for r in rows}), keys=("WERKS", "LGORT")),
                        "WERKS", "LGORT")
        out = []
        for row in rows:
            payload: dict[str, Any] = {**row, "MEINS": units.get((row["MATNR"],), {}).get("MEINS", ""),
                                       "MAKTX": texts.get(row["MATNR"], {}).get("MAKTX", ""),
                                       "LGOBE": places.get((row["WERKS"], row["LGORT"]), {}).get("LGOBE", ""),
                                       **_on_hand(row)}
            version = f"stock#{digest(payload)}"  # the quantities and names, not the moment read
            payload["HUB_READ_AT"] = taken
            out.append(SourceRecord.from_payload(self.record_key(tuple(row[f] for f in MARD_KEY)), version, payload))
        return out


def _location(row: Row) -> str:
    return f"{row['WERKS']}/{row['LGORT']}"


def location_digests(rows: list[Row]) -> dict[str, str]:
    """WERKS/LGORT → a digest of that storage location's MARD rows."""
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(_location(row), []).append(row)
    return {place: digest({"rows": members}) for place, members in grouped.items()}


def _on_hand(row: Row) -> dict[str, str]:
    """HUB_ON_HAND: unrestricted + quality inspection + restricted + blocked + blocked returns."""
    values = [amount(row.get(f)) for f in ("LABST", "INSME", "EINME", "SPEME", "RETME")]
    if any(v is None for v in values):
        return {}
    return {"HUB_ON_HAND": str(sum((v for v in values if v is not None), Decimal(0)))}


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


STREAMS: tuple[type[SapStream], ...] = (
    CustomerStream, MaterialStream, SalesOrderStream, InventoryStream, ReceivableStream,
)
