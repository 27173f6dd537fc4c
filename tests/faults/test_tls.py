"""TLS to RabbitMQ and Mosquitto against a real TLS listener, with certificates from a private CA.

The local brokers have no TLS listener, so a TLS-terminating proxy (tests/faults/tls_proxy.py)
stands in front of them with the server certificate and client-certificate policy of each test.
The hub's own code does the rest: settings, pika's parameters, the publisher, the consumer, the
topology's blocking connection and the IoT connector's paho client.
"""

from __future__ import annotations

import queue
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.base import SourceRecord
from connectors.iot.client import MqttListener, connect_args, new_client, probe
from connectors.iot.simulator import simulated_settings
from hub.core import outbox
from hub.core.amqp import connection_parameters
from hub.core.consumer import Consumer
from hub.core.db import Database
from hub.core.errors import BrokerUnavailable, ConfigError, SourceUnavailable
from hub.core.events import CanonicalEvent
from hub.core.models import OutboxRow
from hub.core.publisher import Message, Outcome, Publisher
from hub.core.settings import BusSettings, HubSettings, IotSettings, load_settings
from hub.core.topology import apply, build_topology, delete
from tests.conftest import isolated_settings, require_service
from tests.faults.tls_proxy import TlsProxy
from tests.integration.test_bus import crm_queue, receivable_event

pytestmark = [pytest.mark.integration]

RABBITMQ, MOSQUITTO = 5672, 1883
NO_DB = "sqlite:///:memory:"
REFUSED_SOON = 1.0  # connect_timeout_s where the handshake must fail: a publisher waits this long for it


@dataclass(frozen=True)
class Pki:
    """The private CA, a stranger CA, and a client certificate issued by the private CA, as files."""

    ca: trustme.CA
    stranger: trustme.CA
    ca_path: Path
    stranger_path: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, stranger = trustme.CA(), trustme.CA()
    client = ca.issue_cert("crm-hub")
    paths = Pki(ca, stranger, folder / "ca.pem", folder / "stranger.pem", folder / "client.pem",
                folder / "client.key")
    ca.cert_pem.write_to_path(str(paths.ca_path))
    stranger.cert_pem.write_to_path(str(paths.stranger_path))
    client.cert_chain_pems[0].write_to_path(str(paths.client_cert))
    client.private_key_pem.write_to_path(str(paths.client_key))
    return paths


