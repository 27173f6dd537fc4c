"""Survivorship, golden-record shapes, code templates (past 999) and data-quality checks."""

from __future__ import annotations

from typing import Any

import pytest

from hub.core.errors import ConfigError
from hub.core.schemas import registry
from mdm.codes import MemorySequencer, allocate, code_fields, render, scope_of
from mdm.features import all_features
from mdm.golden import build_golden
from mdm.quality import inconsistent, record_findings, summary
from mdm.rules import load_rules
from mdm.survivorship import Member, survive

CUSTOMER = load_rules("customer")
RULES = {"trust": {"sap": 90, "erp": 80, "default": 10}, "default": ["trusted", "recent"],
         "attributes": {"phone": ["valid_phone", "recent"], "address": ["complete", "recent"],
                        "name": ["simplified", "trusted"], "credit_code": ["valid_uscc", "trusted"],
                        "industry": ["frequent", "trusted"]}}


def member(system: str, updated: str, **data: Any) -> Member:
    return Member(system, f"{system}-1", data, updated)


@pytest.mark.parametrize(("attribute", "members", "expected"), [
    ("short_name", [member("erp", "2024-01-02T00:00:00Z", short_name="ERP"),
                    member("sap", "2024-01-01T00:00:00Z", short_name="SAP")], "SAP"),        # trusted
    ("phone", [member("sap", "2024-01-01T00:00:00Z", phone="0512-66881234"),
               member("crm", "2024-03-01T00:00:00+08:00", phone="13812345678"),
               member("erp", "2024-06-01T00:00:00Z", phone="not a phone")], "13812345678"),  # valid, then recent
    ("address", [member("sap", "2024-01-01T00:00:00Z", address={"city": "苏州市"}),
                 member("erp", "2023-01-01T00:00:00Z",
                        address={"city": "苏州市", "street": "金枫南路1258号"})], {"city": "苏州市", "street": "金枫南路1258号"}),
    ("name", [member("sap", "2024-01-01T00:00:00Z", name="蘇州華成機械有限公司"),
              member("erp", "2024-01-01T00:00:00Z", name="苏州华成机械有限公司")], "苏州华成机械有限公司"),  # simplified
    ("credit_code", [member("sap", "2024-01-01T00:00:00Z", credit_code="91320500MA1MX3K71N"),
                     member("crm", "2024-01-01T00:00:00Z", credit_code="91320500MA1MX3K71M")], "91320500MA1MX3K71M"),
    ("industry", [member("sap", "2024-01-01T00:00:00Z", industry="机械"),
                  member("erp", "2024-01-01T00:00:00Z", industry="通用设备"),
                  member("crm", "2024-01-01T00:00:00Z", industry="通用设备")], "通用设备"),            # most frequent
    ("fax", [member("sap", "2024-01-01T00:00:00Z")], None),
])
def test_survivorship_per_attribute(attribute: str, members: list[Member], expected: Any) -> None:
    assert survive(attribute, members, RULES)[0] == expected


def test_a_member_without_the_value_never_blanks_it() -> None:
    members = [member("sap", "2024-06-01T00:00:00Z", phone=""), member("crm", "2020-01-01T00:00:00Z", phone="13812345678")]
    assert survive("phone", members, RULES)[0] == "13812345678"


@pytest.mark.parametrize(("entity", "data"), [
    ("customer", {"name": "苏州华成机械有限公司", "phone": "0512-66881234", "credit_code": "91320500ma1mx3k71m",
                  "address": "江苏省苏州市吴中区金枫南路1258号", "industry": "通用设备制造业"}),
    ("channel", {"name": "佛山市顺德区粤达机电设备有限公司", "channel_type": "sub_dealer", "province": "广东省",
                 "status": "active"}),
    ("product", {"name": "HC-100 不锈钢搅拌设备", "model": "HC-100", "specification": "100kW / 380V / 304不锈钢",
                 "category": "搅拌设备", "base_unit": "台", "lifecycle_state": "released",
                 "attributes": {"材质": "304不锈钢"}}),
])
def test_golden_records_validate_against_their_schema(entity: str, data: dict[str, Any]) -> None:
    rules = load_rules(entity)
    golden = build_golden(entity, [member("erp", "2024-01-01T00:00:00Z", **data)], rules.survivorship)
    golden.update(golden_id="g-1", code="X-1", members=[{"source_system": "erp", "source_id": "1"}],
                  updated_at="2024-01-01T00:00:00Z")
    registry().validate(f"mdm/golden_{entity}.v1", golden)
    if entity == "customer":
        assert golden["region"] == "华东" and golden["phone"] == "+8651266881234"
        assert golden["credit_code"] == "91320500MA1MX3K71M" and golden["address"]["city"] == "苏州市"


