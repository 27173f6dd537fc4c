"""The device registry: which devices the hub knows, where they run and which values are plausible.

    units:                       # optional; metric → unit shown in aggregates and alerts
      vibration: mm/s
    models:                      # optional; ranges shared by every device of a model
      HC100:
        ranges: {temperature: [-20, 150], vibration: [0, 50]}
    devices:
      HC100-2403-0178:
        plant: 苏州工厂
        line: 总装二线
        customer_source_id: C100231
        model: HC100
        product_source_id: FG-HC100-SS      # optional
        ranges: {current: [0, 400]}         # optional; added to (and overriding) the model's

A reading from a device not listed is dead-lettered as `unknown_device`; a value outside its range
(a broken sensor, not an alarm: alarms are rules) as `out_of_range`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.iot.readings import Reading, Rejection
from hub.core.errors import ConfigError

DEFAULT_UNITS = {"temperature": "°C", "vibration": "mm/s", "current": "A", "runtime_hours": "h"}
Range = tuple[float, float]


class _RangeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> _RangeSpec:
        bad = [name for name, (low, high) in self.ranges.items() if low > high]
        if bad:
            raise ValueError(f"range minimum above maximum for {', '.join(bad)}")
        return self


class _DeviceSpec(_RangeSpec):
    plant: str = ""
    line: str = ""
    customer_source_id: str = ""
    model: str = ""
    product_source_id: str = ""


class _RegistrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    units: dict[str, str] = Field(default_factory=dict)
    models: dict[str, _RangeSpec] = Field(default_factory=dict)
    devices: dict[str, _DeviceSpec] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device and the plausible range of each metric."""

    device_id: str
    plant: str = ""
    line: str = ""
    customer_source_id: str = ""
    model: str = ""
    product_source_id: str = ""
    ranges: Mapping[str, Range] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceRegistry:
    """Devices by id, and the unit of each metric."""

    devices: Mapping[str, Device]
    units: Mapping[str, str]

    def get(self, device_id: str) -> Device | None:
        """The device, or None when it is not registered."""
        return self.devices.get(device_id)

    def check(self, reading: Reading) -> Device | Rejection:
        """The device of a reading, or why the reading is refused (unknown device, value out of range)."""
        device = self.devices.get(reading.device_id)
        if device is None:
            return Rejection("unknown_device", "device is not in the registry")
        for name, value in reading.values.items():
            limits = device.ranges.get(name)
            if limits is not None and not limits[0] <= value <= limits[1]:
                return Rejection("out_of_range", f"/metrics/{name}: outside the registered range")
        return device


def load_registry(inline: Mapping[str, Any], path: Path | None = None) -> DeviceRegistry:
    """The registry from a YAML file and/or inline settings (inline devices win); every problem at once."""
    document: dict[str, Any] = dict(_read_yaml(path)) if path else {}
    if inline:
        document = _merge(document, inline)
    try:
        spec = _RegistrySpec.model_validate(document)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)]
        raise ConfigError(f"invalid device registry {path or 'HUB_IOT__DEVICES'}", problems) from None
    return _build(spec)


def _merge(document: dict[str, Any], inline: Mapping[str, Any]) -> dict[str, Any]:
    """Inline settings are either a whole registry document or just `device id → device`."""
    if set(inline) <= {"units", "models", "devices"}:
        sections = ("units", "models", "devices")
        return {key: {**document.get(key, {}), **inline.get(key, {})} for key in sections}
    return {**document, "devices": {**document.get("devices", {}), **inline}}


def _build(spec: _RegistrySpec) -> DeviceRegistry:
    devices = {}
    for device_id, item in spec.devices.items():
        model_ranges = spec.models[item.model].ranges if item.model in spec.models else {}
        devices[device_id] = Device(device_id, item.plant, item.line, item.customer_source_id, item.model,
                                    item.product_source_id, {**model_ranges, **item.ranges})
    return DeviceRegistry(devices, {**DEFAULT_UNITS, **spec.units})


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read YAML file {path}: {type(exc).__name__}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return loaded
