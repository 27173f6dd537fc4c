"""`hub mappings check` and `hub mappings test` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.app.cli_mappings import mappings
from mappings import MAPPINGS_DIR

ORDER = MAPPINGS_DIR / "soap_erp" / "order.yaml"
ORDER_IN = MAPPINGS_DIR / "soap_erp" / "samples" / "order.in.json"
ORDER_OUT = MAPPINGS_DIR / "soap_erp" / "samples" / "order.out.json"
CUSTOMER_HEAD = 'mapping: erp/customer\nversion: "1.0.0"\ntarget: customer/customer.v1\nfields:\n'
CUSTOMER_FIELDS = """  source_system: {const: erp}
  source_id: {from: ID}
  name: {from: NAME}
  status: {const: active}
  updated_at: {from: T, transforms: [{datetime: {tz: Asia/Shanghai}}]}
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(mappings, list(args))
    return result.exit_code, result.stdout, result.stderr


def folder(tmp_path: Path, text: str) -> Path:
    (tmp_path / "erp").mkdir()
    (tmp_path / "erp" / "customer.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "erp" / "customer.yaml"


def write_json(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_check_passes_on_the_shipped_mappings() -> None:
    code, out, err = invoke("check")
    assert code == 0 and out == "" and "OK: " in err


def test_check_prints_each_problem_with_file_and_line(tmp_path: Path) -> None:
    folder(tmp_path, CUSTOMER_HEAD + CUSTOMER_FIELDS + "  nmae: {from: X, tranforms: [trim]}\n")
    code, out, err = invoke("check", "--dir", str(tmp_path))
    assert code == 1 and "problem(s)" in err
    assert "customer.yaml:10: target field 'nmae' is not in customer/customer.v1 (did you mean 'name'?)" \
        in out
    assert "customer.yaml:10: unknown key 'tranforms' in rule 'nmae' (did you mean 'transforms'?)" in out


def test_test_prints_the_output_as_json_and_matches_the_expected_file() -> None:
    code, out, err = invoke("test", str(ORDER), "--sample", str(ORDER_IN), "--expect", str(ORDER_OUT))
    assert code == 0, err
    assert json.loads(out) == json.loads(ORDER_OUT.read_text(encoding="utf-8"))
    assert "valid against sales/order.v1" in err and "matches" in err


def test_test_prints_a_unified_diff_and_fails_on_a_difference(tmp_path: Path) -> None:
    expected = json.loads(ORDER_OUT.read_text(encoding="utf-8")) | {"status": "draft"}
    code, out, err = invoke("test", str(ORDER), "--sample", str(ORDER_IN),
                            "--expect", str(write_json(tmp_path, "want.json", expected)))
    assert code == 1
    assert '-  "status": "draft",' in err and '+  "status": "approved",' in err and "differs" in err
    assert json.loads(out)["status"] == "approved"  # stdout stays pure JSON


def test_test_maps_a_list_of_records(tmp_path: Path) -> None:
    record = json.loads(ORDER_IN.read_text(encoding="utf-8"))
    sample = write_json(tmp_path, "in.json", [record, record])
    code, out, _ = invoke("test", str(ORDER), "--sample", str(sample))
    assert code == 0 and len(json.loads(out)) == 2


@pytest.mark.parametrize(("record", "message"), [
    ({"ID": "C1", "NAME": "x", "T": "SECRET-CANARY-123"},
     "/T: datetime: not a date-time in format iso (rule updated_at)"),
    ({"ID": "", "NAME": "x", "T": "2026-11-20T08:00:00"}, "/ID: required field is missing (rule source_id)"),
])
def test_test_reports_a_mapping_error_without_the_value(tmp_path: Path, record: dict[str, str],
                                                        message: str) -> None:
    path = folder(tmp_path, CUSTOMER_HEAD + CUSTOMER_FIELDS)
    code, _, err = invoke("test", str(path), "--sample", str(write_json(tmp_path, "in.json", record)))
    assert code == 1 and message in err and "SECRET-CANARY-123" not in err


def test_test_reports_output_the_schema_rejects(tmp_path: Path) -> None:
    fields = CUSTOMER_FIELDS.replace("source_id: {from: ID}", "source_id: {from: ID, keep_empty: true}")
    path = folder(tmp_path, CUSTOMER_HEAD + fields)
    record = {"ID": "", "NAME": "x", "T": "2026-11-20T08:00:00"}
    code, out, err = invoke("test", str(path), "--sample", str(write_json(tmp_path, "in.json", record)))
    assert code == 1 and "not valid against customer/customer.v1" in err
    assert json.loads(out)["source_id"] == ""


def test_test_exits_2_when_the_mapping_does_not_load(tmp_path: Path) -> None:
    path = folder(tmp_path, CUSTOMER_HEAD + CUSTOMER_FIELDS + "  name_en: {from: X, transforms: [uper]}\n")
    code, _, err = invoke("test", str(path), "--sample", str(write_json(tmp_path, "in.json", {})))
    assert code == 2 and "does not load" in err and "unknown transform 'uper' (did you mean 'upper'?)" in err
