"""The dealer files stream on a temporary drop folder: whole files, quarantine, cursors, derived figures."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors import load_connector
from connectors.base import Page
from connectors.dealer_files.connector import DealerFilesConnector
from connectors.dealer_files.reference import References
from connectors.dealer_files.streams import GapRule, InventoryReportStream, Processed, derive, report_key
from connectors.testing.dealer_reports import (
    aged,
    drop_demo_files,
    report_lines,
    write_broken,
    write_contracts,
    write_csv,
    write_sell_in,
)
from hub.core.errors import ConfigError, SourceAuthError, SourceUnavailable
from hub.core.settings import load_settings

NOVEMBER = dt.date(2026, 11, 1)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("inbox", "quarantine", "processed"):
        (tmp_path / name).mkdir()
    return tmp_path


def make_connector(root: Path, **overrides: Any) -> DealerFilesConnector:
    settings = {"inbox": root / "inbox", "quarantine": root / "quarantine", "processed": root / "processed",
                "settle_s": 0} | overrides
    connector = load_connector("dealer_files", load_settings(dealer_files=settings))
    assert isinstance(connector, DealerFilesConnector)
    return connector


def reports(connector: DealerFilesConnector) -> InventoryReportStream:
    stream = connector.stream("inventory_reports")
    assert isinstance(stream, InventoryReportStream)
    return stream


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_each_good_file_is_one_page_and_moves_to_processed(root: Path) -> None:
    drop_demo_files(root / "inbox")
    stream = reports(make_connector(root))
    pages = list(stream.read(None))
    assert [len(p.records) for p in pages] == [6, 6, 4]
    assert names(root / "inbox") == [] and len(names(root / "processed")) == 3
    cursor = pages[-1].cursor
    assert json.loads(json.dumps(cursor, ensure_ascii=False)) == cursor and len(cursor["files"]) == 3
    assert list(stream.read(cursor)) == []


def test_a_record_holds_the_columns_the_derived_figures_and_its_origin(root: Path) -> None:
    path = write_csv(root / "inbox" / "D0045_w45.csv", report_lines("D0045", "周", dt.date(2026, 11, 2)),
                     encoding="gbk")
    [page] = list(reports(make_connector(root)).read(None))
    record = page.records[0]
    assert record.key == "D0045:MAT-10001:2026-11-02:W"
    payload = record.payload
    assert payload["期间类型"] == "周" and payload["source_file"] == path.name and payload["source_row"] == 2
    opening, purchases, closing = (int(payload[c]) for c in ("期初库存", "本期进货", "期末库存"))
    assert payload["net_shipments"] == str(opening + purchases - closing)
    assert "days_of_stock" not in payload  # no contracts file configured
    assert payload["file_sha256"] in page.cursor["files"][path.name]


def test_a_redropped_identical_file_is_not_loaded_twice_and_a_corrected_one_is(root: Path) -> None:
    lines = report_lines("D0031", "月", NOVEMBER)
    write_csv(root / "inbox" / "D0031_11.csv", lines)
    stream = reports(make_connector(root))
    cursor = list(stream.read(None))[-1].cursor

    shutil.copy(root / "processed" / "D0031_11.csv", root / "inbox" / "D0031_11.csv")
    assert list(stream.read(cursor)) == []
    assert names(root / "inbox") == [] and len(names(root / "processed")) == 2  # both copies kept

    lines[0]["本期销售"], lines[0]["期末库存"] = lines[0]["本期销售"] + 1, lines[0]["期末库存"] - 1
    write_csv(root / "inbox" / "D0031_11.csv", lines)
    [page] = list(stream.read(cursor))
    assert len(page.records) == 6 and len(page.cursor["files"]["D0031_11.csv"]) == 2


def test_unchanged_lines_of_a_corrected_file_keep_their_version(root: Path) -> None:
    lines = report_lines("D0031", "月", NOVEMBER)
    write_csv(root / "inbox" / "a.csv", lines)
    stream = reports(make_connector(root))
    [first] = list(stream.read(None))
    lines[0]["在途库存"] = 9
    aged(write_csv(root / "inbox" / "a.csv", lines, encoding="gbk"), 30)
    [second] = list(stream.read(first.cursor))
    versions = [(a.version == b.version) for a, b in zip(first.records, second.records, strict=True)]
    assert versions == [False, True, True, True, True, True]


def test_a_bad_file_is_quarantined_whole_with_its_errors_and_the_next_file_loads(root: Path) -> None:
    bad = aged(write_broken(root / "inbox", "non_numeric_row7"), 20)
    original = bad.read_bytes()
    aged(write_csv(root / "inbox" / "D0031_11.csv", report_lines("D0031", "月", NOVEMBER)), 10)
    stream = reports(make_connector(root))
    pages = list(stream.read(None))
    assert [len(p.records) for p in pages] == [6]
    assert list(pages[0].cursor["files"]) == ["D0031_11.csv"]
    [quarantined] = stream.quarantined
    assert quarantined.name == bad.name and quarantined.errors == [
        "第7行 本期销售: 不是数字 (row 7, 本期销售: not a number)"]
    assert names(root / "quarantine") == sorted([bad.name, bad.name + ".errors.txt"])
    assert (root / "quarantine" / bad.name).read_bytes() == original
    report = (root / "quarantine" / (bad.name + ".errors.txt")).read_text(encoding="utf-8-sig")
    assert "未导入，共 1 个问题" in report and "第7行 本期销售" in report


def test_files_still_uploading_and_other_files_are_left_alone(root: Path) -> None:
    write_csv(root / "inbox" / "fresh.csv", report_lines("D0031", "月", NOVEMBER))
    (root / "inbox" / "readme.txt").write_text("not a report", encoding="utf-8")
    (root / "inbox" / "~$D0031.xlsx").write_bytes(b"excel lock file")
    assert list(reports(make_connector(root, settle_s=60)).read(None)) == []
    assert names(root / "inbox") == ["fresh.csv", "readme.txt", "~$D0031.xlsx"]
    assert len(list(reports(make_connector(root)).read(None))) == 1


def test_a_crash_between_commit_and_move_does_not_load_the_file_again(root: Path) -> None:
    write_csv(root / "inbox" / "a.csv", report_lines("D0031", "月", NOVEMBER))
    stream = reports(make_connector(root))
    pages = stream.read(None)
    committed = next(pages)  # the pipeline committed the page, then the process died
    pages.close()
    assert names(root / "inbox") == ["a.csv"]
    assert list(stream.read(committed.cursor)) == []
    assert names(root / "inbox") == [] and names(root / "processed") == ["a.csv"]


def test_derived_figures_and_flags(root: Path) -> None:
    lines = report_lines("D0031", "月", NOVEMBER)
    # stock appeared from nowhere: 12 + 0 - 3 != 15
    lines[0].update({"期初库存": 12, "本期进货": 0, "本期销售": 3, "期末库存": 15})
    write_csv(root / "inbox" / "a.csv", lines)
    contracts = write_contracts(root / "contracts.csv", {"D0031": 240})
    sell_in = write_sell_in(root / "sell_in.csv", lines, gap_on="MAT-10007", gap=5)
    [page] = list(reports(make_connector(root, contracts_path=contracts, sell_in_path=sell_in)).read(None))
    by_product = {r.payload["产品编码"]: r.payload for r in page.records}
    odd = by_product["MAT-10001"]
    assert (odd["net_shipments"], odd["days_of_stock"]) == ("-3", "22.8")  # 15 / (240 / 365)
    assert odd["flags"] == ["negative_net_shipments", "stock_mismatch"]
    assert by_product["MAT-10007"]["flags"] == ["purchase_gap"]
    assert by_product["MAT-10007"]["sell_in"] == str(lines[2]["本期进货"] + 5)
    assert "flags" not in by_product["FG-HC100-SS"]


@pytest.mark.parametrize(("purchases", "sell_in", "flagged"), [
    ("10", "12", False), ("10", "13", True), ("0", "1", False), ("0", "2", True), ("3", "0", True),
])
def test_the_purchase_gap_rule(purchases: str, sell_in: str, flagged: bool) -> None:
    values = {"经销商编码": "D1", "产品编码": "P1", "期间开始": "2026-11-01", "期间结束": "2026-11-30",
              "期间类型": "月", "期初库存": "5", "本期进货": purchases, "本期销售": purchases,
              "期末库存": "5"}
    references = References(sell_in={("D1", "P1", "2026-11-01", "2026-11-30"): Decimal(sell_in)})
    derived = derive(values, references, GapRule(Decimal("0.2"), Decimal(1)))
    assert ("purchase_gap" in derived.get("flags", [])) is flagged
    assert report_key(values) == "D1:P1:2026-11-01"


def test_the_cursor_forgets_the_oldest_files_beyond_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.dealer_files import streams

    monkeypatch.setattr(streams, "REMEMBERED_FILES", 3)
    processed = Processed()
    for n in range(5):
        processed = processed.plus(f"f{n}.csv", f"{n:064x}")
    assert list(processed.cursor()["files"]) == ["f2.csv", "f3.csv", "f4.csv"]
    assert processed.has("f4.csv", f"{4:064x}") and not processed.has("f0.csv", f"{0:064x}")
    assert Processed.from_cursor(processed.cursor()).cursor() == processed.cursor()


def test_the_stream_declares_what_the_pipeline_needs(root: Path) -> None:
    stream = reports(make_connector(root))
    assert (stream.name, stream.entity, stream.event, stream.mapping) == (
        "inventory_reports", "inventory_report", "reported", "dealer_files/inventory_report")
    assert stream.event_type == "channel.inventory.reported.v1" and stream.cursor_field == "file_sha256"
    assert stream.primary_key == ("经销商编码", "产品编码", "期间开始", "期间类型")


def test_check_passes_on_good_folders(root: Path) -> None:
    make_connector(root, contracts_path=write_contracts(root / "contracts.csv")).check()


def test_check_names_a_missing_folder_and_its_setting(root: Path) -> None:
    shutil.rmtree(root / "processed")
    missing = "processed folder .* does not exist.*HUB_DEALER_FILES__PROCESSED"
    with pytest.raises(SourceUnavailable, match=missing):
        make_connector(root).check()
    (root / "processed").write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(SourceUnavailable, match="is not a folder"):
        make_connector(root).check()


def test_check_names_an_unwritable_folder(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.write_bytes

    def refuse_in_quarantine(self: Path, data: bytes) -> int:
        if self.parent.name == "quarantine":
            raise PermissionError(13, "Permission denied")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse_in_quarantine)
    refused = "no permission to write to the dealer quarantine folder"
    with pytest.raises(SourceAuthError, match=refused) as info:
        make_connector(root).check()
    assert "HUB_DEALER_FILES__QUARANTINE" in str(info.value)


def test_check_reports_a_broken_contracts_file(root: Path) -> None:
    contracts = root / "contracts.csv"
    contracts.write_text("dealer_code,annual_volume\nD0031,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="contracts.csv row 2"):
        make_connector(root, contracts_path=contracts).check()


def test_a_vanished_inbox_mid_read_is_unavailable(root: Path) -> None:
    drop_demo_files(root / "inbox")
    stream = reports(make_connector(root))
    pages = stream.read(None)
    first: Page = next(pages)
    shutil.move(root / "inbox", root / "inbox-gone")
    with pytest.raises(SourceUnavailable, match="HUB_DEALER_FILES__INBOX"):
        next(pages)
    assert len(first.records) == 6


def test_validate_file_returns_the_errors_and_moves_nothing(root: Path) -> None:
    bad = write_broken(root / "inbox", "unknown_period_type", fmt="xlsx")
    connector = make_connector(root)
    assert connector.validate_file(bad) == [
        "第3行 期间类型: 期间类型只能是 周 或 月 (row 3, 期间类型: period type must be 周 or 月)"]
    assert names(root / "inbox") == [bad.name]


@pytest.mark.parametrize("volume", ["1e-20", "-5", "1e400", "NaN"])
def test_a_contracted_volume_out_of_range_is_refused_at_load(root: Path, volume: str) -> None:
    contracts = root / "contracts.csv"
    contracts.write_text(f"dealer_code,annual_volume\nD0031,1200\nD0032,{volume}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="contracts.csv row 3") as caught:
        make_connector(root, contracts_path=contracts).check()
    assert "0 (no contract) or 0.001 up to 10^15" in str(caught.value.problems)
