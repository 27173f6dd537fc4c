"""The SAP RFC client: the only module that imports pyrfc (lazily), and the owner of the error table.

pyrfc needs SAP's proprietary NW RFC SDK, so it is an optional extra (`pip install 'crm-hub[sap]'`)
imported on the first logon; any object with pyrfc's `Connection` interface can stand in for it
(the bundled simulator does). The client reads tables with RFC_READ_TABLE — paged with
ROWSKIPS/ROWCOUNT, each work area cut at the offsets SAP returns, and split into several calls
joined on the key when the fields do not fit its 512-character line — and creates sales orders
with BAPI_SALESORDER_CREATEFROMDAT2 + BAPI_TRANSACTION_COMMIT. Every pyrfc error is translated
here into the hub's error tree; only communication failures and timeouts are retried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import tenacity
from pydantic import SecretStr

from hub.core.errors import (
    ConfigError,
    HubError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
    is_retriable,
)

log = logging.getLogger(__name__)

Connect = Callable[..., Any]  # pyrfc.Connection, or anything with its interface
Row = dict[str, str]
Key = tuple[str, ...]
Where = tuple[str, ...]  # the tokens of an Open SQL condition

PYRFC_MISSING = (
    "the SAP RFC connector needs pyrfc and SAP's NW RFC SDK: install the SDK (SAP note 2573790, set "
    "SAPNWRFC_HOME), then `pip install 'crm-hub[sap]'`; or set HUB_SAP_RFC__SIMULATOR=true to use the "
    "bundled simulator"
)
OPTION_LENGTH = 72   # RFC_READ_TABLE's OPTIONS-TEXT is CHAR 72
KEYS_PER_CALL = 100  # key values in one WHERE ... IN (...)
MAX_MESSAGE_CHARS = 200
_NAME = re.compile(r"^[A-Z/][A-Z0-9_/]{0,29}$")
_RETRY_KEYS = frozenset({"RFC_CANCELED", "RFC_TIMEOUT", "RFC_CLOSED", "RFC_COMMUNICATION_FAILURE",
                         "RFC_INVALID_HANDLE"})


class SapAbapError(SourceRejected):
    """SAP raised an ABAP exception (RFC_READ_TABLE's DATA_BUFFER_EXCEEDED, …); `key` names it."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


# --------------------------------------------------------------------------- Open SQL conditions


def literal(value: str) -> str:
    """A quoted Open SQL literal; quotes are doubled, control characters and long texts refused."""
    if not quotable(value):
        raise SourceRejected("a value in an RFC_READ_TABLE condition is too long or holds control characters")
    return "'" + value.replace("'", "''") + "'"


def quotable(value: str) -> bool:
    """Whether a value can go into an RFC_READ_TABLE condition (one option line, no control characters)."""
    return len(value) <= OPTION_LENGTH - 2 and not any(ord(ch) < 32 for ch in value)


def name(text: str) -> str:
    """A table or field name, checked: upper case letters, digits, _ and / only."""
    if not _NAME.match(text):
        raise ConfigError(f"{text!r} is not an SAP table or field name")
    return text


def eq(field: str, value: str) -> Where:
    """field = 'value'."""
    return (name(field), "=", literal(value))


def ge(field: str, value: str) -> Where:
    """field >= 'value'."""
    return (name(field), ">=", literal(value))


def not_blank(field: str) -> Where:
    """field <> ' ' (not initial)."""
    return (name(field), "<>", "' '")


def is_in(field: str, values: Iterable[str]) -> Where:
    """field IN ( 'a' , 'b' )."""
    items: list[str] = []
    for value in values:
        items += [",", literal(value)] if items else [literal(value)]
    return (name(field), "IN", "(", *items, ")") if items else ()


def all_of(*parts: Where) -> Where:
    """The parts joined with AND (empty parts are left out)."""
    out: list[str] = []
    for part in (p for p in parts if p):
        out += ["AND", *part] if out else list(part)
    return tuple(out)


def any_of(*parts: Where) -> Where:
    """( a OR b ): the parts joined with OR, in parentheses."""
    out: list[str] = []
    for part in (p for p in parts if p):
        out += ["OR", *part] if out else list(part)
    return ("(", *out, ")") if out else ()


def keys_in(fields: Sequence[str], keys: Sequence[Key]) -> Where:
    """The rows with one of these keys: IN for one field, ( a = .. AND b = .. ) OR … for several."""
    if len(fields) == 1:
        return is_in(fields[0], (k[0] for k in keys))
    return any_of(*(("(", *all_of(*(eq(f, v) for f, v in zip(fields, key, strict=True))), ")") for key in keys))


def option_lines(where: Where) -> list[dict[str, str]]:
    """The condition as OPTIONS lines of at most 72 characters, broken between tokens."""
    lines: list[str] = []
    for token in where:
        if lines and len(lines[-1]) + 1 + len(token) <= OPTION_LENGTH:
            lines[-1] += " " + token
        else:
            lines.append(token)
    return [{"TEXT": line} for line in lines]


# ------------------------------------------------------------------------------- work-area parsing


@dataclass(frozen=True, slots=True)
class Column:
    """Where one field sits in RFC_READ_TABLE's work area (characters, not bytes)."""

    name: str
    offset: int
    length: int


def columns(fields: Sequence[dict[str, Any]]) -> list[Column]:
    """The FIELDS table SAP returns, as columns (OFFSET and LENGTH come as NUMC text)."""
    try:
        return [Column(str(f["FIELDNAME"]).strip(), int(f["OFFSET"]), int(f["LENGTH"])) for f in fields]
    except (KeyError, TypeError, ValueError):
        raise SourceProtocolError("RFC_READ_TABLE returned FIELDS without FIELDNAME/OFFSET/LENGTH") from None


def parse_wa(wa: str, cols: Sequence[Column]) -> Row:
    """One work area cut at the offsets; pyrfc strips trailing blanks, so the last field may be short.

    The offsets count characters of a Unicode system: a Chinese character is one, as in Python's str
    (cutting the UTF-8 bytes instead would shift every field after a Chinese name).
    """
    return {c.name: wa[c.offset:c.offset + c.length].strip() for c in cols}


def work_areas(result: dict[str, Any], fields: Sequence[str]) -> list[Row]:
    """RFC_READ_TABLE's DATA cut at its FIELDS; SourceProtocolError when a field or the table is malformed."""
    cols = columns(result.get("FIELDS") or [])
    missing = sorted(set(fields) - {c.name for c in cols})
    if missing:
        raise SourceProtocolError(f"RFC_READ_TABLE returned FIELDS without {', '.join(missing)}")
    data = result.get("DATA") or []
    if not isinstance(data, list | tuple) or not all(isinstance(line, dict) for line in data):
        raise SourceProtocolError("RFC_READ_TABLE returned DATA that is not a table of work areas")
    return [parse_wa(str(line.get("WA", "")), cols) for line in data]


# ------------------------------------------------------------------------------------------ client


class SapRfcClient:
    """One RFC connection, opened on first use and reopened after a communication failure."""

    def __init__(self, params: dict[str, str], password: SecretStr | str, connect: Connect | None = None, *,
                 timeout_s: int = 60, retries: int = 2, read_rows: int = 5000, backoff_s: float = 0.5,
                 max_backoff_s: float = 5.0) -> None:
        self.params = {k: v for k, v in params.items() if v}
        self.address = f"{self.params.get('ashost') or self.params.get('mshost') or '?'}/{self.params.get('sysnr', '')}"
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)  # never printed
        self._connect = connect
        self.timeout_s, self.retries, self.read_rows = timeout_s, retries, read_rows
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._connection: Any = None
        self._plans: dict[tuple[str, tuple[str, ...]], list[tuple[str, ...]]] = {}

    def __repr__(self) -> str:
        return f"SapRfcClient({self.address!r}, user={self.params.get('user')!r})"  # never the password

    # ------------------------------------------------------------------------------- connection

    def connection(self) -> Any:
        """The open connection; logs on when there is none (imports pyrfc on first use)."""
        if self._connection is None:
            connect = self._connect or _pyrfc_connection()
            self._connection = connect(config={"timeout": self.timeout_s, "rstrip": True, "dtime": False},
                                       **self.params, passwd=self._password.get_secret_value())
        return self._connection

    def close(self) -> None:
        """Close the connection (an uncommitted LUW is rolled back); the next call logs on again."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the SAP connection failed", exc_info=True)

    def ping(self) -> dict[str, str]:
        """Log on, RFC_PING, RFC_SYSTEM_INFO and an RFC_READ_TABLE probe; the system's id and release."""
        self.call("RFC_PING")
        info = self.call("RFC_SYSTEM_INFO").get("RFCSI_EXPORT") or {}
        self.call("RFC_READ_TABLE", QUERY_TABLE="KNA1", NO_DATA="X", FIELDS=[{"FIELDNAME": "KUNNR"}])
        return {"sysid": str(info.get("RFCSYSID", "")), "release": str(info.get("RFCSAPRL", "")),
                "host": str(info.get("RFCHOST", ""))}

    def call(self, function: str, *, attempts: int | None = None, **params: Any) -> dict[str, Any]:
        """Call one function module, retrying communication failures (`attempts=1`: never retried)."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retriable),
            stop=tenacity.stop_after_attempt(self.retries + 1 if attempts is None else attempts),
            wait=tenacity.wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s),
            before_sleep=_log_retry, reraise=True)
        return retrying(self._call_once, function, params)

    def _call_once(self, function: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.connection().call(function, **params))
        except HubError:
            raise
        except Exception as exc:
            error = self._translate(function, exc)
            if error is None:
                raise
            if isinstance(error, SourceUnavailable):
                self.close()  # the RFC handle is unusable after a communication failure
            raise error from exc

    # ------------------------------------------------------------------------------ error table

    def _translate(self, function: str, exc: Exception) -> HubError | None:
        """The hub error for a pyrfc error (by class name, so the simulator's classes work too)."""
        kinds = [cls.__name__ for cls in type(exc).__mro__]
        key, text = str(getattr(exc, "key", "") or ""), _short(getattr(exc, "message", None) or "")
        user, client = self.params.get("user", "?"), self.params.get("client", "?")
        if "RFCError" not in kinds:
            return None  # not from pyrfc: a bug, not a source error
        if "CommunicationError" in kinds or key in _RETRY_KEYS:
            return SourceUnavailable(f"SAP system at {self.address} is unreachable or did not answer {function} "
                                     f"({key or 'RFC error'}: {text}); check HUB_SAP_RFC__ASHOST, HUB_SAP_RFC__SYSNR "
                                     "and the network")
        if "LogonError" in kinds:
            return SourceAuthError(f"SAP refused the logon of user {user!r} in client {client} ({text}); "
                                   "check HUB_SAP_RFC__USER, HUB_SAP_RFC__PASSWORD and HUB_SAP_RFC__CLIENT")
        if "ExternalAuthorizationError" in kinds:
            return SourceAuthError(f"SAP user {user!r} may not call {function} (authorization S_RFC)")
        if "ABAPApplicationError" in kinds:
            return SapAbapError(f"SAP rejected {function}: {key}" + (f" ({text})" if text and text != key else ""),
                                key=key)
        if "ABAPRuntimeError" in kinds:
            return SapAbapError(f"SAP ended {function} with a short dump {key} ({text})", key=key)
        if {"RFCTypeError", "ExternalApplicationError", "ExternalRuntimeError"} & set(kinds):
            return SourceRejected(f"SAP refused the parameters of {function} ({key}: {text})")
        return SourceProtocolError(f"unexpected RFC error {key or type(exc).__name__} from {function}")

    # --------------------------------------------------------------------------- RFC_READ_TABLE

    def read_table(self, table: str, fields: Sequence[str], where: Where = (), *, keys: Sequence[str] = (),
                   skip: int = 0, count: int = 0) -> list[Row]:
        """Rows of `table` matching `where` (fields as stripped text); `skip`/`count` page through them.

        When the fields do not fit in 512 characters, they are read in several calls joined on `keys`.
        """
        wanted = tuple(dict.fromkeys((*keys, *(name(f) for f in fields))))
        plan = self._plans.get((name(table), wanted), [wanted])
        while True:
            try:
                return self._read_plan(table, plan, wanted, where, tuple(keys), skip, count)
            except _TooWide as wide:
                plan = _split(plan, wide.group, tuple(keys), table)
                self._plans[(table, wanted)] = plan
                log.info("RFC_READ_TABLE %s: fields split into %d calls (512-character limit)", table, len(plan))

    def read_all(self, table: str, fields: Sequence[str], where: Where = (), *, keys: Sequence[str] = ()) -> list[Row]:
        """Every matching row, read `read_rows` at a time with ROWSKIPS/ROWCOUNT."""
        rows: list[Row] = []
        while True:
            page = self.read_table(table, fields, where, keys=keys, skip=len(rows), count=self.read_rows)
            rows += page
            if len(page) < self.read_rows:
                return rows

    def read_keys(self, table: str, fields: Sequence[str], match: Sequence[str], values: Sequence[Key],
                  where: Where = (), *, keys: Sequence[str] | None = None) -> list[Row]:
        """Rows whose `match` fields equal one of `values`, KEYS_PER_CALL values per call."""
        rows: list[Row] = []
        unique = list(dict.fromkeys(values))
        for start in range(0, len(unique), KEYS_PER_CALL):
            condition = all_of(keys_in(match, unique[start:start + KEYS_PER_CALL]), where)
            rows += self.read_table(table, fields, condition, keys=tuple(keys if keys is not None else match))
        return rows

    def _read_plan(self, table: str, plan: list[tuple[str, ...]], wanted: tuple[str, ...], where: Where,
                   keys: Key, skip: int, count: int) -> list[Row]:
        rows = self._read_once(table, plan[0], where, skip, count, 0)
        if len(plan) == 1:
            return rows
        by_key = {tuple(r[k] for k in keys): r for r in rows}
        for group, fields in enumerate(plan[1:], start=1):
            values = list(by_key)
            for start in range(0, len(values), KEYS_PER_CALL):
                condition = keys_in(keys, values[start:start + KEYS_PER_CALL])
                for row in self._read_once(table, fields, condition, 0, 0, group):
                    by_key.get(tuple(row[k] for k in keys), {}).update(row)
        complete = [r for r in rows if all(f in r for f in wanted)]  # a row deleted between the calls is left out
        return complete

    def _read_once(self, table: str, fields: tuple[str, ...], where: Where, skip: int, count: int,
                   group: int) -> list[Row]:
        try:
            result = self.call("RFC_READ_TABLE", QUERY_TABLE=table, DELIMITER="", ROWSKIPS=skip, ROWCOUNT=count,
                               OPTIONS=option_lines(where), FIELDS=[{"FIELDNAME": f} for f in fields])
        except SapAbapError as exc:
            if exc.key == "DATA_BUFFER_EXCEEDED":
                raise _TooWide(group) from None
            raise
        return work_areas(result, fields)

    # -------------------------------------------------------------------------------- sales orders

    def find_order_by_reference(self, reference: str) -> str | None:
        """The sales order (VBELN) whose customer reference VBKD-BSTKD is `reference`, or None."""
        found = self.read_table("VBKD", ("VBELN", "POSNR", "BSTKD"),
                                all_of(eq("BSTKD", reference), eq("POSNR", "000000")), keys=("VBELN", "POSNR"))
        documents = sorted({r["VBELN"] for r in found if r["BSTKD"] == reference})
        if not documents:
            return None
        headers = self.read_keys("VBAK", ("VBELN", "VBTYP"), ("VBELN",), [(d,) for d in documents])
        orders = sorted(r["VBELN"] for r in headers if r["VBTYP"] == "C")  # not quotations or contracts
        return orders[0] if orders else None

    def create_order(self, order: dict[str, Any]) -> str:
        """BAPI_SALESORDER_CREATEFROMDAT2 + BAPI_TRANSACTION_COMMIT; E/A messages raise SourceRejected.

        Never retried here: a failure after the commit may hide a created order, so the caller must
        look the reference up again (create_order_for_contract does) before trying once more.
        """
        result = self.call("BAPI_SALESORDER_CREATEFROMDAT2", attempts=1, **order)
        refused = bapi_error("the sales order", result.get("RETURN"))
        document = str(result.get("SALESDOCUMENT") or "").strip()
        if refused or not document:
            self.call("BAPI_TRANSACTION_ROLLBACK", attempts=1)
            raise refused or SourceRejected("SAP created no sales order and gave no error message")
        committed = self.call("BAPI_TRANSACTION_COMMIT", attempts=1, WAIT="X")
        refused = bapi_error("the commit of the sales order", committed.get("RETURN"))
        if refused:
            raise refused
        return document


class _TooWide(Exception):
    """RFC_READ_TABLE answered DATA_BUFFER_EXCEEDED for field group `group`."""

    def __init__(self, group: int) -> None:
        super().__init__(group)
        self.group = group


def _split(plan: list[tuple[str, ...]], group: int, keys: Key, table: str) -> list[tuple[str, ...]]:
    """The plan with group `group` cut in two halves of its non-key fields, each with the key."""
    others = [f for f in plan[group] if f not in keys]
    if len(others) <= 1:
        raise SourceRejected(f"RFC_READ_TABLE cannot read {table}: a field is too wide for its 512 characters",
                             field=others[0] if others else None)
    if not keys:
        raise ConfigError(f"reading {table} needs several RFC_READ_TABLE calls, joined on key fields: give keys")
    half = len(others) // 2
    return [*plan[:group], (*keys, *others[:half]), (*keys, *others[half:]), *plan[group + 1:]]


def bapi_error(subject: str, messages: Any) -> SourceRejected | None:
    """SourceRejected for the first E or A message of a BAPI RETURN (a table or one structure).

    Anything in RETURN that is not a message structure is no message.
    """
    rows = [messages] if isinstance(messages, dict) else messages if isinstance(messages, list | tuple) else []
    for row in (r for r in rows if isinstance(r, dict)):
        if str(row.get("TYPE", "")).strip() in ("E", "A"):
            text = _short(str(row.get("MESSAGE", "")).strip()) or f"message {row.get('ID', '')} {row.get('NUMBER', '')}"
            field = str(row.get("FIELD") or row.get("PARAMETER") or "").strip() or None
            return SourceRejected(f"SAP refused {subject}: {text}", field=field)
    return None


def _pyrfc_connection() -> Connect:
    """pyrfc.Connection, imported now; without pyrfc or its SDK a ConfigError says how to install them."""
    try:
        import pyrfc
    except ImportError:  # no pyrfc, or pyrfc without the NW RFC SDK's shared libraries
        raise ConfigError(PYRFC_MISSING) from None
    return pyrfc.Connection  # type: ignore[no-any-return]


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("SAP call failed (attempt %d), retrying: %s", state.attempt_number, exc)


def _short(text: str) -> str:
    """SAP's message, one line: the ERROR line of a multi-line RFC trace, at most 200 characters."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    error = next((line.removeprefix("ERROR").strip() for line in lines if line.startswith("ERROR")), None)
    single = error or " ".join(lines)
    return single if len(single) <= MAX_MESSAGE_CHARS else single[: MAX_MESSAGE_CHARS - 1] + "…"
