"""Callback messages → canonical events: approvals and external contacts, fetched from the API first.

    sys_approval_change       → oa/getapprovaldetail  → wecom.approval.changed.v1 (wecom/approval.v1)
    change_external_contact   → externalcontact/get   → wecom.contact.changed.v1  (customer/contact.v1)
    anything else             → ignored (stored, acknowledged, nothing published)

A callback carries only ids; the detail is fetched when the message is processed, after WeCom
has been answered. Event ids are deterministic (system, entity, key, the callback's CreateTime,
type), so processing a message twice publishes the same ids. A contact that WeCom no longer
shows after del_external_contact (84061) is published as a tombstone with status "deleted".
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from connectors.wecom.client import NOT_RELATED
from connectors.wecom.crypto import parse_xml, xml_fields
from connectors.wecom.errors import DecryptError, WecomRejected
from connectors.wecom.records import approval_payload, contact_payload, deleted_contact_payload, local_iso
from hub.core.deadletter import DeadLetter
from hub.core.errors import RecordError
from hub.core.events import CanonicalEvent, make_event
from hub.core.schemas import SchemaRegistry, registry, schema_id

if TYPE_CHECKING:
    from connectors.wecom.client import WecomClient

log = logging.getLogger(__name__)

APPROVAL_TYPE = "wecom.approval.changed.v1"
CONTACT_TYPE = "wecom.contact.changed.v1"
CONTACT_CHANGES = frozenset({"add_external_contact", "edit_external_contact", "add_half_external_contact",
                             "del_external_contact", "del_follow_user"})


@dataclass(frozen=True, slots=True)
class CallbackMessage:
    """A decrypted callback message as a dict of its XML elements."""

    fields: dict[str, Any]

    @property
    def msg_type(self) -> str:
        """MsgType: event, text, image…"""
        return str(self.fields.get("MsgType") or "")

    @property
    def event(self) -> str:
        """Event (for MsgType event), else ""."""
        return str(self.fields.get("Event") or "")

    @property
    def create_time(self) -> int:
        """CreateTime as Unix seconds (0 when absent)."""
        value = str(self.fields.get("CreateTime") or "0")
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else 0

    def dedupe_key(self) -> str:
        """The id WeCom's retries share: MsgId, else FromUserName + CreateTime + Event + a digest.

        The digest of every field tells apart two events of one second (WeCom sends external-contact
        changes from FromUserName "sys"), while a retry, being the same message, has the same one.
        """
        msg_id = str(self.fields.get("MsgId") or "")
        if msg_id:
            return f"msg:{msg_id[:100]}"
        canonical = json.dumps(self.fields, ensure_ascii=False, sort_keys=True)
        sender = str(self.fields.get("FromUserName") or "")
        digest = hashlib.sha256(f"{sender}\x1f{canonical}".encode()).hexdigest()[:32]
        return f"evt:{self.create_time}:{self.event[:40]}:{digest}"


def parse_message(xml_text: str | bytes) -> CallbackMessage:
    """Parse a decrypted message (defusedxml); DecryptError when it is not a WeCom message."""
    fields = xml_fields(parse_xml(xml_text))
    if not fields.get("MsgType"):
        raise DecryptError("decrypted message has no MsgType")
    return CallbackMessage(fields)


@dataclass
class Outcome:
    """What processing one message produced: events, dead letters, or nothing (ignored)."""

    events: list[CanonicalEvent] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)

    @property
    def ignored(self) -> bool:
        """True when the message leads to nothing on the bus."""
        return not self.events and not self.letters


class RecordMappingLike(Protocol):
    """What the processor needs from a compiled mapping (as hub.app.pipeline.RecordMapping)."""

    name: str
    version: str
    target: str

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Canonical data for one payload."""
        ...


def default_mapping_loader(name: str) -> RecordMappingLike:
    """The YAML mapping engine's loader (imported lazily)."""
    from mappings import load_mapping

    return load_mapping(name)


