"""Simulated factory devices publishing telemetry to the local Mosquitto (tests, demo, benchmark).

    devices = load_devices()                                   # the simulated registry
    script = DeviceScript(prefix, devices[0], start_ms=...)
    items = script.normal(30) + script.vibration_episode(40) + script.normal(10)
    with LoopbackPublisher() as pub:
        pub.publish(items)                                     # QoS 1, waits for every PUBACK

`demo_scenario()` is the scripted factory of `hub demo`: normal noise, a vibration episode that
fires one maintenance alert (and one service ticket), a temperature spike, malformed payloads
and an unknown device. `LiveDevices` paces N devices at a total rate with wall-clock times, for
the benchmark.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
import yaml

from connectors.iot.readings import iso_ms
from connectors.iot.simulator import SIMULATED_DEVICES

BASELINE = {"temperature": 62.0, "vibration": 2.8, "current": 150.0}
NOISE = {"temperature": 1.5, "vibration": 0.4, "current": 6.0}
MALFORMED: dict[str, bytes] = {  # dead-letter reason → a payload that earns it
    "not_utf8": b"\xff\xfe\x00t\x00e\x00m\x00p",
    "not_json": b"temperature=71.3;vibration=2.4",
    "invalid_reading": b'{"ts": "2026-11-20T08:00:00Z", "seq": "7", "metrics": {"temperature": 70}}',
}


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A device of the simulated registry, with the topic segments it publishes under."""

    device_id: str
    plant: str
    line: str


@dataclass(frozen=True, slots=True)
class Publication:
    """One MQTT message to publish."""

    topic: str
    payload: bytes


def load_devices(path: Path = SIMULATED_DEVICES) -> list[SimDevice]:
    """The simulated devices, in registry order."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [SimDevice(device_id, item.get("plant", "plant"), item.get("line", "line"))
            for device_id, item in document["devices"].items()]


def telemetry_topic(prefix: str, device: SimDevice) -> str:
    """`<prefix>/<plant>/<line>/<device>/telemetry`."""
    return f"{prefix}/{device.plant}/{device.line}/{device.device_id}/telemetry"


def reading_payload(device_id: str, ts_ms: int, seq: int, metrics: dict[str, float]) -> bytes:
    """The JSON payload of one reading."""
    return orjson.dumps({"device_id": device_id, "ts": iso_ms(ts_ms), "seq": seq, "metrics": metrics})


@dataclass
class DeviceScript:
    """Readings of one device at a fixed interval, from `start_ms`; each call continues the last."""

    prefix: str
    device: SimDevice
    start_ms: int
    interval_ms: int = 1000
    seed: int = 7
    seq: int = 0
    runtime_hours: float = 10234.0
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(f"{self.device.device_id}:{self.seed}")

    @property
    def topic(self) -> str:
        """The device's telemetry topic."""
        return telemetry_topic(self.prefix, self.device)

    def next_ts(self) -> int:
        """The time of the next reading."""
        return self.start_ms + self.seq * self.interval_ms

    def reading(self, **overrides: float) -> Publication:
        """The next reading: noisy baseline values, with `overrides` taken as they are."""
        metrics = {name: round(value + self._random.gauss(0, NOISE[name]) * 0.5, 2)
                   for name, value in BASELINE.items()}
        metrics["vibration"] = max(0.1, metrics["vibration"])
        self.runtime_hours = round(self.runtime_hours + self.interval_ms / 3_600_000, 4)
        metrics.update(runtime_hours=self.runtime_hours, **overrides)
        payload = reading_payload(self.device.device_id, self.next_ts(), self.seq, metrics)
        self.seq += 1
        return Publication(self.topic, payload)

    def normal(self, count: int) -> list[Publication]:
        """`count` readings of a healthy machine."""
        return [self.reading() for _ in range(count)]

    def vibration_episode(self, seconds: float, level: float = 8.6, after: float = 3.1) -> list[Publication]:
        """Vibration above 7.1 mm/s for `seconds`, then one reading back below the clear level."""
        count = max(1, round(seconds * 1000 / self.interval_ms) + 1)
        above = [self.reading(vibration=level + (i % 3) * 0.1) for i in range(count)]
        return [*above, self.reading(vibration=after)]

    def temperature_spike(self, readings: int = 3, level: float = 92.4,
                          after: float = 71.0) -> list[Publication]:
        """A short bearing temperature spike above 85 °C, then back below 80 °C."""
        return [self.reading(temperature=level) for _ in range(readings)] + [self.reading(temperature=after)]

    def out_of_range(self) -> Publication:
        """A reading with a broken temperature sensor (outside the registered range)."""
        return self.reading(temperature=999.0)

    def raw(self, payload: bytes) -> Publication:
        """Any bytes on this device's topic (malformed payloads)."""
        return Publication(self.topic, payload)


