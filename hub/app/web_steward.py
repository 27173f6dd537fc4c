"""The data steward's pages under `/steward`: review queue, pair decision, golden record, search, sign-in.

    GET  /steward/queue                   open pairs oldest first; filters entity, source, region, score, overdue
    GET  /steward/pairs/{id}              both records side by side, the golden record they would make,
                                          the match explanation; merge (m) / not a duplicate (n) / skip (s)
    POST /steward/pairs/{id}/merge        steward+: merge through mdm.steward (audit + outbox, one transaction)
    POST /steward/pairs/{id}/reject       steward+: "not a duplicate"
    GET  /steward/golden/{golden_id}      members (cross-reference), code, aliases, findings, history
    POST /steward/golden/{id}/split       steward+: a member leaves into a golden record of its own
    POST /steward/golden/{id}/unmerge     steward+: undo a merge
    GET|POST /steward/search              search terms travel in the POST body, never in a URL
    GET|POST /steward/login, POST /steward/logout

Ids in URLs are opaque (pair numbers, golden UUIDs): no names, phones or credit codes in URLs or
logs. Every POST carries the session's CSRF token. `install` is the web app's installer.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hub.app import steward_actions as actions
from hub.app import steward_queries as queries
from hub.app.steward_i18n import CATALOGUE, Translator, negotiate
from hub.app.steward_settings import WebSettings, web_settings
from hub.app.users import authenticate, session_stamp
from hub.app.web_auth import (
    CsrfRejected,
    Forbidden,
    NotSignedIn,
    Principal,
    Throttle,
    check_csrf,
    csrf_token,
    install_sessions,
    principal,
    sign_in,
    sign_out,
)
from hub.core.errors import HubError
from mdm.models import Pair
from mdm.rules import Rules, load_rules

if TYPE_CHECKING:
    from hub.app.web import AppContext

log = logging.getLogger(__name__)

PREFIX = "/steward"
HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
PAGE_SIZE = 50
SECURITY_HEADERS = {
    # Everything is served from here: no CDN, no inline script or style.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show customer data: not for shared caches or the back-forward cache
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)
FormText = Annotated[str, Form()]
RulesFor = Callable[[str], Rules]


@dataclass
class Steward:
    """What the steward routes share: the app context, web settings, templates, sign-in throttle, rules."""

    context: AppContext
    settings: WebSettings
    templates: Jinja2Templates
    throttle: Throttle
    rules_for: RulesFor
    zone: dt.tzinfo

    def sla(self, entity: str) -> float:
        """The review SLA of an entity in hours."""
        return self.settings.sla_for(entity)


def installer(settings: WebSettings | None = None, *,
              rules_for: RulesFor = load_rules) -> Callable[[FastAPI, AppContext], None]:
    """An installer with explicit web settings (tests); `install` reads them from the environment."""
    def install_with(app: FastAPI, context: AppContext) -> None:
        ws = settings or web_settings(context.settings)
        templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
        app.state.steward = Steward(context, ws, templates, Throttle(ws.login_attempts), rules_for, _zone())
        install_sessions(app, PREFIX, ws)
        app.mount(PREFIX + "/static", StaticFiles(directory=str(STATIC_DIR)), name="steward-static")
        app.add_exception_handler(NotSignedIn, _not_signed_in)
        app.add_exception_handler(Forbidden, _forbidden)
        app.add_exception_handler(CsrfRejected, _csrf_rejected)
        app.include_router(router)
    return install_with


def install(app: FastAPI, context: AppContext) -> None:
    """The web app's installer: the steward pages with `HUB_WEB__…` settings."""
    installer()(app, context)


def _zone() -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo("Asia/Shanghai")
    except zoneinfo.ZoneInfoNotFoundError:  # no tz database: China has had no DST since 1991
        return dt.timezone(dt.timedelta(hours=8))


# -- dependencies -------------------------------------------------------------------------------

def _steward(request: Request) -> Steward:
    steward: Steward = request.app.state.steward
    return steward


def need(role: str) -> Callable[[Request], Principal]:
    """A dependency: the signed-in principal, at least `role`."""
    def dependency(request: Request) -> Principal:
        st = _steward(request)
        who = principal(request, st.context.db, st.settings)
        if who is None:
            raise NotSignedIn()
        request.state.principal = who
        if not who.can(role):
            raise Forbidden()
        return who
    return dependency


