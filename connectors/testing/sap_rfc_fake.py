"""A simulated SAP system behind pyrfc's `Connection` interface, for tests and the demo.

    with FakeSapSystem(seed()) as sap:                       # registered under a unique host name
        conn = Connection(ashost=sap.ashost, sysnr="00", client="100", user="HUB_RFC", passwd=DEMO_PASSWORD)
        conn.call("RFC_READ_TABLE", QUERY_TABLE="KNA1", ROWCOUNT=10, FIELDS=[{"FIELDNAME": "KUNNR"}])

`Connection(**params)` logs on like pyrfc: an unknown host raises CommunicationError, a wrong user
or password LogonError. Exceptions carry pyrfc's attributes (`code`, `key`, `message`, `msg_*`).
RFC_READ_TABLE is implemented with its real parameters and limits: a 512-character work area
(DATA_BUFFER_EXCEEDED), OPTIONS lines of at most 72 characters, a dynamic WHERE clause (=, <>, <,
>, <=, >=, EQ … LE, IN, LIKE, BETWEEN, AND, OR, NOT, parentheses), ROWSKIPS/ROWCOUNT, NO_DATA,
DELIMITER, fixed-width packed numbers with a trailing minus, and pyrfc's right-strip of the WA.
BAPI_SALESORDER_CREATEFROMDAT2 keeps the order in the connection's LUW until
BAPI_TRANSACTION_COMMIT; closing the connection rolls it back. `fail_next()` injects faults.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, ClassVar, Self

from connectors.testing.sap_rfc_data import (
    PRICES,
    STRUCTURES,
    TABLES,
    FieldDef,
    Row,
    SapTables,
    TableDef,
    seed,
)

DEMO_USER = "HUB_RFC"
DEMO_PASSWORD = "hub-demo-secret"
DEMO_ASHOST = "sapsim.local"  # HUB_SAP_RFC__SIMULATOR=true with no ashost connects here
SYSTEM_ID = "S4D"
LINE_LENGTH = 512
OPTION_LENGTH = 72
ORDER_TYPES = frozenset({"TA", "OR", "ZOR"})
FAULT_KINDS = frozenset({"communication", "logon", "abap_application", "abap_runtime", "timeout"})


# ------------------------------------------------------------------------------ pyrfc's exceptions


class RFCError(Exception):
    """Base of every pyrfc error."""


class RFCLibError(RFCError):
    """An error reported by the RFC library, with pyrfc's attributes."""

    def __init__(self, message: str | None = None, code: int | None = None, key: str | None = None,
                 msg_class: str | None = None, msg_type: str | None = None, msg_number: str | None = None,
                 msg_v1: str | None = None, msg_v2: str | None = None, msg_v3: str | None = None,
                 msg_v4: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.key = message, code, key
        self.msg_class, self.msg_type, self.msg_number = msg_class, msg_type, msg_number
        self.msg_v1, self.msg_v2, self.msg_v3, self.msg_v4 = msg_v1, msg_v2, msg_v3, msg_v4

    def __str__(self) -> str:
        return f"{self.key} (rc={self.code}): {self.message}"


class ABAPApplicationError(RFCLibError):
    """The function module raised an ABAP exception (e.g. TABLE_NOT_AVAILABLE)."""


class ABAPRuntimeError(RFCLibError):
    """The function module dumped (a short dump, ST22)."""


class LogonError(RFCLibError):
    """The logon was refused: user, password, client."""


class CommunicationError(RFCLibError):
    """The partner could not be reached or the connection broke."""


class ExternalAuthorizationError(RFCLibError):
    """The user may not call the function (S_RFC)."""


class RFCTypeError(RFCLibError):
    """A parameter value does not fit its ABAP type (e.g. text longer than the field)."""


# -------------------------------------------------------------------------------- dynamic WHERE

_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(<>|>=|<=|=|<|>)|([(),])|([A-Za-z0-9_/%.-]+))")
_OPS = {"=": "EQ", "<>": "NE", "<": "LT", ">": "GT", "<=": "LE", ">=": "GE"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b, "NE": lambda a, b: a != b, "LT": lambda a, b: a < b,
    "GT": lambda a, b: a > b, "LE": lambda a, b: a <= b, "GE": lambda a, b: a >= b,
}
Predicate = Callable[[Row], bool]


