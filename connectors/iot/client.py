"""The MQTT side of the IoT connector: the only module that imports paho-mqtt, and its error table.

The listener holds a persistent session (fixed client id, clean start off, a session expiry for
MQTT 5) and subscribes with QoS 1. Messages are acknowledged by hand, only after the writer has
committed them, so whatever is not yet in the database stays with the broker and comes again
after a crash or a reconnect. MQTT 5's Receive Maximum is the writer's queue size: the broker
never sends more unacknowledged messages than the hub holds, so a slow database makes Mosquitto
keep the backlog instead of the hub's memory growing.

    CONNACK / socket outcome                               hub error            what happens
    bad user name or password, not authorized, bad auth    SourceAuthError      run() stops and raises
    client id not valid, protocol version, banned          SourceRejected       run() stops and raises
    server unavailable / busy, refused, reset, timeout     SourceUnavailable    reconnect with backoff
    TLS handshake failed (unknown CA, host name)           SourceUnavailable    reconnect with backoff
    unreadable HUB_IOT__TLS_… CA bundle, certificate, key  ConfigError          raised before connecting
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from connectors.base import EventSource, RecordSink, SourceRecord
from hub.core.errors import (
    ConfigError,
    HubError,
    SourceAuthError,
    SourceRejected,
    SourceUnavailable,
    tls_reason,
)

if TYPE_CHECKING:
    from pathlib import Path

    from connectors.iot.metrics import IotMetrics
    from hub.core.settings import IotSettings

log = logging.getLogger(__name__)

Token = tuple[int, int, int]  # (connection generation, MQTT message id, QoS)
STREAM = "telemetry"
_AUTH_CODES = {134, 135, 140}          # bad user name or password, not authorized, bad authentication method
_REJECTED_CODES = {132, 133, 138, 149}  # protocol version, client id not valid, banned, packet too large


def connack_error(code: int, name: str, address: str) -> HubError:
    """The hub error of a refused CONNACK (MQTT 5 reason codes; paho maps 3.1.1 codes onto them)."""
    if code in _AUTH_CODES:
        return SourceAuthError(f"MQTT broker at {address} refused the credentials ({name}); "
                               "check HUB_IOT__USERNAME and HUB_IOT__PASSWORD")
    if code in _REJECTED_CODES:
        return SourceRejected(f"MQTT broker at {address} refused the connection ({name}); "
                              "check HUB_IOT__CLIENT_ID and HUB_IOT__MQTT_VERSION")
    return SourceUnavailable(f"MQTT broker at {address} is not available ({name})")


def topic_filter(settings: IotSettings) -> str:
    """The subscription: every device's telemetry under the prefix."""
    return f"{settings.topic_prefix}/+/+/+/telemetry"


def _address(settings: IotSettings) -> str:
    return f"{settings.host}:{settings.port}"


def new_client(settings: IotSettings, client_id: str, *, persistent: bool) -> mqtt.Client:
    """A paho client for the settings: protocol, credentials, TLS; not connected yet."""
    version = mqtt.MQTTv5 if settings.mqtt_version == 5 else mqtt.MQTTv311
    kwargs: dict[str, Any] = {} if version == mqtt.MQTTv5 else {"clean_session": not persistent}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version, **kwargs)
    if settings.username:
        client.username_pw_set(settings.username, settings.password.get_secret_value())
    if settings.tls:
        _tls(client, settings)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    return client


def _tls(client: mqtt.Client, settings: IotSettings) -> None:
    """Verify the broker against the CA bundle (or the system's) and its host; present the client certificate."""
    try:  # keyfile_password "": an encrypted key fails here instead of prompting on a terminal
        client.tls_set(ca_certs=_text(settings.tls_ca_path), certfile=_text(settings.tls_cert_path),
                       keyfile=_text(settings.tls_key_path), keyfile_password="")
    except OSError:  # ssl.SSLError too
        raise ConfigError("HUB_IOT__TLS_CA_PATH, HUB_IOT__TLS_CERT_PATH or HUB_IOT__TLS_KEY_PATH: not a "
                          "readable PEM CA bundle, certificate or key") from None


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def connect_args(settings: IotSettings, *, persistent: bool, receive_maximum: int = 0) -> dict[str, Any]:
    """connect()/connect_async() arguments: MQTT 5 needs clean_start and its session properties."""
    args: dict[str, Any] = {"host": settings.host, "port": settings.port, "keepalive": settings.keepalive_s}
    if settings.mqtt_version != 5:
        return args
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = settings.session_expiry_s if persistent else 0
    if receive_maximum:
        properties.ReceiveMaximum = receive_maximum
    return {**args, "clean_start": not persistent, "properties": properties}