class CallbackProcessor:
    """Turns one stored callback message into canonical events, fetching the details it names."""

    def __init__(self, client: Callable[[], WecomClient], system: str = "wecom", *,
                 mapping_loader: Callable[[str], RecordMappingLike] = default_mapping_loader,
                 schemas: SchemaRegistry | None = None) -> None:
        self._client = client
        self.system = system
        self._mappings = mapping_loader
        self._schemas = schemas

    def process(self, message: CallbackMessage) -> Outcome:
        """The outcome of one message; SourceErrors propagate (the worker retries or parks it)."""
        if message.msg_type == "event" and message.event == "sys_approval_change":
            return self.approval(message)
        if message.msg_type == "event" and message.event == "change_external_contact":
            return self.contact(message)
        return Outcome()

    def approval(self, message: CallbackMessage) -> Outcome:
        """wecom.approval.changed.v1 for the approval the callback names."""
        info = message.fields.get("ApprovalInfo")
        sp_no = str(info.get("SpNo") or "") if isinstance(info, dict) else ""
        if not sp_no:
            return self._letter(message, APPROVAL_TYPE, "sys_approval_change without ApprovalInfo/SpNo")
        change = str(info.get("StatuChangeEvent") or "") if isinstance(info, dict) else ""
        detail = self._client().approval_detail(sp_no)
        event = int(change) if change.isascii() and change.isdigit() and len(change) <= 9 else None
        payload = approval_payload(detail, event, self._changed_at(message))
        return self._build("approval", APPROVAL_TYPE, "wecom/approval", sp_no, payload)

    def contact(self, message: CallbackMessage) -> Outcome:
        """wecom.contact.changed.v1 for the external contact the callback names."""
        change = str(message.fields.get("ChangeType") or "")
        external_userid = str(message.fields.get("ExternalUserID") or "")
        if change not in CONTACT_CHANGES:
            return Outcome()  # transfer_fail and the like: nothing changed on the contact itself
        if not external_userid:
            return self._letter(message, CONTACT_TYPE, f"{change} without ExternalUserID")
        changed_at = self._changed_at(message)
        try:
            detail = self._client().external_contact(external_userid)
        except WecomRejected as exc:
            if exc.errcode != NOT_RELATED or change != "del_external_contact":
                raise
            payload = deleted_contact_payload(external_userid, changed_at)
        else:
            payload = contact_payload(detail, "active", changed_at)
        return self._build("contact", CONTACT_TYPE, "wecom/contact", external_userid, payload)

    def _build(self, entity: str, type: str, mapping_name: str, key: str, payload: dict[str, Any]) -> Outcome:
        """Map, validate and wrap one payload; a RecordError becomes a dead letter of the payload."""
        mapping = self._mappings(mapping_name)
        try:
            data = mapping.apply(payload)
            (self._schemas or registry()).validate(mapping.target, data)
        except RecordError as exc:
            raw = json.dumps(payload, ensure_ascii=False, default=str, sort_keys=True).encode()
            origin = f"wecom/callback mapping {mapping.name}@{mapping.version}"
            return Outcome(letters=[DeadLetter.from_error(raw, exc, origin=origin, routing_key=type)])
        event = make_event(system=self.system, entity=entity, type=type, key=key, version=payload["updated_at"],
                           data=data, dataschema=schema_id(mapping.target), mappingversion=mapping.version)
        return Outcome(events=[event])

    def _letter(self, message: CallbackMessage, type: str, reason: str) -> Outcome:
        raw = json.dumps(message.fields, ensure_ascii=False, sort_keys=True).encode()
        return Outcome(letters=[DeadLetter(raw, "record_invalid", reason, origin="wecom/callback",
                                           original_routing_key=type)])

    @staticmethod
    def _changed_at(message: CallbackMessage) -> str:
        """The callback's CreateTime as RFC 3339 +08:00 (the version of what it reports)."""
        return local_iso(message.create_time) or "1970-01-01T08:00:00+08:00"
