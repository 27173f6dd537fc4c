"""`hub mdm dedupe` through click's CliRunner on small files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.app.cli_mdm import mdm

CUSTOMERS = [
    ("1", "erp", "苏州华成机械有限公司", "江苏省苏州市吴中区金枫南路1258号", "0512-66881234", "91320500MA1MX3K71M", "通用设备制造业"),
    ("2", "sap", "蘇州華成機械股份有限公司", "苏州吴中区金枫南路1258号", "+86 512 6688 1234", "", ""),
    ("3", "crm", "Suzhou Huacheng Machinery Co., Ltd.", "", "(0512)6688 1234", "", ""),
    ("4", "crm", "无锡华成机械有限公司", "无锡市滨湖区长江路8号", "0510-88776655", "", "机械"),
    ("5", "erp", "华成机械集团有限公司", "苏州市吴中区", "0512-66880000", "", ""),
    ("6", "dms", "深圳恒力电子有限公司", "广东省深圳市宝安区", "", "", "电子"),
    ("7", "erp", "", "", "", "", ""),
]


def write(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return {row["record_id"]: row for row in csv.DictReader(handle)}


def test_dedupe_customers(tmp_path: Path) -> None:
    source = write(tmp_path / "in.csv", ("record_id", "source", "name", "address", "phone", "credit_code", "industry"),
                   CUSTOMERS)
    result = CliRunner().invoke(mdm, ["dedupe", str(source), "--entity", "customer", "--out", str(tmp_path / "out.csv"),
                                      "--review-out", str(tmp_path / "review.jsonl")])
    assert result.exit_code == 0, result.output
    out = read(tmp_path / "out.csv")
    assert list(out) == [r[0] for r in CUSTOMERS]
    assert list(next(iter(out.values()))) == ["record_id", "cluster_id", "golden_code", "decision"]
    assert out["1"]["cluster_id"] == out["2"]["cluster_id"] == out["3"]["cluster_id"] == "1"
    assert {out[k]["decision"] for k in "123"} == {"auto"}
    assert out["1"]["golden_code"] == out["3"]["golden_code"] == "机械-华东-001"
    for other in "4567":
        assert out[other]["cluster_id"] == other and out[other]["decision"] in ("single", "review")
    assert out["6"]["golden_code"] == "电子-华南-001"
    assert len({row["golden_code"] for row in out.values()}) == 5
    assert "records" in result.stderr and "clusters" in result.stderr


def test_dedupe_products_and_channels(tmp_path: Path) -> None:
    products = write(tmp_path / "p.csv", ("record_id", "source", "name", "model", "specification", "category"), [
        ("P1", "plm", "HC-100 不锈钢搅拌设备", "HC-100", "100kW / 380V / 304不锈钢", "搅拌设备"),
        ("P2", "sap", "HC100不锈钢搅拌机", "HC100", "100KW 380V 304不锈钢", "设备"),
        ("P3", "erp", "HC-200 不锈钢搅拌设备", "HC-200", "200kW / 380V / 304不锈钢", "搅拌设备"),
    ])
    result = CliRunner().invoke(mdm, ["dedupe", str(products), "--entity", "product", "--out", str(tmp_path / "po.csv")])
    assert result.exit_code == 0, result.output
    out = read(tmp_path / "po.csv")
    assert out["P1"]["cluster_id"] == out["P2"]["cluster_id"] != out["P3"]["cluster_id"]
    assert out["P1"]["golden_code"] == "设备-100KW-不锈钢"
    channels = write(tmp_path / "c.csv", ("record_id", "source", "name", "channel_type", "province", "contact_mobile"), [
        ("D1", "sap", "佛山市顺德区粤达机电设备有限公司", "dealer", "广东省", "+8613922334455"),
        ("D2", "dms", "粤达机电设备（佛山）有限公司", "dealer", "广东", "139 2233 4455"),
    ])
    result = CliRunner().invoke(mdm, ["dedupe", str(channels), "--entity", "channel", "--out", str(tmp_path / "co.csv")])
    assert result.exit_code == 0, result.output
    out = read(tmp_path / "co.csv")
    assert out["D1"]["cluster_id"] == out["D2"]["cluster_id"] and out["D1"]["golden_code"] == "经销商-华南-001"


@pytest.mark.parametrize(("header", "message"), [(("name", "phone"), "record_id")])
def test_dedupe_reports_a_bad_file(tmp_path: Path, header: tuple[str, ...], message: str) -> None:
    source = write(tmp_path / "bad.csv", header, [("x", "y")])
    result = CliRunner().invoke(mdm, ["dedupe", str(source), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert message in result.stderr
