"""Pure kernel logic: error dispositions, settings validation, envelopes, topology, dead letters."""

from __future__ import annotations

import json
import socket

import pytest

from hub.core.deadletter import DeadLetter
from hub.core.errors import (
    BrokerUnavailable,
    ConfigError,
    Disposition,
    MappingError,
    PublishNacked,
    RecordError,
    SchemaValidationError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
    Unroutable,
    disposition_of,
    is_retriable,
)
from hub.core.events import event_id, make_event, parse_event
from hub.core.settings import load_settings
from hub.core.topology import build_topology

DISPOSITIONS = [
    (SourceUnavailable("down"), Disposition.RETRY),
    (BrokerUnavailable("down"), Disposition.RETRY),
    (PublishNacked("full"), Disposition.RETRY),
    (ConnectionResetError(), Disposition.RETRY),
    (TimeoutError(), Disposition.RETRY),
    (socket.timeout(), Disposition.RETRY),
    (SourceAuthError("no"), Disposition.FATAL),
    (SourceRejected("no"), Disposition.FATAL),
    (SourceProtocolError("bomb"), Disposition.FATAL),
    (ConfigError("bad"), Disposition.FATAL),
    (ValueError("bug"), Disposition.FATAL),
    (RecordError("bad"), Disposition.SKIP),
    (MappingError("bad"), Disposition.SKIP),
    (SchemaValidationError("bad"), Disposition.SKIP),
    (Unroutable("nobody"), Disposition.SKIP),
]


@pytest.mark.parametrize(("error", "disposition"), DISPOSITIONS, ids=[type(e).__name__ for e, _ in DISPOSITIONS])
def test_every_error_has_one_disposition(error: BaseException, disposition: Disposition) -> None:
    assert disposition_of(error) is disposition
    assert is_retriable(error) is (disposition is Disposition.RETRY)


def test_config_error_lists_every_problem() -> None:
    error = ConfigError("invalid", ["a: one", "b: two"])
    assert str(error) == "invalid\n  - a: one\n  - b: two"


def test_settings_report_all_problems_at_once_without_values() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(database_url="mysql://root:SECRET-CANARY@db/x", bus={"delivery_limit": 0, "prefetch": -1},
                      log_level="loud")
    text = str(info.value)
    for name in ("HUB_DATABASE_URL", "HUB_BUS__DELIVERY_LIMIT", "HUB_BUS__PREFETCH", "HUB_LOG_LEVEL"):
        assert name in text
    assert "SECRET-CANARY" not in text


def test_settings_read_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_BUS__DELIVERY_LIMIT", "9")
    monkeypatch.setenv("HUB_BUS__SUBSCRIBERS", json.dumps({"crm.x": ["mdm.#"]}))
    monkeypatch.setenv("HUB_SOAP_ERP__PASSWORD", "SECRET-CANARY")
    settings = load_settings()
    assert settings.bus.delivery_limit == 9 and settings.bus.subscribers == {"crm.x": ["mdm.#"]}
    assert "SECRET-CANARY" not in repr(settings) and "SECRET-CANARY" not in str(settings.model_dump())


def test_subscriber_without_patterns_is_refused() -> None:
    with pytest.raises(ConfigError, match="crm.empty"):
        load_settings(bus={"subscribers": {"crm.empty": []}})


def _event(**changes: str):  # type: ignore[no-untyped-def]
    args = {"system": "erp", "entity": "customer", "type": "src.erp.customer.changed.v1", "key": "C1",
            "version": "2026-11-20T08:15:30"}
    args.update(changes)
    return make_event(data={"name": "苏州华成机械有限公司"}, dataschema="https://x/s.json", **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "same"), [
    ({}, True),
    ({"version": "2026-11-21T00:00:00"}, False),
    ({"key": "C2"}, False),
    ({"system": "sap"}, False),
    ({"type": "erp.customer.created.v1"}, False),
])
def test_event_id_is_deterministic_per_system_entity_key_version_and_type(change: dict[str, str],
                                                                           same: bool) -> None:
    assert (_event().id == _event(**change).id) is same


def test_event_round_trips_and_mirrors_amqp_properties() -> None:
    event = _event()
    parsed = parse_event(event.to_json())
    assert parsed == event
    props = event.amqp_properties()
    assert props["message_id"] == event.id and props["type"] == event.type
    assert props["content_type"] == "application/cloudevents+json"
    assert "苏州华成机械有限公司".encode() in event.to_json()  # readable UTF-8, not \\u escapes


@pytest.mark.parametrize("bad_type", ["customer.changed", "src.erp.customer.changed", "Src.erp.x.v1", "a.b.c.v0"])
def test_malformed_event_type_is_refused(bad_type: str) -> None:
    with pytest.raises(ValueError, match="<domain>.<entity>.<event>.v<N>"):
        _event(type=bad_type)


@pytest.mark.parametrize(("body", "pointer"), [
    (b"\xff\xfe not json", "/"),
    (b"[1, 2]", "/"),
    (b'{"specversion": "1.0", "source": "/x", "type": "a.b.c.v1"}', "/id"),
    (b'{"specversion": "0.3", "id": "1", "source": "/x", "type": "a.b.c.v1", "data": {}}', "/specversion"),
    (b'{"specversion": "1.0", "id": "1", "source": "/x", "type": "a.b.c.v1", "data": "x"}', "/data"),
])
def test_bad_bodies_name_the_problem(body: bytes, pointer: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_event(body)
    assert info.value.field == pointer


def test_extension_cannot_override_core_attributes() -> None:
    event = _event()
    hacked = parse_event(event.to_json().replace(b'"entityversion"', b'"type2":"x","entityversion"'))
    assert hacked.to_dict()["type"] == event.type and hacked.extensions == {"type2": "x"}


def test_id_differs_between_event_id_helper_and_unrelated_ids() -> None:
    assert event_id("erp", "order", "SO-1", "v1", "a.b.c.v1") != event_id("erp", "order", "SO-1", "v1", "")


def test_topology_has_delivery_limits_and_dead_lettering() -> None:
    topology = build_topology(load_settings(bus={"delivery_limit": 7}).bus)
    for queue in topology.queues:
        assert queue.arguments["x-queue-type"] == "quorum"
        assert queue.arguments["x-delivery-limit"] == 7
        assert queue.arguments["x-dead-letter-exchange"] == topology.dead.name
    assert topology.dead.type == "fanout" and topology.events.type == "topic"
    assert topology.queue("erp.commands").bindings == ("crm.contract.activated.#",)


def test_dead_letter_keeps_bytes_and_never_echoes_foreign_error_text() -> None:
    letter = DeadLetter.from_error(b"\x00raw", KeyError("SECRET-CANARY"), origin="consumer:x", routing_key="a.b.c.v1")
    message = letter.to_message("hub.dlx")
    assert message.body == b"\x00raw"
    assert message.headers["x-hub-reason"] == "handler_failed"
    assert "SECRET-CANARY" not in message.headers["x-hub-error"]
    assert message.headers["x-hub-original-routing-key"] == "a.b.c.v1"
    mapping = DeadLetter.from_error(b"{}", MappingError("not a date", field="/FDate"), origin="sync")
    assert mapping.reason == "mapping_failed" and mapping.error == "/FDate: not a date"
