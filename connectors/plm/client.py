"""The PLM REST client: the only module that imports httpx, and owns the error table.

OAuth2 client credentials: the token is fetched on first use, renewed `refresh_margin_s` before
it expires, and once more when the API answers 401 (a token revoked early). Rate limits (429)
are waited out for as long as `Retry-After` says, up to `max_retry_after_s`; 5xx, timeouts and
connection failures are retried with exponential backoff. Messages never carry the secret, the
token or response bodies.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
import tenacity
from pydantic import SecretStr

from hub.core.errors import (
    ConfigError,
    HubError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
    is_retriable,
)

log = logging.getLogger(__name__)

PARTS_PATH = "/api/v1/parts"
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750 b64token: what a Bearer header can carry
REJECTED_STATUSES = frozenset({400, 404, 409, 422})
USER_AGENT = "crm-hub-plm/1.0"


class RateLimited(SourceUnavailable):
    """HTTP 429: the PLM asks to wait `retry_after_s` seconds (None: it did not say)."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class PartsPage:
    """One page of part revisions, the number of the next page (None: last) and the page's ETag."""

    items: list[dict[str, Any]]
    next_page: int | None
    etag: str | None


@dataclass
class _Token:
    value: str
    renew_at: float  # monotonic seconds


class PlmClient:
    """An OAuth2 (client credentials) JSON client of the PLM's REST API; connects on first use."""

    def __init__(self, base_url: str, client_id: str, client_secret: str | SecretStr, *, token_url: str = "",
                 scope: str = "", timeout_s: float = 15.0, retries: int = 3, max_retry_after_s: float = 30.0,
                 refresh_margin_s: float = 60.0, backoff_s: float = 0.2, max_backoff_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = _http_url(base_url, "HUB_PLM__BASE_URL").rstrip("/")
        default_token_url = self.base_url + "/oauth/token"
        self.token_url = _http_url(token_url, "HUB_PLM__TOKEN_URL") if token_url else default_token_url
        self.address = _address(self.base_url)
        self.client_id, self.scope = client_id, scope
        self._secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self.timeout_s, self.retries, self.max_retry_after_s = timeout_s, retries, max_retry_after_s
        self.refresh_margin_s, self.backoff_s, self.max_backoff_s = refresh_margin_s, backoff_s, max_backoff_s
        self._clock = clock
        self._http: httpx.Client | None = None
        self._token: _Token | None = None
        self.token_fetches = 0

    def __repr__(self) -> str:
        return f"PlmClient({self.base_url!r}, client_id={self.client_id!r})"  # never the secret

    # ------------------------------------------------------------------------------ operations

    def ping(self) -> int:
        """Fetch a token and one part: proves the address, the credentials and the API; the part count."""
        answer = self._json(self._get(PARTS_PATH, {"page": 1, "pageSize": 1}), "parts")
        try:
            return int(answer.get("totalItems") or 0)
        except (TypeError, ValueError):
            raise SourceProtocolError("PLM parts answer has a totalItems that is not a number",
                                      field="totalItems") from None

    def parts(self, modified_since: str | None, page: int, page_size: int,
              etag: str | None = None) -> PartsPage | None:
        """One page of part revisions changed at or after `modified_since`; None when the ETag still holds."""
        params: dict[str, Any] = {"page": page, "pageSize": page_size}
        if modified_since:
            params["modifiedSince"] = modified_since
        response = self._get(PARTS_PATH, params, etag=etag)
        if response.status_code == 304:
            return None
        answer = self._json(response, "parts")
        items = answer.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SourceProtocolError("PLM parts answer has no list of items", field="items")
        return PartsPage(items, _next_page(answer, page), _etag(response.headers.get("ETag")))

    def part(self, number: str) -> dict[str, Any] | None:
        """The part master with every revision and its lifecycle state; None when the PLM has no such part."""
        return self._optional(f"{PARTS_PATH}/{quote(number, safe='')}", {}, "part")

    def bom(self, number: str, revision: str) -> dict[str, Any] | None:
        """The BOM header of one revision; None when the revision has no BOM (bought-in parts)."""
        return self._optional(f"{PARTS_PATH}/{quote(number, safe='')}/bom", {"revision": revision}, "bom")

    def close(self) -> None:
        """Close the HTTP connections; the next call connects (and fetches a token) again."""
        if self._http is not None:
            self._http.close()
        self._http, self._token = None, None

    # --------------------------------------------------------------------------------- plumbing

    def _optional(self, path: str, params: dict[str, Any], what: str) -> dict[str, Any] | None:
        response = self._get(path, params, missing_ok=True)
        return None if response.status_code == 404 else self._json(response, what)

    def _get(self, path: str, params: dict[str, Any], *, etag: str | None = None,
             missing_ok: bool = False) -> httpx.Response:
        """GET with a valid token, retrying what may pass (429 honouring Retry-After, 5xx, network)."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self._retry_now),
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=self._wait,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(self._get_once, path, params, etag, missing_ok)

    def _get_once(self, path: str, params: dict[str, Any], etag: str | None,
                  missing_ok: bool) -> httpx.Response:
        """One GET; a 401 renews the token and tries exactly once more."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._send(path, params, headers)
        if response.status_code == 401:
            self._token = None  # revoked or expired early: one fresh token, one more try
            response = self._send(path, params, headers)
        if missing_ok and response.status_code == 404:
            return response
        return self._checked(response, path)

    def _send(self, path: str, params: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self._access_token()}"}
        return self._request("GET", self.base_url + path, params=params, headers={**headers, **auth})

    def _access_token(self) -> str:
        """The current token, fetched again when it is within the refresh margin of its expiry."""
        if self._token is None or self._clock() >= self._token.renew_at:
            self._token = self._fetch_token()
        return self._token.value

    def _fetch_token(self) -> _Token:
        form = {"grant_type": "client_credentials"} | ({"scope": self.scope} if self.scope else {})
        secret = quote(self._secret.get_secret_value(), safe="")
        auth = httpx.BasicAuth(quote(self.client_id, safe=""), secret)
        response = self._request("POST", self.token_url, data=form, auth=auth)
        if response.status_code in (400, 401, 403):
            raise SourceAuthError(f"PLM refused the client credentials of client {self.client_id!r} "
                                  f"(HTTP {response.status_code}); check HUB_PLM__CLIENT_ID and "
                                  "HUB_PLM__CLIENT_SECRET")
        answer = self._json(self._checked(response, "/oauth/token"), "token")
        value, expires_in = answer.get("access_token"), answer.get("expires_in", 3600)
        if not isinstance(value, str) or not _TOKEN.fullmatch(value) or not isinstance(expires_in, int | float):
            raise SourceProtocolError("PLM token answer lacks a usable access_token or expires_in",
                                      field="access_token")
        self.token_fetches += 1
        lifetime = max(float(expires_in) - self.refresh_margin_s, 0.0)
        return _Token(value, self._clock() + lifetime)

    def _request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """One HTTP exchange; transport failures become SourceUnavailable."""
        try:
            return self._client().request(method, url, **options)
        except httpx.TimeoutException:
            raise SourceUnavailable(
                f"PLM at {self.address} did not answer within {self.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"PLM at {self.address} is unreachable ({_reason(exc)}); "
                                    "check HUB_PLM__BASE_URL and the network") from None

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=httpx.Timeout(self.timeout_s), follow_redirects=False,
                                      headers={"Accept": "application/json", "User-Agent": USER_AGENT})
        return self._http

    # ------------------------------------------------------------------------------ error table

    def _checked(self, response: httpx.Response, path: str) -> httpx.Response:
        """The response when it is 2xx or 304; otherwise the hub error for its status."""
        status = response.status_code
        if 200 <= status < 300 or status == 304:
            return response
        if status == 401:
            return _raise(SourceAuthError(f"PLM refused the access token of client {self.client_id!r} even "
                                          "after renewing it (HTTP 401); check the client's API permissions"))
        if status == 403:
            return _raise(SourceAuthError(f"PLM client {self.client_id!r} may not read {_kind(path)} "
                                          "(HTTP 403); ask the PLM administrators for read access"))
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"))
            return _raise(RateLimited(f"PLM at {self.address} is rate limiting {_kind(path)} (HTTP 429"
                                      + (f", retry after {wait:g} s)" if wait is not None else ")"), wait))
        if status >= 500:
            return _raise(SourceUnavailable(
                f"PLM at {self.address} answered {_kind(path)} with HTTP {status}"))
        if status in REJECTED_STATUSES:
            return _raise(SourceRejected(f"PLM rejected the {_kind(path)} request (HTTP {status})"))
        return _raise(SourceProtocolError(f"PLM answered {_kind(path)} with unexpected HTTP {status}"))

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON object of a response; anything else is a SourceProtocolError (the body is not quoted).

        orjson, not `response.json()`: it refuses invalid UTF-8, lone surrogate escapes (text no event
        could carry) and nesting deeper than 1024 levels, where the json module hits the recursion limit.
        """
        try:
            answer = orjson.loads(response.content)
        except ValueError:
            raise SourceProtocolError(f"PLM at {self.address} sent malformed JSON for {what}") from None
        if not isinstance(answer, dict):
            raise SourceProtocolError(f"PLM at {self.address} sent JSON that is not an object for {what}")
        return answer

    # ---------------------------------------------------------------------------------- retries

    def _retry_now(self, exc: BaseException) -> bool:
        """Retry transient failures; a Retry-After longer than allowed is left to the next sync."""
        if isinstance(exc, RateLimited) and (exc.retry_after_s or 0) > self.max_retry_after_s:
            return False
        return is_retriable(exc)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Retry-After when the PLM gave one, exponential backoff otherwise."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self.max_retry_after_s)
        backoff: float = tenacity.wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s)(state)
        return backoff


# ---------------------------------------------------------------------------------- module helpers


def _raise(exc: HubError) -> httpx.Response:
    raise exc


def _http_url(url: str, setting: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{setting} must be an http:// or https:// URL")
    return url


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _kind(path: str) -> str:
    """What a path reads, for messages: "parts", "part", "BOM" or "token"."""
    if path.endswith("/bom"):
        return "BOM"
    if path.endswith("/oauth/token"):
        return "token"
    return "parts" if path.rstrip("/").endswith("/parts") else "part"


def _next_page(answer: dict[str, Any], page: int) -> int | None:
    """`nextPage`, or the page after this one when only `links.next` says there is one."""
    following = answer.get("nextPage")
    if isinstance(following, int) and following > page:
        return following
    if following is None and isinstance(answer.get("links"), dict) and answer["links"].get("next"):
        return page + 1
    return None


def _etag(value: str | None) -> str | None:
    """An ETag that can go back in If-None-Match (printable ASCII); None for anything else."""
    return value if value and value.isascii() and value.isprintable() else None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdecimal():  # not isdigit(): "²" is a digit that float() refuses
        return float(value.strip())
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    for needle, reason in (("refused", "connection refused"), ("name or service", "unknown host"),
                           ("nodename", "unknown host"), ("reset", "connection reset"),
                           ("disconnected", "server closed the connection")):
        if needle in text:
            return reason
    return type(exc).__name__


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("PLM call failed (attempt %d), retrying: %s", state.attempt_number, exc)
