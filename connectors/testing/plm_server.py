"""A real HTTP server simulating a Windchill / Teamcenter style PLM REST API, on loopback.

    POST /oauth/token                         client_credentials (HTTP Basic or form) → access_token
    GET  /api/v1/parts?modifiedSince=&page=&pageSize=   part revisions, oldest change first
    GET  /api/v1/parts/{number}               the part master with every revision and its state
    GET  /api/v1/parts/{number}/bom?revision= the BOM header of one revision (404: no BOM)

Every GET answers with an ETag and honours If-None-Match (304). `modifiedSince` is inclusive
(ISO 8601 with an offset). Tests inject faults into the next API calls (never the token call):

    with PlmServer(store=seed()) as plm:           # port 0: any free port
        plm.fault_next("rate_limited", retry_after_s=1)
        plm.fault_next("expired_token")           # 401 once; the presented token is revoked

    python -m connectors.testing.plm_server --port 8791     # foreground, for humans and the demo
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.testing.loopback import LoopbackServer
from connectors.testing.plm_data import PlmStore, seed

log = logging.getLogger(__name__)

DEMO_CLIENT_ID = "crm-hub"
DEMO_CLIENT_SECRET = "plm-demo-secret"
MAX_PAGE_SIZE = 500
MAX_BODY_BYTES = 64_000
FAULT_KINDS = frozenset({"expired_token", "rate_limited", "http_500", "malformed", "slow", "forbidden"})

Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


@dataclass(frozen=True)
class Fault:
    """One injected fault: its kind, how long "slow" sleeps, what Retry-After says."""

    kind: str
    delay_s: float = 5.0
    retry_after_s: int = 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    simulator: PlmServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def do_GET(self) -> None:
        """Serve an API GET."""
        self._send(self.server.simulator.handle("GET", self.path, dict(self.headers.items()), b""))

    def do_POST(self) -> None:
        """Serve the token endpoint."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= MAX_BODY_BYTES else b""
        self._send(self.server.simulator.handle("POST", self.path, dict(self.headers.items()), body))

    def _send(self, answer: Answer) -> None:
        status, headers, body = answer
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines at DEBUG instead of on stderr."""
        log.debug("plm simulator: " + format, *args)


class PlmServer(LoopbackServer):
    thread_name = "plm"

    """The simulated PLM on a background thread; `.start()`, `.base_url`, `.stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, store: PlmStore | None = None, *,
                 client_id: str = DEMO_CLIENT_ID, client_secret: str = DEMO_CLIENT_SECRET,
                 token_ttl_s: int = 3600) -> None:
        self.host, self.port = host, port
        self.store = store if store is not None else seed()
        self.token_ttl_s = token_ttl_s
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self._client = (client_id, client_secret)
        self._tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._init_lifecycle()

    # ---------------------------------------------------------------------------------- lifecycle

    def _bind(self) -> _Server:
        server = _Server((self.host, self.port), _Handler)
        server.simulator = self
        return server

    @property
    def base_url(self) -> str:
        """Where the API is served."""
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------------------------- fault injection

    def fault_next(self, kind: str, times: int = 1, delay_s: float = 5.0, retry_after_s: int = 1) -> None:
        """Answer the next `times` API calls with fault `kind`; "slow" sleeps `delay_s` first."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(sorted(FAULT_KINDS))}")
        with self._lock:
            self._faults.extend([Fault(kind, delay_s, retry_after_s)] * times)

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def call_count(self, path_prefix: str = "", method: str | None = None) -> int:
        """How many requests (under a path prefix, of one method) were received."""
        with self._lock:
            return sum(1 for m, p in self.calls if p.startswith(path_prefix) and method in (None, m))

    def expire_tokens(self) -> None:
        """Make every issued token expire now (as if the client slept past expires_in)."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    # ------------------------------------------------------------------------------------ routing

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        """One request: token endpoint or API, with faults and authentication."""
        parts = urlsplit(target)
        with self._lock:
            self.calls.append((method, parts.path))
        if method == "POST" and parts.path == "/oauth/token":
            return self._token(headers, body)
        if method != "GET" or not parts.path.startswith("/api/v1/"):
            return _error(404, "not_found", "no such resource")
        fault = self._take_fault()
        if fault is not None:
            injected = self._injected(fault, headers)
            if injected is not None:
                return injected
        if not self._authorised(headers):
            return _error(401, "invalid_token", "the access token is missing, unknown or expired",
                          {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        try:
            status, payload = self._route(parts.path, parse_qs(parts.query))
        except ValueError as exc:
            return _error(400, "invalid_request", str(exc))
        if status != 200:
            return _error(status, "not_found", "no such part or BOM")
        return _conditional(payload, headers)

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        segments = [unquote(s) for s in path.removeprefix("/api/v1/").split("/")]
        if segments == ["parts"]:
            return 200, self._parts(query)
        if len(segments) == 2 and segments[0] == "parts":
            found = self.store.part(segments[1])
            return (200, found) if found else (404, None)
        if len(segments) == 3 and segments[0] == "parts" and segments[2] == "bom":
            bom = self.store.bom(segments[1], _one(query, "revision") or "")
            return (200, bom) if bom else (404, None)
        return 404, None

    def _parts(self, query: dict[str, list[str]]) -> dict[str, Any]:
        since = _since(_one(query, "modifiedSince"))
        page = _int(_one(query, "page") or "1", "page", 1, 1_000_000)
        size = _int(_one(query, "pageSize") or "50", "pageSize", 1, MAX_PAGE_SIZE)
        items, total = self.store.page(since, page, size)
        pages = max(1, -(-total // size))
        following = page + 1 if page < pages else None
        base = f"/api/v1/parts?pageSize={size}"
        base += f"&modifiedSince={_one(query, 'modifiedSince')}" if since else ""
        links = {"self": f"{base}&page={page}"} | ({"next": f"{base}&page={following}"} if following else {})
        return {"items": items, "page": page, "pageSize": size, "totalItems": total, "totalPages": pages,
                "nextPage": following, "links": links}

    # ------------------------------------------------------------------------------------- OAuth2

    def _token(self, headers: dict[str, str], body: bytes) -> Answer:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "only client_credentials is supported")
        client_id, secret = _basic(headers) or (form.get("client_id", ""), form.get("client_secret", ""))
        expected_id, expected_secret = self._client
        if not (hmac.compare_digest(client_id.encode(), expected_id.encode())
                and hmac.compare_digest(secret.encode(), expected_secret.encode())):
            return _error(401, "invalid_client", "client authentication failed")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl_s,
                  "scope": form.get("scope", "read")}
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, _json(answer)

    def _authorised(self, headers: dict[str, str]) -> bool:
        token = _bearer(headers)
        with self._lock:
            expiry = self._tokens.get(token or "")
        return expiry is not None and time.monotonic() < expiry

    # ------------------------------------------------------------------------------------- faults

    def _take_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _injected(self, fault: Fault, headers: dict[str, str]) -> Answer | None:
        """The answer for an injected fault; None for "slow", which answers normally after sleeping."""
        if fault.kind == "slow":
            self._stopping.wait(fault.delay_s)
            return None
        if fault.kind == "expired_token":
            with self._lock:
                self._tokens.pop(_bearer(headers) or "", None)
            return _error(401, "invalid_token", "the access token expired",
                          {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'})
        if fault.kind == "rate_limited":
            return _error(429, "rate_limited", "too many requests", {"Retry-After": str(fault.retry_after_s)})
        if fault.kind == "forbidden":
            return _error(403, "forbidden", "the client may not read parts")
        if fault.kind == "malformed":
            return 200, {"Content-Type": "application/json"}, b'{"items": [{"number": "FG-HC1'
        return 500, {"Content-Type": "text/html"}, b"<html><body>500 Internal Server Error</body></html>"


# ---------------------------------------------------------------------------------------- helpers


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    body = _json({"error": code, "error_description": message})
    return status, {"Content-Type": "application/json", **(headers or {})}, body


def _conditional(payload: Any, headers: dict[str, str]) -> Answer:
    """200 with an ETag, or 304 when If-None-Match names the same one."""
    body = _json(payload)
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    asked = {t.strip() for t in _header(headers, "If-None-Match").split(",") if t.strip()}
    if etag in asked or "*" in asked:
        return 304, {"ETag": etag}, b""
    return 200, {"Content-Type": "application/json; charset=utf-8", "ETag": etag}, body


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = _header(headers, "Authorization").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _basic(headers: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, encoded = _header(headers, "Authorization").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user), unquote(password)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _since(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("modifiedSince: not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ValueError("modifiedSince: needs an offset (Z or +08:00)")
    return moment


def _int(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name}: must be {low}..{high}")
    return int(text)


def main(argv: list[str] | None = None) -> None:
    """Run the simulator in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description="Simulated PLM REST API for the CRM hub")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--no-bad-rows", action="store_true",
                        help="leave out the rows that must be dead-lettered")
    parser.add_argument("--extra-parts", type=int, default=0, help="filler parts, for paging")
    args = parser.parse_args(argv)
    store = seed(bad_rows=not args.no_bad_rows, extra_parts=args.extra_parts)
    server = PlmServer(args.host, args.port, store)
    server.start()
    print(f"PLM simulator at {server.base_url}; part revisions: {server.store.count()}")
    print(f"  HUB_PLM__BASE_URL={server.base_url} HUB_PLM__CLIENT_ID={DEMO_CLIENT_ID} "
          f"HUB_PLM__CLIENT_SECRET={DEMO_CLIENT_SECRET}")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
