"""The IoT connector: settings → device registry, rules, an MQTT listener (push) and a processor.

It has no polling streams: telemetry is pushed. `hub.app.iot_worker` runs the listener and the
writer together; `check()` proves the broker, the credentials, the registry and the rules.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from connectors.base import Connector, Stream
from connectors.iot.devices import load_registry
from connectors.iot.processor import IotConfig, Processor
from connectors.iot.rules import load_rules

if TYPE_CHECKING:
    from connectors.iot.client import MqttListener
    from connectors.iot.metrics import IotMetrics
    from hub.core.settings import HubSettings, IotSettings

log = logging.getLogger(__name__)


class IotConnector(Connector):
    """Device telemetry over MQTT (Mosquitto, EMQX, an IoT platform's broker)."""

    name = "iot"

    def __init__(self, settings: IotSettings) -> None:
        self.settings = settings
        self._config: IotConfig | None = None

    @classmethod
    def from_settings(cls, settings: HubSettings) -> IotConnector:
        """The connector for `settings.iot`; nothing is read or connected yet."""
        return cls(settings.iot)

    @property
    def system(self) -> str:
        """The system name in events (settings.iot.system, "iot" by default)."""
        return self.settings.system

    def config(self) -> IotConfig:
        """Registry, rules and windows, loaded once; a bad file is a ConfigError listing every problem."""
        if self._config is None:
            s = self.settings
            self._config = IotConfig(
                system=s.system, topic_prefix=s.topic_prefix.rstrip("/"),
                devices=load_registry(s.devices, s.devices_path), rules=load_rules(s.rules_path),
                window_ms=s.window_s * 1000, grace_ms=round(s.grace_s * 1000),
                max_skew_ms=round(s.max_clock_skew_s * 1000), retention_ms=s.retention_s * 1000,
            )
        return self._config

    def check(self) -> None:
        """Load the registry and rules, then connect once to the broker (never with the listener's id)."""
        from connectors.iot.client import probe

        config = self.config()
        probe(self.settings)
        log.info("iot: broker %s:%s answers; %d devices, %d rules", self.settings.host, self.settings.port,
                 len(config.devices.devices), len(config.rules))

    def streams(self) -> list[Stream]:
        """None: telemetry is pushed (see listener())."""
        return []

    def listener(self, metrics: IotMetrics | None = None) -> MqttListener:
        """The MQTT listener (imports paho only now)."""
        from connectors.iot.client import MqttListener

        return MqttListener(self.settings, metrics)

    def processor(self) -> Processor:
        """A processor with empty state (the writer restores it from the database)."""
        return Processor(self.config())