class _OptionError(Exception):
    """The WHERE clause cannot be parsed (RFC_READ_TABLE answers OPTION_NOT_VALID)."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _OptionError(f"unexpected character at {pos}")
        out.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return out


class _Where:
    """A recursive-descent parser of Open SQL's dynamic WHERE into a predicate over table rows."""

    def __init__(self, table: TableDef, text: str) -> None:
        self.table, self.tokens, self.pos = table, _tokens(text), 0

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda row: True
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise _OptionError(f"unexpected {self.tokens[self.pos]!r}")
        return predicate

    def _peek(self) -> str:
        return self.tokens[self.pos].upper() if self.pos < len(self.tokens) else ""

    def _take(self, expected: str | None = None) -> str:
        if self.pos >= len(self.tokens):
            raise _OptionError("the condition ends too early")
        token = self.tokens[self.pos]
        if expected is not None and token.upper() != expected:
            raise _OptionError(f"expected {expected}, found {token!r}")
        self.pos += 1
        return token

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek() == "OR":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._peek() == "AND":
            self._take()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def _not(self) -> Predicate:
        if self._peek() == "NOT":
            self._take()
            inner = self._not()
            return lambda row: not inner(row)
        if self._peek() == "(":
            self._take()
            inner = self._or()
            self._take(")")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        field = self._field(self._take())
        word = self._take().upper()
        negate = word == "NOT"
        if negate:
            word = self._take().upper()
        test = self._test(field, _OPS.get(word, word))
        return (lambda row: not test(row)) if negate else test

    def _test(self, field: FieldDef, op: str) -> Predicate:
        value = _value_of(field)
        if op in _COMPARE:
            literal, compare = _coerce(field, self._literal()), _COMPARE[op]
            return lambda row: compare(value(row), literal)
        if op == "IN":
            self._take("(")
            items = {_coerce(field, self._literal())}
            while self._peek() == ",":
                self._take()
                items.add(_coerce(field, self._literal()))
            self._take(")")
            return lambda row: value(row) in items
        if op == "LIKE":
            pattern = re.compile(_like(str(self._literal())), re.DOTALL)
            return lambda row: bool(pattern.fullmatch(str(value(row))))
        if op == "BETWEEN":
            low = _coerce(field, self._literal())
            self._take("AND")
            high = _coerce(field, self._literal())
            return lambda row: low <= value(row) <= high
        raise _OptionError(f"unknown operator {op!r}")

    def _field(self, name: str) -> FieldDef:
        found = self.table.field(name.upper())
        if found is None:
            raise _OptionError(f"unknown field {name!r}")
        return found

    def _literal(self) -> str:
        token = self._take()
        if not (token.startswith("'") and token.endswith("'") and len(token) >= 2):
            if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", token):
                return token
            raise _OptionError(f"expected a literal, found {token!r}")
        return token[1:-1].replace("''", "'")


def _value_of(field: FieldDef) -> Callable[[Row], Any]:
    if field.type == "P":
        return lambda row: row[field.name]
    return lambda row: str(row[field.name]).rstrip()


def _coerce(field: FieldDef, literal: str) -> Any:
    if field.type != "P":
        return literal.rstrip()
    try:
        return Decimal(literal.strip() or "0")
    except InvalidOperation:
        raise _OptionError(f"{field.name} is numeric") from None


def _like(pattern: str) -> str:
    return "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern.rstrip())


# ---------------------------------------------------------------------------------- RFC_READ_TABLE


def _abap_error(key: str, message: str | None = None) -> ABAPApplicationError:
    return ABAPApplicationError(message or key, 5, key, msg_type="E")


def _format(field: FieldDef, value: Any) -> str:
    """One field in the work area: text left-aligned, packed numbers right-aligned with the sign after."""
    width = field.out_length
    if field.type == "P":
        number = Decimal(value)
        text = f"{abs(number):.{field.decimals}f}" + ("-" if number < 0 else " ")
        return text.rjust(width) if len(text) <= width else "*" * width
    return str(value)[:width].ljust(width)


