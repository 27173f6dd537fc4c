"""WeChat Work input fuzzed: callbacks are stored or refused, API answers become events, dead letters or
hub errors, and every check-in is accounted for.

    callback     forged signatures, odd timestamps and nonces, broken XML, DOCTYPE and entities, 5 MB
                 bodies, bad base64, bad padding, wrong lengths and receive ids, inner messages of any
                 shape → stored in the inbox, or a CallbackRejected (400/403), as /wecom/callback does
    processing   approval and external-contact answers distorted in transit → events, dead letters
                 or a hub error (the worker retries or parks the row)
    check-ins    getcheckindata answers distorted in transit, synced through the pipeline →
                 received = published + dead-lettered, or a hub error
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from connectors.wecom.callbacks import CallbackProcessor, parse_message
from connectors.wecom.client import WecomClient
from connectors.wecom.connector import SETTING_NAMES, WecomConnector, app_secrets
from connectors.wecom.crypto import WecomCrypto, aes_key, pkcs7_pad
from connectors.wecom.errors import CallbackRejected
from connectors.wecom.inbox import CallbackInbox
from connectors.testing.wecom_server import (
    DEMO_AES_KEY,
    DEMO_CALLBACK_TOKEN,
    DEMO_CORP_ID,
    WecomServer,
    approval_event_xml,
    contact_event_xml,
    seed,
    text_message_xml,
)
from hub.core.db import Database
from hub.core.errors import HubError
from hub.core.settings import load_settings
from hub.core.topology import Topology
from tests.faults.fuzzing import (
    FEW,
    FIVE_MB,
    FUZZ,
    bodies,
    invalid_utf8,
    mojibake,
    mutated,
    odd_text,
    sync_from_scratch,
)

NOW = 1_763_600_000
CRYPTO = WecomCrypto(DEMO_CALLBACK_TOKEN, DEMO_AES_KEY, DEMO_CORP_ID, max_skew_s=300, clock=lambda: NOW)
KEY = aes_key(DEMO_AES_KEY)
DATA = seed(n_users=3, field_users=2, days=10)
SP_NO, EXTERNAL = next(iter(DATA.approvals)), next(iter(DATA.contacts))
MESSAGES = [approval_event_xml(DEMO_CORP_ID, SP_NO, create_time=NOW),
            contact_event_xml(DEMO_CORP_ID, "edit_external_contact", "zhangwei", EXTERNAL, create_time=NOW),
            text_message_xml(DEMO_CORP_ID, "7301", "你好", create_time=NOW)]


# -------------------------------------------------------------------------------------- callbacks


def seal(plain: bytes, *, pad: bool = True) -> str:
    """Base64 AES-CBC of `plain` under the demo key (padded as WeCom pads, or not at all)."""
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).encryptor()
    data = pkcs7_pad(plain) if pad else plain + b"\0" * (-len(plain) % 32)
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def framed(message: bytes, receive_id: bytes = DEMO_CORP_ID.encode(), length: int | None = None) -> bytes:
    """WeCom's plaintext: 16 random bytes, the message length, the message, the receive id."""
    return os.urandom(16) + struct.pack(">I", len(message) if length is None else length) + message + receive_id


@st.composite
def changed(draw: st.DrawFn, message: str) -> str:
    """A message with some element texts (time, ids, change, event) replaced by odd text."""
    for element in ("CreateTime", "SpNo", "StatuChangeEvent", "ChangeType", "ExternalUserID", "Event", "MsgType"):
        if draw(st.integers(0, 3)) == 3:
            text = escape(draw(st.one_of(odd_text, mojibake, st.text(max_size=20))))
            message = re.sub(rf"<{element}>.*?</{element}>", lambda _m: f"<{element}>{text}</{element}>", message)
    return message


@st.composite
def inner_messages(draw: st.DrawFn) -> bytes:
    """The decrypted message: a real event, one with fields changed, broken or hostile XML, any bytes."""
    kind = draw(st.integers(0, 5))
    message = draw(st.sampled_from(MESSAGES))
    if kind <= 1:
        return message.encode()
    if kind == 2:
        return draw(changed(message)).encode("utf-8", "replace")
    if kind == 3:
        return draw(st.sampled_from([
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<xml><MsgType>&b;</MsgType></xml>",
            b'<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml><MsgType>event</MsgType></xml>',
            b"<xml>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"<MsgType>text</MsgType></xml>",
            b"<xml><MsgType>text</MsgType><MsgType>event</MsgType><Event><x/></Event></xml>",
            b"<xml><MsgType>event</MsgType><Event>sys_approval_change</Event><ApprovalInfo>1</ApprovalInfo></xml>",
        ]))
    if kind == 4:
        return message.encode()[:draw(st.integers(0, len(message)))] + draw(invalid_utf8)
    return draw(bodies)


