"""Telemetry windows: per device and interval, closed by reading time, late readings within grace."""

from __future__ import annotations

import pytest

from connectors.iot.aggregate import Aggregator
from connectors.iot.readings import Reading

S = 1000  # ms per second


def r(device: str, seconds: float, seq: int, **values: float) -> Reading:
    return Reading(device, int(seconds * S), seq, values or {"temperature": 20.0 + seq})


def feed(agg: Aggregator, readings: list[Reading]) -> list[str]:
    return [agg.add(reading) for reading in readings]


def test_window_stats_min_max_avg_last_and_count() -> None:
    agg = Aggregator(60 * S, 10 * S)
    feed(agg, [r("d", 1, 1, t=3.0, v=1.0), r("d", 5, 2, t=1.0), r("d", 3, 3, t=2.0, v=5.0)])
    window = agg.devices["d"].open[0]
    assert window.count == 3
    t = window.metrics["t"].summary("°C")
    assert t == {"min": 1.0, "max": 3.0, "avg": 2.0, "last": 1.0, "unit": "°C"}  # last by reading time, not arrival
    assert window.metrics["v"].summary(None) == {"min": 1.0, "max": 5.0, "avg": 3.0, "last": 5.0}


CLOSING = [
    # (name, readings as (s, seq), verdicts, windows closed (start s) after all)
    ("window stays open until end + grace", [(10, 1), (65, 2), (69, 3)], ["accepted"] * 3, []),
    ("closes when the watermark reaches end + grace", [(10, 1), (65, 2), (70, 3)], ["accepted"] * 3, [0]),
    ("late reading within grace is included", [(10, 1), (65, 2), (59, 3), (70, 4)], ["accepted"] * 4, [0]),
    ("late reading after the window closed is late", [(10, 1), (70, 2), (59, 3)],
     ["accepted", "accepted", "late"], [0]),
    ("a duplicate (same time and seq) counts once", [(10, 1), (10, 1), (10, 2)],
     ["accepted", "duplicate", "accepted"], []),
    ("several windows close oldest first", [(1, 1), (61, 2), (121, 3), (250, 4)], ["accepted"] * 4, [0, 60, 120]),
]


@pytest.mark.parametrize(("name", "points", "verdicts", "closed"), CLOSING, ids=[c[0] for c in CLOSING])
def test_windows_close_by_reading_time(name: str, points: list[tuple[int, int]], verdicts: list[str],
                                       closed: list[int]) -> None:
    agg = Aggregator(60 * S, 10 * S)
    got: list[str] = []
    done: list[int] = []
    for seconds, seq in points:  # close after every reading, as the writer does after every batch
        got.append(agg.add(r("d", seconds, seq)))
        done += [w.start_ms // S for w in agg.close_due(["d"])]
    assert got == verdicts
    assert done == closed


def test_late_reading_within_grace_changes_the_aggregate() -> None:
    agg = Aggregator(60 * S, 10 * S)
    feed(agg, [r("d", 10, 1), r("d", 65, 2), r("d", 59, 3), r("d", 70, 4)])
    (window,) = agg.close_due(["d"])
    assert window.count == 2 and window.metrics["temperature"].last == 23.0


def test_devices_have_their_own_watermarks() -> None:
    agg = Aggregator(60 * S, 0)
    feed(agg, [r("a", 10, 1), r("b", 10, 1), r("a", 61, 2)])
    assert [w.device_id for w in agg.close_due(["a", "b"])] == ["a"]
    assert agg.add(r("b", 20, 2)) == "accepted"  # b's window is still open: its clock has not moved


def test_restore_rebuilds_open_windows_and_same_aggregate() -> None:
    readings = [r("d", s, s, t=float(s)) for s in (1, 7, 30, 59, 61)]
    first = Aggregator(60 * S, 10 * S)
    feed(first, readings)
    again = Aggregator(60 * S, 10 * S)
    again.restore({"d": 61 * S}, reversed(readings))  # order does not matter
    assert again.add(r("d", 30, 30, t=30.0)) == "duplicate"
    feed(first, [r("d", 75, 99)])
    feed(again, [r("d", 75, 99)])
    (a,), (b,) = first.close_due(["d"]), again.close_due(["d"])
    assert (a.count, a.metrics["t"].summary(None)) == (b.count, b.metrics["t"].summary(None))


def test_restore_skips_readings_of_closed_windows() -> None:
    agg = Aggregator(60 * S, 10 * S)
    agg.restore({"d": 200 * S}, [r("d", 100, 1), r("d", 185, 2)])
    assert list(agg.devices["d"].open) == [180 * S]
