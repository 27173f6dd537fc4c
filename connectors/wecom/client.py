"""The WeCom API client: the only module of the package that imports httpx, and owns the error table.

Access tokens are cached per app until `refresh_margin_s` before they expire; when many threads
need a new one at once, one of them calls gettoken and the others wait for it (a lock per app).
A call answered with 40014 / 42001 / 40001 / 41001 drops that token and is retried once with a
new one. Rate limits (45009, 45011, 45033) and "system busy" (-1), network failures and HTTP 5xx
are retried with exponential backoff, a bounded number of times.

Secrets and tokens travel in query strings (WeCom wants them there), so httpx's request log is
filtered: `corpsecret`, `access_token` and `key` values are replaced by `***` before any handler
sees them, and no error text of this module contains a URL, a secret, a token or a body.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from connectors.wecom.errors import WecomAuthError, WecomRejected, WecomUnavailable
from hub.core.errors import ConfigError, HubError, SourceProtocolError

log = logging.getLogger(__name__)

MAX_USERS = 100                 # getcheckindata: at most 100 userids per call
MAX_SPAN_S = 30 * 86400         # getcheckindata: at most 30 days between starttime and endtime
RATE_LIMITED = frozenset({-1, 45009, 45011, 45033})
TOKEN_REJECTED = frozenset({40014, 42001, 40001, 41001})
BAD_CORP_ID = frozenset({40013})
BAD_SECRET = frozenset({40001, 40091})
NO_PRIVILEGE = {60011: "the app has no privilege for this data", 48002: "the API is forbidden for the app",
                60020: "the hub's IP address is not a trusted IP of the app", 48009: "the API is not allowed"}
NOT_RELATED = 84061  # externalcontact/get: no employee follows this contact (any more)
_HINT = re.compile(r"hint: \[([A-Za-z0-9_-]{1,64})\]")
_QUERY_SECRET = re.compile(r"(?i)\b(access_token|corpsecret|secret|key)=[^&\s\"'>]*")


class RedactQuery(logging.Filter):
    """Replace secret query values in a log record's message (httpx logs whole URLs at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with `name=***`; always lets it through."""
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def redact(text: str) -> str:
    """Text with the values of access_token, corpsecret, secret and key query parameters hidden."""
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}=***", text)


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(RedactQuery())


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float  # monotonic time after which a new one is fetched


class _TokenRejected(Exception):
    """Internal: the access token was refused; drop it and try once more."""

    def __init__(self, errcode: int) -> None:
        super().__init__(errcode)
        self.errcode = errcode


