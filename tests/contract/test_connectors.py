"""The contract every registered connector honours, each against its own simulator.

Every name in `connectors.REGISTRY` is tested; a new connector joins by registering and shipping
its test hook `connectors/<name>/simulator.py`:

    def simulated_settings() -> contextlib.AbstractContextManager[dict[str, Any]]
        # yields the keyword overrides for load_settings(**overrides) while its simulator runs

and, optionally, `broken_settings(overrides) -> {"endpoint": overrides', "credentials": overrides''}`
(without it the suite replaces the secrets, and any *url setting, of the connector's section).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import socket
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from pydantic import BaseModel, SecretStr

from connectors import REGISTRY, connector_names, load_connector
from connectors.base import Connector, Stream
from hub.core.errors import ConfigError, SourceError
from hub.core.schemas import registry
from hub.core.settings import load_settings
from mappings import load_mapping

NAMES = connector_names()
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}\.v[1-9][0-9]*$")
WRONG_SECRET = f"wrong-secret-{uuid.uuid4().hex[:12]}"


def hook(name: str) -> ModuleType:
    """The connector's simulator hook; a registered connector whose package is not written yet is skipped."""
    package = REGISTRY[name].split(":", 1)[0].rsplit(".", 1)[0]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"connector {name!r} is registered but {package} does not exist yet")
    try:
        return importlib.import_module(f"{package}.simulator")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.simulator":
            raise
        pytest.fail(f"{package}/simulator.py with simulated_settings() is missing: every connector needs it")


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def simulated(name: str) -> Iterator[dict[str, Any]]:
    with hook(name).simulated_settings() as overrides:
        yield overrides


def build(name: str, overrides: dict[str, Any]) -> Connector:
    return load_connector(name, load_settings(**overrides))


@pytest.fixture
def connector(name: str, simulated: dict[str, Any]) -> Iterator[Connector]:
    built = build(name, simulated)
    yield built
    built.close()


# -------------------------------------------------------------------------------------- building


def test_builds_from_settings_without_touching_the_network(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hook(name)
    dialled: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        dialled.append(args)
        raise AssertionError("building a connector must not connect")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    built = load_connector(name, load_settings())
    streams = built.streams()
    assert built.name == name and built.system and not dialled
    assert [s.name for s in streams] == [s.name for s in built.streams()]


def test_every_stream_declares_its_contract_and_its_mapping_loads(name: str) -> None:
    hook(name)
    built = load_connector(name, load_settings())
    streams = built.streams()
    assert len({s.name for s in streams}) == len(streams), "stream names must be unique"
    for stream in streams:
        for attribute in ("name", "entity", "mapping", "cursor_field"):
            assert isinstance(getattr(stream, attribute, None), str) and getattr(stream, attribute), attribute
        assert isinstance(stream.primary_key, tuple) and stream.primary_key, f"{stream.name}: primary_key"
        mapping = load_mapping(stream.mapping)
        registry().schema(mapping.target)  # the target schema exists
        assert TYPE_RE.match(event_type(built, stream, mapping.target)), stream.name
        assert built.stream(stream.name).name == stream.name


def event_type(connector: Connector, stream: Stream, target: str) -> str:
    """The event type the pipeline gives the stream's events."""
    declared = getattr(stream, "event_type", None)
    return declared or f"src.{connector.system}.{stream.entity}.{stream.event}.v{target.rsplit('.v', 1)[-1]}"


# ---------------------------------------------------------------------------------------- check()


def test_check_passes_against_the_simulator(connector: Connector) -> None:
    connector.check()


@pytest.mark.parametrize("case", ["endpoint", "credentials"])
def test_check_with_a_wrong_endpoint_or_credentials_is_a_clear_source_error_without_the_secret(
        name: str, simulated: dict[str, Any], case: str, caplog: pytest.LogCaptureFixture) -> None:
    declared = hasattr(hook(name), "broken_settings")
    variants = hook(name).broken_settings(simulated) if declared else generic_variants(simulated)
    if case not in variants:
        pytest.skip(f"{name}: no {case} setting to break; give its simulator hook broken_settings()")
    try:
        broken = build(name, variants[case])
    except ConfigError:
        if declared:
            raise
        pytest.skip(f"{name}: the generic {case} variant is not valid settings; give its hook broken_settings()")
    try:
        with pytest.raises(SourceError) as info:
            broken.check()
    finally:
        broken.close()
    message = str(info.value)
    assert len(message) > 20 and message == message.strip(), message
    for secret in secrets_of(simulated) | secrets_of(variants[case]):
        assert secret not in message and secret not in repr(info.value) and secret not in caplog.text


def secrets_of(overrides: dict[str, Any]) -> set[str]:
    """Every non-empty secret value of the settings sections the overrides configure."""
    settings = load_settings(**overrides)
    found: set[str] = set()
    for section in overrides:
        model = getattr(settings, section, None)
        if isinstance(model, BaseModel):
            found |= {v.get_secret_value() for v in vars(model).values()
                      if isinstance(v, SecretStr) and len(v.get_secret_value()) >= 4}
    return found


def generic_variants(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Secrets replaced by a wrong one; *url settings pointed at a closed loopback port."""
    settings, out = load_settings(**overrides), {}
    for section, values in overrides.items():
        model = getattr(settings, section, None)
        if not isinstance(model, BaseModel):
            continue
        secret_fields = [k for k, v in vars(model).items() if isinstance(v, SecretStr)]
        url_fields = [k for k, v in vars(model).items() if k.endswith("url") and isinstance(v, str) and "://" in v]
        if secret_fields:
            wrong = {k: _altered(getattr(model, k).get_secret_value()) for k in secret_fields}
            out["credentials"] = {**overrides, section: {**values, **wrong}}
        if url_fields:
            closed = {k: _closed(str(getattr(model, k))) for k in url_fields}
            out["endpoint"] = {**overrides, section: {**values, **closed}}
    return out


def _altered(secret: str) -> str:
    """A wrong secret of the same length and kinds of characters (so format checks still pass)."""
    if not secret:
        return WRONG_SECRET
    shift = {**{c: "0123456789"[(i + 1) % 10] for i, c in enumerate("0123456789")},
             **{c: "abcdefghijklmnopqrstuvwxyz"[(i + 1) % 26] for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")},
             **{c: "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(i + 1) % 26] for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}}
    return "".join(shift.get(c, c) for c in secret)


def _closed(url: str) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))


# ----------------------------------------------------------------------------------------- reading


def test_reading_again_from_the_last_cursor_yields_nothing_new_and_cursors_are_json(connector: Connector) -> None:
    for stream in connector.streams():
        pages = list(stream.read(None))
        assert pages and any(p.records for p in pages), f"{stream.name}: the simulator should have data"
        seen = {(r.key, r.version) for p in pages for r in p.records}
        rejected = {raw for p in pages for raw, _reason in p.rejected}
        for page in pages:
            assert json.loads(json.dumps(page.cursor)) == page.cursor, f"{stream.name}: cursor is not JSON"
            assert all(r.key and isinstance(r.version, str) and r.version for r in page.records), stream.name
        again = list(stream.read(json.loads(json.dumps(pages[-1].cursor))))
        new = [(r.key, r.version) for p in again for r in p.records if (r.key, r.version) not in seen]
        assert new == [], f"{stream.name}: re-reading from the last cursor gave new records"
        assert {raw for p in again for raw, _reason in p.rejected} <= rejected, stream.name
        assert all(json.loads(json.dumps(p.cursor)) == p.cursor for p in again), stream.name