class MqttListener(EventSource):
    """Delivers every telemetry message as a SourceRecord (key topic, raw payload) until stopped."""

    name = "iot"

    def __init__(self, settings: IotSettings, metrics: IotMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._client: mqtt.Client | None = None
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._subscribed = threading.Event()
        self._generation = 0
        self._fatal: HubError | None = None
        self.sessions_lost = 0

    # ------------------------------------------------------------------------------ caller side

    def run(self, sink: RecordSink) -> None:
        """Connect (retrying with backoff), deliver messages to `sink` until stop(), then disconnect."""
        client = self._client = new_client(self.settings, self.settings.client_id, persistent=True)
        client.manual_ack_set(True)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_connect_fail, client.on_subscribe = self._on_connect_fail, self._on_subscribe
        client.on_message = lambda _c, _u, message: self._on_message(message, sink)
        client.connect_async(**connect_args(self.settings, persistent=True,
                                            receive_maximum=self.settings.queue_size))
        client.loop_start()
        try:
            self._stop.wait()
        finally:
            self._paused.set()
            client.disconnect()
            client.loop_stop()
        if self._fatal is not None:
            raise self._fatal

    def wait_ready(self, timeout_s: float) -> bool:
        """True once connected and subscribed (tests and the demo publish only then)."""
        return self._subscribed.wait(timeout_s)

    def pause(self) -> None:
        """Stop handing messages to the sink; those that arrive stay unacknowledged for the next session."""
        self._paused.set()

    def ack(self, tokens: Iterable[Token]) -> int:
        """Acknowledge committed messages; returns how many were sent.

        A token from an earlier connection is skipped: its message id may name another message
        now, and the broker redelivers the original one, which the writer drops as a duplicate.
        """
        client, current, sent = self._client, self._generation, 0
        if client is None:
            return 0
        for generation, mid, qos in tokens:
            if generation == current and client.ack(mid, qos) == mqtt.MQTT_ERR_SUCCESS:
                sent += 1
        return sent

    def stop(self) -> None:
        """Ask run() to disconnect and return."""
        self._paused.set()
        self._stop.set()

    # ------------------------------------------------------------------------ paho network thread

    def _on_message(self, message: mqtt.MQTTMessage, sink: RecordSink) -> None:
        if self._paused.is_set():
            return  # unacknowledged: the broker sends it again in the next session
        token = (self._generation, message.mid, message.qos)
        try:
            topic = message.topic
        except UnicodeDecodeError:  # a topic that is not UTF-8 cannot match our subscription's prefix
            return
        record = SourceRecord(key=topic, version=f"{token[0]}:{token[1]}", payload={"token": token},
                              raw=bytes(message.payload))
        try:
            sink(STREAM, record)  # blocks while the writer's queue is full: back-pressure on the socket
        except Exception:
            log.exception("iot: sink refused a message on %s; it stays with the broker", topic)

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: mqtt.ConnectFlags, reason: Any,
                    _properties: Any) -> None:
        if reason.is_failure:
            self._refused(int(reason.value), str(reason))
            return
        self._generation += 1
        if not flags.session_present and self._generation > 1:
            self.sessions_lost += 1
            log.warning("iot: the broker at %s had lost our session (no persistence?); messages queued "
                        "for us while we were away are gone", _address(self.settings))
        self._count("connected")
        log.info("iot: connected to %s as %s (session present: %s)", _address(self.settings),
                 self.settings.client_id, flags.session_present)
        client.subscribe(topic_filter(self.settings), qos=1)

    def _refused(self, code: int, name: str) -> None:
        error = connack_error(code, name, _address(self.settings))
        self._count("refused")
        if isinstance(error, SourceUnavailable):
            log.warning("iot: %s; retrying", error)
            return
        log.error("iot: %s", error)
        self._fatal = error
        self._stop.set()

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[Any],
                      _properties: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("iot: the broker refused the subscription %s", topic_filter(self.settings))
            return
        self._subscribed.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                       _props: Any) -> None:
        self._subscribed.clear()
        if not self._stop.is_set():
            self._count("lost")
            log.warning("iot: lost the broker at %s (%s); reconnecting", _address(self.settings), reason)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._count("refused")
        log.warning("iot: cannot reach the broker at %s; retrying with backoff", _address(self.settings))

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.connections.labels(result).inc()


# ---------------------------------------------------------------------------------- one-shot calls


def probe(settings: IotSettings, timeout_s: float = 5.0) -> None:
    """Connect once with a throw-away client id (never the listener's session); raise what is wrong."""
    answer: dict[str, Any] = {}
    done = threading.Event()
    client = new_client(settings, f"{settings.client_id}-check", persistent=False)

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answer["code"], answer["name"] = int(reason.value), str(reason)
        done.set()

    client.on_connect = on_connect
    _connect_once(client, settings, persistent=False)
    try:
        if not done.wait(timeout_s):
            raise SourceUnavailable(
                f"MQTT broker at {_address(settings)} did not answer within {timeout_s:g} s")
        if answer["code"] >= 128:
            raise connack_error(answer["code"], answer["name"], _address(settings))
    finally:
        client.disconnect()
        client.loop_stop()


def discard_session(settings: IotSettings, timeout_s: float = 5.0) -> None:
    """Make the broker forget the listener's session (tests, a renamed deployment): clean start, expiry 0."""
    done = threading.Event()
    client = new_client(settings, settings.client_id, persistent=False)
    client.on_connect = lambda *_args: done.set()
    _connect_once(client, settings, persistent=False)
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()


def _connect_once(client: mqtt.Client, settings: IotSettings, *, persistent: bool) -> None:
    try:
        client.connect(**connect_args(settings, persistent=persistent))
    except OSError as exc:
        reason = tls_reason(exc)
        if reason is not None:
            raise SourceUnavailable(f"MQTT broker at {_address(settings)} refused: {reason}; check "
                                    "HUB_IOT__TLS_CA_PATH, HUB_IOT__HOST and the client certificate") from exc
        raise SourceUnavailable(f"MQTT broker at {_address(settings)} is unreachable ({_reason(exc)}); "
                                "check HUB_IOT__HOST and HUB_IOT__PORT") from exc
    client.loop_start()


def _reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__
