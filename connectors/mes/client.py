"""The MES database client: a read-only SQLAlchemy engine, keyset-paged reads, and the error table.

The connection is read-only at the database, not by convention: SQLite is opened with a
`mode=ro` URI, PostgreSQL sessions start with `default_transaction_read_only=on` (and a statement
timeout), MySQL sessions with `SET SESSION TRANSACTION READ ONLY`. Table and column names come
from settings, are checked against an identifier pattern, then against the reflected table, and
enter SQL only through SQLAlchemy's `table()` / `column()` constructs (quoted as needed); values
are always bound parameters. Driver errors are translated here into the hub's error tree, without
the URL's password.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import urllib.parse
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, create_engine, event, inspect, or_, select
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import TableClause

from hub.core.errors import (
    ConfigError,
    HubError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
)

if TYPE_CHECKING:
    from hub.core.settings import MesSettings

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
Position = tuple[Any, Any]  # (updated_at, id) of the last row read
MesRow = dict[str, str | None]

# PostgreSQL SQLSTATE (class or code) → what it means for the hub
_PG_STATES: tuple[tuple[str, type[HubError], str], ...] = (
    ("28", SourceAuthError, "refused the credentials of user {user!r}; check HUB_MES__URL and HUB_MES__PASSWORD"),
    ("42501", SourceAuthError, "does not let user {user!r} read the work-order table (GRANT SELECT)"),
    ("3D000", SourceRejected, "has no such database; check HUB_MES__URL"),
    ("25006", SourceRejected, "refused a write: the connection is read-only"),
    ("42P01", ConfigError, "has no table {table}; check HUB_MES__TABLE and HUB_MES__DB_SCHEMA"),
    ("3F000", ConfigError, "has no schema {schema}; check HUB_MES__DB_SCHEMA"),
    ("42703", ConfigError, "has no such column in {table}; check HUB_MES__COLUMNS"),
    ("57014", SourceUnavailable, "did not answer within {timeout} s (statement timeout)"),
    ("08", SourceUnavailable, "is unreachable (connection failure)"),
    ("53", SourceUnavailable, "is out of resources (too many connections?)"),
    ("57P", SourceUnavailable, "is shutting down or starting up"),
    ("55000", SourceUnavailable, "does not accept connections now"),
)
# Driver messages (SQLite, and PostgreSQL's connection-phase errors, which carry no SQLSTATE) → meaning
_MESSAGES: tuple[tuple[str, type[HubError], str], ...] = (
    ("password authentication failed", SourceAuthError,
     "refused the credentials of user {user!r}; check HUB_MES__URL and HUB_MES__PASSWORD"),
    ("no pg_hba.conf entry", SourceAuthError, "does not accept user {user!r} from this host (pg_hba.conf)"),
    ('role "', SourceAuthError, "does not know user {user!r}; check HUB_MES__URL"),
    ("not currently accepting connections", SourceUnavailable, "does not accept connections now"),
    ("does not exist", SourceRejected, "has no such database; check HUB_MES__URL"),  # after role "…"
    ("unable to open database file", SourceUnavailable, "cannot be opened (missing file or folder?)"),
    ("database is locked", SourceUnavailable, "is locked by a writer"),
    ("readonly database", SourceRejected, "refused a write: the connection is read-only"),
    ("no such table", ConfigError, "has no table {table}; check HUB_MES__TABLE"),
    ("no such column", ConfigError, "has no such column in {table}; check HUB_MES__COLUMNS"),
    ("not a database", SourceProtocolError, "is not an SQLite database"),
)


class MesClient:
    """Reads the MES work-order table through a read-only engine, created on first use."""

    def __init__(self, settings: MesSettings) -> None:
        self.settings = settings
        self.columns = _checked_columns(settings.columns)
        self.table_name, self.schema = _identifier(settings.table, "TABLE"), settings.db_schema
        if self.schema is not None:
            _identifier(self.schema, "DB_SCHEMA")
        self._url = _url(settings)
        self.location = _location(self._url)
        self._engine: Engine | None = None
        self._table: TableClause | None = None

    def __repr__(self) -> str:
        return f"MesClient({self.location!r})"  # never the password

    # ---------------------------------------------------------------------------------- engine

    @property
    def engine(self) -> Engine:
        """The read-only engine (built on first use; connecting happens later, per query)."""
        if self._engine is None:
            self._engine = self._guard(_read_only_engine, self._url, self.settings.timeout_s)
        return self._engine

    def close(self) -> None:
        """Dispose of the engine's connections; the next query connects again."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine, self._table = None, None

    def table(self) -> TableClause:
        """The work-order table with the mapped columns, checked against the reflected table once."""
        if self._table is None:
            self._table = self._guard(self._reflect)
        return self._table

    def check(self) -> list[str]:
        """Connect, reflect the table and check the column map; the table's column names."""
        self._table = None
        table = self.table()
        with self._guard(self.engine.connect) as conn:
            self._guard(conn.execute, select(table.c[self.columns["id"]]).limit(1))
        return [c.name for c in table.columns]

    # ------------------------------------------------------------------------------------ reads

    def page(self, after: Position | None, size: int, *, inclusive: bool = False) -> tuple[list[MesRow], Position | None]:
        """Up to `size` rows after `after` in (updated_at, id) order, as canonical name → text, and the
        last row's (updated_at, id) exactly as the database gave them (to bind in the next query)."""
        table = self.table()
        updated, ident = table.c[self.columns["updated_at"]], table.c[self.columns["id"]]
        query = (select(*(table.c[col].label(name) for name, col in self.columns.items()))
                 .where(updated.is_not(None)).order_by(updated, ident).limit(size))
        if after is not None and inclusive:
            query = query.where(updated >= after[0])
        elif after is not None:
            query = query.where(or_(updated > after[0], and_(updated == after[0], ident > after[1])))
        with self._guard(self.engine.connect) as conn:
            rows = self._guard(lambda: conn.execute(query).mappings().all())
        last = (rows[-1]["updated_at"], rows[-1]["id"]) if rows else None
        return [{name: text_of(value) for name, value in row.items()} for row in rows], last

    # ----------------------------------------------------------------------------- reflection

    def _reflect(self) -> TableClause:
        try:
            found = [c["name"] for c in inspect(self.engine).get_columns(self.table_name, schema=self.schema)]
        except NoSuchTableError:
            raise ConfigError(f"MES database {self.location} has no table {self._qualified()}; "
                              "check HUB_MES__TABLE and HUB_MES__DB_SCHEMA") from None
        if not found:  # PostgreSQL reflects a missing table as no columns
            raise ConfigError(f"MES database {self.location} has no table {self._qualified()}; "
                              "check HUB_MES__TABLE and HUB_MES__DB_SCHEMA")
        self.columns = _resolved(self.columns, found, self._qualified())
        return sql_table(self.table_name, *(sql_column(c) for c in dict.fromkeys(self.columns.values())),
                         schema=self.schema)

    def _qualified(self) -> str:
        return f"{self.schema}.{self.table_name}" if self.schema else self.table_name

    # ------------------------------------------------------------------------------ error table

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Call `fn`, translating driver errors into hub errors."""
        try:
            return fn(*args)
        except HubError:
            raise
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigError(f"HUB_MES__URL is not a usable SQLAlchemy URL ({type(exc).__name__})") from None
        except DBAPIError as exc:
            raise self.translate(exc) from exc
        except SQLAlchemyError as exc:
            raise SourceProtocolError(f"MES database {self.location}: unexpected {type(exc).__name__}") from exc

    def translate(self, exc: DBAPIError) -> HubError:
        """The hub error for a driver error; the message names the database, never the password."""
        values = {"user": self._url.username or "", "table": self._qualified(), "schema": self.schema or "",
                  "timeout": self.settings.timeout_s}
        state = str(getattr(exc.orig, "sqlstate", "") or "")
        text = str(exc.orig).lower()
        rule = next((r for r in _PG_STATES if state and state.startswith(r[0])), None) \
            or next((r for r in _MESSAGES if r[0] in text), None)
        if rule is not None:
            return rule[1](f"MES database {self.location} " + rule[2].format(**values))
        if not state or exc.connection_invalidated:  # failed before or outside a session
            return SourceUnavailable(f"MES database {self.location} is unreachable ({_reason(text)}); "
                                     "check HUB_MES__URL and the network")
        return SourceRejected(f"MES database {self.location} refused the query (SQLSTATE {state})")

# ---------------------------------------------------------------------------------------- helpers


def _identifier(value: str, setting: str) -> str:
    if not IDENTIFIER.match(value):
        raise ConfigError(f"HUB_MES__{setting} must be a plain SQL name (letters, digits, _)")
    return value


def _checked_columns(columns: dict[str, str]) -> dict[str, str]:
    bad = sorted(name for name, col in columns.items() if not (IDENTIFIER.match(name) and IDENTIFIER.match(col)))
    if bad:
        raise ConfigError(f"HUB_MES__COLUMNS: not plain SQL names for {', '.join(bad)}")
    missing = [name for name in ("id", "updated_at", "work_order_no") if name not in columns]
    if missing:
        raise ConfigError(f"HUB_MES__COLUMNS must map {', '.join(missing)}")
    return dict(columns)


def _resolved(columns: dict[str, str], found: Sequence[str], table: str) -> dict[str, str]:
    """The column map with each name as the table spells it (an exact match, else a unique case-insensitive one)."""
    out, missing = {}, []
    for name, col in columns.items():
        exact = col if col in found else None
        folded = [f for f in found if f.lower() == col.lower()]
        actual = exact or (folded[0] if len(folded) == 1 else None)
        if actual is None:
            missing.append(f"{col} (for {name})")
        else:
            out[name] = actual
    if missing:
        raise ConfigError(f"HUB_MES__COLUMNS names columns that table {table} does not have: {', '.join(missing)}; "
                          f"its columns: {', '.join(found)}")
    return out


def _url(settings: MesSettings) -> URL:
    try:
        url = make_url(settings.url.get_secret_value())
    except ArgumentError:
        raise ConfigError("HUB_MES__URL is not a valid SQLAlchemy URL") from None
    password = settings.password.get_secret_value()
    return url.set(password=password) if password else url


def _location(url: URL) -> str:
    """backend://host:port/database, or the SQLite file: what messages say, without user or password."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{url.database or ''}"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()}://{url.host or 'localhost'}{port}/{url.database or ''}"