@dataclass
class Scenario:
    """Publications in order and what the hub should make of them."""

    publications: list[Publication]
    outcomes: Counter[str]
    alerts_firing: int
    alerts_resolved: int
    tickets: int
    telemetry: int


def demo_scenario(prefix: str, start_ms: int, devices: Sequence[SimDevice] | None = None) -> Scenario:
    """The scripted factory: three devices, one vibration episode, one spike, bad payloads, a stranger.

    Each device reports once a second for 80 s or more, so its first one-minute window closes
    (60 s + 10 s grace) and yields one telemetry aggregate; the second stays open.
    """
    lathe, spare, mill = (devices or load_devices())[:3]
    a, b, c = (DeviceScript(prefix, d, start_ms) for d in (lathe, spare, mill))
    items = a.normal(20) + a.vibration_episode(40) + a.normal(20)     # maintenance alert + ticket, once
    items += b.normal(60) + b.temperature_spike() + b.normal(16)      # critical alert, no ticket
    items += c.normal(75) + [c.out_of_range()]
    items += [c.raw(payload) for payload in MALFORMED.values()]
    items += DeviceScript(prefix, SimDevice("UNKNOWN-0001", "未知工厂", "L0"), start_ms).normal(2)
    accepted = len(items) - 1 - len(MALFORMED) - 2
    outcomes = Counter(accepted=accepted, out_of_range=1, malformed=len(MALFORMED), unknown_device=2)
    return Scenario(items, outcomes, alerts_firing=2, alerts_resolved=2, tickets=1, telemetry=3)


class LoopbackPublisher:
    """A plain MQTT client publishing with QoS 1 to the local broker; `publish` waits for the PUBACKs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, client_id: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"sim-devices-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(1000)  # pipelined: PUBACKs are awaited in bulk
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def publish(self, items: Iterable[Publication], timeout_s: float = 30.0) -> int:
        """Publish everything, wait until the broker has acknowledged it; returns how many."""
        infos = [self.client.publish(item.topic, item.payload, qos=1) for item in items]
        deadline = time.monotonic() + timeout_s
        for info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        missing = sum(not info.is_published() for info in infos)
        if missing:
            raise TimeoutError(f"{missing} of {len(infos)} publications not acknowledged in {timeout_s} s")
        return len(infos)

    def send(self, item: Publication) -> mqtt.MQTTMessageInfo:
        """Publish one message without waiting."""
        return self.client.publish(item.topic, item.payload, qos=1)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> LoopbackPublisher:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.close()


# ----------------------------------------------------------------------------------- benchmark load

Shape = Callable[[int, float], dict[str, float]]  # (device index, seconds since start) → overrides


@dataclass
class LiveDevices:
    """N devices publishing at `rate` readings/s in total, stamped with the wall clock at publish time."""

    prefix: str
    devices: Sequence[SimDevice]
    rate: float
    shape: Shape = lambda _i, _t: {}
    sent: list[tuple[int, int, dict[str, float]]] = field(default_factory=list)  # (device index, ts, metrics)

    def run(self, seconds: float, publisher: LoopbackPublisher, tick_s: float = 0.005) -> int:
        """Publish for `seconds` in small ticks at the target rate; returns how many were sent."""
        scripts = [DeviceScript(self.prefix, d, 0, interval_ms=1) for d in self.devices]
        started, count = time.monotonic(), 0
        while (elapsed := time.monotonic() - started) < seconds:
            for _ in range(int(elapsed * self.rate) - count):
                index = count % len(scripts)
                self._send(scripts[index], index, elapsed, publisher)
                count += 1
            time.sleep(tick_s)
        return count

    def _send(self, script: DeviceScript, index: int, elapsed: float, publisher: LoopbackPublisher) -> None:
        ts_ms = int(time.time() * 1000)
        metrics: dict[str, Any] = {name: round(value + script._random.gauss(0, NOISE[name]) * 0.3, 2)
                                   for name, value in BASELINE.items()}
        metrics.update(self.shape(index, elapsed))
        publisher.send(Publication(script.topic, reading_payload(script.device.device_id, ts_ms, script.seq,
                                                                 metrics)))
        self.sent.append((index, ts_ms, metrics))
        script.seq += 1
