"""The canonical schemas, their samples and asyncapi.yaml hold together.

Table-driven: every schema file, every sample, every required field and every value of every full
sample gets its own case, so a new schema or sample is covered by adding the file.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import jsonschema
import pytest
import yaml

from hub.core.errors import SchemaValidationError
from hub.core.schemas import registry, schema_id
from hub.core.settings import DEFAULT_SUBSCRIBERS
from schemas import ID_PREFIX, SCHEMA_DIR

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*/*.v*.json"))
SAMPLE_FILES = sorted(SCHEMA_DIR.glob("*/samples/*.json"))
ASYNCAPI_FILE = SCHEMA_DIR / "asyncapi.yaml"

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
REGIONS = {"华东", "华南", "华北", "华中", "西南", "西北", "东北"}
# Property names that hold money or quantities: these must be decimal strings, never JSON numbers.
DECIMAL_WORDS = ("amount", "price", "quantity", "stock", "purchases", "sales", "shipments", "volume",
                 "weight", "on_hand", "available", "reserved", "in_transit", "days_of_stock")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


# ---------------------------------------------------------------------------------------------- helpers

def load(path: Path) -> Any:
    """A JSON file as Python."""
    return json.loads(path.read_text(encoding="utf-8"))


def short_name_of(schema_file: Path) -> str:
    """`schemas/sales/order.v1.json` → `sales/order.v1`."""
    return f"{schema_file.parent.name}/{schema_file.stem}"


def schema_of_sample(sample_file: Path) -> str:
    """`schemas/sales/samples/order.v1.minimal.json` → `sales/order.v1`."""
    entity, version = sample_file.name.split(".")[:2]
    return f"{sample_file.parent.parent.name}/{entity}.{version}"


def is_full_sample(sample_file: Path) -> bool:
    """The full sample is `<entity>.v<N>.json`; variants add a suffix (`.minimal`)."""
    return sample_file.name.count(".") == 2


def _sample(name: str) -> Path:
    """The full sample file of a schema."""
    domain, stem = name.split("/")
    return SCHEMA_DIR / domain / "samples" / f"{stem}.json"


def pointer(path: tuple[str | int, ...]) -> str:
    """JSON Pointer of a path, written as hub.core.schemas writes it (the root is "/")."""
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path)


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `#/$defs/...` references."""
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def subschemas(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object subschema (properties, items, map values, $defs) with a readable location."""
    stack: list[tuple[str, dict[str, Any]]] = [("#", schema)]
    while stack:
        where, node = stack.pop()
        yield where, node
        for name, child in node.get("properties", {}).items():
            stack.append((f"{where}/properties/{name}", child))
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                stack.append((f"{where}/{key}", node[key]))
        for name, child in node.get("$defs", {}).items():
            stack.append((f"#/$defs/{name}", child))


def leaves(schema: dict[str, Any], node: dict[str, Any], value: Any,
           path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any], Any]]:
    """Every value in a sample with the (resolved) subschema that describes it."""
    node = resolve(schema, node)
    if path:
        yield path, node, value
    if isinstance(value, dict):
        for key, item in value.items():
            child = node.get("properties", {}).get(key) or node.get("additionalProperties")
            if isinstance(child, dict):
                yield from leaves(schema, child, item, (*path, key))
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            yield from leaves(schema, node["items"], item, (*path, index))


def get(data: Any, path: tuple[str | int, ...]) -> Any:
    """The value at a path."""
    for part in path:
        data = data[part]
    return data


def with_value(data: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A deep copy of data with the value at path replaced."""
    broken = copy.deepcopy(data)
    get(broken, path[:-1])[path[-1]] = value
    return broken


def without(data: Any, path: tuple[str | int, ...]) -> Any:
    """A deep copy of data with the field at path removed."""
    broken = copy.deepcopy(data)
    del get(broken, path[:-1])[path[-1]]
    return broken


def wrong_type(value: Any) -> Any:
    """A value of another JSON type than `value`."""
    if isinstance(value, bool):
        return "true"
    if isinstance(value, (int, float)):
        return "7"
    if isinstance(value, str):
        return 7
    if isinstance(value, list):
        return "not a list"
    return ["not an object"]


def uscc_is_valid(code: str) -> bool:
    """GB 32100-2015 check digit of a Unified Social Credit Code."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31] == code[17]


@functools.cache
def fast(name: str) -> Any:
    """jsonschema-rs's compiled validator for a schema, independent of the registry's cache."""
    return jsonschema_rs.validator_for(load(SCHEMA_DIR / f"{name}.json"), validate_formats=True)


def fast_accepts(name: str, data: Any) -> bool:
    """Whether jsonschema-rs (the hot-path validator) accepts data."""
    return bool(fast(name).is_valid(data))


def jsonschema_accepts(name: str, data: Any) -> bool:
    """Whether jsonschema (with the format checks it has) accepts data."""
    cls = jsonschema.Draft202012Validator
    return bool(cls(load(SCHEMA_DIR / f"{name}.json"), format_checker=cls.FORMAT_CHECKER).is_valid(data))


def rejected_at(name: str, data: Any) -> str:
    """The JSON Pointer the registry names for invalid data (fails the test if data is accepted)."""
    with pytest.raises(SchemaValidationError) as caught:
        registry().validate(name, data)
    assert caught.value.field is not None
    return caught.value.field


# ---------------------------------------------------------------------------------------------- cases

FULL_SAMPLES = [s for s in SAMPLE_FILES if is_full_sample(s)]


def _required_cases() -> Iterator[Any]:
    """Every required field of every object in every full sample: (schema, path of the field)."""
    for sample_file in FULL_SAMPLES:
        name = schema_of_sample(sample_file)
        schema, data = load(SCHEMA_DIR / f"{name}.json"), load(sample_file)
        containers = [((), schema, data), *leaves(schema, schema, data)]
        for path, node, value in containers:
            if isinstance(value, dict):
                for field in resolve(schema, node).get("required", []):
                    yield pytest.param(name, (*path, field), id=f"{name}:{pointer((*path, field))}")


def _leaf_cases() -> Iterator[Any]:
    """Every value in every full sample: (schema, path)."""
    for sample_file in FULL_SAMPLES:
        name = schema_of_sample(sample_file)
        schema, data = load(SCHEMA_DIR / f"{name}.json"), load(sample_file)
        for path, _node, _value in leaves(schema, schema, data):
            yield pytest.param(name, path, id=f"{name}:{pointer(path)}")


REQUIRED_CASES = list(_required_cases())
LEAF_CASES = list(_leaf_cases())

# Realistic mistakes a mapping makes, and where the registry must point.
BAD_VALUES = [
    ("sales/order.v1", ("total_amount",), 584800.0, "/total_amount"),             # float money
    ("sales/order.v1", ("lines", 0, "quantity"), 2, "/lines/0/quantity"),         # number quantity
    ("sales/order.v1", ("lines", 0, "line_no"), 0, "/lines/0/line_no"),           # below minimum
    ("sales/order.v1", ("lines",), [], "/lines"),                                  # minItems
    ("sales/order.v1", ("status",), "APPROVED", "/status"),                       # enum is lowercase
    ("customer/customer.v1", ("credit_limit", "amount"), "2,000,000.00", "/credit_limit/amount"),
    ("customer/customer.v1", ("credit_code",), "91320500MA1MX3K7IO", "/credit_code"),  # I and O not allowed
    ("customer/customer.v1", ("source_system",), "ERP", "/source_system"),
    ("customer/customer.v1", ("address", "country"), "中国", "/address"),          # additionalProperties
    ("finance/receivable.v1", ("currency",), "cny", "/currency"),
    ("iot/telemetry.v1", ("metrics", "temperature", "avg"), "80.6", "/metrics/temperature/avg"),
    ("iot/telemetry.v1", ("metrics", "Temperature"), {"min": 1, "max": 1, "avg": 1, "last": 1}, "/metrics"),
    ("wecom/checkin.v1", ("source_system",), "erp", "/source_system"),
    ("wecom/checkin.v1", ("lat",), 312.5, "/lat"),
    ("mdm/golden_customer.v1", ("region",), "华东区", "/region"),
    ("mdm/golden_customer.v1", ("members",), [], "/members"),
]


# ---------------------------------------------------------------------------------------------- schemas

@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=short_name_of)
def test_schema_passes_the_2020_12_meta_schema(schema_file: Path) -> None:
    """Each file is a valid draft 2020-12 schema and says so."""
    schema = load(schema_file)
    assert schema["$schema"] == DRAFT_2020_12
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=short_name_of)
def test_id_matches_path(schema_file: Path) -> None:
    """`$id` is exactly `<prefix><domain>/<entity>.v<N>.json`."""
    assert load(schema_file)["$id"] == f"{ID_PREFIX}{short_name_of(schema_file)}.json"
    assert re.fullmatch(r"[a-z][a-z0-9_]*/[a-z][a-z0-9_]*\.v[1-9][0-9]*", short_name_of(schema_file))


def test_registry_loads_every_file() -> None:
    """The registry knows exactly the files on disk."""
    assert set(registry()) == {schema_id(short_name_of(f)) for f in SCHEMA_FILES}


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=short_name_of)
def test_schema_follows_conventions(schema_file: Path) -> None:
    """Title, descriptions, closed objects, decimal strings for money, snake_case enums, local refs only."""
    schema = load(schema_file)
    assert schema["title"] and schema["description"] and schema["type"] == "object"
    problems: list[str] = []
    for where, node in subschemas(schema):
        if "properties" in node and node.get("additionalProperties") is not False:
            problems.append(f"{where}: object with properties must set additionalProperties: false")
        for name, prop in node.get("properties", {}).items():
            if not prop.get("description"):
                problems.append(f"{where}/properties/{name}: no description")
            if any(word in name for word in DECIMAL_WORDS) and resolve(schema, prop).get("type") == "number":
                problems.append(f"{where}/properties/{name}: money/quantity must be a decimal string")
        for value in node.get("enum", []):
            if not (SNAKE.match(value) or value in REGIONS):
                problems.append(f"{where}: enum value {value!r} is not lowercase snake_case")
        ref = node.get("$ref")
        if ref is not None and not ref.startswith("#/$defs/"):
            problems.append(f"{where}: $ref {ref!r} is not local (keep every schema self-contained)")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------- samples

@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=short_name_of)
def test_every_schema_has_a_full_sample(schema_file: Path) -> None:
    """`samples/<entity>.v<N>.json` exists for every schema."""
    assert (schema_file.parent / "samples" / schema_file.name).is_file()


@pytest.mark.parametrize("sample_file", SAMPLE_FILES, ids=lambda p: p.relative_to(SCHEMA_DIR).as_posix())
def test_sample_is_valid(sample_file: Path) -> None:
    """The registry accepts every sample, and so do both validators on their own."""
    name = schema_of_sample(sample_file)
    assert (SCHEMA_DIR / f"{name}.json").is_file(), f"sample without a schema: {name}"
    data = load(sample_file)
    registry().validate(name, data)
    assert fast_accepts(name, data)
    assert jsonschema_accepts(name, data)


@pytest.mark.parametrize(("name", "path"), REQUIRED_CASES)
def test_missing_required_field_is_rejected(name: str, path: tuple[str | int, ...]) -> None:
    """Removing a required field fails; the pointer names the missing field itself."""
    data = without(load(_sample(name)), path)
    assert rejected_at(name, data) == pointer(path)


@pytest.mark.parametrize(("name", "path"), LEAF_CASES)
def test_wrong_type_is_rejected_at_its_pointer(name: str, path: tuple[str | int, ...]) -> None:
    """A value of the wrong JSON type anywhere in a sample fails, and the pointer names it."""
    data = load(_sample(name))
    assert rejected_at(name, with_value(data, path, wrong_type(get(data, path)))) == pointer(path)


@pytest.mark.parametrize(("name", "path", "value", "expected"), BAD_VALUES,
                         ids=[f"{c[0]}:{pointer(c[1])}={c[2]!r}" for c in BAD_VALUES])
def test_bad_value_is_rejected_at_its_pointer(name: str, path: tuple[str | int, ...], value: Any,
                                              expected: str) -> None:
    """Typical mapping mistakes (float money, wrong case, bad codes, extra fields) are caught in place."""
    assert rejected_at(name, with_value(load(_sample(name)), path, value)) == expected


def test_bad_date_is_rejected_at_its_pointer() -> None:
    """The hot path rejects an impossible date; the explanation points at it."""
    data = with_value(load(_sample("sales/order.v1")), ("order_date",), "2024-13-45")
    assert rejected_at("sales/order.v1", data) == "/order_date"


@pytest.mark.parametrize(("name", "path"), REQUIRED_CASES + LEAF_CASES)
def test_validators_agree_on_broken_copies(name: str, path: tuple[str | int, ...]) -> None:
    """jsonschema-rs (hot path) and jsonschema (explanations) reject the same broken copies."""
    data = load(_sample(name))
    for broken in (without(data, path), with_value(data, path, wrong_type(get(data, path)))):
        assert fast_accepts(name, broken) == jsonschema_accepts(name, broken)


@pytest.mark.parametrize("sample_file", SAMPLE_FILES, ids=lambda p: p.relative_to(SCHEMA_DIR).as_posix())
def test_credit_codes_in_samples_have_a_valid_check_digit(sample_file: Path) -> None:
    """Samples show real-looking USCCs: the 18th character is the GB 32100 check digit."""
    name = schema_of_sample(sample_file)
    schema, data = load(SCHEMA_DIR / f"{name}.json"), load(sample_file)
    codes = [v for p, _n, v in leaves(schema, schema, data) if p[-1] == "credit_code"]
    assert all(uscc_is_valid(code) for code in codes), codes


def test_checkin_source_id_is_userid_and_epoch() -> None:
    """The documented deterministic key of a WeCom check-in: `<userid>:<checkin_time epoch seconds>`."""
    data = load(_sample("wecom/checkin.v1"))
    epoch = int(dt.datetime.fromisoformat(data["checkin_time"]).timestamp())
    assert data["source_id"] == f"{data['userid']}:{epoch}"


# ---------------------------------------------------------------------------------------------- asyncapi

@functools.cache
def asyncapi() -> dict[str, Any]:
    """asyncapi.yaml, parsed."""
    doc: dict[str, Any] = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    return doc


def refs(node: Any) -> Iterator[str]:
    """Every `$ref` value in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def follow(doc: dict[str, Any], ref: str) -> Any:
    """The node a local `#/...` reference points at (KeyError when it dangles)."""
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` zero or more."""
    words, keys = pattern.split("."), key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(words):
            return j == len(keys)
        if words[i] == "#":
            return any(match(i + 1, k) for k in range(j, len(keys) + 1))
        return j < len(keys) and words[i] in ("*", keys[j]) and match(i + 1, j + 1)

    return match(0, 0)


def event_messages() -> dict[str, dict[str, Any]]:
    """Canonical event messages by event type (everything but the dead letter)."""
    messages = asyncapi()["components"]["messages"]
    return {m["name"]: m for m in messages.values() if "allOf" in m.get("payload", {})}


def data_schema_file(message: dict[str, Any]) -> Path:
    """The schema file a message's `data` refers to."""
    (ref,) = [r for r in refs(message["payload"]) if not r.startswith("#")]
    return (ASYNCAPI_FILE.parent / ref).resolve()


def queue_channels() -> dict[str, dict[str, Any]]:
    """Subscriber queue channels by queue name (those bound to hub.events)."""
    return {c["address"]: c for c in asyncapi()["channels"].values()
            if c["bindings"]["amqp"]["is"] == "queue"
            and any(b["exchange"] == "hub.events" for b in c.get("x-bindings", []))}


def test_asyncapi_is_3_0_0_over_amqp() -> None:
    """AsyncAPI 3.0.0, one AMQP 0-9-1 server, the two exchanges as the topology declares them."""
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["servers"]["production"]["protocol"] == "amqp"
    assert doc["servers"]["production"]["protocolVersion"] == "0-9-1"
    exchanges = {c["address"]: c["bindings"]["amqp"]["exchange"] for c in doc["channels"].values()
                 if c["bindings"]["amqp"]["is"] == "routingKey"}
    assert exchanges["hub.events"]["type"] == "topic" and exchanges["hub.events"]["durable"] is True
    assert exchanges["hub.dlx"]["type"] == "fanout" and exchanges["hub.dlx"]["durable"] is True


def test_asyncapi_local_refs_resolve() -> None:
    """Every `#/...` reference points at something."""
    doc = asyncapi()
    for ref in refs(doc):
        if ref.startswith("#"):
            follow(doc, ref)


def test_asyncapi_file_refs_exist() -> None:
    """Every schema file asyncapi.yaml refers to is on disk."""
    files = [r for r in refs(asyncapi()) if not r.startswith("#")]
    assert files
    missing = [r for r in files if not (ASYNCAPI_FILE.parent / r).is_file()]
    assert not missing


def test_every_schema_is_used_by_a_message() -> None:
    """No schema file is orphaned: at least one message carries it."""
    used = {data_schema_file(m) for m in event_messages().values()}
    assert {f.resolve() for f in SCHEMA_FILES} - used == set()


@pytest.mark.parametrize("event_type", sorted(event_messages()))
def test_message_names_its_type_and_schema(event_type: str) -> None:
    """A message's name is its CloudEvents type, and dataschema is the $id of the file data refers to."""
    message = event_messages()[event_type]
    assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}\.v[1-9][0-9]*", event_type)
    overlay = message["payload"]["allOf"][1]["properties"]
    assert overlay["type"]["const"] == event_type
    assert overlay["dataschema"]["const"] == load(data_schema_file(message))["$id"]
    assert message["payload"]["allOf"][0]["$ref"] == "#/components/schemas/CloudEventEnvelope"
    # The major version of the event and of its data go together.
    assert event_type.rsplit(".", 1)[1] == data_schema_file(message).stem.rsplit(".", 1)[1]


