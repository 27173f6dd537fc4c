"""Telemetry windows: readings aggregated per device and interval, closed by reading time.

A window `[start, start + size)` is aligned to the epoch. It closes once the device's watermark
(the newest reading time seen from it) reaches `end + grace`: readings up to `grace` late are
still counted, and wall-clock time plays no part, so re-processing the same readings closes the
same windows with the same data. A reading for a window that has closed is late.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from connectors.iot.readings import Reading

AVG_DIGITS = 6  # averages are rounded so that re-processing in another order gives the same data


@dataclass(slots=True)
class MetricStats:
    """min / max / sum / count of one metric, and its value at the latest reading time."""

    min: float
    max: float
    total: float
    count: int
    last: float
    last_ms: int

    def add(self, value: float, ts_ms: int) -> None:
        """Count one more value."""
        self.min, self.max = min(self.min, value), max(self.max, value)
        self.total += value
        self.count += 1
        if ts_ms >= self.last_ms:
            self.last, self.last_ms = value, ts_ms

    def summary(self, unit: str | None) -> dict[str, float | str]:
        """The aggregate of iot/telemetry.v1."""
        out: dict[str, float | str] = {"min": self.min, "max": self.max,
                                       "avg": round(self.total / self.count, AVG_DIGITS), "last": self.last}
        if unit:
            out["unit"] = unit
        return out


@dataclass(slots=True)
class Window:
    """The readings of one device in one interval."""

    device_id: str
    start_ms: int
    end_ms: int
    count: int = 0
    metrics: dict[str, MetricStats] = field(default_factory=dict)
    keys: set[tuple[int, int]] = field(default_factory=set)

    def add(self, reading: Reading) -> bool:
        """Count a reading; False when this reading (same time and sequence) was counted already."""
        if reading.key in self.keys:
            return False
        self.keys.add(reading.key)
        self.count += 1
        for name, value in reading.values.items():
            stats = self.metrics.get(name)
            if stats is None:
                self.metrics[name] = MetricStats(value, value, value, 1, value, reading.ts_ms)
            else:
                stats.add(value, reading.ts_ms)
        return True


@dataclass(slots=True)
class DeviceWindows:
    """The open windows of one device and its watermark."""

    watermark_ms: int = -1
    open: dict[int, Window] = field(default_factory=dict)


class Aggregator:
    """Open windows of every device; `add` a reading, then `close_due` what the watermarks closed."""

    def __init__(self, size_ms: int, grace_ms: int) -> None:
        self.size_ms, self.grace_ms = size_ms, grace_ms
        self.devices: dict[str, DeviceWindows] = {}

    def window_start(self, ts_ms: int) -> int:
        """Start of the window a reading time falls in."""
        return ts_ms - ts_ms % self.size_ms

    def is_late(self, reading: Reading) -> bool:
        """True when the reading's window has already closed."""
        device = self.devices.get(reading.device_id)
        end = self.window_start(reading.ts_ms) + self.size_ms
        return device is not None and end + self.grace_ms <= device.watermark_ms

    def add(self, reading: Reading) -> str:
        """"accepted", "duplicate" (already in its open window) or "late" (its window has closed)."""
        if self.is_late(reading):
            return "late"
        device = self.devices.setdefault(reading.device_id, DeviceWindows())
        start = self.window_start(reading.ts_ms)
        window = device.open.get(start)
        if window is None:
            window = device.open[start] = Window(reading.device_id, start, start + self.size_ms)
        if not window.add(reading):
            return "duplicate"
        device.watermark_ms = max(device.watermark_ms, reading.ts_ms)
        return "accepted"

    def close_due(self, device_ids: Iterable[str]) -> list[Window]:
        """Remove and return the windows of these devices that their watermark has closed, oldest first."""
        closed: list[Window] = []
        for device_id in device_ids:
            device = self.devices[device_id]
            due = sorted(s for s, w in device.open.items() if w.end_ms + self.grace_ms <= device.watermark_ms)
            closed += [device.open.pop(start) for start in due]
        return closed

    def restore(self, watermarks: dict[str, int], readings: Iterable[Reading]) -> None:
        """Rebuild after a restart: the stored watermarks and the readings of windows still open."""
        self.devices = {device_id: DeviceWindows(mark) for device_id, mark in watermarks.items()}
        for reading in readings:
            if not self.is_late(reading):
                device = self.devices.setdefault(reading.device_id, DeviceWindows())
                start = self.window_start(reading.ts_ms)
                window = Window(reading.device_id, start, start + self.size_ms)
                device.open.setdefault(start, window).add(reading)