@pytest.mark.parametrize(("entity", "data", "code"), [
    ("customer", {"name": "苏州华成机械有限公司", "industry": "通用设备制造业", "address": "江苏省苏州市"}, "机械-华东-001"),
    ("customer", {"name": "Shenzhen Hengli Electronics Co., Ltd."}, "电子-华南-001"),  # industry from the name
    ("customer", {"name": "某某有限公司"}, "其他-未知-001"),
    ("product", {"name": "HC-100 不锈钢搅拌设备", "specification": "100kW / 380V / 304不锈钢", "category": "搅拌设备"},
     "设备-100KW-不锈钢"),
    ("channel", {"name": "佛山粤达机电设备有限公司", "channel_type": "dealer", "province": "广东省"}, "经销商-华南-001"),
    ("channel", {"name": "成都蓉达机电有限公司", "channel_type": "distributor", "province": "四川省"}, "分销商-西南-001"),
])
def test_code_templates(entity: str, data: dict[str, Any], code: str) -> None:
    rules = load_rules(entity)
    fields = code_fields(rules.code, [all_features(rules, data)])
    assert MemorySequencer().allocate(rules.code, fields) == code


def test_sequences_go_past_999_and_never_repeat() -> None:
    sequencer = MemorySequencer()
    spec = {"template": "{industry}-{region}-{seq:03d}"}
    fields = {"industry": "机械", "region": "华东"}
    codes = [sequencer.allocate(spec, fields) for _ in range(1001)]
    assert codes[0] == "机械-华东-001" and codes[998] == "机械-华东-999" and codes[999] == "机械-华东-1000"
    assert len(set(codes)) == 1001
    assert sequencer.allocate(spec, {"industry": "机械", "region": "华南"}) == "机械-华南-001"  # its own scope


def test_a_code_taken_by_hand_is_skipped() -> None:
    sequencer = MemorySequencer(used={"机械-华东-001"})
    assert allocate({"template": "{i}-{r}-{seq:03d}"}, {"i": "机械", "r": "华东"}, sequencer) == "机械-华东-002"


def test_templates_without_a_counter_get_a_suffix_when_taken() -> None:
    sequencer = MemorySequencer()
    spec = {"template": "{category}-{power}-{material}"}
    fields = {"category": "设备", "power": "100KW", "material": "不锈钢"}
    assert [sequencer.allocate(spec, fields) for _ in range(3)] == ["设备-100KW-不锈钢", "设备-100KW-不锈钢-2",
                                                                    "设备-100KW-不锈钢-3"]


def test_scope_and_bad_templates() -> None:
    assert scope_of("{a}-{seq:03d}", {"a": "x"}) == "x-#"
    assert render("{a}-{seq:04d}", {"a": "x"}, 7) == "x-0007"
    with pytest.raises(ConfigError):
        render("{missing}-{seq}", {}, 1)


@pytest.mark.parametrize(("record", "findings"), [
    ({"name": "A", "credit_code": "91320500MA1MX3K71M", "phone": "0512-66881234", "address": {"city": "苏州"}}, []),
    ({"name": "A", "phone": "0512-66881234", "address": {"city": "苏州"}}, ["missing_credit_code"]),
    ({"name": "A", "credit_code": "91320500MA1MX3K71N", "address": {"city": "苏州"}, "phone": "123"},
     ["invalid_credit_code", "invalid_phone"]),
    ({"name": "A", "credit_code": "91320500MA1MX3K71M", "address": {}},
     ["missing_contact", "missing_address"]),
])
def test_data_quality_checks(record: dict[str, Any], findings: list[str]) -> None:
    assert [check for check, _ in record_findings(CUSTOMER.quality, record)] == findings


def test_consistency_and_summary() -> None:
    spec = next(s for s in CUSTOMER.quality if s["kind"] == "consistent")
    same = [{"name": "苏州华成机械有限公司"}, {"name": "蘇州華成機械股份有限公司"}]
    assert not inconsistent(spec, same)
    assert inconsistent(spec, [*same, {"name": "无锡恒力电子有限公司"}])
    assert summary(["a", "b", "a"]) == {"a": 2, "b": 1}
