"""Dead letters: the original bytes plus headers that say why, where from and where it was going.

Every path that gives up on a message (a record the mapping refused, an event no queue binds,
a body a consumer cannot parse) builds one here, so `hub dlq` can show and replay them alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from hub.core.errors import HubError, RecordError
from hub.core.publisher import Message

REASON = "x-hub-reason"
ERROR = "x-hub-error"
ORIGIN = "x-hub-origin"
ORIGINAL_ROUTING_KEY = "x-hub-original-routing-key"
ORIGINAL_MESSAGE_ID = "x-hub-original-message-id"
FAILED_AT = "x-hub-failed-at"
_MAX_ERROR = 500


def safe_error_text(exc: BaseException) -> str:
    """Error text fit for headers and logs: our errors never echo values; others show only their class."""
    text = str(exc) if isinstance(exc, HubError) else f"{type(exc).__name__} (details withheld)"
    return text[:_MAX_ERROR]


def reason_of(exc: BaseException) -> str:
    """The short machine-readable reason for an exception."""
    return exc.reason if isinstance(exc, RecordError) else "handler_failed"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that will not reach its subscribers, kept whole with its reason."""

    body: bytes
    reason: str
    error: str
    origin: str
    original_routing_key: str = ""
    original_message_id: str = ""

    @classmethod
    def from_error(cls, body: bytes, exc: BaseException, *, origin: str, routing_key: str = "",
                   message_id: str = "") -> DeadLetter:
        """A dead letter for `body` that failed with `exc`."""
        return cls(body, reason_of(exc), safe_error_text(exc), origin, routing_key, message_id)

    def message_id(self) -> str:
        """Stable id: the original message id, else a hash of the bytes and reason."""
        if self.original_message_id:
            return self.original_message_id
        return hashlib.sha256(self.body + self.reason.encode()).hexdigest()[:32]

    def headers(self) -> dict[str, str]:
        """The x-hub-* headers that travel with the original bytes."""
        return {
            REASON: self.reason,
            ERROR: self.error,
            ORIGIN: self.origin,
            ORIGINAL_ROUTING_KEY: self.original_routing_key,
            ORIGINAL_MESSAGE_ID: self.original_message_id,
            FAILED_AT: dt.datetime.now(dt.timezone.utc).isoformat(),
        }

    def to_message(self, dead_exchange: str) -> Message:
        """The message to publish on the dead-letter exchange."""
        return Message(
            exchange=dead_exchange, routing_key=f"dead.{self.reason}", body=self.body,
            message_id=self.message_id(), type="hub.deadletter", content_type="application/octet-stream",
            headers=self.headers(),
        )
