"""Canonical events of the IoT connector, all with deterministic ids and times.

    iot.device.telemetry.v1     one per device and closed window; key device, version window start
    iot.device.alert.v1         firing, then resolved; key device/rule/episode start, version state
    service.ticket.requested.v1 once per episode of a maintenance rule; same key, version "requested"

Event times are reading times (the reading that fired, resolved or closed the window), never the
wall clock, so re-processing the same readings yields byte-identical events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from connectors.iot.aggregate import Window
from connectors.iot.devices import Device
from connectors.iot.readings import iso_ms
from connectors.iot.rules import Rule, Transition
from hub.core.events import CanonicalEvent, event_id, make_event
from hub.core.schemas import schema_id

TELEMETRY_TYPE = "iot.device.telemetry.v1"
ALERT_TYPE = "iot.device.alert.v1"
TICKET_TYPE = "service.ticket.requested.v1"
DEFAULT_REASON = "{metric} {value}{unit} beyond {threshold}{unit}"
SCHEMAS = {TELEMETRY_TYPE: "iot/telemetry.v1", ALERT_TYPE: "iot/alert.v1",
           TICKET_TYPE: "service/ticket_request.v1"}


def _when(ts_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.timezone.utc)


def _placement(device: Device) -> dict[str, str]:
    """Where the device runs and for whom, leaving out what the registry does not know."""
    known = {"plant": device.plant, "line": device.line, "customer_source_id": device.customer_source_id}
    return {name: value for name, value in known.items() if value}


def _event(system: str, type_: str, key: str, version: str, data: dict[str, Any],
           at_ms: int) -> CanonicalEvent:
    return make_event(system=system, entity=type_.split(".")[1], type=type_, key=key, version=version,
                      data=data, dataschema=schema_id(SCHEMAS[type_]), time=_when(at_ms))


def telemetry_event(system: str, window: Window, device: Device, units: dict[str, str]) -> CanonicalEvent:
    """The aggregate of one closed window."""
    data: dict[str, Any] = {
        "source_system": system, "device_id": device.device_id, **_placement(device),
        "window_start": iso_ms(window.start_ms), "window_end": iso_ms(window.end_ms), "count": window.count,
        "metrics": {name: stats.summary(units.get(name)) for name, stats in sorted(window.metrics.items())},
    }
    return _event(system, TELEMETRY_TYPE, device.device_id, iso_ms(window.start_ms), data, window.end_ms)


def episode_key(device_id: str, rule: Rule, started_ms: int) -> str:
    """The business key of one alert episode."""
    return f"{device_id}/{rule.id}/{iso_ms(started_ms)}"


def alert_event(system: str, change: Transition, rule: Rule, device: Device,
                units: dict[str, str]) -> CanonicalEvent:
    """The firing or resolved alert of one episode."""
    data: dict[str, Any] = {
        "source_system": system, "device_id": device.device_id, **_placement(device), "rule": rule.id,
        "metric": rule.metric, "operator": rule.operator, "severity": rule.severity, "state": change.state,
        "value": change.value, "threshold": rule.threshold, "started_at": iso_ms(change.started_ms),
    }
    if rule.metric in units:
        data["unit"] = units[rule.metric]
    template = rule.message if change.state == "firing" else rule.resolved_message
    if template:
        data["message"] = _text(template, rule, change, units)
    if change.state == "resolved":
        data["resolved_at"] = iso_ms(change.at_ms)
    key = episode_key(device.device_id, rule, change.started_ms)
    return _event(system, ALERT_TYPE, key, change.state, data, change.at_ms)


def ticket_event(system: str, change: Transition, rule: Rule, device: Device,
                 units: dict[str, str]) -> CanonicalEvent | None:
    """The service ticket a maintenance rule requests when it fires (None without a known customer)."""
    if rule.kind != "maintenance" or change.state != "firing" or not device.customer_source_id:
        return None
    key = episode_key(device.device_id, rule, change.started_ms)
    data: dict[str, Any] = {
        "request_id": event_id(system, "ticket_request", key, "1"), "device_id": device.device_id,
        "customer_source_id": device.customer_source_id, "rule": rule.id, "severity": rule.severity,
        "reason": _text(rule.message or DEFAULT_REASON, rule, change, units),
        "requested_at": iso_ms(change.at_ms), "alert_started_at": iso_ms(change.started_ms),
    }
    if device.product_source_id:
        data["product_source_id"] = device.product_source_id
    if rule.suggested_action:
        data["suggested_action"] = rule.suggested_action
    return _event(system, TICKET_TYPE, key, "requested", data, change.at_ms)


def _text(template: str, rule: Rule, change: Transition, units: dict[str, str]) -> str:
    """A rule's message with {metric}, {value}, {threshold}, {clear}, {unit} and {for_s} filled in."""
    fields = {"metric": rule.metric, "value": f"{change.value:g}", "threshold": f"{rule.threshold:g}",
              "clear": f"{rule.clear:g}", "unit": units.get(rule.metric, ""),
              "for_s": f"{rule.for_ms / 1000:g}"}
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError):  # a stray brace in a hand-written message: keep it as written
        return template
