"""IoT alert rules: the YAML format and the episode state machine (fire once, resolve with hysteresis)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.iot.rules import IDLE, Episode, Rule, load_rules, parse_rules, rules_for, step
from hub.core.errors import ConfigError

VIBRATION = {"id": "vib", "metric": "vibration", "above": 7.1, "clear": 6.0, "for_s": 30,
             "severity": "warning", "kind": "maintenance"}
LOW_PRESSURE = {"id": "low_oil", "metric": "oil_pressure", "below": 1.5, "clear": 2.0, "severity": "critical"}


def rule(**spec: Any) -> Rule:
    return parse_rules({"rules": [spec]})[0]


def run(r: Rule, readings: list[tuple[int, float]], start: Episode = IDLE) -> tuple[Episode, list[tuple[str, int, int]]]:
    """Feed (seconds, value) readings; returns the final episode and (state, started s, at s) transitions."""
    episode, out = start, []
    for seconds, value in readings:
        episode, change = step(r, episode, seconds * 1000, value)
        if change is not None:
            out.append((change.state, change.started_ms // 1000, change.at_ms // 1000))
    return episode, out


def test_bundled_rules_load() -> None:
    rules = load_rules()
    assert {r.id for r in rules} >= {"spindle_vibration_high", "bearing_temperature_high"}
    vibration = next(r for r in rules if r.id == "spindle_vibration_high")
    assert (vibration.operator, vibration.threshold, vibration.clear, vibration.for_ms, vibration.kind) == (
        "gt", 7.1, 6.0, 30_000, "maintenance")


@pytest.mark.parametrize(("spec", "problem"), [
    ({**VIBRATION, "below": 1.0}, "exactly one of"),
    ({k: v for k, v in VIBRATION.items() if k != "above"}, "exactly one of"),
    ({**VIBRATION, "clear": 8.0}, "`clear` must not be above"),
    ({**LOW_PRESSURE, "clear": 1.0}, "`clear` must not be below"),
    ({**VIBRATION, "severity": "fatal"}, "severity"),
    ({**VIBRATION, "kind": "ticket"}, "kind"),
    ({**VIBRATION, "id": "Vib-1"}, "id"),
    ({**VIBRATION, "for_s": -1}, "for_s"),
    ({**VIBRATION, "threshold": 3}, "threshold"),
])
def test_bad_rules_are_config_errors_naming_the_problem(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules({"rules": [spec]})
    assert problem in str(info.value)


def test_every_problem_is_reported_at_once_and_duplicate_ids_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules({"rules": [{**VIBRATION, "severity": "x"}, {**LOW_PRESSURE, "kind": "y"}]})
    assert len(info.value.problems) == 2
    with pytest.raises(ConfigError, match="duplicate rule id vib"):
        parse_rules({"rules": [VIBRATION, VIBRATION]})


EPISODES = [
    # (name, rule spec, readings (s, value), expected transitions (state, started s, at s), final state)
    ("fires once after the duration, resolves below clear", VIBRATION,
     [(0, 3.0), (10, 7.5), (20, 8.0), (39, 8.2), (40, 9.0), (50, 9.5), (60, 6.5), (70, 5.9), (80, 3.0)],
     [("firing", 10, 40), ("resolved", 10, 70)], "idle"),
    ("a dip below the threshold before the duration restarts the wait", VIBRATION,
     [(0, 7.5), (20, 7.0), (25, 7.6), (50, 7.7), (55, 7.8)],
     [("firing", 25, 55)], "firing"),
    ("hysteresis: between clear and threshold the episode stays open", VIBRATION,
     [(0, 8.0), (30, 8.0), (40, 6.5), (50, 7.5), (60, 6.9), (90, 8.0), (100, 6.0)],
     [("firing", 0, 30), ("resolved", 0, 100)], "idle"),
    ("two episodes fire twice, each once", VIBRATION,
     [(0, 8.0), (30, 8.0), (35, 5.0), (100, 8.0), (130, 8.0), (131, 8.0), (140, 1.0)],
     [("firing", 0, 30), ("resolved", 0, 35), ("firing", 100, 130), ("resolved", 100, 140)], "idle"),
    ("below-threshold rule with a clear level above it", LOW_PRESSURE,
     [(0, 3.0), (1, 1.4), (2, 1.2), (3, 1.8), (4, 2.1)],
     [("firing", 1, 1), ("resolved", 1, 4)], "idle"),
    ("an older reading (out of order) is ignored", VIBRATION,
     [(0, 8.0), (30, 8.0), (20, 1.0), (31, 8.0)],
     [("firing", 0, 30)], "firing"),
    ("values at the threshold do not breach; at the clear level they clear", VIBRATION,
     [(0, 7.1), (10, 7.2), (40, 7.2), (50, 6.0)],
     [("firing", 10, 40), ("resolved", 10, 50)], "idle"),
]


@pytest.mark.parametrize(("name", "spec", "readings", "expected", "final"), EPISODES, ids=[e[0] for e in EPISODES])
def test_episode_state_machine(name: str, spec: dict[str, Any], readings: list[tuple[int, float]],
                               expected: list[tuple[str, int, int]], final: str) -> None:
    episode, transitions = run(rule(**spec), readings)
    assert transitions == expected
    assert episode.state == final


def test_a_restored_firing_episode_does_not_fire_again() -> None:
    r = rule(**VIBRATION)
    restored = Episode("firing", since_ms=10_000, value=8.0, last_ms=40_000)
    episode, transitions = run(r, [(50, 9.0), (60, 9.5), (70, 5.0)], start=restored)
    assert transitions == [("resolved", 10, 70)]
    assert episode == Episode(last_ms=70_000)


def test_rules_for_filters_by_metric_and_model() -> None:
    rules = parse_rules({"rules": [VIBRATION, {**LOW_PRESSURE, "models": ["P200"]}]})
    assert [r.id for r in rules_for(rules, "HC100", {"vibration": 1.0, "oil_pressure": 1.0})] == ["vib"]
    assert [r.id for r in rules_for(rules, "P200", {"oil_pressure": 1.0})] == ["low_oil"]
    assert rules_for(rules, "P200", {"temperature": 1.0}) == []
