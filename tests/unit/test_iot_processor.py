"""The IoT processor on the scripted factory: alerts once per episode, tickets, aggregates, dead letters, ids."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

import pytest

from connectors.iot.devices import load_registry
from connectors.iot.events import ALERT_TYPE, TELEMETRY_TYPE, TICKET_TYPE
from connectors.iot.processor import BatchResult, Delivery, IotConfig, Processor
from connectors.iot.readings import Reading, Rejection, parse_reading
from connectors.iot.rules import load_rules
from connectors.iot.simulator import SIMULATED_DEVICES
from connectors.testing.iot_devices import (
    MALFORMED,
    DeviceScript,
    Scenario,
    demo_scenario,
    load_devices,
    reading_payload,
)
from hub.core.events import CanonicalEvent
from hub.core.schemas import registry

PREFIX = "hubtest/factory"
START = int(dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)
NOW = START + 3_600_000
CONFIG = IotConfig(system="iot", topic_prefix=PREFIX, devices=load_registry({}, SIMULATED_DEVICES),
                   rules=load_rules(), window_ms=60_000, grace_ms=10_000, max_skew_ms=300_000,
                   retention_ms=3_600_000)


def deliveries(scenario: Scenario) -> list[Delivery]:
    return [Delivery(p.topic, p.payload, i) for i, p in enumerate(scenario.publications)]


def run_batches(processor: Processor, items: Sequence[Delivery], size: int) -> list[BatchResult]:
    return [processor.process(items[i:i + size], NOW) for i in range(0, len(items), size)]


def events_of(results: list[BatchResult]) -> list[CanonicalEvent]:
    return [event for result in results for event in result.events]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return demo_scenario(PREFIX, START)


def test_scripted_factory_outcomes_and_events(scenario: Scenario) -> None:
    results = run_batches(Processor(CONFIG), deliveries(scenario), 100)
    outcomes = sum((r.outcomes for r in results), Counter[str]())
    assert outcomes == scenario.outcomes
    alerts = [e for e in events_of(results) if e.type == ALERT_TYPE]
    assert Counter(e.data["state"] for e in alerts) == {"firing": 2, "resolved": 2}
    tickets = [e for e in events_of(results) if e.type == TICKET_TYPE]
    assert len(tickets) == 1 and tickets[0].data["customer_source_id"] == "C100231"
    assert tickets[0].data["alert_started_at"] == alerts[0].data["started_at"]
    assert len([e for e in events_of(results) if e.type == TELEMETRY_TYPE]) == scenario.telemetry


def test_vibration_alert_fires_after_30_s_and_resolves(scenario: Scenario) -> None:
    results = run_batches(Processor(CONFIG), deliveries(scenario), 7)
    vib = [e.data for e in events_of(results) if e.type == ALERT_TYPE and e.data["rule"] == "spindle_vibration_high"]
    assert [(d["state"], d["started_at"]) for d in vib] == [
        ("firing", "2026-11-20T08:00:20.000Z"), ("resolved", "2026-11-20T08:00:20.000Z")]
    assert vib[0]["value"] > 7.1 and vib[1]["value"] <= 6.0
    assert vib[1]["resolved_at"] == "2026-11-20T08:01:01.000Z"
    assert vib[0]["plant"] == "苏州工厂" and vib[0]["unit"] == "mm/s" and "30" in vib[0]["message"]


def test_telemetry_aggregate_fits_its_schema_with_stats(scenario: Scenario) -> None:
    results = run_batches(Processor(CONFIG), deliveries(scenario), 50)
    telemetry = next(e for e in events_of(results) if e.type == TELEMETRY_TYPE)
    registry().validate("iot/telemetry.v1", telemetry.data)
    data = telemetry.data
    assert (data["window_start"], data["window_end"], data["count"]) == (
        "2026-11-20T08:00:00.000Z", "2026-11-20T08:01:00.000Z", 60)
    vibration = data["metrics"]["vibration"]
    assert vibration["min"] <= vibration["avg"] <= vibration["max"] and vibration["unit"] == "mm/s"


def test_ids_and_bytes_are_the_same_whatever_the_batching(scenario: Scenario) -> None:
    one = events_of(run_batches(Processor(CONFIG), deliveries(scenario), 1))
    big = events_of(run_batches(Processor(CONFIG), deliveries(scenario), 1000))
    # windows close at the end of a batch, so only the order of events may differ
    assert {e.id: e.to_json() for e in one} == {e.id: e.to_json() for e in big}
    assert len({e.id for e in one}) == len(one) == len(big)


def test_dead_letters_keep_original_bytes_reason_and_topic(scenario: Scenario) -> None:
    letters = [x for r in run_batches(Processor(CONFIG), deliveries(scenario), 100) for x in r.letters]
    by_reason = Counter(letter.reason for letter in letters)
    assert by_reason == {"not_utf8": 1, "not_json": 1, "invalid_reading": 1, "unknown_device": 2, "out_of_range": 1}
    for reason, payload in MALFORMED.items():
        letter = next(x for x in letters if x.reason == reason)
        assert letter.body == payload
        assert letter.origin == f"mqtt:{PREFIX}/无锡工厂/机加一线/VMC850-2311-0042/telemetry"


def test_redelivered_batch_is_all_duplicates(scenario: Scenario) -> None:
    processor = Processor(CONFIG)
    items = deliveries(scenario)
    run_batches(processor, items, 100)
    stored = {(r.device_id, r.ts_ms, r.seq) for r in _readings(items)}
    again = processor.process(items, NOW, seen=lambda rs: {(r.device_id, r.ts_ms, r.seq) for r in rs} & stored)
    assert again.events == [] and again.outcomes["duplicate"] == scenario.outcomes["accepted"]
    assert again.outcomes["late"] == 0  # closed windows' readings are recognised through their stored marks


def test_restart_from_stored_state_does_not_fire_again(scenario: Scenario) -> None:
    items = deliveries(scenario)
    whole = events_of(run_batches(Processor(CONFIG), items, 10))
    first = Processor(CONFIG)
    head = run_batches(first, items[:55], 10)  # stops while the vibration episode is firing
    second = Processor(CONFIG)
    watermarks = {d: w.watermark_ms for d, w in first.windows.devices.items()}
    episodes = {k: e for r in head for k, e in r.episodes.items()}
    assert episodes[("HC100-2403-0178", "spindle_vibration_high")].state == "firing"
    second.restore(watermarks, episodes, [x for r in head for x in r.readings])
    tail = run_batches(second, items, 10)  # the broker redelivers everything unacknowledged, and more
    assert sorted(e.id for e in events_of(head) + events_of(tail)) == sorted(e.id for e in whole)


def test_late_reading_past_grace_is_dead_lettered() -> None:
    device = load_devices()[0]
    script = DeviceScript(PREFIX, device, START)
    items = script.normal(75)
    late = reading_payload(device.device_id, START, 500, {"temperature": 60.0})  # 08:00:00 after 08:01:14
    result = Processor(CONFIG).process([*(Delivery(p.topic, p.payload) for p in items),
                                        Delivery(items[0].topic, late)], NOW)
    assert result.outcomes["late"] == 1
    assert [x.reason for x in result.letters] == ["late_reading"]


def _readings(items: Sequence[Delivery]) -> list[Reading]:
    """The readings of the deliveries that the registry accepts."""
    parsed = [parse_reading(d.topic, d.payload, PREFIX, NOW, 300_000) for d in items]
    return [p for p in parsed if isinstance(p, Reading) and not isinstance(CONFIG.devices.check(p), Rejection)]
