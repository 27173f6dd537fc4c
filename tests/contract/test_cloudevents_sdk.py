"""Contract: a subscriber that has only the official CloudEvents SDK and our schema files can read our events.

For every event type documented in asyncapi.yaml and every sample of its data, the hub builds the
event with `make_event`, the SDK parses the bytes as a RabbitMQ message in structured mode, and the
data is validated with plain `jsonschema` against the schema its `dataschema` names, using a
registry built from the schema files alone (no hub code on the subscriber's side).

cloudevents 2.x moved the API to `cloudevents.core` (the 1.x one lives on as `cloudevents.v1`);
`_sdk_read` and `_sdk_write` use 2.x when it is there and fall back to the 1.x `cloudevents.http`.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
from referencing.jsonschema import DRAFT202012

from hub.core.events import CONTENT_TYPE, CanonicalEvent, event_id, make_event, parse_event
from schemas import SCHEMA_DIR

ASYNCAPI_FILE = SCHEMA_DIR / "asyncapi.yaml"
FIXED_TIME = dt.datetime(2024, 9, 2, 3, 0, 0, tzinfo=dt.timezone.utc)
SDK_V2 = importlib.util.find_spec("cloudevents.core") is not None

# The business key (event subject) of entities that have no single source_id; default is source_id.
SUBJECT: dict[str, Callable[[dict[str, Any]], str]] = {
    "inventory/position.v1": lambda d: f"{d['product_source_id']}@{d['location_id']}",
    "iot/telemetry.v1": lambda d: f"{d['device_id']}@{d['window_start']}",
    "iot/alert.v1": lambda d: f"{d['device_id']}:{d['rule']}@{d['started_at']}",
    "service/ticket_request.v1": lambda d: d["request_id"],
    "mdm/golden_customer.v1": lambda d: d["golden_id"],
    "mdm/golden_product.v1": lambda d: d["golden_id"],
    "mdm/golden_channel.v1": lambda d: d["golden_id"],
}
# Where the source version (entityversion) comes from, first present wins.
VERSION_FIELDS = ("updated_at", "as_of", "window_end", "resolved_at", "started_at", "requested_at",
                  "checkin_time", "reported_at")


@dataclass(frozen=True)
class SdkEvent:
    """What the SDK made of a message: its attributes (extensions included) and data."""

    attributes: dict[str, Any]
    data: Any


def _sdk_read(body: bytes, properties: dict[str, Any]) -> SdkEvent:
    """Parse an AMQP message with the SDK the way a subscriber would."""
    if SDK_V2:
        from cloudevents.core.bindings import rabbitmq

        # from_rabbitmq_event picks structured mode from content_type, as on the bus.
        message = rabbitmq.RabbitMQMessage(
            headers={k: str(v) for k, v in properties.get("headers", {}).items()},
            content_type=properties["content_type"], body=body,
        )
        event = rabbitmq.from_rabbitmq_event(message)
        return SdkEvent(dict(event.get_attributes()), event.get_data())
    from cloudevents.http import from_json  # cloudevents 1.x

    event = from_json(body)
    return SdkEvent(dict(event.get_attributes()), event.data)


def _sdk_write(attributes: dict[str, Any], data: dict[str, Any]) -> bytes:
    """Serialise an event with the SDK in structured JSON mode, as a foreign publisher would."""
    if SDK_V2:
        from cloudevents.core.formats.json import JSONFormat
        from cloudevents.core.v1.event import CloudEvent

        return JSONFormat().write(CloudEvent(attributes, data))
    from cloudevents.conversion import to_structured  # cloudevents 1.x
    from cloudevents.http import CloudEvent as CloudEventV1

    _headers, body = to_structured(CloudEventV1(attributes, data))
    return bytes(body)


def _sdk_time(value: Any) -> dt.datetime:
    """The SDK's `time`: a datetime in 2.x, a string in 1.x."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_registry() -> referencing.Registry[Any]:
    """All schema files by $id: what a subscriber without our code builds from the files."""
    resources = [(s["$id"], DRAFT202012.create_resource(s))
                 for s in (_load(p) for p in sorted(SCHEMA_DIR.glob("*/*.v*.json")))]
    return referencing.Registry().with_resources(resources)


REGISTRY = _schema_registry()


def _validate_by_dataschema(dataschema: str, data: Any) -> None:
    """Validate data against the schema its dataschema names, with plain jsonschema."""
    cls = jsonschema.Draft202012Validator
    cls({"$ref": dataschema}, registry=REGISTRY, format_checker=cls.FORMAT_CHECKER).validate(data)


def _documented_types() -> dict[str, str]:
    """Event type → schema short name, for every canonical event message in asyncapi.yaml."""
    doc = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    types = {}
    for message in doc["components"]["messages"].values():
        if "allOf" not in message.get("payload", {}):
            continue  # the dead letter carries raw bytes, not an envelope
        ref = message["payload"]["allOf"][1]["properties"]["data"]["$ref"]
        types[message["name"]] = ref.removeprefix("./").removesuffix(".json")
    return types


def _cases() -> list[Any]:
    """(event type, schema short name, sample) for each documented message and each sample of its data."""
    cases = []
    for event_type, name in sorted(_documented_types().items()):
        domain, stem = name.split("/")
        for sample in sorted((SCHEMA_DIR / domain / "samples").glob("*.json")):
            if sample.name == f"{stem}.json" or sample.name.startswith(f"{stem}."):
                cases.append(pytest.param(event_type, name, sample, id=f"{event_type}:{sample.name}"))
    return cases


