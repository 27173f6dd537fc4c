"""Sign-in, sessions, roles and CSRF for the steward pages.

- Session: a signed cookie (itsdangerous, via Starlette's session middleware) scoped to the
  steward path: HttpOnly, SameSite=Lax, Secure when configured (or, on `auto`, over https).
  It holds the user name, when they signed in, a stamp of their password (a new password ends
  older sessions), the CSRF token and the language. The user row is read on every request, so a
  disabled user or a changed role takes effect at once.
- Reverse proxy: `X-Remote-User` / `X-Remote-Role` are believed only from `trusted_proxies`.
- Roles: viewer < steward < admin.
- CSRF: one random token per session, in every form; every POST must send it back (form field
  `csrf_token` or header `X-CSRF-Token`), compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.app.steward_settings import ROLES, WebSettings
from hub.app.users import get_user, session_stamp
from hub.core.db import Database

SESSION_COOKIE = "hub_steward"
RANK = {role: n for n, role in enumerate(ROLES, start=1)}


class NotSignedIn(Exception):
    """The request needs a signed-in user."""


class Forbidden(Exception):
    """The user's role does not allow this."""


class CsrfRejected(Exception):
    """A POST without the session's CSRF token."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: their name (it goes into audit rows), role and how they signed in."""

    name: str
    role: str
    via: str  # password | proxy

    def can(self, role: str) -> bool:
        """True when the principal's role is `role` or above."""
        return RANK.get(self.role, 0) >= RANK[role]


class ScopedSessions:
    """Starlette's signed-cookie sessions, but only under one path prefix (other routers never see them)."""

    def __init__(self, app: ASGIApp, prefix: str, settings: WebSettings, secure: bool) -> None:
        self.app = app
        self.prefix = prefix
        self.sessions = SessionMiddleware(app, secret_key=settings.signing_key(), session_cookie=SESSION_COOKIE,
                                          max_age=settings.session_max_age_s, path=prefix, same_site="lax",
                                          https_only=secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"] == self.prefix or scope["path"].startswith(self.prefix + "/")):
            await self.sessions(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class AutoSecureSessions:
    """Two session middlewares: the Secure one for https requests, the other for plain http (cookie_secure=auto)."""

    def __init__(self, app: ASGIApp, prefix: str, settings: WebSettings) -> None:
        self.secure = ScopedSessions(app, prefix, settings, True)
        self.plain = ScopedSessions(app, prefix, settings, False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.secure if scope.get("scheme") == "https" else self.plain
        await target(scope, receive, send)


def install_sessions(app: Any, prefix: str, settings: WebSettings) -> None:
    """Add the session middleware for `prefix` as the settings say (Secure always, never or on https)."""
    if settings.cookie_secure == "auto":
        app.add_middleware(AutoSecureSessions, prefix=prefix, settings=settings)
    else:
        app.add_middleware(ScopedSessions, prefix=prefix, settings=settings,
                           secure=settings.cookie_secure == "always")


# -- who is asking ------------------------------------------------------------------------------

def _from_trusted_proxy(request: Request, settings: WebSettings) -> bool:
    if not settings.trusted_proxies or request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in settings.networks())


def proxy_principal(request: Request, settings: WebSettings) -> Principal | None:
    """The user a trusted reverse proxy names in its headers, or None."""
    if not _from_trusted_proxy(request, settings):
        return None
    name = request.headers.get(settings.proxy_user_header, "").strip()
    if not name or len(name) > 128:
        return None
    role = request.headers.get(settings.proxy_role_header, "").strip().lower()
    return Principal(name, role if role in RANK else settings.proxy_default_role, "proxy")


def session_principal(request: Request, db: Database, settings: WebSettings) -> Principal | None:
    """The user of the session when it is still valid (user enabled, same password, not expired)."""
    session = request.session
    name = session.get("user")
    if not isinstance(name, str):
        return None
    if time.time() - float(session.get("since", 0)) > settings.session_max_age_s:
        session.pop("user", None)
        return None
    with db.reading() as s:
        user = get_user(s, name)
        if user is None or user.disabled or session_stamp(user) != session.get("stamp"):
            session.pop("user", None)
            return None
        return Principal(user.name, user.role, "password")


def principal(request: Request, db: Database, settings: WebSettings) -> Principal | None:
    """Who is asking: the trusted proxy's user, else the session's, else nobody."""
    found = proxy_principal(request, settings)
    if found is not None:
        if request.session.get("proxy_user") != found.name:  # another person behind the proxy: fresh session
            language = request.session.get("lang")
            request.session.clear()
            request.session.update({"proxy_user": found.name, "csrf": secrets.token_urlsafe(32)})
            if language:
                request.session["lang"] = language
        return found
    return session_principal(request, db, settings)


def sign_in(request: Request, name: str, stamp: str) -> None:
    """A fresh session for the user (new CSRF token: nothing from before the sign-in carries over)."""
    language = request.session.get("lang")
    request.session.clear()
    request.session.update({"user": name, "stamp": stamp, "since": time.time(), "csrf": secrets.token_urlsafe(32)})
    if language:
        request.session["lang"] = language


def sign_out(request: Request) -> None:
    """End the session (the language choice stays)."""
    language = request.session.get("lang")
    request.session.clear()
    if language:
        request.session["lang"] = language


# -- CSRF ---------------------------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    """Raise CsrfRejected unless `sent` (form field or header) is the session's token."""
    expected = request.session.get("csrf")
    given = sent or request.headers.get("x-csrf-token", "")
    if not isinstance(expected, str) or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected()


# -- sign-in throttling -------------------------------------------------------------------------

class Throttle:
    """At most `attempts` failed sign-ins per user name and per client address in `window_s`."""

    def __init__(self, attempts: int, window_s: float = 900.0) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, at: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] < at - self.window_s:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        """True while any key had too many recent failures."""
        at = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, at)) >= self.attempts for k in keys)

    def failed(self, *keys: str) -> None:
        """Count a failed attempt against every key."""
        at = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, at).append(at)
            if len(self._failures) > 10_000:  # bounded memory under a spray of names
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of these keys."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
