"""Canonical events: CloudEvents 1.0 in structured JSON mode, with deterministic ids.

`type` is `<domain>.<entity>.<event>.v<N>` and is also the routing key. The `id` is a UUIDv5 of
source system, entity, source key and source version, so re-reading the same interval yields the
same ids and every consumer can drop duplicates. `entityversion` (an extension attribute) lets a
consumer drop a stale update that arrives after a newer one; `mappingversion` says which mapping
produced the data.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import uuid

import orjson
from dataclasses import dataclass, field
from typing import Any

from hub.core.errors import RecordError

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
_NAMESPACE = uuid.UUID("6f1d8a52-3c1b-5e0e-9f6a-2b7e5c0d4a11")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}\.v[1-9][0-9]*$")
_REQUIRED = ("specversion", "id", "source", "type")
_EXTENSIONS = ("entityversion", "mappingversion")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")


def event_id(system: str, entity: str, key: str, version: str, type: str = "") -> str:
    """Deterministic id of one version of one record, per event type.

    The type is part of the name so that two kinds of event about the same record version
    (e.g. `src.erp.order.changed` and `erp.order.created`) never share an id on one queue.
    """
    name = "\x1f".join((system, entity, key, version, type)).encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE.bytes + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()  # the same string as str(uuid.uuid5(...)), without uuid's per-call overhead
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utc_iso(moment: dt.datetime) -> str:
    """RFC 3339 UTC time with a Z, the form every timestamp in an event takes."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    elif moment.tzinfo is not dt.timezone.utc:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=256)
def _valid_type(type: str) -> bool:
    """Whether an event type is `<domain>.<entity>.<event>.v<N>` (a process uses a few dozen types)."""
    return _TYPE_RE.match(type) is not None


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    """One CloudEvent as it travels on the bus."""

    id: str
    source: str
    type: str
    subject: str
    time: str
    dataschema: str
    data: dict[str, Any]
    entityversion: str
    mappingversion: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def routing_key(self) -> str:
        """The routing key is the event type."""
        return self.type

    def to_dict(self) -> dict[str, Any]:
        """The structured-mode JSON object."""
        out: dict[str, Any] = dict(self.extensions)  # first, so no extension can override a core attribute
        out.update(specversion=SPECVERSION, id=self.id, source=self.source, type=self.type)
        optional = {"subject": self.subject, "time": self.time, "datacontenttype": DATA_CONTENT_TYPE,
                    "dataschema": self.dataschema, "entityversion": self.entityversion,
                    "mappingversion": self.mappingversion}
        out.update({name: value for name, value in optional.items() if value})  # absent, never ""
        out["data"] = self.data
        return out

    def to_json(self) -> bytes:
        """UTF-8 bytes of the structured-mode event (Chinese text kept readable)."""
        return orjson.dumps(self.to_dict())

    def amqp_properties(self) -> dict[str, Any]:
        """AMQP properties mirroring the envelope, for tools that read only properties."""
        return {
            "message_id": self.id,
            "type": self.type,
            "timestamp": _epoch(self.time),
            "content_type": CONTENT_TYPE,
        }


@functools.lru_cache(maxsize=4096)
def _epoch(time: str) -> int | None:
    """Seconds since the epoch of an RFC 3339 time (cached: a batch shares few distinct times)."""
    if not time:
        return None
    return int(dt.datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp())


def make_event(
    *,
    system: str,
    entity: str,
    type: str,
    key: str,
    version: str,
    data: dict[str, Any],
    dataschema: str,
    mappingversion: str | None = None,
    time: dt.datetime | None = None,
) -> CanonicalEvent:
    """Build an event with a deterministic id; `version` is the source's change time or counter."""
    if not _valid_type(type):
        raise ValueError(f"event type {type!r} is not <domain>.<entity>.<event>.v<N>")
    return CanonicalEvent(
        id=event_id(system, entity, key, version, type),
        source=f"/hub/{system}",
        type=type,
        subject=key,
        time=utc_iso(time or dt.datetime.now(dt.timezone.utc)),
        dataschema=dataschema,
        data=data,
        entityversion=version,
        mappingversion=mappingversion,
    )


def parse_event(body: bytes) -> CanonicalEvent:
    """Parse a structured-mode event from the bus; a bad body is a RecordError naming the problem."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"body is not JSON ({exc.msg} at position {exc.pos})", field="/") from None
    if not isinstance(obj, dict):
        raise RecordError("body is not a JSON object", field="/")
    missing = [name for name in _REQUIRED if not isinstance(obj.get(name), str)]
    if missing:
        raise RecordError("missing CloudEvents attribute(s): " + ", ".join(missing), field="/" + missing[0])
    if obj["specversion"] != SPECVERSION:
        raise RecordError("unsupported CloudEvents specversion", field="/specversion")
    if not isinstance(obj.get("data"), dict):
        raise RecordError("data must be a JSON object", field="/data")
    known = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema",
             "data", *_EXTENSIONS}
    return CanonicalEvent(
        id=obj["id"],
        source=obj["source"],
        type=obj["type"],
        subject=str(obj.get("subject", "")),
        time=str(obj.get("time", "")),
        dataschema=str(obj.get("dataschema", "")),
        data=obj["data"],
        entityversion=str(obj.get("entityversion", "")),
        mappingversion=obj.get("mappingversion"),
        extensions={k: v for k, v in obj.items() if k not in known and _EXTENSION_NAME.match(k)},
    )
