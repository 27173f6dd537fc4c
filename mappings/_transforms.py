"""The registry of named, pure transforms a mapping rule can chain.

Each transform is a factory: it checks its parameters once at load time (raising ParamError) and
returns a small function `value -> value`. A function returns None when the value should count as
missing (e.g. SAP date `00000000`) and raises TransformError, whose message never contains the
value (it may be personal data). A few transforms read another field of the record (`unit` with
`from_field`, `currency_amount` with `currency_field`); they are marked contextual and are called
as `fn(value, source_object, record_root)`.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Context, Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from mappings._lookups import LookupTable
from mappings._paths import Getter, SourcePath
from mappings._problems import did_you_mean
from mappings._units import MINOR_UNITS, UNITS

Fn = Callable[..., Any]


class TransformError(Exception):
    """A transform cannot handle a value. The message names the problem, never the value."""

    def __init__(self, message: str, source: SourcePath | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source  # another source field to blame (e.g. the unit field), if not the rule's own


class ParamError(Exception):
    """A transform is written wrongly in a mapping file (load time; config values may be quoted)."""


class BuildContext(Protocol):
    """What factories may ask of the loader: lookup tables, source paths and nested chains."""

    def table(self, name: str) -> LookupTable:
        """The lookup table (ParamError if it does not exist or is broken)."""
        ...

    def source(self, text: Any) -> tuple[SourcePath, Getter]:
        """A parsed source path and its getter (ParamError if malformed)."""
        ...

    def chain(self, raw: Any) -> tuple[Bound, ...]:
        """A nested list of transforms, bound (ParamError on the first bad one)."""
        ...


@dataclass(frozen=True)
class Param:
    """One transform parameter: its kind, whether it is required, its default and allowed values."""

    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Bound:
    """A transform with its parameters applied, ready to run."""

    name: str
    fn: Fn
    contextual: bool = False
    outputs: frozenset[Any] | None = None  # every value it can produce, when finite (checked against enums)


@dataclass(frozen=True)
class TransformDef:
    """A registered transform: factory, parameters and the one-line doc shown in errors and docs."""

    name: str
    factory: Callable[[dict[str, Any], BuildContext], Fn | Bound]
    params: dict[str, Param] = field(default_factory=dict)
    shorthand: str | None = None  # `{name: scalar}` sets this parameter
    contextual: bool = False
    doc: str = ""


TRANSFORMS: dict[str, TransformDef] = {}

_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str) and v != "", "non-empty text"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number ≥ 0"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "scalar": (lambda v: isinstance(v, (str, int, float, bool)), "text, a number or true/false"),
    "text_list": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of text"),
    "mapping": (lambda v: isinstance(v, dict) and bool(v), "a non-empty mapping"),
    "list": (lambda v: isinstance(v, list) and bool(v), "a non-empty list"),
    "any": (lambda v: True, "anything"),
}
_RULE_KEY_HINTS = {
    "concat": "concat is a value source: write `concat: [PathA, PathB]` beside (instead of) `from`",
    "default": "default is a rule key: write `default: value` in the rule, not in transforms",
    "when": "when is a rule key: write `when: {...}` in the rule, not in transforms",
    "filter": "filter is a rule key of an `each` rule, not a transform",
}


def transform(name: str, *, params: dict[str, Param] | None = None, shorthand: str | None = None,
              contextual: bool = False) -> Callable[[Any], Any]:
    """Register a transform factory under `name`."""

    def register(factory: Callable[[dict[str, Any], BuildContext], Fn | Bound]) -> Any:
        doc = (inspect.getdoc(factory) or "").splitlines()[0]
        TRANSFORMS[name] = TransformDef(name, factory, params or {}, shorthand, contextual, doc)
        return factory

    return register


def bind(raw: Any, ctx: BuildContext) -> Bound:
    """Bind one transform as written in YAML (`trim` or `{decimal: {scale: 2}}`); ParamError if wrong."""
    name, given = _split(raw)
    tdef = TRANSFORMS.get(name)
    if tdef is None:
        hint = _RULE_KEY_HINTS.get(name) or f"unknown transform {name!r}{did_you_mean(name, TRANSFORMS)}"
        raise ParamError(hint)
    if not isinstance(given, dict):
        if tdef.shorthand is None:
            raise ParamError(f"transform {name!r} takes a mapping of parameters, not a single value")
        given = {tdef.shorthand: given}
    values = _check_params(tdef, given)
    made = tdef.factory(values, ctx)
    return made if isinstance(made, Bound) else Bound(name, made, tdef.contextual)


def _split(raw: Any) -> tuple[str, Any]:
    if isinstance(raw, str):
        return raw, {}
    if isinstance(raw, dict) and len(raw) == 1:
        name, given = next(iter(raw.items()))
        return name, {} if given is None else given
    raise ParamError("a transform is a name (`trim`) or one `name: parameters` pair (`{decimal: 2}`)")


def _check_params(tdef: TransformDef, given: dict[str, Any]) -> dict[str, Any]:
    errors = [f"unknown parameter {k!r}{did_you_mean(k, tdef.params)}" for k in given if k not in tdef.params]
    values: dict[str, Any] = {}
    for pname, spec in tdef.params.items():
        if pname not in given:
            if spec.required:
                errors.append(f"parameter {pname!r} is required")
            values[pname] = spec.default
            continue
        value = given[pname]
        check, expected = _KINDS[spec.kind]
        if not check(value):
            errors.append(f"parameter {pname!r} must be {expected}")
        elif spec.choices and value not in spec.choices:
            errors.append(f"parameter {pname!r} must be one of {', '.join(map(str, spec.choices))}")
        values[pname] = value
    if errors:
        raise ParamError(f"transform {tdef.name!r}: " + "; ".join(errors))
    return values


# ---------------------------------------------------------------------------------------------- text

_FULLWIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}


@transform("trim")
def _trim(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Remove white space at both ends, including the full-width space U+3000: `"  苏州 "` → `"苏州"`."""
    return str.strip