def server_context(issuer: trustme.CA, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    """The listener's side: a certificate for 127.0.0.1 and localhost; client certificates when asked."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issuer.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture
def rabbitmq() -> None:
    require_service("RabbitMQ", RABBITMQ)


def amqps_url(proxy: TlsProxy) -> str:
    return f"amqps://guest:guest@127.0.0.1:{proxy.port}/%2F"


def over_tls(db_url: str, proxy: TlsProxy, **bus: Any) -> HubSettings:
    """Isolated settings whose bus goes through the proxy."""
    return isolated_settings(db_url, amqps_url(proxy), bus={"connect_timeout_s": 5, **bus})


def one_message(settings: HubSettings, n: int = 1) -> list[Message]:
    return [Message(settings.bus.events_exchange, "src.erp.receivable.changed.v1", b"{}", f"m{n}")]


def by_status(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        rows = session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
    return {status: int(count) for status, count in rows}


# ------------------------------------------------------------------------------------ RabbitMQ


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_events_are_published_with_confirms_and_consumed_over_amqps(db: Database, db_url: str, rabbitmq: None,
                                                                    pki: Pki) -> None:
    with TlsProxy(server_context(pki.ca), RABBITMQ) as proxy:
        settings = over_tls(db_url, proxy, tls_ca_path=pki.ca_path)
        topology = build_topology(settings.bus)
        apply(settings.bus, topology)  # the blocking connection, over TLS
        try:
            events = [receivable_event(n) for n in range(20)]
            with db.transaction() as session:
                outbox.add_events(session, events, topology)
            with Publisher(settings.bus) as publisher:
                result = outbox.Relay(db, publisher, topology, batch_size=8).drain()
            assert (result.sent, result.failed) == (20, 0)

            received: dict[str, bytes] = {}

            def keep(event: CanonicalEvent, _session: Session) -> None:
                received[event.id] = event.to_json()

            stats = Consumer(settings.bus, db, topology, crm_queue(topology), keep).run(idle_timeout_s=0.5)
            assert (stats.received, stats.applied, stats.dead_lettered) == (20, 20, 0)
            assert received == {event.id: event.to_json() for event in events}
        finally:
            delete(settings.bus, topology)
    assert proxy.sessions >= 3 and proxy.handshake_errors == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("trusted", ["stranger CA", "system CAs"])
def test_a_broker_certificate_from_an_unknown_ca_is_refused(db: Database, db_url: str, rabbitmq: None, pki: Pki,
                                                            trusted: str) -> None:
    with TlsProxy(server_context(pki.ca), RABBITMQ) as proxy:
        ca_path = pki.stranger_path if trusted == "stranger CA" else None
        settings = over_tls(db_url, proxy, tls_ca_path=ca_path, connect_timeout_s=REFUSED_SOON)
        topology = build_topology(settings.bus)
        refused = "TLS: certificate verify failed: unable to get local issuer certificate"
        with pytest.raises(BrokerUnavailable, match=refused):
            apply(settings.bus, topology)
        with db.transaction() as session:
            outbox.add_events(session, [receivable_event(n) for n in range(5)], topology)
        with Publisher(settings.bus, max_backoff_s=0.2) as publisher:
            result = outbox.Relay(db, publisher, topology).run_once()
            with pytest.raises(BrokerUnavailable, match=refused):
                publisher.publish_batch(one_message(settings))
    assert (result.sent, result.failed) == (0, 5)
    assert by_status(db) == {"pending": 5}
    assert proxy.sessions == 0 and proxy.handshake_errors


def test_a_host_name_the_certificate_does_not_carry_is_refused(rabbitmq: None, pki: Pki) -> None:
    with TlsProxy(server_context(pki.ca), RABBITMQ) as proxy:
        wrong = over_tls(NO_DB, proxy, tls_ca_path=pki.ca_path, tls_server_name="mq.example.com",
                         connect_timeout_s=REFUSED_SOON)
        with pytest.raises(BrokerUnavailable, match="Hostname mismatch.*'mq.example.com'"):
            apply(wrong.bus, build_topology(wrong.bus))
        with (Publisher(wrong.bus, max_backoff_s=0.2) as publisher,
              pytest.raises(BrokerUnavailable, match="Hostname mismatch")):
            publisher.publish_batch(one_message(wrong))
        assert proxy.sessions == 0
        # The URL says 127.0.0.1; the name to verify can be another one the certificate carries.
        named = over_tls(NO_DB, proxy, tls_ca_path=pki.ca_path, tls_server_name="localhost")
        topology = build_topology(named.bus)
        apply(named.bus, topology)
        delete(named.bus, topology)
    assert proxy.sessions == 2


def test_a_broker_that_requires_a_client_certificate(rabbitmq: None, pki: Pki) -> None:
    with TlsProxy(server_context(pki.ca, client_ca=pki.ca), RABBITMQ) as proxy:
        anonymous = over_tls(NO_DB, proxy, tls_ca_path=pki.ca_path, connect_timeout_s=REFUSED_SOON)
        with pytest.raises(BrokerUnavailable, match="TLS: .*certificate required"):
            apply(anonymous.bus, build_topology(anonymous.bus))
        with (Publisher(anonymous.bus, max_backoff_s=0.2) as publisher,
              pytest.raises(BrokerUnavailable, match="certificate required")):
            publisher.publish_batch(one_message(anonymous))
        assert proxy.sessions == 0
        assert any("PEER_DID_NOT_RETURN_A_CERTIFICATE" in error for error in proxy.handshake_errors)

        known = over_tls(NO_DB, proxy, tls_ca_path=pki.ca_path, tls_cert_path=pki.client_cert,
                         tls_key_path=pki.client_key)
        topology = build_topology(known.bus)
        apply(known.bus, topology)
        try:
            with Publisher(known.bus) as publisher:
                assert publisher.publish_batch(one_message(known)) == [Outcome.CONFIRMED]
        finally:
            delete(known.bus, topology)


# ---------------------------------------------------------------------------------- settings


def config_error(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(**overrides)
    return str(raised.value)


def test_tls_settings_are_validated_with_one_clear_error_each(pki: Pki, tmp_path: Path) -> None:
    amqps = "amqps://hub:s3cret@mq.internal:5671/%2F"
    half = config_error(bus={"url": amqps, "tls_cert_path": pki.client_cert})
    assert "HUB_BUS__TLS_CERT_PATH and HUB_BUS__TLS_KEY_PATH go together" in half
    assert "go together" in config_error(bus={"url": amqps, "tls_key_path": pki.client_key})
    missing = config_error(bus={"url": amqps, "tls_ca_path": tmp_path / "nowhere.pem"})
    assert "HUB_BUS__TLS_CA_PATH: Value error, no such file" in missing and "nowhere" not in missing
    plain = config_error(bus={"url": "amqp://hub:s3cret@mq.internal:5672/%2F", "tls_ca_path": pki.ca_path})
    assert "need an amqps:// HUB_BUS__URL" in plain
    assert all("s3cret" not in text for text in (half, missing, plain))

    assert "HUB_IOT__TLS_CERT_PATH and HUB_IOT__TLS_KEY_PATH go together" in config_error(
        iot={"tls": True, "tls_key_path": pki.client_key})
    assert "HUB_IOT__TLS_CA_PATH: Value error, no such file" in config_error(
        iot={"tls": True, "tls_ca_path": tmp_path / "nowhere.pem"})
    assert "need HUB_IOT__TLS=true" in config_error(iot={"tls_ca_path": pki.ca_path})


def test_settings_built_past_validation_or_files_that_are_not_pem_are_config_errors(pki: Pki,
                                                                                   tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="need an amqps:// HUB_BUS__URL"):
        connection_parameters(BusSettings().model_copy(update={"tls_server_name": "mq.internal"}))
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    bus = BusSettings(url="amqps://mq.internal/%2F", tls_ca_path=not_pem)
    with pytest.raises(ConfigError, match="HUB_BUS__TLS_CA_PATH: not a readable PEM CA bundle"):
        connection_parameters(bus)
    swapped = BusSettings(url="amqps://mq.internal/%2F", tls_cert_path=pki.client_key, tls_key_path=not_pem)
    with pytest.raises(ConfigError, match="not a readable PEM certificate and its key"):
        connection_parameters(swapped)
    with pytest.raises(ConfigError, match="HUB_IOT__TLS_CA_PATH"):
        new_client(IotSettings(tls=True, tls_ca_path=not_pem), "check", persistent=False)


def test_tls_settings_come_from_the_environment_as_paths_not_secret_files(monkeypatch: pytest.MonkeyPatch,
                                                                          pki: Pki) -> None:
    for name, value in {"HUB_BUS__URL": "amqps://hub:s3cret@mq.internal:5671/crm",
                        "HUB_BUS__TLS_CA_PATH": str(pki.ca_path), "HUB_BUS__TLS_CERT_PATH": str(pki.client_cert),
                        "HUB_BUS__TLS_KEY_PATH": str(pki.client_key), "HUB_BUS__TLS_SERVER_NAME": "mq.internal",
                        "HUB_IOT__TLS": "true", "HUB_IOT__TLS_CA_PATH": str(pki.ca_path)}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.bus.tls_ca_path, settings.bus.tls_key_path) == (pki.ca_path, pki.client_key)
    assert settings.iot.tls_ca_path == pki.ca_path
    options = connection_parameters(settings.bus).ssl_options
    assert options is not None and options.server_hostname == "mq.internal"
    assert options.context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert options.context.check_hostname and options.context.verify_mode == ssl.CERT_REQUIRED


# -------------------------------------------------------------------------------------- MQTT


@pytest.fixture
def mqtt_run() -> Iterator[dict[str, Any]]:
    """A simulated run's IoT settings (own prefix and client id); its session is discarded afterwards."""
    require_service("Mosquitto", MOSQUITTO)
    with simulated_settings() as overrides:
        yield overrides["iot"]


def test_mqtt_over_tls_round_trips_with_the_private_ca(mqtt_run: dict[str, Any], pki: Pki) -> None:
    with TlsProxy(server_context(pki.ca), MOSQUITTO) as proxy:
        settings = IotSettings(**{**mqtt_run, "port": proxy.port, "tls": True, "tls_ca_path": pki.ca_path})
        probe(settings, timeout_s=3)
        listener, records = MqttListener(settings), queue.Queue[SourceRecord]()
        thread = threading.Thread(target=listener.run, args=(lambda _stream, record: records.put(record),),
                                  daemon=True)
        thread.start()
        device = new_client(settings, f"{settings.client_id}-device", persistent=False)
        try:
            assert listener.wait_ready(5)
            device.connect(**connect_args(settings, persistent=False))
            device.loop_start()
            topic, payload = f"{settings.topic_prefix}/P1/L1/D1/telemetry", b'{"ts": 1, "temp": 21.5}'
            device.publish(topic, payload, qos=1).wait_for_publish(5)
            record = records.get(timeout=5)
            assert (record.key, record.raw) == (topic, payload)
            assert listener.ack([record.payload["token"]]) == 1
        finally:
            device.disconnect()
            device.loop_stop()
            listener.stop()
            thread.join(5)
    assert proxy.sessions >= 3 and proxy.handshake_errors == []


def test_mqtt_refuses_a_broker_certificate_from_another_ca(mqtt_run: dict[str, Any], pki: Pki) -> None:
    with TlsProxy(server_context(pki.ca), MOSQUITTO) as proxy:
        settings = IotSettings(**{**mqtt_run, "port": proxy.port, "tls": True, "tls_ca_path": pki.stranger_path})
        with pytest.raises(SourceUnavailable, match="TLS: certificate verify failed"):
            probe(settings, timeout_s=3)
    assert proxy.sessions == 0
