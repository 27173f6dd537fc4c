"""Device readings: one MQTT telemetry message parsed and checked, or the reason it was refused.

    topic    <prefix>/<plant>/<line>/<device>/telemetry
    payload  {"device_id": "HC100-2403-0178", "ts": "2026-11-20T08:15:30.120Z", "seq": 18231,
              "metrics": {"temperature": 71.3, "vibration": 2.4, "current": 152.0, "runtime_hours": 10234.5}}

`ts` is RFC 3339 with an offset, or epoch milliseconds; `device_id` is optional and, when given,
must name the device of the topic. Error texts name the field (a JSON Pointer), never a value.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_SEQ = 2**63 - 1
MAX_TS_MS = 10**14

# Dead-letter reason → metrics outcome: the label set of hub_iot_readings_total stays small and fixed.
OUTCOME_OF_REASON = {
    "not_utf8": "malformed",
    "not_json": "malformed",
    "invalid_reading": "malformed",
    "unknown_device": "unknown_device",
    "out_of_range": "out_of_range",
    "late_reading": "late",
}


@dataclass(frozen=True, slots=True)
class Reading:
    """One valid reading of one device."""

    device_id: str
    ts_ms: int
    seq: int
    values: dict[str, float]

    @property
    def key(self) -> tuple[int, int]:
        """Identity within the device: a redelivery has the same time and sequence number."""
        return (self.ts_ms, self.seq)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message is not applied: the dead-letter reason and a value-free explanation."""

    reason: str
    error: str

    @property
    def outcome(self) -> str:
        """The metrics outcome label of this reason."""
        return OUTCOME_OF_REASON[self.reason]


def device_of(topic: str, prefix: str) -> str | None:
    """The device id of `<prefix>/<plant>/<line>/<device>/telemetry`, or None for another shape."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1:].split("/")
    if len(parts) != 4 or parts[3] != "telemetry" or not all(parts[:3]):
        return None
    return parts[2]


def parse_reading(topic: str, payload: bytes, prefix: str, now_ms: int,
                  max_skew_ms: int) -> Reading | Rejection:
    """Parse one telemetry message; every failure is a Rejection, never an exception."""
    device = device_of(topic, prefix)
    if device is None:
        return Rejection("invalid_reading", "topic is not <prefix>/<plant>/<line>/<device>/telemetry")
    try:
        obj = orjson.loads(payload)  # checks UTF-8 too; which of the two failed is told apart below
    except orjson.JSONDecodeError as exc:
        return _undecodable(payload, exc)
    return _reading(device, obj, now_ms, max_skew_ms)


def _undecodable(payload: bytes, exc: orjson.JSONDecodeError) -> Rejection:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejection("not_utf8", f"payload is not UTF-8 (byte {bad.start})")
    return Rejection("not_json", f"payload is not JSON ({exc.msg} at position {exc.pos})")


def _reading(device: str, obj: Any, now_ms: int, max_skew_ms: int) -> Reading | Rejection:
    if not isinstance(obj, dict):
        return Rejection("invalid_reading", "/: payload is not a JSON object")
    if "device_id" in obj and obj["device_id"] != device:
        return Rejection("invalid_reading", "/device_id: does not name the device of the topic")
    seq = obj.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        return Rejection("invalid_reading", "/seq: missing or not a non-negative integer")
    ts_ms = parse_ts(obj.get("ts"))
    if ts_ms is None:
        return Rejection("invalid_reading", "/ts: missing or not an RFC 3339 time with offset or epoch ms")
    if ts_ms > now_ms + max_skew_ms:
        return Rejection("invalid_reading", f"/ts: more than {max_skew_ms // 1000} s in the future")
    values = _metrics(obj.get("metrics"))
    if isinstance(values, Rejection):
        return values
    return Reading(device, ts_ms, seq, values)


def _metrics(raw: Any) -> dict[str, float] | Rejection:
    if not isinstance(raw, dict) or not raw:
        return Rejection("invalid_reading", "/metrics: missing or not a non-empty object")
    values: dict[str, float] = {}
    for name, value in raw.items():
        if not METRIC_NAME.match(name):
            return Rejection("invalid_reading", "/metrics: a metric name is not snake_case")
        if not _is_number(value):
            return Rejection("invalid_reading", f"/metrics/{name}: not a finite number")
        values[name] = float(value)
    return values


def parse_ts(value: Any) -> int | None:
    """Epoch ms (1970 to 5138) of an RFC 3339 string with an offset or of an integer epoch-ms; else None."""
    if _is_int(value):
        return int(value) if 0 <= value < MAX_TS_MS else None
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # a local time without offset is ambiguous across plants
        return None
    ts_ms = round(moment.timestamp() * 1000)
    return ts_ms if 0 <= ts_ms < MAX_TS_MS else None  # year 1 minus an offset has no UTC date


def iso_ms(ts_ms: int) -> str:
    """RFC 3339 UTC text of epoch milliseconds (`2026-11-20T08:15:30.120Z`)."""
    moment = dt.datetime.fromtimestamp(ts_ms / 1000, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)