def _read_table_fields(table: TableDef, requested: list[dict[str, Any]], delimiter: str) -> list[dict[str, str]]:
    names = [str(f.get("FIELDNAME", "")).strip().upper() for f in requested] or [f.name for f in table.fields]
    out, cursor = [], 0
    for name in names:
        field = table.field(name)
        if field is None:
            raise _abap_error("FIELD_NOT_VALID")
        out.append({"FIELDNAME": name, "OFFSET": f"{cursor:06d}", "LENGTH": f"{field.out_length:06d}",
                    "TYPE": field.type, "FIELDTEXT": field.text})
        cursor += field.out_length
        if cursor > LINE_LENGTH:
            raise _abap_error("DATA_BUFFER_EXCEEDED")
        cursor += len(delimiter)
    return out


def rfc_read_table(db: SapTables, QUERY_TABLE: str = "", DELIMITER: str = "", NO_DATA: str = "",
                   ROWSKIPS: int = 0, ROWCOUNT: int = 0, OPTIONS: list[dict[str, str]] | None = None,
                   FIELDS: list[dict[str, Any]] | None = None, **_unused: Any) -> dict[str, Any]:
    """RFC_READ_TABLE as SAP ships it (with its limits), over the simulated tables."""
    name = QUERY_TABLE.strip().upper()
    if name in STRUCTURES:
        raise _abap_error("TABLE_WITHOUT_DATA")
    if name not in TABLES:
        raise _abap_error("TABLE_NOT_AVAILABLE")
    table, delimiter = TABLES[name], DELIMITER[:1]
    fields = _read_table_fields(table, list(FIELDS or []), delimiter)
    options = list(OPTIONS or [])
    if any(len(str(o.get("TEXT", ""))) > OPTION_LENGTH for o in options):
        raise RFCTypeError("field 'TEXT' of OPTIONS is longer than 72 characters", 22, "RFC_CONVERSION_FAILURE")
    try:
        predicate = _Where(table, " ".join(str(o.get("TEXT", "")) for o in options)).parse()
    except _OptionError as exc:
        raise _abap_error("OPTION_NOT_VALID", f"OPTION_NOT_VALID: {exc}") from None
    result: dict[str, Any] = {"FIELDS": fields, "OPTIONS": options, "DATA": []}
    if NO_DATA.strip():
        return result
    rows = (row for row in db.select(name) if predicate(row))
    picked = itertools.islice(rows, int(ROWSKIPS or 0), (int(ROWSKIPS or 0) + int(ROWCOUNT)) if ROWCOUNT else None)
    defs = [table.field(f["FIELDNAME"]) for f in fields]
    result["DATA"] = [{"WA": delimiter.join(_format(d, row[d.name]) for d in defs if d).rstrip()} for row in picked]
    return result


# ---------------------------------------------------------------------------------------- BAPIs


def _ret2(kind: str, msg_id: str, number: str, message: str, field: str = "", parameter: str = "",
          row: int = 0) -> dict[str, Any]:
    return {"TYPE": kind, "ID": msg_id, "NUMBER": number, "MESSAGE": message, "LOG_NO": "", "LOG_MSG_NO": "000000",
            "MESSAGE_V1": "", "MESSAGE_V2": "", "MESSAGE_V3": "", "MESSAGE_V4": "", "PARAMETER": parameter,
            "ROW": row, "FIELD": field, "SYSTEM": f"{SYSTEM_ID}CLNT100"}


def _ret1(kind: str = "", message: str = "") -> dict[str, str]:
    return {"TYPE": kind, "ID": "", "NUMBER": "000", "MESSAGE": message}


def _in_range(value: str, ranges: list[dict[str, str]]) -> bool:
    def one(r: dict[str, str]) -> bool:
        option, low, high = r.get("OPTION", "EQ"), r.get("LOW", ""), r.get("HIGH", "")
        hit = {"EQ": value == low, "BT": low <= value <= high,
               "CP": bool(re.fullmatch(_like(low.replace("*", "%").replace("+", "_")), value))}.get(option, False)
        return hit if r.get("SIGN", "I") == "I" else not hit
    return not ranges or any(one(r) for r in ranges)


