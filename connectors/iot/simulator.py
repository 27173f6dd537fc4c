"""The hook the shared connector contract suite uses: settings for the simulated factory.

    with simulated_settings() as overrides:
        settings = load_settings(**overrides)

The overrides point the connector at the local Mosquitto with a topic prefix and client id of
its own (so parallel runs never see each other's telemetry or share a session) and at the
simulated device registry; `connectors/testing/iot_devices.py` publishes to the same prefix. On
exit the broker forgets the run's session.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hub.core.errors import SourceUnavailable
from hub.core.settings import IotSettings

log = logging.getLogger(__name__)

SIMULATED_DEVICES = Path(__file__).resolve().parent / "simulated_devices.yaml"
LOCAL_BROKER = {"host": "127.0.0.1", "port": 1883}


def simulated_iot(run: str | None = None) -> dict[str, Any]:
    """The `iot` settings of one simulated run (a unique prefix and client id)."""
    run = run or uuid.uuid4().hex[:10]
    return {**LOCAL_BROKER, "topic_prefix": f"hubsim/{run}/factory", "client_id": f"crm-hub-iot-{run}",
            "devices_path": SIMULATED_DEVICES}


@contextlib.contextmanager
def simulated_settings() -> Iterator[dict[str, Any]]:
    """Keyword overrides for `load_settings(**overrides)`; the run's MQTT session is discarded afterwards."""
    iot = simulated_iot()
    try:
        yield {"iot": iot}
    finally:
        _discard(IotSettings(**iot))


def _discard(settings: IotSettings) -> None:
    from connectors.iot.client import discard_session

    try:
        discard_session(settings)
    except SourceUnavailable as exc:  # the broker is gone: so is whatever it kept for us
        log.debug("iot simulator: %s", exc)


def broken_settings(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An endpoint that refuses connections. No credentials variant: the local Mosquitto is anonymous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    return {"endpoint": {**overrides, "iot": {**overrides["iot"], "host": "127.0.0.1", "port": closed}}}
