"""WeCom's callback endpoint, `/wecom/callback`: URL verification (GET) and encrypted messages (POST).

POST: signature (constant time) → timestamp within ±max skew → decrypt → receive id → nonce not
seen before + message stored (one transaction) → empty 200. The API fetch and the event building
happen afterwards in the callback worker, so the answer never waits for WeCom's API and a message
that was answered is already in the database. A retried message (same MsgId or event) is stored
once. Refusals: 403 for a bad signature, a stale timestamp, a replayed nonce or another receive
id; 400 for a malformed body or ciphertext; 413 for an oversized body; 503 when the database or
the configuration is missing. Nothing is stored or published for a refused request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from connectors.wecom.callbacks import CallbackProcessor, parse_message
from connectors.wecom.connector import WecomConnector
from connectors.wecom.crypto import WecomCrypto
from connectors.wecom.errors import CallbackRejected
from connectors.wecom.inbox import CallbackInbox, CallbackWorker

if TYPE_CHECKING:
    from hub.app.web import AppContext
    from hub.core.settings import WecomSettings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # WeCom's messages are a few kB
router = APIRouter(prefix="/wecom", tags=["wecom"])


class WecomCallbacks:
    """The endpoint's collaborators: crypto, the durable inbox and its worker (a Service)."""

    def __init__(self, context: AppContext, connector: WecomConnector | None = None) -> None:
        settings = context.settings.wecom
        self.settings = settings
        self.crypto = WecomCrypto(settings.callback_token, settings.encoding_aes_key, settings.corp_id,
                                  max_skew_s=settings.callback_max_skew_s)
        self.connector = connector or WecomConnector(settings)
        self._context = context
        self._worker: CallbackWorker | None = None

    @property
    def inbox(self) -> CallbackInbox:
        """The durable inbox on the app's database."""
        return self.worker.inbox

    @property
    def worker(self) -> CallbackWorker:
        """The worker that fetches details and writes events (built on first use)."""
        if self._worker is None:
            inbox = CallbackInbox(self._context.db, nonce_ttl_s=2 * self.settings.callback_max_skew_s,
                                  retention_days=self.settings.callback_retention_days)
            processor = CallbackProcessor(self.connector.client, self.settings.system)
            self._worker = CallbackWorker(inbox, processor, self._context.topology)
        return self._worker

    def start(self) -> None:
        """Start the worker (it first processes what an earlier process left pending)."""
        self.worker.start()

    def stop(self) -> None:
        """Stop the worker and close the API client."""
        if self._worker is not None:
            self._worker.stop()
        self.connector.close()

    def receive(self, msg_signature: str, timestamp: str, nonce: str, body: bytes) -> Response:
        """Verify, decrypt and store one message; answer at once (the worker does the rest)."""
        try:
            plain = self.crypto.decrypt_message(msg_signature, timestamp, nonce, body)
            message = parse_message(plain)
            stored = self.inbox.accept(nonce, message, plain)
        except CallbackRejected as exc:
            return _refuse(exc)
        except SQLAlchemyError as exc:  # not str(exc): SQL errors quote the parameters (the message)
            log.error("wecom callback: could not store the message (%s); WeCom will retry", type(exc).__name__)
            return PlainTextResponse("storage unavailable", status_code=503)
        if stored:
            self.worker.wake()
        else:
            log.info("wecom callback: %s already received, acknowledged again", message.dedupe_key())
        return Response(status_code=200)


def configured(settings: WecomSettings) -> bool:
    """Whether the callback settings are complete."""
    return bool(settings.corp_id and settings.callback_token.get_secret_value()
                and settings.encoding_aes_key.get_secret_value())


def install(app: FastAPI, context: AppContext) -> None:
    """Add /wecom/callback; with complete settings also the callback worker as a service."""
    if configured(context.settings.wecom):
        callbacks = WecomCallbacks(context)
        app.state.wecom = callbacks
        context.services.append(callbacks)
    else:
        app.state.wecom = None
        log.info("wecom callback: not configured (HUB_WECOM__CORP_ID, __CALLBACK_TOKEN, __ENCODING_AES_KEY)")
    app.include_router(router)


def _callbacks(request: Request) -> WecomCallbacks | None:
    return getattr(request.app.state, "wecom", None)


def _not_configured() -> Response:
    return PlainTextResponse("wecom callback is not configured", status_code=503)


def _refuse(exc: CallbackRejected) -> Response:
    log.warning("wecom callback refused with %d: %s", exc.http_status, exc)
    return PlainTextResponse(exc.message, status_code=exc.http_status)


@router.get("/callback", response_class=PlainTextResponse)
def verify_url(request: Request, msg_signature: str = "", timestamp: str = "", nonce: str = "",
               echostr: str = "") -> Response:
    """URL verification: answer the decrypted echostr when the signature and receive id hold."""
    callbacks = _callbacks(request)
    if callbacks is None:
        return _not_configured()
    try:
        return PlainTextResponse(callbacks.crypto.verify_url(msg_signature, timestamp, nonce, echostr))
    except CallbackRejected as exc:
        return _refuse(exc)


@router.post("/callback")
async def receive(request: Request) -> Response:
    """An encrypted message: stored durably, then acknowledged with an empty 200."""
    callbacks = _callbacks(request)
    if callbacks is None:
        return _not_configured()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return PlainTextResponse("body too large", status_code=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("body too large", status_code=413)
    query = request.query_params
    return await run_in_threadpool(callbacks.receive, query.get("msg_signature", ""), query.get("timestamp", ""),
                                   query.get("nonce", ""), body)