def bapi_customer_getlist(db: SapTables, IDRANGE: list[dict[str, str]] | None = None,
                          MAXROWS: int = 0, **_unused: Any) -> dict[str, Any]:
    """Customers in IDRANGE with their address (ADDRESSDATA)."""
    rows = [r for r in db.select("KNA1") if _in_range(r["KUNNR"], list(IDRANGE or []))]
    rows = rows[:MAXROWS] if MAXROWS else rows
    address = [{"CUSTOMER": r["KUNNR"], "NAME": r["NAME1"], "CITY": r["ORT01"], "POSTL_COD1": r["PSTLZ"],
                "STREET": r["STRAS"], "COUNTRY": r["LAND1"], "REGION": r["REGIO"], "TEL1_NUMBR": r["TELF1"],
                "SORT1": r["SORTL"]} for r in rows]
    return {"ADDRESSDATA": address, "RETURN": _ret1() if rows else _ret1("E", "No customers found")}


def bapi_salesorder_getlist(db: SapTables, CUSTOMER_NUMBER: str = "", SALES_ORGANIZATION: str = "",
                            PURCHASE_ORDER_NUMBER: str = "", MATERIAL: str = "", **_unused: Any) -> dict[str, Any]:
    """Sales order items of one customer in one sales organisation (PURCHASE_ORDER_NUMBER = BSTKD)."""
    if not CUSTOMER_NUMBER.strip() or not SALES_ORGANIZATION.strip():
        return {"SALES_ORDERS": [], "RETURN": _ret1("E", "Enter the customer number and the sales organization")}
    out = []
    for head in db.find("VBAK", KUNNR=CUSTOMER_NUMBER.strip(), VKORG=SALES_ORGANIZATION.strip(), VBTYP="C"):
        business = (db.find("VBKD", VBELN=head["VBELN"], POSNR="000000") or [{"BSTKD": ""}])[0]
        if PURCHASE_ORDER_NUMBER and business["BSTKD"] != PURCHASE_ORDER_NUMBER:
            continue
        for item in db.find("VBAP", VBELN=head["VBELN"]):
            if MATERIAL and item["MATNR"] != MATERIAL:
                continue
            out.append({"SD_DOC": head["VBELN"], "ITM_NUMBER": item["POSNR"], "MATERIAL": item["MATNR"],
                        "SHORT_TEXT": item["ARKTX"], "DOC_TYPE": head["AUART"], "DOC_DATE": head["AUDAT"],
                        "REQ_QTY": item["KWMENG"], "REQ_DATE": head["VDATU"], "PURCH_NO": business["BSTKD"],
                        "SOLD_TO": head["KUNNR"], "NET_PRICE": item["NETPR"], "NET_VAL_HG": head["NETWR"],
                        "CURRENCY": head["WAERK"], "SALES_ORG": head["VKORG"], "DISTR_CHAN": head["VTWEG"],
                        "DIVISION": head["SPART"]})
    return {"SALES_ORDERS": sorted(out, key=lambda r: (r["SD_DOC"], r["ITM_NUMBER"])), "RETURN": _ret1()}


def bapi_material_availability(db: SapTables, PLANT: str = "", MATERIAL: str = "", UNIT: str = "",
                               **_unused: Any) -> dict[str, Any]:
    """Unrestricted stock of a material in a plant (AV_QTY_PLT), as ATP without open requirements."""
    stock = db.find("MARD", MATNR=MATERIAL.strip(), WERKS=PLANT.strip())
    if not stock:
        return {"AV_QTY_PLT": Decimal(0), "DIALOGFLAG": "", "ENDLEADTME": "00000000", "WMDVEX": [],
                "RETURN": _ret1("E", f"Material {MATERIAL.lstrip('0')} not maintained in plant {PLANT}")}
    quantity = sum((r["LABST"] for r in stock), Decimal(0))
    return {"AV_QTY_PLT": quantity, "DIALOGFLAG": "", "ENDLEADTME": db.today, "RETURN": _ret1(),
            "WMDVEX": [{"BDCNT": "0001", "COM_DATE": db.today, "COM_QTY": quantity}]}


