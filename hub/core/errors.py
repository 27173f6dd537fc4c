"""One error tree for the whole hub, grouped by what the caller should do next.

    HubError                          disposition
    ├── ConfigError                   FATAL   bad settings, mapping or rule files
    ├── SourceError
    │   ├── SourceUnavailable         RETRY   network down, timeout, 5xx, rate limited
    │   ├── SourceAuthError           FATAL   wrong credentials, expired licence
    │   ├── SourceRejected            FATAL   the source refused the request (SOAP fault, BAPI error)
    │   └── SourceProtocolError       FATAL   malformed or unsafe response (broken XML, DTD, bomb)
    ├── RecordError                   SKIP    one record is bad: it goes to dead letters
    │   ├── SchemaValidationError     SKIP    canonical data does not match its JSON Schema
    │   └── MappingError              SKIP    a mapping rule failed on this record
    ├── BusError
    │   ├── BrokerUnavailable         RETRY   connection lost, not confirmed in time, broker blocked
    │   ├── PublishNacked             RETRY   broker refused the message (queue full, alarm)
    │   └── Unroutable                SKIP    no queue is bound for the routing key
    └── MdmError                      FATAL

Vendor errors are translated at the boundary (`raise SourceUnavailable(...) from exc`), so
`is_retriable()` is the only place that decides whether to try again: tenacity, the Airflow
tasks and the bus consumer all ask it. Messages name the field or JSON Pointer, never values.
"""

from __future__ import annotations

import enum
import re
import socket


class Disposition(enum.Enum):
    """What to do with the work that raised the error."""

    RETRY = "retry"
    FATAL = "fatal"
    SKIP = "skip"


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    disposition: Disposition = Disposition.FATAL

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(HubError):
    """Settings, mapping or rule files are wrong; lists every problem at once."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        text = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class SourceError(HubError):
    """A source system call failed."""


class SourceUnavailable(SourceError):
    """The source could not be reached or answered too slowly; try again later."""

    disposition = Disposition.RETRY


class SourceAuthError(SourceError):
    """The source refused our credentials."""


class SourceRejected(SourceError):
    """The source understood the request and refused it."""


class SourceProtocolError(SourceError):
    """The source answered with something we will not parse (malformed or unsafe)."""


class RecordError(HubError):
    """One record cannot become a canonical event; it is dead-lettered and the batch goes on."""

    disposition = Disposition.SKIP
    reason = "record_invalid"

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None) -> None:
        super().__init__(message, field=field)
        self.rule = rule


class SchemaValidationError(RecordError):
    """Canonical data does not validate against its JSON Schema."""

    reason = "schema_invalid"


class MappingError(RecordError):
    """A mapping rule could not be applied to a record."""

    reason = "mapping_failed"


class BusError(HubError):
    """Talking to the message broker failed."""


class BrokerUnavailable(BusError):
    """The broker is unreachable, blocked or did not confirm in time."""

    disposition = Disposition.RETRY


class PublishNacked(BusError):
    """The broker negatively confirmed a publish (queue at its limit, internal error)."""

    disposition = Disposition.RETRY


class Unroutable(BusError):
    """No queue is bound for the routing key: the event would vanish."""

    disposition = Disposition.SKIP


class MdmError(HubError):
    """An MDM operation is not possible (unknown record, merge of a merged record...)."""


_TRANSIENT_BUILTINS = (ConnectionError, TimeoutError, socket.timeout)
# OpenSSL's "[SSL: CODE] reason (_ssl.c:NNN)", or the peer's TLS connection ended without an alert
_TLS_ERROR = re.compile(r"\[SSL: \w+\] ([^(]+?) \(|(EOF occurred in violation of protocol)")


def is_retriable(exc: BaseException) -> bool:
    """True when trying the same work again later may succeed."""
    if isinstance(exc, HubError):
        return exc.disposition is Disposition.RETRY
    return isinstance(exc, _TRANSIENT_BUILTINS) or _is_database_outage(exc)


def _is_database_outage(exc: BaseException) -> bool:
    """A lost or refused database connection (not a constraint or a bad statement)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def tls_reason(exc: BaseException) -> str | None:
    """A failed TLS handshake in a few words ("TLS: certificate verify failed: Hostname mismatch, …"), or None.

    The text is read because pika sometimes passes the ssl error on only inside its own error's text.
    """
    found = _TLS_ERROR.search(str(exc))
    if found is None:
        return None
    return "TLS: " + (found.group(1) or found.group(2)).rstrip(".")


def disposition_of(exc: BaseException) -> Disposition:
    """The disposition of any exception: unknown errors are fatal."""
    if isinstance(exc, HubError):
        return exc.disposition
    return Disposition.RETRY if is_retriable(exc) else Disposition.FATAL