def csrf(request: Request, csrf_token: FormText = "") -> None:
    """A dependency of every POST: the form (or header) carries the session's CSRF token."""
    check_csrf(request, csrf_token)




# -- rendering ----------------------------------------------------------------------------------

def language(request: Request, settings: WebSettings) -> str:
    """?lang= (remembered in the session), else the session's choice, else Accept-Language, else the default."""
    asked = request.query_params.get("lang")
    if asked in CATALOGUE:
        request.session["lang"] = asked
        return asked
    chosen = request.session.get("lang")
    if chosen in CATALOGUE:
        return str(chosen)
    return negotiate(request.headers.get("accept-language"), settings.default_language)


def _age(t: Translator, moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    seconds = max(0.0, (queries.now() - (queries.utc(moment) or queries.now())).total_seconds())
    if seconds < 3600:
        return t("age.minutes", n=int(seconds // 60))
    if seconds < 2 * 86400:
        return t("age.hours", n=int(seconds // 3600))
    return t("age.days", n=int(seconds // 86400))


def _time_formatter(zone: dt.tzinfo) -> Callable[[dt.datetime | None], str]:
    def fmt(moment: dt.datetime | None) -> str:
        moment = queries.utc(moment)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""
    return fmt


def _switch_url(request: Request, lang: str) -> str:
    """The current page in the other language (same path and parameters)."""
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    params["lang"] = "en" if lang == "zh" else "zh"
    return f"{request.url.path}?{urlencode(params)}"


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page of templates/steward/ with the common context (user, language, CSRF token, flash)."""
    st = _steward(request)
    lang = language(request, st.settings)
    t = Translator(lang)
    who: Principal | None = getattr(request.state, "principal", None)
    base = {"t": t, "lang": lang, "user": who, "csrf": csrf_token(request), "prefix": PREFIX,
            "flash": request.session.pop("flash", None), "can_decide": bool(who and who.can("steward")),
            "age": lambda moment: _age(t, moment), "when": _time_formatter(st.zone),
            "switch_url": _switch_url(request, lang), "entities": queries.ENTITIES}
    response = st.templates.TemplateResponse(request, f"steward/{name}", {**base, **context}, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    """303 See Other: the browser follows with a GET (after a POST)."""
    return RedirectResponse(url, status_code=303)


def flash(request: Request, kind: str, key: str, **params: Any) -> None:
    """A message for the next page (kept in the session, shown once)."""
    request.session["flash"] = {"kind": kind, "key": key, "params": {k: str(v) for k, v in params.items()}}


def _safe_next(target: str | None) -> str:
    """Only a path of this app after sign-in (no open redirect to another site)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/queue"


def _error_page(request: Request, status: int, key: str, **params: Any) -> HTMLResponse:
    return render(request, "error.html", status=status, message_key=key, params=params)


async def _not_signed_in(request: Request, _exc: Exception) -> Response:
    target = request.url.path if request.method == "GET" else PREFIX + "/queue"
    return redirect(f"{PREFIX}/login?{urlencode({'next': target})}")


async def _forbidden(request: Request, _exc: Exception) -> Response:
    who: Principal | None = getattr(request.state, "principal", None)
    role = Translator(language(request, _steward(request).settings)).label("role", who.role if who else "")
    return _error_page(request, 403, "error.forbidden", role=role)


async def _csrf_rejected(request: Request, _exc: Exception) -> Response:
    log.warning("steward: a POST to %s without a valid CSRF token was refused", request.url.path)
    return _error_page(request, 403, "error.csrf")


# -- sign-in ------------------------------------------------------------------------------------

@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    """The queue is the start page."""
    return redirect(PREFIX + "/queue")


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    """The sign-in form (straight to the queue when already signed in)."""
    st = _steward(request)
    if principal(request, st.context.db, st.settings) is not None:
        return redirect(_safe_next(next))
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
def login(request: Request, _: Csrf, name: FormText = "", password: FormText = "",
          next: FormText = "") -> Response:
    """Check the password (argon2id), then start a fresh session."""
    st = _steward(request)
    keys = (f"user:{name.strip().lower()}", f"ip:{request.client.host if request.client else '-'}")
    if st.throttle.blocked(*keys):
        return render(request, "login.html", status=429, next=_safe_next(next), error="login.throttled")
    with st.context.db.transaction() as session:
        user = authenticate(session, name.strip(), password)
        stamp = session_stamp(user) if user is not None else ""
    if user is None:
        st.throttle.failed(*keys)
        log.info("steward: a sign-in failed")
        return render(request, "login.html", status=401, next=_safe_next(next), error="login.failed")
    st.throttle.succeeded(*keys)
    sign_in(request, user.name, stamp)
    log.info("steward: %s signed in", user.name)
    return redirect(_safe_next(next))


@router.post("/logout")
def logout(request: Request, _: Csrf) -> RedirectResponse:
    """End the session."""
    sign_out(request)
    return redirect(PREFIX + "/login")


# -- queue --------------------------------------------------------------------------------------

def _score(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return None if value is None else min(1.0, max(0.0, value))


def queue_filter(entity: str = "", source: str = "", region: str = "", min_score: str = "", max_score: str = "",
                 overdue: str = "") -> queries.QueueFilter:
    """The queue filter from URL parameters (unknown or malformed values mean "any")."""
    return queries.QueueFilter(entity if entity in queries.ENTITIES else None, source[:64] or None,
                               region[:32] or None, _score(min_score), _score(max_score), overdue == "1")


Viewer = Annotated[Principal, Depends(need("viewer"))]
StewardRole = Annotated[Principal, Depends(need("steward"))]
Csrf = Annotated[None, Depends(csrf)]
Filter = Annotated[queries.QueueFilter, Depends(queue_filter)]


def _with(path: str, f: queries.QueueFilter, **extra: Any) -> str:
    params = {**f.query_params(), **{k: str(v) for k, v in extra.items() if v not in (None, "")}}
    return f"{path}?{urlencode(params)}" if params else path


@router.get("/queue")
def queue(request: Request, who: Viewer, f: Filter, page: int = 1) -> HTMLResponse:
    """Open pairs, oldest first, with counts."""
    st = _steward(request)
    page = max(1, page)
    with st.context.db.reading() as session:
        result = queries.review_page(session, f, st.sla, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-result.total // PAGE_SIZE))
    return render(request, "queue.html", f=f, result=result, page=page, pages=pages,
                  pair_url=lambda pair_id: _with(f"{PREFIX}/pairs/{pair_id}", f),
                  page_url=lambda n: _with(PREFIX + "/queue", f, page=n),
                  entity_url=lambda e: _with(PREFIX + "/queue", replace(f, entity=e)))


# -- one pair -----------------------------------------------------------------------------------

def _rules(st: Steward, entity: str) -> Rules | None:
    try:
        return st.rules_for(entity)
    except HubError:
        return None


@router.get("/pairs/{pair_id}")
def pair_page(request: Request, pair_id: int, who: Viewer,
              f: Filter) -> HTMLResponse:
    """Both records side by side, the golden record a merge makes, the explanation and the decision buttons."""
    st = _steward(request)
    with st.context.db.reading() as session:
        pair = session.get(Pair, pair_id)
        view = queries.pair_view(session, _rules(st, pair.entity), pair_id) if pair is not None else None
        if view is None:
            return _error_page(request, 404, "error.not_found")
        next_id = queries.neighbour(session, f, st.sla, view.pair) or queries.first_open(session, f, st.sla,
                                                                                         exclude=pair_id)
    skip_url = _with(f"{PREFIX}/pairs/{next_id}", f) if next_id else _with(PREFIX + "/queue", f)
    codes = {g.golden_id: g.code for g in (view.left_golden, view.right_golden) if g is not None}
    return render(request, "pair.html", v=view, f=f, skip_url=skip_url, codes=codes,
                  action_url=lambda action: _with(f"{PREFIX}/pairs/{pair_id}/{action}", f),
                  queue_url=_with(PREFIX + "/queue", f))


def _after_decision(request: Request, f: queries.QueueFilter, decided: int) -> RedirectResponse:
    """On to the oldest open pair under the same filter, or back to the queue when none is left."""
    st = _steward(request)
    with st.context.db.reading() as session:
        next_id = queries.first_open(session, f, st.sla, exclude=decided)
    if next_id is None:
        return redirect(_with(PREFIX + "/queue", f))
    return redirect(_with(f"{PREFIX}/pairs/{next_id}", f))


def _failed(request: Request, exc: HubError, back: str) -> RedirectResponse:
    flash(request, "error", "flash.error", reason=exc.message)
    return redirect(back)


@router.post("/pairs/{pair_id}/merge")
def merge(request: Request, pair_id: int, who: StewardRole, _: Csrf, f: Filter,
          reason: FormText = "") -> RedirectResponse:
    """Merge the pair's golden records (audit row names the steward; events in the outbox)."""
    st = _steward(request)
    try:
        done = actions.merge_pair(st.context.db, st.context.topology, pair_id, who.name, reason[:500], st.rules_for)
    except HubError as exc:
        return _failed(request, exc, _with(f"{PREFIX}/pairs/{pair_id}", f))
    with st.context.db.reading() as session:
        codes = _codes(session, done.golden_id, done.other_id)
    request.session["flash"] = {"kind": "ok", "key": "flash.merged",
                                "params": {"code": codes[0], "alias": codes[1]},
                                "undo": {"golden_id": done.golden_id, "merged_id": done.other_id}}
    return _after_decision(request, f, pair_id)


@router.post("/pairs/{pair_id}/reject")
def reject(request: Request, pair_id: int, who: StewardRole, _: Csrf,
           f: Filter, reason: FormText = "") -> RedirectResponse:
    """Mark the pair "not a duplicate"."""
    st = _steward(request)
    try:
        actions.reject_pair(st.context.db, st.context.topology, pair_id, who.name, reason[:500], st.rules_for)
    except HubError as exc:
        return _failed(request, exc, _with(f"{PREFIX}/pairs/{pair_id}", f))
    flash(request, "ok", "flash.rejected")
    return _after_decision(request, f, pair_id)


def _codes(session: Any, *golden_ids: str | None) -> list[str]:
    from mdm.models import Golden

    return [(session.get(Golden, g).code if g and session.get(Golden, g) is not None else "") for g in golden_ids]


# -- golden records -----------------------------------------------------------------------------

@router.get("/golden/{golden_id}")
def golden_page(request: Request, golden_id: str, who: Viewer) -> HTMLResponse:
    """A golden record with its members, codes, findings and full history."""
    st = _steward(request)
    with st.context.db.reading() as session:
        view = queries.golden_view(session, golden_id[:36])
        survivor = queries.active_golden(session, golden_id[:36]) if view is not None else None
    if view is None:
        return _error_page(request, 404, "error.not_found")
    return render(request, "golden.html", v=view, survivor=survivor)


@router.post("/golden/{golden_id}/split")
def split(request: Request, golden_id: str, who: StewardRole, _: Csrf,
          record_id: Annotated[int, Form()], reason: FormText = "") -> RedirectResponse:
    """One source record leaves this golden record (it gets a golden record and code of its own)."""
    st = _steward(request)
    back = f"{PREFIX}/golden/{golden_id}"
    try:
        done = actions.split_member(st.context.db, st.context.topology, golden_id, record_id, who.name, reason[:500],
                                    st.rules_for)
    except HubError as exc:
        return _failed(request, exc, back)
    with st.context.db.reading() as session:
        flash(request, "ok", "flash.split", code=_codes(session, done.other_id)[0])
    return redirect(back)


@router.post("/golden/{golden_id}/unmerge")
def unmerge(request: Request, golden_id: str, who: StewardRole, _: Csrf,
            merged_id: FormText, reason: FormText = "") -> RedirectResponse:
    """Undo the merge of `merged_id` into this golden record."""
    st = _steward(request)
    back = f"{PREFIX}/golden/{golden_id}"
    try:
        done = actions.undo_merge(st.context.db, st.context.topology, golden_id, merged_id[:36], who.name,
                                  reason[:500], st.rules_for)
    except HubError as exc:
        return _failed(request, exc, back)
    with st.context.db.reading() as session:
        flash(request, "ok", "flash.unmerged", code=_codes(session, done.other_id)[0])
    return redirect(back)


# -- search -------------------------------------------------------------------------------------

@router.get("/search")
def search_page(request: Request, who: Viewer) -> HTMLResponse:
    """The search form."""
    return render(request, "search.html", q="", entity="customer", hits=None)


@router.post("/search")
def search(request: Request, who: Viewer, _: Csrf, q: FormText = "",
           entity: FormText = "customer") -> HTMLResponse:
    """Results for a name, pinyin, initials, code, credit code or phone (the term never enters a URL or log)."""
    st = _steward(request)
    entity = entity if entity in queries.ENTITIES else "customer"
    with st.context.db.reading() as session:
        hits = queries.search(session, entity, q)
    return render(request, "search.html", q=q[:100], entity=entity, hits=hits)