def _read_only_engine(url: URL, timeout_s: int) -> Engine:
    """An engine whose every connection is read-only at the database."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ConfigError("HUB_MES__URL: an SQLite MES must be a file path (sqlite:///path/to/mes.db)")
        uri = "file:" + urllib.parse.quote(str(Path(path).resolve()))
        engine = create_engine(url.set(database=uri, query={"mode": "ro", "uri": "true"}), poolclass=NullPool,
                               connect_args={"timeout": timeout_s})
        event.listen(engine, "connect", _sqlite_lenient_text)
        return engine
    if backend == "postgresql":
        options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_s * 1000}"
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2,
                             connect_args={"options": options, "connect_timeout": timeout_s})
    engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
    if backend in ("mysql", "mariadb"):
        event.listen(engine, "connect", _mysql_read_only)
    else:
        log.warning("MES on %s: the hub cannot make the connection read-only; give it a read-only user", backend)
    return engine


def _sqlite_lenient_text(dbapi_connection: Any, _record: Any) -> None:
    """SQLite keeps whatever bytes a writer stored as TEXT: read those that are not UTF-8 with U+FFFD
    (as text_of reads bytes) rather than fail the whole page on one row."""
    dbapi_connection.text_factory = _lenient_text


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _mysql_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION TRANSACTION READ ONLY")
    cursor.close()


def text_of(value: Any) -> str | None:
    """A database value as text, the way the mapping reads it: ISO date-times, exact decimals."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _reason(text: str) -> str:
    for needle, reason in (("refused", "connection refused"), ("timeout", "timed out"), ("timed out", "timed out"),
                           ("could not translate host", "unknown host"), ("name or service", "unknown host")):
        if needle in text:
            return reason
    return "connection failed"