class _OrderCheck:
    """The checks BAPI_SALESORDER_CREATEFROMDAT2 runs, as RETURN messages (E) with their field."""

    def __init__(self, db: SapTables, header: dict[str, Any], partners: list[dict[str, Any]],
                 items: list[dict[str, Any]]) -> None:
        self.db, self.header, self.partners, self.items = db, header, partners, items

    def errors(self) -> list[dict[str, Any]]:
        return self._header() or self._sold_to() or self._items()

    def _header(self) -> list[dict[str, Any]]:
        if self.header.get("DOC_TYPE", "") not in ORDER_TYPES:
            return [_ret2("E", "V1", "385", f"Sales document type {self.header.get('DOC_TYPE', '')} is not defined",
                          "DOC_TYPE", "SALES_HEADER_IN")]
        if not self.items:
            return [_ret2("E", "V1", "761", "Enter at least one item", "", "SALES_ITEM_IN")]
        return []

    def _sold_to(self) -> list[dict[str, Any]]:
        sold_to = next((p["PARTN_NUMB"] for p in self.partners if p.get("PARTN_ROLE") in ("AG", "SP")), "")
        customer = self.db.find("KNA1", KUNNR=sold_to)
        area = {k: self.header.get(v, "") for k, v in (("VKORG", "SALES_ORG"), ("VTWEG", "DISTR_CHAN"),
                                                       ("SPART", "DIVISION"))}
        if not customer:
            return [_ret2("E", "VP", "102", f"Customer {sold_to.lstrip('0') or '?'} does not exist",
                          "PARTN_NUMB", "SALES_PARTNERS")]
        if customer[0]["AUFSD"] or customer[0]["SPERR"]:
            return [_ret2("E", "VP", "203", f"Sold-to party {sold_to.lstrip('0')} is blocked for sales orders",
                          "PARTN_NUMB", "SALES_PARTNERS")]
        if not self.db.find("KNVV", KUNNR=sold_to, **area):
            return [_ret2("E", "VP", "199", f"Sold-to party {sold_to.lstrip('0')} not maintained for sales area "
                          f"{area['VKORG']} {area['VTWEG']} {area['SPART']}", "PARTN_NUMB", "SALES_PARTNERS")]
        return []

    def _items(self) -> list[dict[str, Any]]:
        for row, item in enumerate(self.items, start=1):
            material = self.db.find("MARA", MATNR=item.get("MATERIAL", ""))
            if not material:
                return [_ret2("E", "V1", "392", f"Material {item.get('MATERIAL', '').lstrip('0')} does not exist",
                              "MATERIAL", "SALES_ITEM_IN", row)]
            if material[0]["LVORM"]:
                return [_ret2("E", "M3", "351", f"Material {item['MATERIAL'].lstrip('0')} is flagged for deletion",
                              "MATERIAL", "SALES_ITEM_IN", row)]
            if Decimal(str(item.get("TARGET_QTY", 0) or 0)) <= 0:
                return [_ret2("E", "V1", "137", f"Item {item.get('ITM_NUMBER', '')}: enter a quantity greater than 0",
                              "TARGET_QTY", "SALES_ITEM_IN", row)]
        return []


# ------------------------------------------------------------------------------------ the system