@transform("collapse_spaces")
def _collapse_spaces(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Trim and turn every run of white space into one space: `"a  \\t b"` → `"a b"`."""
    return lambda v: " ".join(v.split())


@transform("fullwidth_to_halfwidth")
def _fullwidth_to_halfwidth(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Full-width ASCII forms to ASCII (`ＡＢＣ１２３（）` → `ABC123()`), U+3000 to a space; CJK untouched."""
    return lambda v: v.translate(_FULLWIDTH)


@transform("upper")
def _upper(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Upper case: `"91320500ma1mx3k71m"` → `"91320500MA1MX3K71M"`."""
    return str.upper


@transform("lower")
def _lower(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Lower case: `"Sales@HCJX.com"` → `"sales@hcjx.com"`."""
    return str.lower


@transform("strip_leading_zeros")
def _strip_leading_zeros(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """SAP ALPHA output: `"0000012345"` → `"12345"`, `"0000"` → `"0"`; values with letters are kept."""

    def strip(v: str) -> str:
        if v.isascii() and v.isdigit():
            return v.lstrip("0") or "0"
        return v

    return strip


@transform("replace", params={"old": Param("text", required=True), "new": Param("scalar", default=""),
                              "regex": Param("bool", default=False)})
def _replace(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Replace every `old` by `new` (`regex: true`: `old` is a pattern, `new` may use \\1): `-` → `""`."""
    new = str(p["new"])
    if not p["regex"]:
        old = p["old"]
        return lambda v: v.replace(old, new)
    pattern = _compile_regex(p["old"])
    return lambda v: pattern.sub(new, v)


@transform("regex_extract", params={"pattern": Param("text", required=True), "group": Param("scalar"),
                                    "missing": Param("text", default="skip", choices=("skip", "error"))},
           shorthand="pattern")
def _regex_extract(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """The first match of `pattern` (its `group`: default 1 if any, else all); no match → missing."""
    pattern = _compile_regex(p["pattern"])
    group = p["group"] if p["group"] is not None else (1 if pattern.groups else 0)
    if not _has_group(pattern, group):
        raise ParamError(f"transform 'regex_extract': the pattern has no group {group!r}")
    fail = p["missing"] == "error"

    def extract(v: str) -> str | None:
        m = pattern.search(v)
        if m is None:
            if fail:
                raise TransformError("does not match the pattern")
            return None
        return m.group(group)

    return extract


def _has_group(pattern: re.Pattern[str], group: Any) -> bool:
    if isinstance(group, bool) or not isinstance(group, (int, str)):
        return False
    return 0 <= group <= pattern.groups if isinstance(group, int) else group in pattern.groupindex


def _compile_regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise ParamError(f"invalid regular expression {text!r}: {exc}") from None


@transform("split", params={"separator": Param("text", required=True), "regex": Param("bool", default=False)},
           shorthand="separator")
def _split_text(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Text to a list at each `separator`; parts trimmed, empty ones dropped: `"a, b,,c"` → `[a, b, c]`."""
    sep = p["separator"]
    splitter = _compile_regex(sep).split if p["regex"] else (lambda v: v.split(sep))

    def split(v: str) -> list[str] | None:
        parts = [s.strip() for s in splitter(v)]
        return [s for s in parts if s] or None

    return split


_PHONE_NOISE = re.compile(r"[\s\-()（）.]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0[1-9][0-9]{8,10}")
_SERVICE = re.compile(r"[48]00[0-9]{7}")


@transform("phone_cn", params={"invalid": Param("text", default="pass", choices=("pass", "skip", "error"))},
           shorthand="invalid")
def _phone_cn(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Chinese phone to E.164: `"138 1234 5678"` → `"+8613812345678"`, `"0512-6578 1234"` → `"+865126…"`."""
    invalid = p["invalid"]

    def phone(v: str) -> str | None:
        digits = _national(_PHONE_NOISE.sub("", v))
        if _MOBILE.fullmatch(digits) or _SERVICE.fullmatch(digits):
            return "+86" + digits
        if _LANDLINE.fullmatch(digits):
            return "+86" + digits[1:]
        if invalid == "error":
            raise TransformError("not a Chinese phone number")
        return v if invalid == "pass" else None

    return phone


def _national(digits: str) -> str:
    """Digits without the +86 / 0086 country prefix, with the trunk 0 back on area codes."""
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            rest = digits[len(prefix):]
            return rest if _MOBILE.fullmatch(rest) or _SERVICE.fullmatch(rest) else "0" + rest
    return digits


# ------------------------------------------------------------------------------------------- numbers

_CTX = Context(prec=60)
_ROUNDINGS = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN, "up": ROUND_UP}
_SAP_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def to_decimal(v: Any) -> Decimal:
    """A finite Decimal from text, int, float or Decimal; TransformError otherwise."""
    if type(v) is str:  # the common case first: every ERP value is text
        try:
            d = Decimal(v)
        except InvalidOperation:
            raise TransformError("not a number") from None
    elif type(v) is int or type(v) is Decimal:
        d = Decimal(v)
    elif type(v) is float:
        d = Decimal(repr(v))
    else:
        raise TransformError(f"expects a number, got {type(v).__name__}")
    if not d.is_finite():
        raise TransformError("not a finite number")
    return d


def plain(d: Decimal) -> str:
    """A Decimal as plain text without exponent or trailing zeros, and never `-0`."""
    d = d.normalize(_CTX)
    return format(abs(d) if d.is_zero() else d, "f")


def _number_problem(v: Any) -> TransformError:
    """Why a value failed a decimal operation (slow path only)."""
    try:
        to_decimal(v)
    except TransformError as exc:
        return exc
    return TransformError("too many digits")


def quantizer(scale: int, rounding: str = ROUND_HALF_UP) -> Callable[[Any], str]:
    """Number (text, int, float, Decimal) → text with exactly `scale` places, never `-0.00`; one call."""
    exp = Decimal(1).scaleb(-scale)

    def quantize(v: Any) -> str:
        try:
            q = (Decimal(v) if type(v) is str else to_decimal(v)).quantize(exp, rounding, _CTX)
        except InvalidOperation:
            raise _number_problem(v) from None
        if not q.is_finite():
            raise TransformError("not a finite number")
        return format(abs(q) if q.is_zero() else q, "f")

    return quantize


def _exact(v: Any) -> str:
    """Number → exact decimal text without exponent or trailing zeros (never `-0`); at most 60 digits a side."""
    try:
        d = (Decimal(v) if type(v) is str else to_decimal(v)).normalize(_CTX)
    except ArithmeticError:  # InvalidOperation, or Overflow beyond the context's exponent range
        raise _number_problem(v) from None
    if not d.is_finite():
        raise TransformError("not a finite number")
    if not d.is_zero() and not -_CTX.prec < d.adjusted() < _CTX.prec:  # 1E+999999: a million digits
        raise TransformError("too many digits")
    return format(abs(d) if d.is_zero() else d, "f")


@transform("decimal", params={"scale": Param("int"), "rounding": Param("text", default="half_up",
                                                                      choices=tuple(_ROUNDINGS))},
           shorthand="scale")
def _decimal(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Exact decimal text; with `scale` rounded half up to that many places: `"12.345"` → `"12.35"`."""
    if p["scale"] is None:
        return _exact
    return quantizer(p["scale"], _ROUNDINGS[p["rounding"]])


@transform("sap_number", params={"decimal_separator": Param("text", default="."),
                                 "thousands_separator": Param("text", default=",")})
def _sap_number(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """SAP number text to decimal text (trailing minus, thousands): `"1,234.50-"` → `"-1234.50"`."""
    dec, thousands = p["decimal_separator"], p["thousands_separator"]
    if dec == thousands:
        raise ParamError("transform 'sap_number': the two separators must differ")

    def sap_number(v: str) -> str:
        s = v.replace(thousands, "").replace(" ", "").strip()
        s = s.replace(dec, ".") if dec != "." else s
        negative = s.endswith("-") or s.startswith("-")
        s = s.strip("-") if negative and s.count("-") == 1 else s
        if not _SAP_NUMBER.fullmatch(s):
            raise TransformError("not a SAP number (like 1,234.56 or 123.45-)")
        d = Decimal(s)
        return format(-d if negative and not d.is_zero() else d, "f")

    return sap_number


@transform("int")
def _int(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Whole number: `"10"` → `10`, `"10.000"` → `10`; `"10.5"` and numbers beyond 64 bits are errors."""

    def to_int(v: Any) -> int:
        if type(v) is int:
            return _in_int64(v)
        if type(v) is str:
            try:
                return _in_int64(int(v))
            except ValueError:
                pass
        d = to_decimal(v)
        if d != d.to_integral_value():
            raise TransformError("not a whole number")
        if not _INT64_MIN <= d <= _INT64_MAX:  # before int(): 1E+999999 would be a million digits
            raise TransformError(_INT64_PROBLEM)
        return int(d)

    return to_int


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT64_PROBLEM = "outside the 64-bit integer range (events carry JSON numbers every consumer can read)"


def _in_int64(n: int) -> int:
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise TransformError(_INT64_PROBLEM)
    return n


@transform("number")
def _number(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Floating-point number for telemetry (never for money): `"21.5"` → `21.5`."""

    def to_number(v: Any) -> float:
        if type(v) is bool:
            raise TransformError("expects a number, got bool")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TransformError("not a number") from None
        if not math.isfinite(f):
            raise TransformError("not a finite number")
        return f

    return to_number


@transform("currency_amount", params={"currency": Param("text"), "currency_field": Param("text"),
                                      "rounding": Param("text", default="half_up",
                                                        choices=tuple(_ROUNDINGS))},
           contextual=True)
def _currency_amount(p: dict[str, Any], ctx: BuildContext) -> Bound:
    """Amount rounded to the ISO 4217 minor units (JPY 0, CNY 2, KWD 3): `"1234.5"` in JPY → `"1235"`."""
    if (p["currency"] is None) == (p["currency_field"] is None):
        raise ParamError("transform 'currency_amount': give exactly one of currency or currency_field")
    rounding = _ROUNDINGS[p["rounding"]]
    by_code = {code: quantizer(places, rounding) for code, places in MINOR_UNITS.items()}
    if p["currency"] is not None:
        if p["currency"] not in by_code:
            raise ParamError(f"transform 'currency_amount': unknown ISO 4217 currency {p['currency']!r}")
        return Bound("currency_amount", by_code[p["currency"]])  # a fixed currency reads nothing else
    path, get = ctx.source(p["currency_field"])

    def amount(v: Any, src: Any, root: Any) -> str:
        code = get(src, root)
        if code is None or code == "":
            raise TransformError("the currency is missing", source=path)
        quantize = by_code.get(code) or by_code.get(str(code).strip().upper())
        if quantize is None:
            raise TransformError("unknown ISO 4217 currency code", source=path)
        return quantize(v)

    return Bound("currency_amount", amount, contextual=True)


# ---------------------------------------------------------------------------------------- dates/times

_ISO_FAST = {"%Y-%m-%dT%H:%M:%S": "T", "%Y-%m-%d %H:%M:%S": " "}


def _check_format(fmt: str) -> None:
    """A strptime format must round-trip a sample moment, or it cannot parse anything."""
    if fmt == "iso":
        return
    sample = datetime(2024, 11, 23, 13, 45, 56, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError:
        raise ParamError(f"format {fmt!r} cannot parse the dates it describes") from None
    if "%" not in fmt:
        raise ParamError(f"format {fmt!r} has no % directive")


def _parser(fmt: str) -> Callable[[str], datetime]:
    """Text → datetime for a format; the common ISO layouts take the fast C path."""
    sep = _ISO_FAST.get(fmt)
    error = TransformError(f"not a date-time in format {fmt}")

    def parse(v: str) -> datetime:
        if sep is not None and len(v) == 19 and v[10] == sep and v[4] == "-" and v[13] == ":":
            try:
                return datetime.fromisoformat(v)
            except ValueError:
                pass
        try:
            return datetime.fromisoformat(v) if fmt == "iso" else datetime.strptime(v, fmt)
        except (ValueError, TypeError):
            raise TransformError(error.message) from None

    return parse


@transform("date", params={"format": Param("text", default="%Y-%m-%d")}, shorthand="format")
def _date(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Date in a strptime `format` (default `%Y-%m-%d`, or `iso`) to ISO: `"2026/11/18"` → `"2026-11-18"`."""
    fmt = p["format"]
    _check_format(fmt)
    error = f"not a date in format {fmt}"
    fast = fmt in ("%Y-%m-%d", "iso")

    def to_date(v: str) -> str:
        if fast and len(v) == 10 and v[4] == "-" and v[7] == "-":
            try:
                date.fromisoformat(v)
                return v  # already the ISO form
            except ValueError:
                pass
        try:
            parsed = datetime.fromisoformat(v) if fmt == "iso" else datetime.strptime(v, fmt)
        except (ValueError, TypeError):
            raise TransformError(error) from None
        return parsed.date().isoformat()

    return to_date


@transform("datetime", params={"format": Param("text", default="iso"), "tz": Param("text")})
def _datetime(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Local date-time in `format` and zone `tz` to RFC 3339 UTC: `"…T08:15"` Shanghai → `"…T00:15Z"`."""
    fmt = p["format"]
    _check_format(fmt)
    if p["tz"] is None and "%z" not in fmt:
        raise ParamError("transform 'datetime': tz is required (the source's time zone, e.g. Asia/Shanghai)")
    zone = _zone(p["tz"]) if p["tz"] is not None else UTC
    parse = _parser(fmt)

    def to_utc(v: str) -> str:
        dt = parse(v)
        dt = (dt if dt.tzinfo is not None else dt.replace(tzinfo=zone)).astimezone(UTC)
        return dt.replace(tzinfo=None).isoformat() + "Z"

    return to_utc


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParamError(f"unknown time zone {name!r}{did_you_mean(name, available_timezones())}") from None


@transform("sap_date")
def _sap_date(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """SAP DATS `YYYYMMDD` to an ISO date: `"20261118"` → `"2026-11-18"`; `"00000000"`, blanks: missing."""

    def sap_date(v: str) -> str | None:
        if v == "00000000" or not v.strip():
            return None
        if len(v) != 8 or not (v.isascii() and v.isdigit()):
            raise TransformError("not a SAP date (YYYYMMDD)")
        try:
            return date(int(v[:4]), int(v[4:6]), int(v[6:])).isoformat()
        except ValueError:
            raise TransformError("not a calendar date (YYYYMMDD)") from None

    return sap_date


@transform("sap_time")
def _sap_time(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """SAP TIMS `HHMMSS` to `HH:MM:SS`: `"081530"` → `"08:15:30"`."""

    def sap_time(v: str) -> str:
        ok = len(v) == 6 and v.isascii() and v.isdigit()
        if not ok or int(v[:2]) > 23 or int(v[2:4]) > 59 or int(v[4:]) > 59:
            raise TransformError("not a SAP time (HHMMSS)")
        return f"{v[:2]}:{v[2:4]}:{v[4:]}"

    return sap_time


# ------------------------------------------------------------------------------------ codes and flags

_MISSING_CHOICES = ("error", "default", "pass", "skip")
_TRUE = frozenset({"Y", "y", "X", "x", "是", "1", "T", "true", "True", "TRUE", "yes", "Yes", "YES"})
_FALSE = frozenset({"N", "n", "否", "0", "F", "false", "False", "FALSE", "no", "No", "NO", " ", ""})


def _table_fn(entries: dict[str, Any], what: str, missing: str, value: Any) -> Bound:
    """Dict lookup with the chosen behaviour for absent keys."""
    error = TransformError(f"no entry in {what} for this value")

    def absent(v: Any) -> Any:
        if type(v) is not str and v is not None:  # numbers from JSON sources: try their text
            found = entries.get(str(v))
            if found is not None:
                return found
        if missing == "error":
            raise TransformError(error.message)
        return value if missing == "default" else (v if missing == "pass" else None)

    def lookup(v: Any) -> Any:
        found = entries.get(v)
        return absent(v) if found is None else found

    extra = {value} if missing == "default" else set()
    outputs = None if missing == "pass" else frozenset(entries.values()) | extra
    return Bound("lookup", lookup, outputs=outputs)


def _missing_value(name: str, p: dict[str, Any]) -> None:
    if (p["missing"] == "default") != (p["value"] is not None):
        raise ParamError(f"transform {name!r}: give `value` exactly when missing is `default`")


@transform("lookup", params={"table": Param("text", required=True),
                             "missing": Param("text", default="error", choices=_MISSING_CHOICES),
                             "value": Param("scalar")}, shorthand="table")
def _lookup(p: dict[str, Any], ctx: BuildContext) -> Bound:
    """Look the value up in a table of `mappings/lookups/`; `missing`: error | default | pass | skip."""
    _missing_value("lookup", p)
    table = ctx.table(p["table"])
    bound = _table_fn(table.entries, f"lookup table {table.name!r}", p["missing"], p["value"])
    return bound


@transform("map_values", params={"values": Param("mapping", required=True),
                                 "missing": Param("text", default="error", choices=_MISSING_CHOICES),
                                 "value": Param("scalar")}, shorthand="values")
def _map_values(p: dict[str, Any], ctx: BuildContext) -> Bound:
    """Lookup in an inline table: `{map_values: {values: {X: blocked}, missing: default, value: active}}`."""
    _missing_value("map_values", p)
    bad = [k for k, v in p["values"].items() if not isinstance(v, (str, int, float, bool))]
    if bad:
        raise ParamError(f"transform 'map_values': values must be text, numbers or true/false ({bad[0]!r})")
    bound = _table_fn(dict(p["values"]), "map_values", p["missing"], p["value"])
    return Bound("map_values", bound.fn, outputs=bound.outputs)


@transform("bool", params={"true_values": Param("text_list"), "false_values": Param("text_list")})
def _bool(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Yes/no flags to true/false: Y/N, X/blank (SAP), 是/否, 1/0, true/false; others are an error."""
    true = frozenset(p["true_values"]) if p["true_values"] is not None else _TRUE
    false = frozenset(p["false_values"]) if p["false_values"] is not None else _FALSE

    def to_bool(v: Any) -> bool:
        if v in true:
            return True
        if v in false:
            return False
        if type(v) is bool:
            return v
        raise TransformError("not a recognised yes/no flag")

    return to_bool


# ------------------------------------------------------------------------------------------- units


def _unit_index(p: dict[str, Any], ctx: BuildContext) -> dict[str, tuple[str, Decimal]]:
    """Built-in mass and length units plus the count units of the `factors` table."""
    units = dict(UNITS)
    if p["factors"] is not None:
        for key, factor in ctx.table(p["factors"]).entries.items():
            try:
                units[key] = ("count", to_decimal(factor))
            except TransformError:
                message = f"lookup table {p['factors']!r}: factor of {key!r} is not a number"
                raise ParamError(message) from None
    return units


@transform("unit", params={"to": Param("text", required=True), "from": Param("text"),
                           "from_field": Param("text"), "factors": Param("text"),
                           "material_field": Param("text"), "scale": Param("int", default=6)},
           contextual=True)
def _unit(p: dict[str, Any], ctx: BuildContext) -> Bound:
    """Quantity to unit `to` from `from` (or the unit at `from_field`): g/kg/t, mm/m, 箱→件 via `factors`."""
    if (p["from"] is None) == (p["from_field"] is None):
        raise ParamError("transform 'unit': give exactly one of from (a unit) or from_field (its path)")
    units = _unit_index(p, ctx)
    for key in ("to", "from"):
        if p[key] is not None and p[key] not in units:
            raise ParamError(f"transform 'unit': unknown unit {p[key]!r}{did_you_mean(p[key], units)}")
    unit_of = _unit_reader(p, ctx)
    material = ctx.source(p["material_field"])[1] if p["material_field"] is not None else None
    convert = _converter(units, p["to"], p["scale"])

    def to_unit(v: Any, src: Any, root: Any) -> str:
        mat = material(src, root) if material is not None else None
        return convert(to_decimal(v), unit_of(src, root), mat)

    return Bound("unit", to_unit, contextual=True)


def _unit_reader(p: dict[str, Any], ctx: BuildContext) -> Callable[[Any, Any], tuple[str, SourcePath | None]]:
    if p["from"] is not None:
        fixed = (p["from"], None)
        return lambda src, root: fixed
    path, get = ctx.source(p["from_field"])
    return lambda src, root: (get(src, root), path)


def _converter(units: dict[str, tuple[str, Decimal]], to: str,
               scale: int) -> Callable[[Decimal, tuple[Any, SourcePath | None], Any], str]:
    to_dim, to_factor = units[to]
    exp = Decimal(1).scaleb(-scale)

    def convert(qty: Decimal, unit: tuple[Any, SourcePath | None], material: Any) -> str:
        code, path = unit
        if code is None or code == "":
            raise TransformError("the unit is missing", source=path)
        found = (units.get(f"{material}/{code}") if material else None) or units.get(code)
        if found is None:
            raise TransformError("unknown unit", source=path)
        if found[0] != to_dim:
            raise TransformError(f"cannot convert a {found[0]} unit to {to_dim}", source=path)
        return plain((qty * found[1] / to_factor).quantize(exp, ROUND_HALF_UP, _CTX))

    return convert


# ------------------------------------------------------------------------------------------- lists


@transform("each", params={"transforms": Param("list", required=True)}, shorthand="transforms")
def _each(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """Apply a chain to every element of a list; missing results are dropped: `{each: [trim, upper]}`."""
    chain = ctx.chain(p["transforms"])
    if any(b.contextual for b in chain):
        raise ParamError("transform 'each': its transforms cannot read other fields")
    fns = tuple(b.fn for b in chain)

    def one(v: Any) -> Any:
        for fn in fns:
            v = fn(v)
            if v is None or v == "":
                return None
        return v

    def each(v: Any) -> list[Any] | None:
        items = [v] if isinstance(v, dict) else v
        if not isinstance(items, list):
            raise TransformError(f"expects a list, got {type(v).__name__}")
        out = [r for r in map(one, items) if r is not None]
        return out or None

    return each


@transform("first")
def _first(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """The first present element of a list (a single value is kept): `["A", "B"]` → `"A"`."""

    def first(v: Any) -> Any:
        if not isinstance(v, list):
            return v
        return next((x for x in v if x is not None and x != ""), None)

    return first


@transform("join", params={"separator": Param("scalar", default=",")}, shorthand="separator")
def _join(p: dict[str, Any], ctx: BuildContext) -> Fn:
    """A list to text with `separator` (default `,`), skipping missing elements: `[a, b]` → `"a,b"`."""
    sep = str(p["separator"])

    def join(v: Any) -> str:
        if isinstance(v, str):
            return v
        if not isinstance(v, list) or any(isinstance(x, (dict, list)) for x in v):
            raise TransformError(f"expects a list of values, got {type(v).__name__}")
        return sep.join(str(x) for x in v if x is not None and x != "")

    return join
