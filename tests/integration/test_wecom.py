"""WeCom end to end on SQLite and PostgreSQL: callbacks through the web app into the outbox, check-in sync.

The app runs in FastAPI's TestClient (its lifespan starts the callback worker); the WeCom API is
the simulator on loopback; callbacks are encrypted with WecomCrypto exactly as WeCom sends them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connectors import load_connector
from connectors.base import Connector
from connectors.testing.wecom_server import (
    WecomServer,
    approval_event_xml,
    callback_request,
    contact_event_xml,
    demo_crypto,
    seed,
    text_message_xml,
    verification_request,
)
from connectors.wecom.crypto import WecomCrypto, pkcs7_pad
from connectors.wecom.inbox import callbacks, nonces
from connectors.wecom.streams import CheckinStream
from hub.app.pipeline import StreamSync, SyncResult, sync_stream
from hub.app.web import create_app
from hub.core.db import Database
from hub.core.errors import SourceUnavailable
from hub.core.events import parse_event
from hub.core.models import Checkpoint, OutboxRow
from hub.core.schemas import registry
from hub.core.settings import HubSettings, load_settings
from hub.core.topology import Topology, build_topology

APPROVAL_PATH = "/cgi-bin/oa/getapprovaldetail"
CHECKIN_PATH = "/cgi-bin/checkin/getcheckindata"
SP_NO = "202408150001"
CONTACT = "wmJ3vXCQAAwYq8l2u1o1Kx9s7QyKp3Aw"


@pytest.fixture
def wecom() -> Iterator[WecomServer]:
    with WecomServer(data=seed()) as server:
        yield server


@pytest.fixture
def settings(db_url: str, wecom: WecomServer) -> HubSettings:
    return load_settings(database_url=db_url, wecom=wecom.settings(retries=0, timeout_s=10.0))


@pytest.fixture
def topology(settings: HubSettings) -> Topology:
    return build_topology(settings.bus)


@pytest.fixture
def crypto(wecom: WecomServer) -> WecomCrypto:
    return demo_crypto(wecom.corp_id)


@pytest.fixture(autouse=True)
def empty_inbox(db: Database) -> None:
    """The shared PostgreSQL test database keeps tables conftest does not empty: start clean."""
    with db.transaction() as session:
        session.execute(callbacks.delete())
        session.execute(nonces.delete())


@pytest.fixture
def app(settings: HubSettings, db: Database, topology: Topology) -> FastAPI:
    return create_app(settings, db=db, topology=topology)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as running:  # runs the lifespan: the callback worker is started
        yield running


def outbox(db: Database) -> list[OutboxRow]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def stored(db: Database) -> list[Any]:
    with db.transaction() as session:
        return list(session.execute(select(callbacks).order_by(callbacks.c.id)))


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def post(client: TestClient, crypto: WecomCrypto, xml: str, **options: Any) -> Any:
    params, body = callback_request(crypto, xml, **options)
    return client.post("/wecom/callback", params=params, content=body, headers={"Content-Type": "text/xml"})


def events_of(db: Database, type: str) -> list[Any]:
    return [parse_event(r.body) for r in outbox(db) if r.routing_key == type]


# ------------------------------------------------------------------------------------ verification


def test_health(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_url_verification_answers_the_echo(client: TestClient, crypto: WecomCrypto) -> None:
    answer = client.get("/wecom/callback", params=verification_request(crypto, "8765432109876543210"))
    assert answer.status_code == 200 and answer.text == "8765432109876543210"


def test_url_verification_with_a_forged_signature_is_refused(client: TestClient, crypto: WecomCrypto) -> None:
    params = verification_request(crypto, "echo")
    params["msg_signature"] = "0" * 40
    assert client.get("/wecom/callback", params=params).status_code == 403
    assert client.get("/wecom/callback").status_code == 403  # nothing at all: no timestamp, no signature


# ----------------------------------------------------------------------------------- callbacks → events


def test_approval_callback_is_stored_acknowledged_then_published(client: TestClient, crypto: WecomCrypto,
                                                                db: Database, wecom: WecomServer) -> None:
    answer = post(client, crypto, approval_event_xml(wecom.corp_id, SP_NO, status_change=2))
    assert answer.status_code == 200 and answer.text == ""
    wait_for(lambda: bool(events_of(db, "wecom.approval.changed.v1")))
    (event,) = events_of(db, "wecom.approval.changed.v1")
    assert event.subject == SP_NO and event.source == "/hub/wecom"
    assert event.data["status"] == "approved" and event.data["change"] == "approved"
    assert event.dataschema.endswith("/wecom/approval.v1.json")
    registry().validate("wecom/approval.v1", event.data)
    wait_for(lambda: stored(db)[0].status == "done")


def test_contact_callbacks_publish_contacts_and_a_tombstone(client: TestClient, crypto: WecomCrypto,
                                                           db: Database, wecom: WecomServer) -> None:
    now = int(time.time())
    assert post(client, crypto, contact_event_xml(wecom.corp_id, "add_external_contact", "zhangwei", CONTACT,
                                                  now)).status_code == 200
    assert post(client, crypto, contact_event_xml(wecom.corp_id, "del_external_contact", "lina",
                                                  "wm-gone-0001", now)).status_code == 200
    wait_for(lambda: len(events_of(db, "wecom.contact.changed.v1")) == 2)
    added, deleted = sorted(events_of(db, "wecom.contact.changed.v1"), key=lambda e: e.data["status"])
    assert added.data["name"] == "王建国" and added.data["mobile"] == "+8613812345678"
    assert added.data["status"] == "active" and added.subject == CONTACT
    assert deleted.data["status"] == "deleted" and deleted.subject == "wm-gone-0001"
    for event in (added, deleted):
        registry().validate("customer/contact.v1", event.data)


def test_other_messages_are_stored_and_ignored(client: TestClient, crypto: WecomCrypto, db: Database,
                                               wecom: WecomServer) -> None:
    assert post(client, crypto, text_message_xml(wecom.corp_id, "7001", "你好")).status_code == 200
    wait_for(lambda: stored(db)[0].status == "ignored")
    assert outbox(db) == []


# --------------------------------------------------------------------------------------- rejections


def _forged(crypto: WecomCrypto, corp_id: str, case: str) -> tuple[dict[str, str], bytes]:
    xml = approval_event_xml(corp_id, SP_NO)
    params, body = callback_request(crypto, xml)
    encrypted = body.decode().split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    if case == "forged_signature":
        params["msg_signature"] = "f" * 40
    elif case == "tampered_ciphertext":
        swapped = encrypted[:10] + ("A" if encrypted[10] != "A" else "B") + encrypted[11:]
        body = body.replace(encrypted.encode(), swapped.encode())
    elif case == "wrong_receive_id":
        other = WecomCrypto(demo_token(), demo_key(), "ww0000000000000000")
        params, body = callback_request(other, xml)
    elif case == "bad_padding":
        raw = b"r" * 16 + len(xml.encode()).to_bytes(4, "big") + xml.encode() + corp_id.encode()
        padded = pkcs7_pad(raw)[:-1] + b"\x07"  # the last byte no longer matches the padding
        encryptor = crypto._cipher().encryptor()
        bad = base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()
        body = body.replace(encrypted.encode(), bad.encode())
        params["msg_signature"] = crypto.sign(params["timestamp"], params["nonce"], bad)
    elif case == "old_timestamp":
        params, body = callback_request(crypto, xml, timestamp=int(time.time()) - 301)
    elif case == "future_timestamp":
        params, body = callback_request(crypto, xml, timestamp=int(time.time()) + 301)
    elif case == "not_xml":
        body = b"this is not xml"
    return params, body


def demo_token() -> str:
    from connectors.testing.wecom_server import DEMO_CALLBACK_TOKEN

    return DEMO_CALLBACK_TOKEN


def demo_key() -> str:
    from connectors.testing.wecom_server import DEMO_AES_KEY

    return DEMO_AES_KEY


REJECTIONS = [("forged_signature", 403), ("tampered_ciphertext", 403), ("wrong_receive_id", 403),
              ("bad_padding", 400), ("old_timestamp", 403), ("future_timestamp", 403), ("not_xml", 400)]


@pytest.mark.parametrize(("case", "status"), REJECTIONS, ids=[c for c, _ in REJECTIONS])
def test_bad_callbacks_are_refused_and_nothing_is_stored_or_published(
        client: TestClient, crypto: WecomCrypto, db: Database, wecom: WecomServer, case: str, status: int) -> None:
    params, body = _forged(crypto, wecom.corp_id, case)
    answer = client.post("/wecom/callback", params=params, content=body)
    assert answer.status_code == status
    time.sleep(0.2)
    assert stored(db) == [] and outbox(db) == []
    assert wecom.call_count(APPROVAL_PATH) == 0


def test_a_replayed_nonce_is_refused(client: TestClient, crypto: WecomCrypto, db: Database,
                                     wecom: WecomServer) -> None:
    assert post(client, crypto, text_message_xml(wecom.corp_id, "1", "a"), nonce="555").status_code == 200
    again = post(client, crypto, approval_event_xml(wecom.corp_id, SP_NO), nonce="555")
    assert again.status_code == 403
    time.sleep(0.2)
    assert len(stored(db)) == 1 and outbox(db) == [] and wecom.call_count(APPROVAL_PATH) == 0


def test_an_oversized_body_is_refused(client: TestClient, crypto: WecomCrypto) -> None:
    params, _body = callback_request(crypto, "<xml/>")
    assert client.post("/wecom/callback", params=params, content=b"x" * 300_000).status_code == 413


# -------------------------------------------------------------------------------------- exactly once


def test_a_message_retried_by_wecom_is_processed_once(client: TestClient, crypto: WecomCrypto, db: Database,
                                                      wecom: WecomServer) -> None:
    approval = approval_event_xml(wecom.corp_id, SP_NO, create_time=int(time.time()))
    text = text_message_xml(wecom.corp_id, "4561255354251345929", "hello")
    for _ in range(3):  # WeCom retries with fresh nonces and ciphertexts
        assert post(client, crypto, approval).status_code == 200
        assert post(client, crypto, text).status_code == 200
    wait_for(lambda: all(row.status in ("done", "ignored") for row in stored(db)) and len(outbox(db)) == 1)
    time.sleep(0.3)
    assert len(stored(db)) == 2 and len(outbox(db)) == 1
    assert wecom.call_count(APPROVAL_PATH) == 1


def test_the_reply_does_not_wait_for_a_slow_wecom_api(client: TestClient, crypto: WecomCrypto, db: Database,
                                                      wecom: WecomServer) -> None:
    wecom.delay(APPROVAL_PATH, 2.0)  # the reply path never calls the API, however slow it is
    started = time.monotonic()
    answer = post(client, crypto, approval_event_xml(wecom.corp_id, SP_NO))
    assert answer.status_code == 200 and time.monotonic() - started < 0.5  # WeCom wants it within 5 s
    assert stored(db)[0].status in ("pending", "processing") and outbox(db) == []
    wait_for(lambda: len(outbox(db)) == 1)


def test_an_acknowledged_message_survives_the_process_dying(settings: HubSettings, db: Database,
                                                            topology: Topology, crypto: WecomCrypto,
                                                            wecom: WecomServer) -> None:
    dying = create_app(settings, db=db, topology=topology)
    answer = post(TestClient(dying), crypto, approval_event_xml(wecom.corp_id, SP_NO))  # no lifespan: no worker
    assert answer.status_code == 200
    assert [row.status for row in stored(db)] == ["pending"] and outbox(db) == []
    with TestClient(create_app(settings, db=db, topology=topology)):  # the next process picks it up
        wait_for(lambda: len(outbox(db)) == 1)
    assert stored(db)[0].status == "done"


def test_rate_limited_fetches_are_retried_and_fatal_ones_parked(settings: HubSettings, db: Database,
                                                                topology: Topology, crypto: WecomCrypto,
                                                                wecom: WecomServer) -> None:
    app = create_app(settings, db=db, topology=topology)
    http = TestClient(app)  # the worker is driven by hand
    worker = app.state.wecom.worker
    wecom.fail_next(APPROVAL_PATH, errcode=45009, times=1)
    post(http, crypto, approval_event_xml(wecom.corp_id, SP_NO))
    post(http, crypto, approval_event_xml(wecom.corp_id, "209912310099"))  # unknown: 301025
    worker.run_once()
    rows = {row.id: row for row in stored(db)}
    first, second = rows.values()
    assert first.status == "pending" and first.next_attempt_at is not None and "45009" in first.last_error
    assert second.status == "failed" and "301025" in second.last_error
    with db.transaction() as session:
        session.execute(callbacks.update().values(next_attempt_at=None))
    worker.drain()
    assert [row.status for row in stored(db)] == ["done", "failed"] and len(outbox(db)) == 1
    assert worker.inbox.requeue_failed() == 1 and stored(db)[1].status == "pending"
    app.state.wecom.stop()


# ---------------------------------------------------------------------------------- check-in sync


@pytest.fixture
def connector(settings: HubSettings) -> Iterator[Connector]:
    built = load_connector("wecom", settings)
    yield built
    built.close()


def checkpoint(db: Database) -> Checkpoint | None:
    with db.transaction() as session:
        return session.get(Checkpoint, ("wecom", "checkins"))


def test_checkin_sync_publishes_recorded_events_and_rereads_nothing(db: Database, connector: Connector,
                                                                    topology: Topology, wecom: WecomServer) -> None:
    result = sync_stream(db, topology, connector, "checkins")
    assert result.received == result.published == len(wecom.data.checkins) and result.dead_lettered == 0
    events = events_of(db, "wecom.checkin.recorded.v1")
    assert len(events) == len(wecom.data.checkins) == len({e.id for e in events})
    sample = events[0]
    assert sample.subject == sample.data["source_id"] and sample.source == "/hub/wecom"
    registry().validate("wecom/checkin.v1", sample.data)
    again = sync_stream(db, topology, connector, "checkins")
    assert again.received == 0 and len(outbox(db)) == len(events)


def test_checkin_sync_failing_mid_way_keeps_the_checkpoint(db: Database, connector: Connector,
                                                           topology: Topology, wecom: WecomServer) -> None:
    stream = connector.stream("checkins")
    assert isinstance(stream, CheckinStream)
    committed: dict[str, Any] = {}

    def break_after_two_pages(result: SyncResult) -> None:
        if result.pages == 2:
            committed.update(cursor=checkpoint(db).cursor, rows=len(outbox(db)))  # type: ignore[union-attr]
            wecom.fail_next(CHECKIN_PATH, http_status=500, times=100)

    sync = StreamSync(db, topology, connector, stream, on_page=break_after_two_pages)
    assert sync.type == "wecom.checkin.recorded.v1"
    with pytest.raises(SourceUnavailable):
        sync.run()
    assert checkpoint(db).cursor == committed["cursor"]  # type: ignore[union-attr]
    assert len(outbox(db)) == committed["rows"] > 0
    wecom.clear_faults()
    finished = sync_stream(db, topology, connector, "checkins")
    ids = [r.event_id for r in outbox(db)]
    assert len(ids) == len(set(ids)) == len(wecom.data.checkins)
    assert finished.received == len(wecom.data.checkins) - committed["rows"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == len(wecom.data.checkins)
    assert json.loads(json.dumps(checkpoint(db).cursor))["until"] > committed["cursor"]["until"]  # type: ignore[union-attr]
