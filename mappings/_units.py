"""Reference data the transforms need: units of mass and length, ISO 4217 currencies and their minor units."""

from __future__ import annotations

from decimal import Decimal

# Each unit code (as sources write it: SI symbol, SAP internal code, Chinese) → (dimension, factor to base).
_MASS = {  # base: gram
    ("mg", "MG", "毫克"): "0.001",
    ("g", "G", "GRM", "克"): "1",
    ("斤",): "500",  # 市斤, still common on Chinese purchase orders
    ("kg", "KG", "KGM", "千克", "公斤"): "1000",
    ("lb", "LB"): "453.59237",
    ("t", "T", "TO", "TNE", "吨"): "1000000",
}
_LENGTH = {  # base: millimetre
    ("mm", "MM", "MMT", "毫米"): "1",
    ("cm", "CM", "CMT", "厘米"): "10",
    ("m", "M", "MTR", "米"): "1000",
    ("km", "KM", "KMT", "公里", "千米"): "1000000",
}


def _expand(dimension: str, table: dict[tuple[str, ...], str]) -> dict[str, tuple[str, Decimal]]:
    return {code: (dimension, Decimal(factor)) for codes, factor in table.items() for code in codes}


UNITS: dict[str, tuple[str, Decimal]] = {**_expand("mass", _MASS), **_expand("length", _LENGTH)}

# ISO 4217 active codes. Minor units are 2 except the listed ones.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD "
    "CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD "
    "HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD "
    "MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON "
    "RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD "
    "TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO.split(), 2),
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_THREE.split(), 3),
    **dict.fromkeys(_FOUR.split(), 4),
}
