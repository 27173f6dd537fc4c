"""What every connector is made of: a Connector (settings, check, streams) and small Stream classes.

A polling stream reads pages of SourceRecords after a checkpoint cursor; the pipeline maps each
record, validates it and writes the page's events and the cursor after it in one transaction.
A push source (MQTT, callbacks) is an EventSource that hands records to a sink as they arrive.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from typing import Self

    from hub.core.settings import HubSettings

Cursor = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as the source gave it, with its business key and version."""

    key: str
    version: str
    payload: dict[str, Any]
    raw: bytes = b""

    @classmethod
    def from_payload(cls, key: str, version: str, payload: dict[str, Any]) -> SourceRecord:
        """A record whose original bytes are its payload as JSON."""
        raw = json.dumps(payload, ensure_ascii=False, default=str, sort_keys=True).encode()
        return cls(key=key, version=version, payload=payload, raw=raw)


@dataclass(frozen=True, slots=True)
class Page:
    """Records read together and the cursor to store once they are safely in the outbox."""

    records: list[SourceRecord]
    cursor: Cursor
    rejected: list[tuple[bytes, str]] = field(default_factory=list)  # (original bytes, reason)


class Stream(abc.ABC):
    """One entity of one source, read incrementally. Subclasses are mostly declarations."""

    name: ClassVar[str]               # e.g. "customers"; unique within the connector
    entity: ClassVar[str]             # canonical entity, e.g. "customer"
    event: ClassVar[str] = "changed"  # event name in the type src.<system>.<entity>.<event>.v<N>
    mapping: ClassVar[str]            # mapping file "<system>/<entity>" under mappings/
    primary_key: ClassVar[tuple[str, ...]] = ()
    cursor_field: ClassVar[str | None] = None

    @abc.abstractmethod
    def read(self, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages of records changed after `cursor` (None: from the beginning)."""


class Connector(abc.ABC):
    """A source system: its settings, a health check and its streams."""

    name: ClassVar[str]  # registry name, e.g. "soap_erp"

    @property
    @abc.abstractmethod
    def system(self) -> str:
        """System name used in event types and ids (e.g. "erp", "sap")."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise a SourceError with a clear message when the source cannot be used."""

    @abc.abstractmethod
    def streams(self) -> list[Stream]:
        """The streams this connector offers."""

    def stream(self, name: str) -> Stream:
        """One stream by name; an unknown name lists the valid ones."""
        found = {s.name: s for s in self.streams()}
        if name not in found:
            from hub.core.errors import ConfigError

            raise ConfigError(f"connector {self.name!r} has no stream {name!r}; streams: {', '.join(found)}")
        return found[name]

    def close(self) -> None:
        """Release connections; default: nothing to release."""


SettingsT = TypeVar("SettingsT")
ClientT = TypeVar("ClientT")


class ClientConnector(Connector, Generic[SettingsT, ClientT]):
    """A connector that reaches its system through one client, built on first use, closed with it.

    Its settings are the `HubSettings` section named like the connector (`settings.soap_erp`);
    `default_client` builds the client from them (a test may pass another factory).
    """

    def __init__(self, settings: SettingsT, client_factory: Callable[[SettingsT], ClientT] | None = None) -> None:
        self.settings = settings
        self._client_factory = client_factory or self.default_client
        self._client: ClientT | None = None

    @staticmethod
    @abc.abstractmethod
    def default_client(settings: Any) -> Any:
        """The real client for the settings (imports its protocol library only now)."""

    @classmethod
    def from_settings(cls, settings: HubSettings) -> Self:
        """The connector for its section of the settings; nothing touches the network yet."""
        return cls(getattr(settings, cls.name))

    @property
    def system(self) -> str:
        """The system name in event types and ids (the section's `system` setting)."""
        return str(self.settings.system)  # type: ignore[attr-defined]

    def client(self) -> ClientT:
        """The shared client, built on first use."""
        if self._client is None:
            self._client = self._client_factory(self.settings)
        return self._client

    def close(self) -> None:
        """Close the client, if one was built."""
        if self._client is not None:
            self._client.close()  # type: ignore[attr-defined]
            self._client = None


RecordSink = Callable[[str, SourceRecord], None]


class EventSource(abc.ABC):
    """A push source (MQTT, callbacks): delivers (stream name, record) to a sink as they arrive."""

    name: ClassVar[str]

    @abc.abstractmethod
    def run(self, sink: RecordSink) -> None:
        """Deliver records until stop() is called."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Ask run() to return after the record in hand."""
