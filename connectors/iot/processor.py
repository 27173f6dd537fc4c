"""One batch of MQTT deliveries → events, dead letters and the state changes to commit with them.

    parse ──bad──► dead letter (not_utf8 / not_json / invalid_reading)
    registry ──unknown / out of range──► dead letter
    window ──duplicate──► counted, nothing else
           ──late──► a duplicate if its mark is stored, else dead letter late_reading
           ──accepted──► rules (alerts, tickets) + window; closed windows → telemetry events

The processor keeps the open windows and episodes in memory and returns what changed; the writer
commits it. When a commit fails the writer restores the processor from the database and runs the
batch again, so memory never runs ahead of what is stored.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.iot.aggregate import Aggregator
from connectors.iot.devices import Device, DeviceRegistry
from connectors.iot.events import SCHEMAS, alert_event, telemetry_event, ticket_event
from connectors.iot.readings import Reading, Rejection, parse_reading
from connectors.iot.rules import IDLE, Episode, Rule, rules_for, step
from hub.core.deadletter import DeadLetter
from hub.core.errors import SchemaValidationError
from hub.core.events import CanonicalEvent
from hub.core.schemas import SchemaRegistry, registry

log = logging.getLogger(__name__)

EpisodeKey = tuple[str, str]  # (device id, rule id)
SeenLookup = Callable[[Sequence[Reading]], set[tuple[str, int, int]]]  # stored (device, ts, seq) of these


@dataclass(frozen=True, slots=True)
class Delivery:
    """One MQTT message as the listener received it; `token` is what acknowledges it."""

    topic: str
    payload: bytes
    token: Any = None


@dataclass(frozen=True, slots=True)
class IotConfig:
    """Everything the processor needs besides its state."""

    system: str
    topic_prefix: str
    devices: DeviceRegistry
    rules: Sequence[Rule]
    window_ms: int
    grace_ms: int
    max_skew_ms: int
    retention_ms: int


@dataclass
class BatchResult:
    """What one batch produced; committed together, then its deliveries are acknowledged."""

    events: list[CanonicalEvent] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    episodes: dict[EpisodeKey, Episode] = field(default_factory=dict)
    watermarks: dict[str, int] = field(default_factory=dict)
    prune_before: dict[str, int] = field(default_factory=dict)  # device → drop marks older than this
    outcomes: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)


def _no_marks(_readings: Sequence[Reading]) -> set[tuple[str, int, int]]:
    return set()


class Processor:
    """Turns deliveries into a BatchResult, keeping open windows and episodes between batches."""

    def __init__(self, config: IotConfig, schemas: SchemaRegistry | None = None) -> None:
        self.config = config
        self.schemas = schemas or registry()
        self.windows = Aggregator(config.window_ms, config.grace_ms)
        self.episodes: dict[EpisodeKey, Episode] = {}

    def restore(self, watermarks: dict[str, int], episodes: dict[EpisodeKey, Episode],
                readings: Iterable[Reading]) -> None:
        """Start again from stored state (after a start or a failed commit)."""
        self.windows.restore(watermarks, readings)
        self.episodes = dict(episodes)

    def process(self, deliveries: Sequence[Delivery], now_ms: int,
                seen: SeenLookup = _no_marks) -> BatchResult:
        """Apply a batch of deliveries in order."""
        result, late = BatchResult(), []
        for delivery in deliveries:
            reading = self._admit(delivery, now_ms, result)
            if reading is not None:
                verdict = self.windows.add(reading)
                if verdict == "accepted":
                    self._accept(reading, result)
                elif verdict == "late":
                    late.append((delivery, reading))
                else:
                    result.outcomes["duplicate"] += 1
        self._settle_late(late, seen, result)
        self._close_windows(result)
        return result

    def _admit(self, delivery: Delivery, now_ms: int, result: BatchResult) -> Reading | None:
        """The reading of a registered device with plausible values, or None (then it is dead-lettered)."""
        config = self.config
        parsed = parse_reading(delivery.topic, delivery.payload, config.topic_prefix, now_ms,
                               config.max_skew_ms)
        checked = config.devices.check(parsed) if isinstance(parsed, Reading) else parsed
        if isinstance(checked, Rejection):
            self._reject(delivery, checked, result)
            return None
        assert isinstance(parsed, Reading)
        return parsed

    def _reject(self, delivery: Delivery, rejection: Rejection, result: BatchResult) -> None:
        result.outcomes[rejection.outcome] += 1
        result.letters.append(DeadLetter(delivery.payload, rejection.reason, rejection.error,
                                         origin=f"mqtt:{delivery.topic}"))

    def _accept(self, reading: Reading, result: BatchResult) -> None:
        result.outcomes["accepted"] += 1
        result.readings.append(reading)
        result.watermarks[reading.device_id] = self.windows.devices[reading.device_id].watermark_ms
        device = self.config.devices.devices[reading.device_id]
        for rule in rules_for(self.config.rules, device.model, reading.values):
            self._apply_rule(rule, device, reading, result)

    def _apply_rule(self, rule: Rule, device: Device, reading: Reading, result: BatchResult) -> None:
        key = (device.device_id, rule.id)
        before = self.episodes.get(key, IDLE)
        after, change = step(rule, before, reading.ts_ms, reading.values[rule.metric])
        self.episodes[key] = after
        if (after.state, after.since_ms) != (before.state, before.since_ms):
            result.episodes[key] = after  # only state changes are stored: not every reading's time
        if change is None:
            return
        units = dict(self.config.devices.units)
        self._emit(alert_event(self.config.system, change, rule, device, units), "alert", result)
        ticket = ticket_event(self.config.system, change, rule, device, units)
        if ticket is not None:
            self._emit(ticket, "ticket", result)

    def _settle_late(self, late: list[tuple[Delivery, Reading]], seen: SeenLookup,
                     result: BatchResult) -> None:
        """A late reading whose mark is stored is a redelivery; any other is dead-lettered."""
        stored = seen([reading for _, reading in late]) if late else set()
        for delivery, reading in late:
            if (reading.device_id, reading.ts_ms, reading.seq) in stored:
                result.outcomes["duplicate"] += 1
            else:
                self._reject(delivery, Rejection("late_reading", "its aggregation window has closed"), result)

    def _close_windows(self, result: BatchResult) -> None:
        units = dict(self.config.devices.units)
        for window in self.windows.close_due(result.watermarks):
            # a device dropped from the registry since its window opened still gets its aggregate
            device = self.config.devices.get(window.device_id) or Device(window.device_id)
            self._emit(telemetry_event(self.config.system, window, device, units), "telemetry", result)
            result.prune_before[window.device_id] = window.end_ms - self.config.retention_ms

    def _emit(self, event: CanonicalEvent, kind: str, result: BatchResult) -> None:
        """Add an event that fits its schema; one that does not is a bug, dead-lettered rather than lost."""
        try:
            self.schemas.validate(SCHEMAS[event.type], event.data)
        except SchemaValidationError as exc:
            log.error("iot: %s event %s does not fit its schema: %s", kind, event.subject, exc)
            result.letters.append(DeadLetter.from_error(event.to_json(), exc, origin="iot",
                                                        routing_key=event.type, message_id=event.id))
            return
        result.events.append(event)
        result.kinds[kind] += 1
