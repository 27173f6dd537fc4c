"""MDM normalisers: width, script, names (suffixes, brackets, scripts), phones, credit codes, addresses."""

from __future__ import annotations

import pytest

from mdm.address import parse_address, region_of
from mdm.names import name_parts
from mdm.normalize import clean, halfwidth, phone_e164, phone_kind, simplified, uscc_valid


@pytest.mark.parametrize(("raw", "expected"), [
    ("ＡＢＣ１２３", "ABC123"),
    ("（苏州）", "(苏州)"),
    ("０５１２－６６８８　１２３４", "0512-6688 1234"),
    ("plain ascii", "plain ascii"),
])
def test_full_width_becomes_half_width(raw: str, expected: str) -> None:
    assert halfwidth(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("蘇州華成機械有限公司", "苏州华成机械有限公司"),
    ("廣東省東莞市", "广东省东莞市"),
    ("Suzhou Huacheng", "Suzhou Huacheng"),
])
def test_traditional_becomes_simplified(raw: str, expected: str) -> None:
    assert simplified(raw) == expected


def test_clean_folds_width_script_case_and_spaces() -> None:
    assert clean("  ＳＵＺＨＯＵ   華成 ") == "suzhou 华成"
    assert clean(None) == ""


@pytest.mark.parametrize(("name", "legal_form", "org_kind"), [
    ("苏州华成机械有限公司", "limited", ""),
    ("苏州华成机械有限责任公司", "limited", ""),
    ("苏州华成机械股份有限公司", "joint_stock", ""),
    ("华成机械集团有限公司", "limited", "group"),
    ("华成机械有限公司无锡分公司", "limited", "branch"),
    ("Suzhou Huacheng Machinery Co., Ltd.", "limited", ""),
    ("Huacheng Machinery Inc.", "corporation", ""),
    ("Huacheng Group", "", "group"),
])
def test_legal_form_and_organisation_kind_are_kept_as_features(name: str, legal_form: str, org_kind: str) -> None:
    parts = name_parts(name)
    assert (parts.legal_form, parts.org_kind) == (legal_form, org_kind)


@pytest.mark.parametrize("name", [
    "苏州华成机械有限公司", "蘇州華成機械股份有限公司", "华成机械（苏州）有限公司", "华成机械(苏州)有限公司",
    "江苏省苏州市华成机械有限公司", "苏州市华成机械有限责任公司", "Suzhou Huacheng Machinery Co., Ltd.",
    "SUZHOU HUACHENG MACHINERY CO LTD", "Suzhou Huacheng Jixie Youxian Gongsi",
])
def test_name_variants_share_place_brand_and_latin_key(name: str) -> None:
    parts = name_parts(name)
    assert (parts.province, parts.city) == ("江苏省", "苏州")
    assert parts.latin == "huacheng machinery"


def test_brackets_naming_china_do_not_invent_a_place() -> None:
    parts = name_parts("ＡＢＣ机械（中国）有限公司")
    assert (parts.province, parts.city, parts.brand) == ("", "", "abc")


def test_branch_location_is_kept() -> None:
    assert name_parts("华成机械有限公司苏州分公司").branch == "苏州"


@pytest.mark.parametrize(("raw", "e164", "kind"), [
    ("0512-6688 1234", "+8651266881234", "landline"),
    ("(0512)66881234", "+8651266881234", "landline"),
    ("+86 512 6688 1234", "+8651266881234", "landline"),
    ("０５１２－６６８８１２３４", "+8651266881234", "landline"),
    ("010-58974099", "+861058974099", "landline"),
    ("138 1234 5678", "+8613812345678", "mobile"),
    ("0086 13812345678", "+8613812345678", "mobile"),
    ("0512-66881234转8008", "+8651266881234", "landline"),
    ("无 / 0512-66881234", "+8651266881234", "landline"),
    ("12345", "", ""),
    ("", "", ""),
])
def test_phones_become_e164(raw: str, e164: str, kind: str) -> None:
    assert phone_e164(raw) == e164
    assert phone_kind(phone_e164(raw)) == kind


@pytest.mark.parametrize(("raw", "valid"), [
    ("91320500MA1MX3K71M", "91320500MA1MX3K71M"),
    ("91320500ma1mx3k71m", "91320500MA1MX3K71M"),
    ("９１３２０５００ＭＡ１ＭＸ３Ｋ７１Ｍ", "91320500MA1MX3K71M"),
    ("9132 0500-MA1M X3K7 1M", "91320500MA1MX3K71M"),
    ("91320500MA1MX3K71N", ""),  # wrong check digit
    ("9132050MA1X2Y3Z", ""),  # 15 characters
    ("", ""),
])
def test_credit_code_is_checked_with_its_check_digit(raw: str, valid: str) -> None:
    assert uscc_valid(raw) == valid


@pytest.mark.parametrize(("text", "province", "city", "district", "region"), [
    ("江苏省苏州市吴中区木渎镇金枫南路1258号", "江苏省", "苏州", "吴中区", "华东"),
    ("苏州吴中区金枫南路1258号", "江苏省", "苏州", "吴中区", "华东"),
    ("广东省深圳市宝安区西乡街道", "广东省", "深圳", "宝安区", "华南"),
    ("北京市海淀区中关村大街1号", "北京市", "北京", "海淀区", "华北"),
    ("成都市武侯区天府大道", "四川省", "成都", "武侯区", "西南"),
    ("沈阳铁西区北一路", "辽宁省", "沈阳", "铁西区", "东北"),
    ("西安市雁塔区", "陕西省", "西安", "", "西北"),
    ("武汉东西湖区", "湖北省", "武汉", "", "华中"),
])
def test_address_is_parsed_and_mapped_to_a_sales_region(text: str, province: str, city: str, district: str,
                                                         region: str) -> None:
    address = parse_address(text)
    assert (address.province, address.city, address.region) == (province, city, region)
    if district:
        assert address.district == district


def test_address_parts_given_separately_win() -> None:
    address = parse_address("新北区人民路719号", "", "常州市")
    assert (address.province, address.city, address.district) == ("江苏省", "常州", "新北区")


@pytest.mark.parametrize(("province", "region"), [("浙江", "华东"), ("广西壮族自治区", "华南"), ("河南省", "华中"),
                                                  ("新疆", "西北"), ("黑龙江省", "东北"), ("不存在", "")])
def test_province_to_region(province: str, region: str) -> None:
    assert region_of(province) == region