def _build(event_type: str, name: str, sample: Path, *, version: str | None = None) -> CanonicalEvent:
    """The event the hub would publish for this sample."""
    data = _load(sample)
    if event_type.startswith("src.") and "source_system" in data:
        data["source_system"] = event_type.split(".")[1]  # a src.<system> event carries that system's record
    system = data.get("source_system") or event_type.split(".")[0]
    key = SUBJECT[name](data) if name in SUBJECT else str(data["source_id"])
    if version is None:
        version = next((data[f] for f in VERSION_FIELDS if f in data), "1")
    return make_event(
        system=system, entity=name.split("/")[1].split(".")[0], type=event_type, key=key, version=version,
        data=data, dataschema=_load(SCHEMA_DIR / f"{name}.json")["$id"], mappingversion="1.0.0",
        time=FIXED_TIME,
    )


CASES = _cases()


def test_every_documented_message_has_a_case() -> None:
    """Each event type in asyncapi.yaml is exercised with at least one sample."""
    assert {c.values[0] for c in CASES} == set(_documented_types())


@pytest.mark.parametrize(("event_type", "name", "sample"), CASES)
def test_sdk_parses_our_event_and_data_validates_by_dataschema(event_type: str, name: str,
                                                               sample: Path) -> None:
    """id, type, source, subject, time, dataschema and extensions survive; data validates by dataschema."""
    event = _build(event_type, name, sample)
    properties = event.amqp_properties()
    assert properties["content_type"] == CONTENT_TYPE == "application/cloudevents+json"

    parsed = _sdk_read(event.to_json(), properties)

    attrs = parsed.attributes
    assert attrs["specversion"] == "1.0"
    assert attrs["id"] == event.id == properties["message_id"]
    assert attrs["type"] == event_type == properties["type"]
    assert attrs["source"] == event.source and attrs["source"].startswith("/hub/")
    assert attrs["subject"] == event.subject
    assert attrs["datacontenttype"] == "application/json"
    assert attrs["dataschema"] == event.dataschema
    assert _sdk_time(attrs["time"]) == FIXED_TIME
    assert int(_sdk_time(attrs["time"]).timestamp()) == properties["timestamp"]
    assert attrs["entityversion"] == event.entityversion
    assert attrs["mappingversion"] == "1.0.0"
    assert parsed.data == event.data  # Chinese text and decimal strings come through unchanged

    _validate_by_dataschema(attrs["dataschema"], parsed.data)


@pytest.mark.parametrize(("event_type", "name", "sample"), CASES[::4])
def test_broken_data_fails_by_dataschema(event_type: str, name: str, sample: Path) -> None:
    """The subscriber-side check is real: data without a required field is rejected."""
    event = _build(event_type, name, sample)
    data = dict(_sdk_read(event.to_json(), event.amqp_properties()).data)
    schema = _load(SCHEMA_DIR / f"{name}.json")
    del data[schema["required"][0]]
    with pytest.raises(jsonschema.ValidationError):
        _validate_by_dataschema(event.dataschema, data)


def test_our_parser_reads_an_sdk_written_event() -> None:
    """The other direction: an event written by the SDK (e.g. by the CRM) is read by parse_event."""
    data = _load(SCHEMA_DIR / "sales" / "samples" / "contract.v1.json")
    attributes = {
        "specversion": "1.0", "id": event_id("crm", "contract", data["source_id"], data["updated_at"]),
        "source": "/hub/crm", "type": "crm.contract.activated.v1", "subject": data["source_id"],
        "time": FIXED_TIME, "datacontenttype": "application/json",
        "dataschema": "https://schemas.crm-hub.dev/sales/contract.v1.json",
        "entityversion": data["updated_at"],
    }
    if not SDK_V2:
        attributes["time"] = "2024-09-02T03:00:00Z"  # 1.x takes the string form
    event = parse_event(_sdk_write(attributes, data))
    assert (event.id, event.type, event.source, event.subject) == (
        attributes["id"], "crm.contract.activated.v1", "/hub/crm", data["source_id"])
    assert event.dataschema == attributes["dataschema"] and event.entityversion == data["updated_at"]
    assert dt.datetime.fromisoformat(event.time.replace("Z", "+00:00")) == FIXED_TIME
    assert event.data == data and event.extensions == {}


# (what changes, expected: same id?)
ID_CASES: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"time": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)}, True),      # re-read later
    ({"data": {"source_id": "C100231", "name": "改名"}}, True),      # the id is about the version, not data
    ({"mappingversion": "2.0.0"}, True),
    ({"version": "2024-08-15T16:32:06+08:00"}, False),                      # a newer source version
    ({"key": "C100232"}, False),
    ({"system": "sap"}, False),
    ({"entity": "contact"}, False),
]


@pytest.mark.parametrize(("change", "same"), ID_CASES, ids=[next(iter(c), "nothing") for c, _ in ID_CASES])
def test_event_id_is_deterministic(change: dict[str, Any], same: bool) -> None:
    """Same (system, entity, key, version) → same UUIDv5 id; any of them different → another id."""
    base: dict[str, Any] = {
        "system": "erp", "entity": "customer", "type": "src.erp.customer.changed.v1", "key": "C100231",
        "version": "2024-08-15T16:32:05+08:00", "data": {"source_id": "C100231"},
        "dataschema": "https://schemas.crm-hub.dev/customer/customer.v1.json", "time": FIXED_TIME,
    }
    first, second = make_event(**base), make_event(**{**base, **change})
    assert uuid.UUID(first.id).version == 5
    assert (first.id == second.id) is same