@st.composite
def callbacks(draw: st.DrawFn) -> tuple[str, str, str, bytes]:
    """(msg_signature, timestamp, nonce, body) of a POST: mostly well made, else with one part wrong."""
    message = draw(inner_messages())
    kind = draw(st.integers(0, 9))
    receive_id = draw(st.binary(max_size=20)) if kind == 5 else DEMO_CORP_ID.encode()
    length = draw(st.integers(0, 2**32 - 1)) if kind == 6 else None
    encrypted = seal(framed(message, receive_id, length), pad=kind != 7)
    if kind == 8:
        encrypted = draw(st.one_of(odd_text, st.text(max_size=50), st.just(encrypted[:-3]), st.just("A" * 44)))
    body = (f"<xml><ToUserName><![CDATA[{DEMO_CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]>"
            f"</Encrypt></xml>").encode()
    if kind == 9:
        body = draw(st.one_of(bodies, st.just(b"<xml><Encrypt>" + b"A" * FIVE_MB + b"</Encrypt></xml>"),
                              st.just(b'<!DOCTYPE x [<!ENTITY e "e">]><xml><Encrypt>&e;</Encrypt></xml>')))
    timestamp = str(NOW) if draw(st.integers(0, 4)) < 4 else draw(st.one_of(
        st.just(str(NOW - 301)), odd_text, st.text(max_size=15)))
    nonce = draw(st.one_of(st.integers(0, 10**10).map(str), odd_text, st.just("n" * 200)))
    signature = CRYPTO.sign(timestamp, nonce, encrypted)
    if draw(st.integers(0, 5)) == 5:
        signature = draw(st.one_of(st.text(max_size=40), st.just(signature.upper()),
                                   st.just(signature[:-1] + "0")))
    return signature, timestamp, nonce, body


def test_any_callback_is_stored_or_refused(fuzz_db: Database) -> None:
    inbox = CallbackInbox(fuzz_db, clock=lambda: dt.datetime.fromtimestamp(NOW))

    @FUZZ
    @given(request=callbacks())
    def check(request: tuple[str, str, str, bytes]) -> None:
        signature, timestamp, nonce, body = request
        try:  # what WecomCallbacks.receive does
            plain = CRYPTO.decrypt_message(signature, timestamp, nonce, body)
            message = parse_message(plain)
            assert message.msg_type and message.create_time >= 0
            inbox.accept(nonce, message, plain)
        except CallbackRejected as exc:
            assert exc.http_status in (400, 403) and exc.message

    check()


@FUZZ
@given(echostr=st.one_of(st.builds(lambda m: seal(framed(m)), inner_messages()), odd_text, st.text()),
       timestamp=st.one_of(st.just(str(NOW)), odd_text))
def test_any_url_verification_is_answered_or_refused(echostr: str, timestamp: str) -> None:
    try:
        assert isinstance(CRYPTO.verify_url(CRYPTO.sign(timestamp, "1", echostr), timestamp, "1", echostr), str)
    except CallbackRejected as exc:
        assert exc.http_status in (400, 403)


# ---------------------------------------------------------------------------------------- the API

Answer = tuple[int, Any]


def distorted(draw: Callable[[st.SearchStrategy[Any]], Any], answer: Answer) -> Answer:
    """The simulator's answer, mostly kept; else its JSON mutated, or a body of anything."""
    status, body = answer
    choice = draw(st.integers(0, 9))
    if choice <= 5 or isinstance(body, bytes):
        return answer
    if choice <= 8:
        return status, draw(mutated(body))
    return draw(st.sampled_from([200, 200, 500, 404])), draw(bodies)


def api_client(server: WecomServer, draw: Callable[[st.SearchStrategy[Any]], Any] | None) -> WecomClient:
    """A client of the simulator (in-process, no socket), its API answers distorted when `draw` is given."""
    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(request.url.query.decode()))
        answer = server.answer(request.method, request.url.path, params, request.content)
        if draw is not None and request.url.path != "/cgi-bin/gettoken":
            answer = distorted(draw, answer)
        status, body = answer
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False, default=str).encode()
        return httpx.Response(status, content=content)

    settings = load_settings(wecom=server.settings()).wecom
    return WecomClient("http://wecom.fuzz", DEMO_CORP_ID, app_secrets(settings), setting_names=SETTING_NAMES,
                       retries=0, transport=httpx.MockTransport(handle), sleep=lambda _s: None)


@pytest.fixture(scope="module")
def server() -> WecomServer:
    return WecomServer(data=DATA)  # never started: its answer() is called in-process


def test_any_api_answer_to_a_callback_gives_events_dead_letters_or_a_hub_error(server: WecomServer) -> None:
    @FUZZ
    @given(data=st.data(), xml=st.sampled_from(MESSAGES[:2]).flatmap(changed))
    def check(data: st.DataObject, xml: str) -> None:
        client = api_client(server, data.draw)
        try:
            outcome = CallbackProcessor(lambda: client).process(parse_message(xml))
            assert len(outcome.events) + len(outcome.letters) <= 1
        except HubError:
            pass
        finally:
            client.close()

    check()


def test_any_checkin_answer_is_published_dead_lettered_or_a_hub_error(server: WecomServer, fuzz_db: Database,
                                                                      fuzz_topology: Topology) -> None:
    settings = load_settings(wecom=server.settings(checkin_users=["zhangwei", "lina"], checkin_settle_s=0,
                                                   checkin_start="2024-08-01", checkin_window_days=30)).wecom

    @FEW
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        connector = WecomConnector(settings, lambda _s: api_client(server, data.draw))
        try:
            sync_from_scratch(fuzz_db, fuzz_topology, connector, connector.stream("checkins"))
        except HubError:
            pass
        finally:
            connector.close()

    check()
