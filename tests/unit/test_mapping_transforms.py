"""Every transform of the mapping engine: good inputs, bad inputs (no value in messages), bad parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mappings import TRANSFORMS
from mappings._lookups import LookupTable
from mappings._paths import Getter, SourcePath, compile_getter, parse_source
from mappings._transforms import Bound, ParamError, TransformError, bind

CANARY = "SECRET-CANARY-123"
TABLES = {
    "status": {"A": "active", "B": "blocked"},
    "unit_factors": {"件": 1, "箱": 12, "盒": 10, "CP-BOLT-M8/箱": 2000},
    "bad_factors": {"箱": "twelve"},
}


class Ctx:
    """A BuildContext over in-memory tables."""

    def table(self, name: str) -> LookupTable:
        if name not in TABLES:
            raise ParamError(f"unknown lookup table {name!r}")
        return LookupTable(name, "", dict(TABLES[name]), Path(f"{name}.yaml"))

    def source(self, text: Any) -> tuple[SourcePath, Getter]:
        try:
            path = parse_source(text)
        except ValueError as exc:
            raise ParamError(str(exc)) from None
        return path, compile_getter(path)

    def chain(self, raw: Any) -> tuple[Bound, ...]:
        return tuple(bind(item, self) for item in raw)


def run(spec: Any, value: Any, src: dict[str, Any] | None = None) -> Any:
    bound = bind(spec, Ctx())
    src = src or {}
    return bound.fn(value, src, src) if bound.contextual else bound.fn(value)


GOOD = [
    ("trim", "  苏州 ", "苏州"),
    ("trim", "\u3000苏州\u3000", "苏州"),
    ("trim", "   ", ""),
    ("collapse_spaces", "HC-100  不锈钢 \t搅拌机", "HC-100 不锈钢 搅拌机"),
    ("collapse_spaces", " a\u3000\u3000b ", "a b"),
    ("fullwidth_to_halfwidth", "ＡＢＣ１２３（）", "ABC123()"),
    ("fullwidth_to_halfwidth", "木渎镇金枫南路１２５８号（Ａ座）", "木渎镇金枫南路1258号(A座)"),
    ("fullwidth_to_halfwidth", "苏州　华成", "苏州 华成"),
    ("upper", "91320500ma1mx3k71m", "91320500MA1MX3K71M"),
    ("lower", "ZhangWei", "zhangwei"),
    ("strip_leading_zeros", "0000012345", "12345"),
    ("strip_leading_zeros", "0000", "0"),
    ("strip_leading_zeros", "000ABC", "000ABC"),
    ("strip_leading_zeros", "12345", "12345"),
    ({"replace": {"old": "-", "new": ""}}, "0512-6578", "05126578"),
    ({"replace": {"old": "^CN-", "new": "", "regex": True}}, "CN-100", "100"),
    ({"replace": {"old": r"(\d+)-(\d+)", "new": r"\2\1", "regex": True}}, "12-34", "3412"),
    ({"regex_extract": r"(\d{6})"}, "江苏省苏州市 215101", "215101"),
    ({"regex_extract": {"pattern": r"(?P<zip>\d{6})", "group": "zip"}}, "邮编215101", "215101"),
    ({"regex_extract": "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"}, "91320500MA1MX3K71M",
     "91320500MA1MX3K71M"),
    ({"regex_extract": "^[0-9]{6}$"}, "12345", None),
    ({"split": ","}, "a, b,,c", ["a", "b", "c"]),
    ({"split": "、"}, "机械、 电子、", ["机械", "电子"]),
    ({"split": ","}, ", ,", None),
    ({"split": {"separator": "[,;、]", "regex": True}}, "a;b、c", ["a", "b", "c"]),
    ("phone_cn", "138 1234 5678", "+8613812345678"),
    ("phone_cn", "0512-6578 1234", "+8651265781234"),
    ("phone_cn", "(010) 6552 8888", "+861065528888"),
    ("phone_cn", "+86 512 6578 1234", "+8651265781234"),
    ("phone_cn", "+86 10 6552 8888", "+861065528888"),
    ("phone_cn", "0086 13812345678", "+8613812345678"),
    ("phone_cn", "400-820-8820", "+864008208820"),
    ("phone_cn", "转808", "转808"),
    ({"phone_cn": "skip"}, "转808", None),
    ("decimal", "2.000", "2"),
    ("decimal", "0.115", "0.115"),
    ("decimal", "1E+3", "1000"),
    ("decimal", "-0.000", "0"),
    ("decimal", 12, "12"),
    ("decimal", " 7.50 ", "7.5"),
    ({"decimal": {"scale": 2}}, "12.345", "12.35"),
    ({"decimal": {"scale": 2}}, "12.344", "12.34"),
    ({"decimal": {"scale": 2}}, "500000", "500000.00"),
    ({"decimal": {"scale": 2}}, "-0.001", "0.00"),
    ({"decimal": {"scale": 2}}, 0.1, "0.10"),
    ({"decimal": {"scale": 2, "rounding": "half_even"}}, "0.125", "0.12"),
    ({"decimal": {"scale": 0, "rounding": "down"}}, "9.99", "9"),
    ({"decimal": 3}, "1", "1.000"),
    ("sap_number", "1,234.50-", "-1234.50"),
    ("sap_number", "500.00", "500.00"),
    ("sap_number", "-12", "-12"),
    ("sap_number", "0.00-", "0.00"),
    ("sap_number", " 1 234.5 ", "1234.5"),
    ({"sap_number": {"decimal_separator": ",", "thousands_separator": "."}}, "1.234,5-", "-1234.5"),
    ("int", "10", 10),
    ("int", "10.000", 10),
    ("int", " 7 ", 7),
    ("int", 7, 7),
    ("int", str(-(2**63)), -(2**63)),
    ("number", "21.5", 21.5),
    ("number", 3, 3.0),
    ({"date": "%Y/%m/%d"}, "2026/11/18", "2026-11-18"),
    ("date", "2026-11-18", "2026-11-18"),
    ({"date": "%Y-%m-%d %H:%M:%S"}, "2026-11-18 08:00:00", "2026-11-18"),
    ({"date": "%Y%m%d"}, "20261118", "2026-11-18"),
    ({"date": "iso"}, "2026-11-18T08:00:00+08:00", "2026-11-18"),
    ({"datetime": {"format": "%Y-%m-%dT%H:%M:%S", "tz": "Asia/Shanghai"}}, "2026-11-20T08:15:30",
     "2026-11-20T00:15:30Z"),
    ({"datetime": {"format": "%Y-%m-%d %H:%M:%S", "tz": "Asia/Shanghai"}}, "2026-01-01 07:00:00",
     "2025-12-31T23:00:00Z"),
    ({"datetime": {"format": "%Y/%m/%d %H:%M", "tz": "Asia/Shanghai"}}, "2026/11/20 8:15",
     "2026-11-20T00:15:00Z"),
    ({"datetime": {"tz": "Asia/Shanghai"}}, "2026-11-20T08:15:30+09:00", "2026-11-19T23:15:30Z"),
    ({"datetime": {"tz": "Europe/Berlin"}}, "2026-07-01T12:00:00", "2026-07-01T10:00:00Z"),
    ({"datetime": {"format": "%Y-%m-%dT%H:%M:%S%z"}}, "2026-11-20T08:15:30+0800", "2026-11-20T00:15:30Z"),
    ({"datetime": {"format": "%Y%m%d%H%M%S", "tz": "Asia/Shanghai"}}, "20261120081530",
     "2026-11-20T00:15:30Z"),
    ({"datetime": {"tz": "Asia/Shanghai"}}, "2026-11-20T08:15:30.250", "2026-11-20T00:15:30.250000Z"),
    ("sap_date", "20261118", "2026-11-18"),
    ("sap_date", "00000000", None),
    ("sap_date", "        ", None),
    ("sap_time", "081530", "08:15:30"),
    ("sap_time", "000000", "00:00:00"),
    ({"lookup": "status"}, "A", "active"),
    ({"lookup": {"table": "status", "missing": "default", "value": "prospect"}}, "Q", "prospect"),
    ({"lookup": {"table": "status", "missing": "pass"}}, "Q", "Q"),
    ({"lookup": {"table": "status", "missing": "skip"}}, "Q", None),
    ({"map_values": {"values": {"X": "blocked"}}}, "X", "blocked"),
    ({"map_values": {"values": {"X": "blocked"}, "missing": "default", "value": "active"}}, "", "active"),
    ({"map_values": {"values": {"1": "one"}}}, 1, "one"),
    ("bool", "Y", True),
    ("bool", "N", False),
    ("bool", "X", True),
    ("bool", "", False),
    ("bool", " ", False),
    ("bool", "是", True),
    ("bool", "否", False),
    ("bool", "true", True),
    ("bool", "0", False),
    ("bool", True, True),
    ({"bool": {"true_values": ["J"], "false_values": ["N"]}}, "J", True),
    ({"unit": {"from": "kg", "to": "g"}}, "1.5", "1500"),
    ({"unit": {"from": "g", "to": "kg"}}, "1500", "1.5"),
    ({"unit": {"from": "mm", "to": "m"}}, "2500", "2.5"),
    ({"unit": {"from": "吨", "to": "公斤"}}, "0.25", "250"),
    ({"unit": {"from": "件", "to": "件", "factors": "unit_factors"}}, "3", "3"),
    ({"unit": {"from": "件", "to": "箱", "factors": "unit_factors"}}, "1", "0.083333"),
    ({"unit": {"from": "件", "to": "箱", "factors": "unit_factors", "scale": 2}}, "1", "0.08"),
    ("each_trim_upper", ["a ", " b"], ["A", "B"]),
    ("each_trim_upper", ["a", "  "], ["A"]),
    ("each_trim_upper", ["  "], None),
    ("first", ["", "A", "B"], "A"),
    ("first", "x", "x"),
    ("first", [], None),
    ("join", ["a", "b"], "a,b"),
    ({"join": " / "}, ["a", "", "b"], "a / b"),
    ("join", "x", "x"),
]
ALIASES: dict[str, Any] = {"each_trim_upper": {"each": ["trim", "upper"]}}


@pytest.mark.parametrize(("spec", "value", "expected"), GOOD,
                         ids=[f"{i}-{c[0]!s:.30}" for i, c in enumerate(GOOD)])
def test_transform_gives(spec: Any, value: Any, expected: Any) -> None:
    assert run(ALIASES.get(spec, spec) if isinstance(spec, str) else spec, value) == expected


CONTEXTUAL = [
    ({"currency_amount": {"currency": "JPY"}}, "1234.5", {}, "1235"),
    ({"currency_amount": {"currency_field": "C"}}, "1234.5", {"C": "CNY"}, "1234.50"),
    ({"currency_amount": {"currency_field": "C"}}, "1.2345", {"C": " kwd "}, "1.235"),
    ({"currency_amount": {"currency_field": "C"}}, 7, {"C": "USD"}, "7.00"),
    ({"unit": {"from_field": "U", "to": "t"}}, "2500", {"U": "KG"}, "2.5"),
    ({"unit": {"from_field": "U", "to": "件", "factors": "unit_factors"}}, "2", {"U": "箱"}, "24"),
    ({"unit": {"from_field": "U", "to": "件", "factors": "unit_factors", "material_field": "M"}}, "2",
     {"U": "箱", "M": "CP-BOLT-M8"}, "4000"),
    ({"unit": {"from_field": "U", "to": "件", "factors": "unit_factors", "material_field": "M"}}, "2",
     {"U": "箱", "M": "OTHER"}, "24"),
]


@pytest.mark.parametrize(("spec", "value", "src", "expected"), CONTEXTUAL)
def test_contextual_transform_reads_the_record(spec: Any, value: Any, src: dict[str, Any],
                                               expected: Any) -> None:
    assert run(spec, value, src) == expected


BAD = [
    ("trim", 12, TypeError, None),
    ({"regex_extract": {"pattern": "^[0-9]+$", "missing": "error"}}, CANARY, TransformError,
     "does not match"),
    ({"phone_cn": "error"}, CANARY, TransformError, "not a Chinese phone number"),
    ("decimal", CANARY, TransformError, "not a number"),
    ("decimal", "1,234", TransformError, "not a number"),
    ("decimal", "NaN", TransformError, "not a finite number"),
    ({"decimal": 2}, "Infinity", TransformError, "not a finite number"),
    ({"decimal": 2}, True, TransformError, "expects a number, got bool"),
    ({"decimal": 2}, "1E+80", TransformError, "too many digits"),
    ("decimal", "1E+999999999", TransformError, "too many digits"),
    ("decimal", "1E+999999", TransformError, "too many digits"),
    ("decimal", "1E-999999", TransformError, "too many digits"),
    ("sap_number", CANARY, TransformError, "not a SAP number"),
    ("sap_number", "12-3", TransformError, "not a SAP number"),
    ("sap_number", "1.2.3", TransformError, "not a SAP number"),
    ("int", "10.5", TransformError, "not a whole number"),
    ("int", "9" * 30, TransformError, "outside the 64-bit integer range"),
    ("int", "1E+999999", TransformError, "outside the 64-bit integer range"),
    ("int", 2**63, TransformError, "outside the 64-bit integer range"),
    ("int", CANARY, TransformError, "not a number"),
    ("number", CANARY, TransformError, "not a number"),
    ("number", "nan", TransformError, "not a finite number"),
    ("number", True, TransformError, "expects a number, got bool"),
    ("date", "2026-02-30", TransformError, "not a date in format %Y-%m-%d"),
    ("date", CANARY, TransformError, "not a date in format %Y-%m-%d"),
    ({"datetime": {"format": "%Y-%m-%dT%H:%M:%S", "tz": "Asia/Shanghai"}}, "2026-13-01T00:00:00",
     TransformError, "not a date-time in format %Y-%m-%dT%H:%M:%S"),
    ({"datetime": {"tz": "Asia/Shanghai"}}, CANARY, TransformError, "not a date-time in format iso"),
    ("sap_date", "20261318", TransformError, "not a calendar date"),
    ("sap_date", CANARY, TransformError, "not a SAP date (YYYYMMDD)"),
    ("sap_time", "246000", TransformError, "not a SAP time"),
    ("sap_time", "0815", TransformError, "not a SAP time"),
    ({"lookup": "status"}, CANARY, TransformError, "no entry in lookup table 'status'"),
    ({"map_values": {"values": {"X": "blocked"}}}, CANARY, TransformError, "no entry in map_values"),
    ("bool", CANARY, TransformError, "not a recognised yes/no flag"),
    ({"unit": {"from": "kg", "to": "g"}}, CANARY, TransformError, "not a number"),
    ({"each": ["trim"]}, CANARY, TransformError, "expects a list, got str"),
    ("join", [{"a": 1}], TransformError, "expects a list of values"),
]


@pytest.mark.parametrize(("spec", "value", "error", "message"), BAD,
                         ids=[f"{i}-{c[0]!s:.30}" for i, c in enumerate(BAD)])
def test_transform_refuses(spec: Any, value: Any, error: type[Exception], message: str | None) -> None:
    with pytest.raises(error) as info:
        run(spec, value)
    if message is not None:
        assert message in str(info.value)
    assert CANARY not in str(info.value) or error is not TransformError


CONTEXTUAL_BAD = [
    ({"currency_amount": {"currency_field": "C"}}, {}, "the currency is missing", "C"),
    ({"currency_amount": {"currency_field": "C"}}, {"C": CANARY}, "unknown ISO 4217 currency code", "C"),
    ({"unit": {"from_field": "U", "to": "kg"}}, {"U": CANARY}, "unknown unit", "U"),
    ({"unit": {"from_field": "U", "to": "kg"}}, {}, "the unit is missing", "U"),
    ({"unit": {"from_field": "U", "to": "kg"}}, {"U": "mm"}, "cannot convert a length unit to mass", "U"),
    ({"unit": {"from_field": "U", "to": "件", "factors": "unit_factors"}}, {"U": "kg"},
     "cannot convert a mass unit to count", "U"),
]


@pytest.mark.parametrize(("spec", "src", "message", "blamed"), CONTEXTUAL_BAD)
def test_contextual_transform_blames_the_field_it_read(spec: Any, src: dict[str, Any], message: str,
                                                       blamed: str) -> None:
    with pytest.raises(TransformError) as info:
        run(spec, "12", src)
    assert info.value.message == message
    assert info.value.source is not None and info.value.source.text == blamed
    assert CANARY not in str(info.value)


BAD_PARAMS = [
    ("trimm", "unknown transform 'trimm' (did you mean 'trim'?)"),
    ({"decimal": {"scael": 2}}, "unknown parameter 'scael' (did you mean 'scale'?)"),
    ({"decimal": {"scale": -1}}, "parameter 'scale' must be a whole number ≥ 0"),
    ({"decimal": {"scale": 2, "rounding": "nearest"}}, "parameter 'rounding' must be one of"),
    ({"trim": 3}, "takes a mapping of parameters"),
    ({"trim": None, "upper": None}, "a transform is a name"),
    (["trim"], "a transform is a name"),
    ({"concat": ["A", "B"]}, "concat is a value source"),
    ({"default": 1}, "default is a rule key"),
    ({"replace": {"new": "x"}}, "parameter 'old' is required"),
    ({"replace": {"old": "(", "regex": True}}, "invalid regular expression"),
    ({"regex_extract": "(a)"}, None),
    ({"regex_extract": {"pattern": "a", "group": 2}}, "the pattern has no group 2"),
    ({"regex_extract": {"pattern": "(a)", "group": "name"}}, "the pattern has no group 'name'"),
    ({"date": "%Y-%Q"}, "cannot parse"),
    ({"date": "2026"}, "has no % directive"),
    ({"datetime": {"format": "%Y-%m-%d"}}, "tz is required"),
    ({"datetime": {"tz": "Asia/Shanghia"}},
     "unknown time zone 'Asia/Shanghia' (did you mean 'Asia/Shanghai'?)"),
    ({"lookup": "statuss"}, "unknown lookup table 'statuss'"),
    ({"lookup": {"table": "status", "missing": "default"}}, "give `value` exactly when missing is `default`"),
    ({"lookup": {"table": "status", "value": "x"}}, "give `value` exactly when missing is `default`"),
    ({"map_values": {"values": {"X": ["a"]}}}, "values must be text, numbers or true/false"),
    ({"currency_amount": {}}, "give exactly one of currency or currency_field"),
    ({"currency_amount": {"currency": "CNY", "currency_field": "C"}}, "give exactly one of currency"),
    ({"currency_amount": {"currency": "RMB"}}, "unknown ISO 4217 currency 'RMB'"),
    ({"currency_amount": {"currency_field": "a..b"}}, "malformed source path"),
    ({"unit": {"to": "kg"}}, "give exactly one of from"),
    ({"unit": {"from": "kg", "to": "kgs"}}, "unknown unit 'kgs' (did you mean 'kg'?)"),
    ({"unit": {"from": "箱", "to": "件"}}, "unknown unit '件'"),
    ({"unit": {"from": "箱", "to": "件", "factors": "bad_factors"}}, "factor of '箱' is not a number"),
    ({"sap_number": {"decimal_separator": ",", "thousands_separator": ","}},
     "the two separators must differ"),
    ({"each": ["trim", {"currency_amount": {"currency_field": "C"}}]},
     "its transforms cannot read other fields"),
    ({"each": ["trimm"]}, "did you mean 'trim'"),
    ({"bool": {"true_values": "Y"}}, "parameter 'true_values' must be a list of text"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_PARAMS, ids=[str(c[0])[:40] for c in BAD_PARAMS])
def test_bad_parameters_are_load_errors(spec: Any, message: str | None) -> None:
    if message is None:
        bind(spec, Ctx())  # valid: the group defaults to 1 when the pattern has groups
        return
    with pytest.raises(ParamError) as info:
        bind(spec, Ctx())
    assert message in str(info.value)


def test_lookup_and_map_values_declare_their_outputs() -> None:
    assert bind({"lookup": "status"}, Ctx()).outputs == {"active", "blocked"}
    assert bind({"lookup": {"table": "status", "missing": "default", "value": "x"}}, Ctx()).outputs == {
        "active", "blocked", "x"}
    assert bind({"lookup": {"table": "status", "missing": "pass"}}, Ctx()).outputs is None


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_every_transform_has_a_one_line_doc_and_a_test(name: str) -> None:
    assert TRANSFORMS[name].doc, name
    specs = [c[0] for c in GOOD + CONTEXTUAL] + list(ALIASES.values())
    names = {s if isinstance(s, str) else next(iter(s)) for s in specs}
    assert name in names, f"no GOOD case for {name}"