class WecomClient:
    """Calls WeCom's server API for several apps of one corp, each with its own secret and token."""

    def __init__(self, base_url: str, corp_id: str, secrets: Mapping[str, SecretStr], *,
                 setting_names: Mapping[str, str] | None = None, timeout_s: float = 10.0, retries: int = 3,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0, refresh_margin_s: float = 300.0,
                 transport: httpx.BaseTransport | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("HUB_WECOM__API_BASE_URL must be an http:// or https:// URL")
        self.base_url, self.corp_id = base_url.rstrip("/"), corp_id
        self._secrets = dict(secrets)
        self._setting_names = dict(setting_names or {})
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.refresh_margin_s = refresh_margin_s
        self._clock, self._sleep = clock, sleep
        self._tokens: dict[str, _Token] = {}
        self._locks = {app: threading.Lock() for app in self._secrets}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport,
                                  headers={"User-Agent": "crm-hub-wecom"})
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"WecomClient({self.base_url!r}, corp_id={self.corp_id!r}, apps={sorted(self._secrets)})"

    # ------------------------------------------------------------------------------ operations

    def check(self, app: str) -> None:
        """Get a token for `app`: proves the address, the corp id and the app's secret."""
        self.token(app)

    def checkin_data(self, userids: list[str], start: int, end: int, kind: int = 3) -> list[dict[str, Any]]:
        """Check-ins of ≤ 100 users between two Unix times (both included, ≤ 30 days apart)."""
        if not 0 < len(userids) <= MAX_USERS or not 0 <= end - start <= MAX_SPAN_S:
            raise ValueError(f"getcheckindata takes 1..{MAX_USERS} users and at most 30 days")
        body = {"opencheckindatatype": kind, "starttime": start, "endtime": end, "useridlist": userids}
        path = "/cgi-bin/checkin/getcheckindata"
        return _rows(self.call("checkin", "POST", path, body=body), "checkindata", path)

    def approval_detail(self, sp_no: str) -> dict[str, Any]:
        """The approval (审批单) with this number, as oa/getapprovaldetail's `info`."""
        data = self.call("approval", "POST", "/cgi-bin/oa/getapprovaldetail", body={"sp_no": sp_no})
        info = data.get("info")
        if not isinstance(info, dict):
            raise SourceProtocolError("oa/getapprovaldetail answered without info")
        return info

    def external_contact(self, external_userid: str) -> dict[str, Any]:
        """An external contact with every follow_user (externalcontact/get, following next_cursor)."""
        params, follow, contact = {"external_userid": external_userid}, [], None
        for _page in range(100):
            data = self.call("contact", "GET", "/cgi-bin/externalcontact/get", params=params)
            contact = data.get("external_contact")
            follow += _rows(data, "follow_user", "externalcontact/get")
            if not data.get("next_cursor"):
                break
            params = {"external_userid": external_userid, "cursor": str(data["next_cursor"])}
        if not isinstance(contact, dict):
            raise SourceProtocolError("externalcontact/get answered without external_contact")
        return {"external_contact": contact, "follow_user": follow}

    def user_ids(self) -> list[dict[str, Any]]:
        """Every member's userid and department (user/list_id, following next_cursor)."""
        body: dict[str, Any] = {"limit": 10000}
        members: list[dict[str, Any]] = []
        for _page in range(1000):
            data = self.call("directory", "POST", "/cgi-bin/user/list_id", body=body)
            members += [m for m in _rows(data, "dept_user", "user/list_id") if isinstance(m, dict)]
            if not data.get("next_cursor"):
                return members
            body = {"limit": 10000, "cursor": str(data["next_cursor"])}
        raise SourceProtocolError("user/list_id kept returning a next_cursor")

    def send_webhook(self, key: SecretStr, payload: dict[str, Any]) -> None:
        """Post one group-robot message; 45009 is raised at once (the robot backs off itself)."""
        params = {"key": key.get_secret_value()}
        self._request("POST", "/cgi-bin/webhook/send", params, payload, app="robot", retries=0)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # ---------------------------------------------------------------------------------- tokens

    def token(self, app: str) -> str:
        """A valid access token of `app`; one gettoken call however many threads ask at once."""
        cached = self._tokens.get(app)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        with self._lock(app):
            cached = self._tokens.get(app)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            fresh = self._fetch_token(app)
            self._tokens[app] = fresh
            return fresh.value

    def _fetch_token(self, app: str) -> _Token:
        secret = self._secrets[app].get_secret_value()
        if not self.corp_id or not secret:
            raise ConfigError(f"WeCom app {app!r} is not configured; set HUB_WECOM__CORP_ID and "
                              f"{self._setting(app)}")
        params = {"corpid": self.corp_id, "corpsecret": secret}
        started = self._clock()
        data = self._request("GET", "/cgi-bin/gettoken", params, None, app=app, getting_token=True)
        value, expires_in = data.get("access_token"), data.get("expires_in", 7200)
        if not isinstance(value, str) or not value or not isinstance(expires_in, int):
            raise SourceProtocolError("gettoken answered without access_token / expires_in")
        log.info("WeCom access token for app %s obtained, valid %d s", app, expires_in)
        return _Token(value, started + max(expires_in - self.refresh_margin_s, expires_in / 2))

    def _drop_token(self, app: str, value: str) -> None:
        """Forget `value` if it is still the cached token (a newer one fetched meanwhile stays)."""
        with self._lock(app):
            cached = self._tokens.get(app)
            if cached is not None and cached.value == value:
                del self._tokens[app]

    def _lock(self, app: str) -> threading.Lock:
        if app not in self._locks:
            raise ConfigError(f"unknown WeCom app {app!r}; apps: {', '.join(sorted(self._locks))}")
        return self._locks[app]

    # --------------------------------------------------------------------------------- calling

    def call(self, app: str, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call an API of `app` with its token; a refused token is replaced and the call retried once."""
        for attempt in (1, 2):
            token = self.token(app)
            try:
                return self._request(method, path, {**(params or {}), "access_token": token}, body, app=app)
            except _TokenRejected as rejected:
                self._drop_token(app, token)
                log.info("WeCom refused the access token of app %s (errcode %d); getting a new one",
                         app, rejected.errcode)
                if attempt == 2:
                    raise WecomAuthError(f"WeCom refused a fresh access token of app {app!r} for {path} "
                                         f"(errcode {rejected.errcode}); check {self._setting(app)}",
                                         rejected.errcode) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None, *,
                 app: str, retries: int | None = None, getting_token: bool = False) -> dict[str, Any]:
        """One API call with backoff on rate limits and transport failures; errcodes translated."""
        attempts = (self.retries if retries is None else retries) + 1
        for attempt in range(1, attempts + 1):
            try:
                data = self._send(method, path, params, body)
            except WecomUnavailable as exc:
                if attempt == attempts:
                    raise
                self._back_off(attempt, path, str(exc))
                continue
            errcode = _errcode(data)
            if errcode == 0:
                return data
            if errcode in RATE_LIMITED and attempt < attempts:
                self._back_off(attempt, path, f"errcode {errcode}")
                continue
            raise self._translate(errcode, path, app, data, getting_token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
        """One HTTP exchange → the JSON object; transport failures and 5xx become WecomUnavailable."""
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise WecomUnavailable(f"WeCom did not answer {path} within {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:  # from None: httpx errors may carry the URL with the secret
            raise WecomUnavailable(f"WeCom at {self.base_url} is unreachable ({type(exc).__name__}) "
                                   f"during {path}; check HUB_WECOM__API_BASE_URL and the network") from None
        if response.status_code >= 500:
            raise WecomUnavailable(f"WeCom answered {path} with HTTP {response.status_code}")
        if response.status_code >= 400:
            raise WecomRejected(f"WeCom answered {path} with HTTP {response.status_code}; "
                                "check HUB_WECOM__API_BASE_URL")
        try:  # orjson: refuses invalid UTF-8, lone surrogates and nesting json would recurse into
            data = orjson.loads(response.content)
        except ValueError:
            raise SourceProtocolError(f"WeCom answered {path} with something that is not JSON") from None
        if not isinstance(data, dict):
            raise SourceProtocolError(f"WeCom answered {path} with JSON that is not an object")
        return data

    def _back_off(self, attempt: int, path: str, why: str) -> None:
        delay = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        log.warning("WeCom %s: %s; retrying in %.1f s (attempt %d of %d)", path, why, delay, attempt,
                    self.retries + 1)
        self._sleep(delay)

    # ------------------------------------------------------------------------------ error table

    def _translate(self, errcode: int, path: str, app: str, data: dict[str, Any],
                   getting_token: bool) -> HubError | _TokenRejected:
        """The hub error for a non-zero errcode; the text names the errcode and what to check."""
        hint = _hint(data)
        if errcode in BAD_CORP_ID:
            return WecomAuthError(f"WeCom refused the corp id (errcode {errcode}{hint}); "
                                  "check HUB_WECOM__CORP_ID", errcode)
        if getting_token and errcode in BAD_SECRET:
            return WecomAuthError(f"WeCom refused the secret of app {app!r} (errcode {errcode}{hint}); "
                                  f"check {self._setting(app)}", errcode)
        if not getting_token and errcode in TOKEN_REJECTED:
            return _TokenRejected(errcode)
        if errcode in NO_PRIVILEGE:
            return WecomAuthError(f"WeCom refused {path} for app {app!r}: {NO_PRIVILEGE[errcode]} "
                                  f"(errcode {errcode}{hint})", errcode)
        if errcode in RATE_LIMITED:
            return WecomUnavailable(f"WeCom kept rate-limiting {path} (errcode {errcode}{hint})", errcode)
        if errcode == 93000 and app == "robot":
            return WecomAuthError(f"WeCom refused the robot webhook key (errcode {errcode}); "
                                  "check HUB_WECOM__ROBOT_KEYS", errcode)
        return WecomRejected(f"WeCom refused {path} (errcode {errcode}{hint})", errcode)

    def _setting(self, app: str) -> str:
        return self._setting_names.get(app, f"HUB_WECOM__{app.upper()}_SECRET")


def _rows(data: dict[str, Any], name: str, path: str) -> list[Any]:
    """The array `name` of an answer ([] when absent or empty); SourceProtocolError when it is not an array."""
    rows = data.get(name)
    if not rows:
        return []
    if not isinstance(rows, list):
        raise SourceProtocolError(f"WeCom answered {path} with a {name} that is not a list", field=name)
    return rows


def _errcode(data: dict[str, Any]) -> int:
    code = data.get("errcode", 0)
    if not isinstance(code, int) or isinstance(code, bool):
        raise SourceProtocolError("WeCom answered with an errcode that is not a number")
    return code


def _hint(data: dict[str, Any]) -> str:
    """WeCom's opaque support hint from errmsg (the rest of errmsg is not repeated: it may echo input)."""
    found = _HINT.search(str(data.get("errmsg") or ""))
    return f", hint {found.group(1)}" if found else ""