def test_queues_and_bindings_match_the_topology_settings() -> None:
    """The documented subscriber queues and binding patterns are the ones the hub declares."""
    documented = {name: [b["routingKey"] for b in c["x-bindings"]] for name, c in queue_channels().items()}
    assert documented == DEFAULT_SUBSCRIBERS


@pytest.mark.parametrize("queue", sorted(DEFAULT_SUBSCRIBERS))
def test_queue_lists_exactly_the_messages_its_bindings_route(queue: str) -> None:
    """A queue's messages are the event types its binding patterns match, and they are quorum queues."""
    channel = queue_channels()[queue]
    patterns = [b["routingKey"] for b in channel["x-bindings"]]
    listed = {follow(asyncapi(), m["$ref"])["name"] for m in channel["messages"].values()}
    assert listed == {t for t in event_messages() if any(topic_matches(p, t) for p in patterns)}
    arguments = channel["x-queue-arguments"]
    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-dead-letter-exchange"] == "hub.dlx"
    assert arguments["x-delivery-limit"] >= 1


def test_dead_letter_headers_are_documented() -> None:
    """Dead letters document the x-hub-* headers replay and `hub dlq` rely on."""
    headers = asyncapi()["components"]["schemas"]["DeadLetterHeaders"]["properties"]
    assert {"x-hub-reason", "x-hub-error", "x-hub-original-routing-key"} <= set(headers)
