"""Reading validation and the device registry: every bad payload gets a reason, never an exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.iot.devices import DEFAULT_UNITS, load_registry
from connectors.iot.readings import Reading, Rejection, device_of, iso_ms, parse_reading, parse_ts
from connectors.iot.simulator import SIMULATED_DEVICES
from hub.core.errors import ConfigError

PREFIX = "factory"
TOPIC = "factory/苏州工厂/总装二线/HC100-2403-0178/telemetry"
NOW = parse_ts("2026-11-20T09:00:00Z") or 0
GOOD: dict[str, Any] = {"device_id": "HC100-2403-0178", "ts": "2026-11-20T08:15:30.120Z", "seq": 18231,
                        "metrics": {"temperature": 71.3, "vibration": 2, "current": 152.0}}


def parse(payload: bytes | dict[str, Any], topic: str = TOPIC) -> Reading | Rejection:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return parse_reading(topic, raw, PREFIX, NOW, 300_000)


def test_good_reading() -> None:
    reading = parse(GOOD)
    assert reading == Reading("HC100-2403-0178", parse_ts("2026-11-20T08:15:30.120Z") or 0, 18231,
                              {"temperature": 71.3, "vibration": 2.0, "current": 152.0})
    assert iso_ms(reading.ts_ms) == "2026-11-20T08:15:30.120Z"


BAD = [
    # (name, payload, reason, error starts with)
    ("invalid UTF-8", b'{"seq": 1, "x": "\xff"}', "not_utf8", "payload is not UTF-8"),
    ("not JSON", b"temperature=71.3", "not_json", "payload is not JSON"),
    ("empty", b"", "not_json", "payload is not JSON"),
    ("a JSON array", b"[1, 2]", "invalid_reading", "/: "),
    ("seq missing", {**GOOD, "seq": None}, "invalid_reading", "/seq"),
    ("seq a string", {**GOOD, "seq": "18231"}, "invalid_reading", "/seq"),
    ("seq negative", {**GOOD, "seq": -1}, "invalid_reading", "/seq"),
    ("seq a boolean", {**GOOD, "seq": True}, "invalid_reading", "/seq"),
    ("ts missing", {k: v for k, v in GOOD.items() if k != "ts"}, "invalid_reading", "/ts"),
    ("ts without offset", {**GOOD, "ts": "2026-11-20T08:15:30"}, "invalid_reading", "/ts"),
    ("ts not a time", {**GOOD, "ts": "yesterday"}, "invalid_reading", "/ts"),
    ("ts far in the future", {**GOOD, "ts": "2026-11-20T10:00:00Z"}, "invalid_reading", "/ts: more than 300 s"),
    ("ts before 1970", {**GOOD, "ts": "1969-12-31T23:59:59Z"}, "invalid_reading", "/ts"),
    ("ts before year 1 in UTC", {**GOOD, "ts": "0001-01-01T00:00:00+14:00"}, "invalid_reading", "/ts"),
    ("metrics missing", {**GOOD, "metrics": None}, "invalid_reading", "/metrics"),
    ("metrics empty", {**GOOD, "metrics": {}}, "invalid_reading", "/metrics"),
    ("metric a string", {**GOOD, "metrics": {"temperature": "71.3"}}, "invalid_reading", "/metrics/temperature"),
    ("metric a boolean", {**GOOD, "metrics": {"temperature": False}}, "invalid_reading", "/metrics/temperature"),
    ("metric name not snake_case", {**GOOD, "metrics": {"Temp C": 1}}, "invalid_reading", "/metrics: a metric"),
    ("device id of another device", {**GOOD, "device_id": "HC100-2403-0179"}, "invalid_reading", "/device_id"),
]


@pytest.mark.parametrize(("name", "payload", "reason", "error"), BAD, ids=[b[0] for b in BAD])
def test_bad_payloads_are_rejected_with_a_reason(name: str, payload: Any, reason: str, error: str) -> None:
    rejection = parse(payload)
    assert isinstance(rejection, Rejection)
    assert (rejection.reason, rejection.outcome) == (reason, "malformed")
    assert rejection.error.startswith(error)
    assert "71.3" not in rejection.error and "18231" not in rejection.error  # never a value


@pytest.mark.parametrize(("topic", "device"), [
    (TOPIC, "HC100-2403-0178"),
    ("factory/p/l/d/status", None),
    ("factory/p/l/telemetry", None),
    ("other/p/l/d/telemetry", None),
    ("factory//l/d/telemetry", None),
])
def test_device_comes_from_the_topic(topic: str, device: str | None) -> None:
    assert device_of(topic, PREFIX) == device


def test_epoch_milliseconds_are_accepted_and_device_id_is_optional() -> None:
    payload = {"ts": 1795161600000, "seq": 1, "metrics": {"vibration": 3.2}}
    reading = parse(payload)
    assert isinstance(reading, Reading) and reading.ts_ms == 1795161600000


# -------------------------------------------------------------------------------------- registry

REGISTRY = {
    "units": {"oil_pressure": "bar"},
    "models": {"HC100": {"ranges": {"temperature": [-20, 150], "vibration": [0, 50]}}},
    "devices": {"D1": {"plant": "苏州工厂", "line": "总装二线", "customer_source_id": "C1", "model": "HC100",
                       "ranges": {"vibration": [0, 20]}}},
}


@pytest.mark.parametrize(("values", "reason"), [
    ({"temperature": 70.0}, None),
    ({"temperature": 150.0, "vibration": 0.0}, None),
    ({"temperature": 151.0}, "out_of_range"),
    ({"vibration": 25.0}, "out_of_range"),  # the device's own range overrides its model's
    ({"current": 9999.0}, None),            # no range registered: any value
])
def test_registry_checks_ranges(values: dict[str, float], reason: str | None) -> None:
    registry = load_registry(REGISTRY)
    verdict = registry.check(Reading("D1", 0, 1, values))
    if reason is None:
        assert not isinstance(verdict, Rejection) and verdict.plant == "苏州工厂"
    else:
        assert isinstance(verdict, Rejection) and (verdict.reason, verdict.outcome) == (reason, reason)
        assert verdict.error.startswith("/metrics/")


def test_unknown_device_and_units() -> None:
    registry = load_registry(REGISTRY)
    verdict = registry.check(Reading("D9", 0, 1, {"temperature": 1.0}))
    assert isinstance(verdict, Rejection) and verdict.reason == "unknown_device"
    assert registry.units == {**DEFAULT_UNITS, "oil_pressure": "bar"}


def test_inline_devices_merge_over_the_file(tmp_path: Path) -> None:
    registry = load_registry({"EXTRA-1": {"plant": "无锡工厂"}}, SIMULATED_DEVICES)
    assert registry.get("EXTRA-1") is not None and registry.get("HC100-2403-0178") is not None
    assert registry.get("HC100-2403-0178").ranges["temperature"] == (-20.0, 150.0)  # type: ignore[union-attr]


@pytest.mark.parametrize(("document", "problem"), [
    ({"devices": {"D1": {"ranges": {"t": [5, 1]}}}}, "minimum above maximum"),
    ({"devices": {"D1": {"colour": "red"}}}, "devices.D1.colour"),
    ({"devices": {"D1": {"ranges": {"t": "hot"}}}}, "devices.D1.ranges.t"),
])
def test_bad_registry_is_a_config_error(document: dict[str, Any], problem: str, tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(orjson.dumps(document).decode(), encoding="utf-8")  # JSON is YAML
    with pytest.raises(ConfigError) as info:
        load_registry({}, path)
    assert problem in str(info.value)