class FakeSapSystem:
    """A simulated SAP system: tables, one logon account, fault injection, reachable while entered."""

    _registry: ClassVar[dict[tuple[str, str], FakeSapSystem]] = {}
    _registry_lock = threading.Lock()
    _numbers = itertools.count(1)

    def __init__(self, tables: SapTables | None = None, *, ashost: str | None = None, sysnr: str = "00",
                 client: str = "100", user: str = DEMO_USER, password: str = DEMO_PASSWORD) -> None:
        self.tables = tables if tables is not None else seed()
        self.ashost = ashost or f"sapsim-{next(self._numbers)}.local"
        self.sysnr, self.client = sysnr, client
        self.calls: list[str] = []
        self._accounts = {user.upper(): password}
        self._faults: deque[tuple[str, str]] = deque()
        self._lock = threading.Lock()
        self._next_order = 13001

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Make the system reachable under (ashost, sysnr)."""
        with self._registry_lock:
            self._registry[(self.ashost, self.sysnr)] = self
        return self

    def stop(self) -> None:
        """Make it unreachable again."""
        with self._registry_lock:
            self._registry.pop((self.ashost, self.sysnr), None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @classmethod
    def reachable(cls, ashost: str, sysnr: str) -> FakeSapSystem | None:
        """The system answering at (ashost, sysnr); the demo system is started on first use."""
        with cls._registry_lock:
            found = cls._registry.get((ashost, sysnr))
        if found is None and (ashost, sysnr) == (DEMO_ASHOST, "00"):
            found = demo_system()
        return found

    # ------------------------------------------------------------------------- fault injection

    def fail_next(self, kind: str, times: int = 1, key: str = "") -> None:
        """The next `times` calls fail with `kind`: communication, logon, abap_application, abap_runtime, timeout."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; kinds: {', '.join(sorted(FAULT_KINDS))}")
        with self._lock:
            self._faults.extend([(kind, key)] * times)

    def clear_faults(self) -> None:
        """Forget pending faults."""
        with self._lock:
            self._faults.clear()

    def call_count(self, function: str | None = None) -> int:
        """Calls received (of one function, or all)."""
        with self._lock:
            return sum(1 for name in self.calls if function is None or name == function)

    def _fault(self) -> RFCLibError | None:
        with self._lock:
            kind, key = self._faults.popleft() if self._faults else ("", "")
        return {
            "": None,
            "communication": CommunicationError(f"partner '{self.ashost}:33{self.sysnr}' not reached", 1,
                                                "RFC_COMMUNICATION_FAILURE"),
            "logon": LogonError("User account is locked", 2, "RFC_LOGON_FAILURE"),
            "abap_application": _abap_error(key or "NOT_AUTHORIZED"),
            "abap_runtime": ABAPRuntimeError("No more memory available to add rows to an internal table", 3,
                                             key or "TSV_TNEW_PAGE_ALLOC_FAILED"),
            "timeout": RFCLibError("Connection was canceled", 7, "RFC_CANCELED"),
        }[kind]

    # ------------------------------------------------------------------------------- logon, calls

    def logon(self, params: dict[str, Any]) -> None:
        """Check client, user and password as the gateway does; raise LogonError otherwise."""
        if str(params.get("client", "")) != self.client:
            raise LogonError(f"Client {params.get('client', '')} is not available in this system", 2,
                             "RFC_LOGON_FAILURE")
        expected = self._accounts.get(str(params.get("user", "")).upper())
        if expected is None or expected != str(params.get("passwd", "")):
            raise LogonError("Name or password is incorrect (repeat logon)", 2, "RFC_LOGON_FAILURE")

    def dispatch(self, connection: Connection, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one function module for `connection` (faults first)."""
        with self._lock:
            self.calls.append(name)
        fault = self._fault()
        if fault is not None:
            raise fault
        db = self.tables
        functions: dict[str, Callable[..., dict[str, Any]]] = {
            "RFC_PING": lambda **_: {},
            "RFC_SYSTEM_INFO": lambda **_: {"RFCSI_EXPORT": self._system_info()},
            "RFC_READ_TABLE": lambda **p: rfc_read_table(db, **p),
            "BAPI_CUSTOMER_GETLIST": lambda **p: bapi_customer_getlist(db, **p),
            "BAPI_SALESORDER_GETLIST": lambda **p: bapi_salesorder_getlist(db, **p),
            "BAPI_MATERIAL_AVAILABILITY": lambda **p: bapi_material_availability(db, **p),
            "BAPI_SALESORDER_CREATEFROMDAT2": lambda **p: self._create_order(connection, **p),
            "BAPI_TRANSACTION_COMMIT": lambda **_: self._commit(connection),
            "BAPI_TRANSACTION_ROLLBACK": lambda **_: self._rollback(connection),
        }
        if name not in functions:
            raise ABAPApplicationError(f"Function module \"{name}\" not found", 5, "FU_NOT_FOUND")
        return functions[name](**params)

    def _system_info(self) -> dict[str, str]:
        return {"RFCSYSID": SYSTEM_ID, "RFCHOST": "s4dapp01", "RFCDBSYS": "HDB", "RFCSAPRL": "757",
                "RFCCHARTYP": "4103", "RFCKERNRL": "789", "RFCDEST": f"s4dapp01_{SYSTEM_ID}_{self.sysnr}",
                "RFCOPSYS": "Linux", "RFCTZONE": "28800"}

    def _create_order(self, connection: Connection, ORDER_HEADER_IN: dict[str, Any] | None = None,
                      ORDER_PARTNERS: list[dict[str, Any]] | None = None,
                      ORDER_ITEMS_IN: list[dict[str, Any]] | None = None,
                      ORDER_SCHEDULES_IN: list[dict[str, Any]] | None = None,
                      ORDER_CONDITIONS_IN: list[dict[str, Any]] | None = None, **_unused: Any) -> dict[str, Any]:
        header, partners, items = dict(ORDER_HEADER_IN or {}), list(ORDER_PARTNERS or []), list(ORDER_ITEMS_IN or [])
        if len(str(header.get("PURCH_NO_C", ""))) > 35:
            raise RFCTypeError("field 'PURCH_NO_C' of ORDER_HEADER_IN is longer than 35 characters", 22,
                               "RFC_CONVERSION_FAILURE")
        errors = _OrderCheck(self.tables, header, partners, items).errors()
        if errors:
            return {"SALESDOCUMENT": "", "RETURN": [*errors, _ret2("E", "V4", "219", "Sales document was not changed")]}
        with self._lock:
            number, self._next_order = f"{self._next_order:010d}", self._next_order + 1
        connection.luw.append(lambda: _book_order(self.tables, number, header, partners, items,
                                                  list(ORDER_SCHEDULES_IN or []), list(ORDER_CONDITIONS_IN or [])))
        saved = _ret2("S", "V1", "311", f"Standard Order {number.lstrip('0')} has been saved")
        return {"SALESDOCUMENT": number, "RETURN": [
            _ret2("S", "V4", "233", "SALES_HEADER_IN has been processed successfully", parameter="SALES_HEADER_IN"),
            _ret2("S", "V4", "233", "SALES_ITEM_IN has been processed successfully", parameter="SALES_ITEM_IN"),
            {**saved, "MESSAGE_V2": number}]}

    def _commit(self, connection: Connection) -> dict[str, Any]:
        work, connection.luw = connection.luw, []
        for book in work:
            book()
        return {"RETURN": {"TYPE": "", "ID": "", "NUMBER": "000", "MESSAGE": ""}}

    def _rollback(self, connection: Connection) -> dict[str, Any]:
        connection.luw = []
        return {"RETURN": {"TYPE": "", "ID": "", "NUMBER": "000", "MESSAGE": ""}}


def _book_order(db: SapTables, number: str, header: dict[str, Any], partners: list[dict[str, Any]],
                items: list[dict[str, Any]], schedules: list[dict[str, Any]],
                conditions: list[dict[str, Any]]) -> None:
    """Write a committed order to VBAK, VBAP, VBUK and VBKD."""
    with db.lock:
        day, time = db.tick()
        sold_to = next(p["PARTN_NUMB"] for p in partners if p.get("PARTN_ROLE") in ("AG", "SP"))
        net = {c.get("ITM_NUMBER"): Decimal(str(c.get("COND_VALUE"))) for c in conditions if c.get("COND_TYPE") == "PR00"}
        gross = {c.get("ITM_NUMBER"): Decimal(str(c.get("COND_VALUE"))) for c in conditions  # tax included (含税价)
                 if c.get("COND_TYPE") == "ZPR1"}
        dates = {s.get("ITM_NUMBER"): s.get("REQ_DATE") for s in schedules}
        total = Decimal(0)
        for item in items:
            material = db.find("MARA", MATNR=item["MATERIAL"])[0]
            position = f"{int(item['ITM_NUMBER']):06d}"
            quantity = Decimal(str(item["TARGET_QTY"]))
            listed = gross.get(item["ITM_NUMBER"], Decimal(PRICES.get(int(item["MATERIAL"]), "0")))
            price = net.get(item["ITM_NUMBER"], (listed / Decimal("1.13")).quantize(Decimal("0.01")))
            value = (price * quantity).quantize(Decimal("0.01"))
            total += value
            text = (db.find("MAKT", MATNR=item["MATERIAL"], SPRAS="1") or [{"MAKTX": ""}])[0]["MAKTX"]
            db.insert("VBAP", VBELN=number, POSNR=position, MATNR=item["MATERIAL"], ARKTX=text, PSTYV="TAN",
                      KWMENG=quantity, VRKME=material["MEINS"], NETPR=price, NETWR=value,
                      MWSBP=(value * Decimal("0.13")).quantize(Decimal("0.01")), WAERK=header.get("CURRENCY", "CNY"),
                      ERDAT=day)
        db.insert("VBAK", VBELN=number, ERDAT=day, ERZET=time, ERNAM=DEMO_USER, AUDAT=header.get("PURCH_DATE") or day,
                  VBTYP="C", AUART=header["DOC_TYPE"], VKORG=header["SALES_ORG"], VTWEG=header["DISTR_CHAN"],
                  SPART=header["DIVISION"], NETWR=total, WAERK=header.get("CURRENCY", "CNY"), KUNNR=sold_to,
                  VDATU=header.get("REQ_DATE_H") or next(iter(dates.values()), day),
                  BSTNK=str(header.get("PURCH_NO_C", ""))[:20])
        db.insert("VBUK", VBELN=number, GBSTK="A", LFSTK="A", FKSTK="A", ABSTK="A", CMGST="D")
        db.insert("VBKD", VBELN=number, POSNR="000000", BSTKD=header.get("PURCH_NO_C", ""),
                  BSTDK=header.get("PURCH_DATE") or day)


_DEMO: FakeSapSystem | None = None
_DEMO_LOCK = threading.Lock()


def demo_system() -> FakeSapSystem:
    """The process-wide demo system at DEMO_ASHOST (seeded with the bad rows the demo dead-letters)."""
    global _DEMO
    with _DEMO_LOCK:
        if _DEMO is None:
            _DEMO = FakeSapSystem(seed(bad_rows=True), ashost=DEMO_ASHOST).start()
        return _DEMO


# -------------------------------------------------------------------------------- the connection


class Connection:
    """pyrfc.Connection's interface over a FakeSapSystem: `call`, `ping`, `close`, `alive`."""

    def __init__(self, config: dict[str, Any] | None = None, **params: Any) -> None:
        self.config = dict(config or {})
        address = str(params.get("ashost") or params.get("mshost") or "")
        sysnr = str(params.get("sysnr") or "00")
        system = FakeSapSystem.reachable(address, sysnr)
        if system is None:
            raise CommunicationError(f"partner '{address or '?'}:33{sysnr}' not reached", 1,
                                     "RFC_COMMUNICATION_FAILURE")
        system.logon(params)
        self.system = system
        self.luw: list[Callable[[], None]] = []
        self._open = True

    @property
    def alive(self) -> bool:
        """True until closed."""
        return self._open

    def call(self, func_name: str, options: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        """Call a function module; a communication error closes the connection, like the RFC library."""
        if not self._open:
            raise CommunicationError("connection is closed", 13, "RFC_INVALID_HANDLE")
        try:
            return self.system.dispatch(self, func_name, params)
        except CommunicationError:
            self.close()
            raise

    def ping(self) -> None:
        """RFC_PING."""
        self.call("RFC_PING")

    def close(self) -> None:
        """Close; an uncommitted LUW is rolled back."""
        self.luw, self._open = [], False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

