"""tiers.yaml: the shipped file validates; every kind of bad entry is reported with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.app.tiers import check_cron, load_tiers, parse_duration
from hub.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TIERS = ROOT / "dags" / "tiers.yaml"

STREAMS = {"soap_erp": ["customers", "sales_orders", "inventory", "receivables"]}


def streams_of(name: str) -> list[str]:
    if name not in STREAMS:
        raise LookupError(f"unknown connector {name!r} (did you mean 'soap_erp'?)" if name.startswith("soap")
                          else f"unknown connector {name!r}")
    return STREAMS[name]


GOOD = """\
version: 1
defaults: {timezone: Asia/Shanghai, retries: 2, retry_delay: 1m}
tiers:
  realtime: {stale_after: 10m, watchdog: {heartbeat_max_age: 1m, components: [relay]}}
  hourly: {schedule: "7 * * * *", stale_after: 2h}
  daily: {schedule: "30 1 * * *", stale_after: 26h}
streams:
  - {connector: soap_erp, stream: sales_orders, tier: realtime, interval: 30s}
  - {connector: soap_erp, stream: inventory, tier: hourly}
  - {connector: soap_erp, stream: receivables, tier: hourly, schedule: "*/15 * * * *"}
  - {connector: soap_erp, stream: customers, tier: daily}
jobs:
  - {job: quality_report, tier: daily}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tiers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_tiers(write(tmp_path, text), streams_of=streams_of)
    return str(caught.value)


def test_the_shipped_tiers_file_is_valid_against_the_real_connectors() -> None:
    config = load_tiers(TIERS)
    assert {s.tier for s in config.streams} <= set(config.tiers)
    assert config.pollers(), "at least one realtime stream is polled by the worker"
    assert config.stream_tiers()[("soap_erp", "inventory")] == "hourly"


def test_the_commented_streams_are_valid_once_uncommented_and_cover_every_pulled_stream(tmp_path: Path) -> None:
    from hub.app.tiers import connector_streams

    text = TIERS.read_text(encoding="utf-8").replace("  # - {connector:", "  - {connector:")
    config = load_tiers(write(tmp_path, text))
    lister = connector_streams()
    every = {(name, stream) for name in ("soap_erp", "sap_rfc", "mes", "plm", "dealer_files", "wecom")
             for stream in lister(name)}
    assert set(config.stream_tiers()) == every


def test_a_good_file_gives_tiers_streams_jobs_and_watchdog(tmp_path: Path) -> None:
    config = load_tiers(write(tmp_path, GOOD), streams_of=streams_of)
    assert config.tiers["hourly"].schedule == "7 * * * *" and config.tiers["daily"].stale_after_s == 26 * 3600
    assert [s.stream for s in config.pollers()] == ["sales_orders"] and config.pollers()[0].interval_s == 30
    assert config.streams[2].schedule == "*/15 * * * *" and config.streams[2].line == 10
    assert config.watchdog.heartbeat_max_age_s == 60 and config.watchdog.components == ("relay",)
    assert config.defaults.retries == 2 and config.defaults.retry_delay_s == 60
    assert [j.job for j in config.jobs] == ["quality_report"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("{connector: soap_erp, stream: inventory, tier: hourly}", "{connector: soap_erpp, stream: inventory, tier: hourly}",
     "tiers.yaml:9: unknown connector 'soap_erpp' (did you mean 'soap_erp'?)"),
    ("{connector: soap_erp, stream: inventory, tier: hourly}", "{connector: soap_erp, stream: inventroy, tier: hourly}",
     "tiers.yaml:9: connector 'soap_erp' has no stream 'inventroy' (did you mean 'inventory'?)"),
    ("{connector: soap_erp, stream: inventory, tier: hourly}", "{connector: soap_erp, stream: inventory, tier: hourlly}",
     "tiers.yaml:9: unknown tier 'hourlly' (did you mean 'hourly'?)"),
    ('schedule: "*/15 * * * *"', 'schedule: "*/15 * * *"', "tiers.yaml:10: schedule: cron '*/15 * * *' needs 5 fields"),
    ('schedule: "7 * * * *"', 'schedule: "67 * * * *"', ("tiers.yaml:5: schedule: cron '67 * * * *': minute '67' "
                                                          "is outside 0-59")),
    ("tier: realtime, interval: 30s", "tier: realtime, interval: soon", "tiers.yaml:8: interval: 'soon' is not a duration"),
    ("{job: quality_report, tier: daily}", "{job: quality_reprot, tier: daily}",
     "tiers.yaml:13: unknown job 'quality_reprot' (did you mean 'quality_report'?)"),
    ("{connector: soap_erp, stream: customers, tier: daily}", "{connector: soap_erp, stream: inventory, tier: daily}",
     "tiers.yaml:11: soap_erp/inventory is already placed on line 9"),
    ("{connector: soap_erp, stream: inventory, tier: hourly}", ("{connector: soap_erp, stream: inventory, tier: hourly, "
                                                               "intervall: 1m}"),
     "tiers.yaml:9: unknown key 'intervall' in stream entry (did you mean 'interval'?)"),
])
def test_a_bad_entry_is_reported_with_its_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert expected in problems(tmp_path, GOOD.replace(old, new, 1))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("stream: inventory", "stream: inventroy").replace("tier: daily}", "tier: dayly}", 1)
    message = problems(tmp_path, text)
    assert "tiers.yaml:9:" in message and "tiers.yaml:11:" in message


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tiers.yaml:3: not valid YAML"):
        load_tiers(write(tmp_path, "version: 1\ntiers:\n\thourly: x\n"), streams_of=streams_of)


def test_realtime_has_no_schedule_and_scheduled_tiers_need_one(tmp_path: Path) -> None:
    text = GOOD.replace("realtime: {stale_after", 'realtime: {schedule: "* * * * *", stale_after').replace(
        'daily: {schedule: "30 1 * * *", ', "daily: {")
    message = problems(tmp_path, text)
    assert "tier 'realtime' has no schedule" in message and "tier 'daily' needs a cron schedule" in message


def test_parsing_lists_streams_without_touching_the_network() -> None:
    """The real connector lister builds soap_erp from settings pointing at a closed port: no call is made."""
    from hub.app.tiers import connector_streams
    from hub.core.settings import load_settings

    lister = connector_streams(load_settings(soap_erp={"wsdl_url": "http://127.0.0.1:9/never?wsdl"}))
    assert lister("soap_erp") == ["customers", "sales_orders", "inventory", "receivables"]
    with pytest.raises(LookupError, match="did you mean 'soap_erp'"):
        lister("soap_ep")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), (45, 45)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("cron", ["7 * * * *", "*/5 * * * *", "30 1 * * mon-fri", "0 8,12,18 1-15 jan-jun 0",
                                  "@daily"])
def test_good_crons(cron: str) -> None:
    check_cron(cron)


@pytest.mark.parametrize("cron", ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *", "@often",
                                  "* * * foo *"])
def test_bad_crons(cron: str) -> None:
    with pytest.raises(ValueError):
        check_cron(cron)
