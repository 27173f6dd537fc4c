"""The steward pages through FastAPI's TestClient, on SQLite and PostgreSQL: sign-in, roles, CSRF,
decisions through the MDM operations (audit rows name the actor, events land in the outbox),
search, languages, reverse-proxy sign-in, overdue announcements and `hub users`."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text

from hub.app import users as accounts
from hub.app import web_steward
from hub.app.cli_users import users as users_cli
from hub.app.steward_notify import announce_overdue_reviews
from hub.app.steward_settings import WebSettings
from hub.app.users import add_user, authenticate, get_user
from hub.app.users_models import User
from hub.app.web import create_app
from hub.core.db import Database
from hub.core.models import OutboxRow
from hub.core.settings import get_settings, load_settings
from hub.core.topology import Topology, build_topology
from mdm.models import Audit, BlockKey, Code, Golden, Pair, QualityIssue, Sequence, SourceRecord
from tests.steward_seed import HUACHENG, PERSONAL, seed

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
MDM_TABLES = (Audit, BlockKey, Code, Golden, Pair, QualityIssue, Sequence, SourceRecord)


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters: the tests hash a dozen passwords (production keeps the defaults)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "hasher", lambda: cheap)
    monkeypatch.setattr(accounts, "_dummy_hash", lambda: cheap.hash("dummy"))


def _clean(db: Database) -> None:
    """Empty the MDM tables and users (the PostgreSQL database is shared by the session's tests)."""
    with db.transaction() as session:
        for model in (*MDM_TABLES, User):
            session.execute(delete(model))


@pytest.fixture
def store(db: Database) -> list[int]:
    """A seeded store with users li.wei (steward), zhang.san (viewer) and root (admin); the open pair ids."""
    _clean(db)
    with db.transaction() as session:
        pair_ids = seed(session)
        add_user(session, "li.wei", "steward", PASSWORD)
        add_user(session, "zhang.san", "viewer", PASSWORD)
        add_user(session, "root", "admin", PASSWORD)
    return pair_ids


def make_app(db: Database, **web: object) -> tuple[TestClient, Topology]:
    """The hub's web app with only the steward pages, on `db`."""
    settings = load_settings(database_url=str(db.engine.url.render_as_string(hide_password=False)))
    topology = build_topology(settings.bus)
    web_settings = WebSettings(secret_key="test-secret-" + "x" * 32, cookie_secure="never", **web)
    app = create_app(settings, db=db, topology=topology, installers=[web_steward.installer(web_settings)])
    return TestClient(app, follow_redirects=False), topology


@pytest.fixture
def client(db: Database, store: list[int]) -> Iterator[TestClient]:
    """A client of the steward pages (not signed in)."""
    test_client, _ = make_app(db)
    with test_client:
        yield test_client


def csrf_of(page: str) -> str:
    """The session's CSRF token as a page carries it (in its head, and in every form that posts)."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns a CSRF token of the new session."""
    token = csrf_of(client.get("/steward/login").text)
    answer = client.post("/steward/login", data={"name": name, "password": password, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/steward/queue").text)


def audits(db: Database, operation: str) -> list[Audit]:
    with db.reading() as session:
        return list(session.scalars(select(Audit).where(Audit.operation == operation).order_by(Audit.id)))


def outbox_types(db: Database) -> list[str]:
    with db.reading() as session:
        return list(session.scalars(select(OutboxRow.message_type).order_by(OutboxRow.id)))


def pair_status(db: Database, pair_id: int) -> str:
    with db.reading() as session:
        pair = session.get(Pair, pair_id)
        assert pair is not None
        return pair.status


# -- sign-in and sessions ---------------------------------------------------------------------------

def test_pages_need_sign_in_and_the_session_cookie_is_locked_down(client: TestClient, store: list[int]) -> None:
    answer = client.get(f"/steward/pairs/{store[0]}")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/steward/login?next=")

    token = csrf_of(client.get("/steward/login").text)
    wrong = client.post("/steward/login", data={"name": "li.wei", "password": "wrong password!", "csrf_token": token})
    assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.text

    right = client.post("/steward/login", data={"name": "li.wei", "password": PASSWORD, "csrf_token": token,
                                                "next": f"/steward/pairs/{store[0]}"})
    assert right.status_code == 303 and right.headers["location"] == f"/steward/pairs/{store[0]}"
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/steward" in cookie
    assert "secure" not in cookie  # cookie_secure=never in this test; "always" or https adds it
    page = client.get(f"/steward/pairs/{store[0]}")
    assert page.status_code == 200 and "li.wei" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_an_open_redirect_after_sign_in_is_refused(client: TestClient) -> None:
    token = csrf_of(client.get("/steward/login").text)
    answer = client.post("/steward/login", data={"name": "li.wei", "password": PASSWORD, "csrf_token": token,
                                                 "next": "//evil.example/steward/x"})
    assert answer.headers["location"] == "/steward/queue"


def test_disabling_a_user_or_changing_the_password_ends_the_session(client: TestClient, db: Database) -> None:
    sign_in(client, "li.wei")
    assert client.get("/steward/queue").status_code == 200
    with db.transaction() as session:
        user = get_user(session, "li.wei")
        assert user is not None
        user.disabled = True
    assert client.get("/steward/queue").status_code == 303


def test_sign_in_is_throttled_after_repeated_failures(db: Database, store: list[int]) -> None:
    test_client, _ = make_app(db, login_attempts=3)
    with test_client as client:
        token = csrf_of(client.get("/steward/login").text)
        for _ in range(3):
            bad = {"name": "root", "password": "not the password", "csrf_token": token}
            assert client.post("/steward/login", data=bad).status_code == 401
        good = {"name": "root", "password": PASSWORD, "csrf_token": token}
        assert client.post("/steward/login", data=good).status_code == 429


# -- CSRF and roles -----------------------------------------------------------------------------

def test_posts_without_the_csrf_token_are_refused(client: TestClient, db: Database, store: list[int]) -> None:
    login_page = client.get("/steward/login")
    no_token = client.post("/steward/login", data={"name": "li.wei", "password": PASSWORD})
    assert no_token.status_code == 403
    assert csrf_of(login_page.text)  # the form has one
    token = sign_in(client, "li.wei")

    assert client.post(f"/steward/pairs/{store[0]}/merge", data={}).status_code == 403
    assert client.post(f"/steward/pairs/{store[0]}/merge", data={"csrf_token": "forged" * 8}).status_code == 403
    assert client.post(f"/steward/pairs/{store[1]}/reject", data={"csrf_token": ""}).status_code == 403
    assert client.post("/steward/search", data={"q": "华成"}).status_code == 403
    assert pair_status(db, store[0]) == "open" and pair_status(db, store[1]) == "open"
    assert audits(db, "merge") == [] and audits(db, "reject") == []

    # Another session's token is no good either.
    other, _ = make_app(db)
    with other:
        assert other.post(f"/steward/pairs/{store[0]}/merge", data={"csrf_token": token}).status_code == 303  # login
    assert pair_status(db, store[0]) == "open"


def test_a_viewer_may_look_but_not_decide(client: TestClient, db: Database, store: list[int]) -> None:
    token = sign_in(client, "zhang.san")
    page = client.get(f"/steward/pairs/{store[0]}")
    assert page.status_code == 200
    assert 'id="merge"' not in page.text and "只能查看" in page.text
    for action in ("merge", "reject"):
        answer = client.post(f"/steward/pairs/{store[0]}/{action}", data={"csrf_token": token})
        assert answer.status_code == 403 and "只读" in answer.text
    with db.reading() as session:
        golden_id = session.scalar(select(SourceRecord.golden_id).where(SourceRecord.source_id == "CUST-000101"))
        record_id = session.scalar(select(SourceRecord.id).where(SourceRecord.source_id == "0000100101"))
    split = client.post(f"/steward/golden/{golden_id}/split", data={"csrf_token": token, "record_id": record_id})
    assert split.status_code == 403
    assert pair_status(db, store[0]) == "open" and audits(db, "merge") == [] and audits(db, "split") == []


# -- decisions through the MDM operations -------------------------------------------------------

def test_merge_then_unmerge_through_the_mdm_operations(client: TestClient, db: Database, store: list[int]) -> None:
    token = sign_in(client, "li.wei")
    events_before = len(outbox_types(db))
    answer = client.post(f"/steward/pairs/{store[0]}/merge", data={"csrf_token": token, "reason": "同一家"})
    assert answer.status_code == 303
    assert re.fullmatch(r"/steward/(pairs/\d+|queue)", answer.headers["location"])  # on to the next pair

    [merged] = audits(db, "merge")
    assert merged.actor == "li.wei" and merged.pair_id == store[0] and merged.reason == "同一家"
    assert pair_status(db, store[0]) == "merged"
    assert outbox_types(db)[events_before:] == ["mdm.customer.merged.v1"]
    survivor, absorbed = merged.golden_id, merged.other_golden_id
    with db.reading() as session:
        assert session.get(Golden, absorbed).status == "merged"  # type: ignore[union-attr]
        # the one with more members keeps its code: the ERP record's golden record (ERP + SAP)
        erp = session.scalar(select(SourceRecord.golden_id).where(SourceRecord.source_id == HUACHENG["source_id"]))
        assert survivor == erp

    page = client.get(f"/steward/golden/{survivor}")
    assert page.status_code == 200 and "合并进来的主数据" in page.text and "li.wei" in page.text
    unmerge = client.post(f"/steward/golden/{survivor}/unmerge", data={"csrf_token": token, "merged_id": absorbed})
    assert unmerge.status_code == 303
    [undone] = audits(db, "unmerge")
    assert undone.actor == "li.wei" and undone.other_golden_id == absorbed
    assert outbox_types(db)[events_before + 1:] == ["mdm.customer.unmerged.v1", "mdm.customer.upserted.v1"]
    with db.reading() as session:
        assert session.get(Golden, absorbed).status == "active"  # type: ignore[union-attr]
    assert "已撤销合并" in client.get(f"/steward/golden/{survivor}").text


def test_not_a_duplicate_and_split(client: TestClient, db: Database, store: list[int]) -> None:
    token = sign_in(client, "li.wei")
    answer = client.post(f"/steward/pairs/{store[1]}/reject", data={"csrf_token": token})
    assert answer.status_code == 303
    [rejected] = audits(db, "reject")
    assert rejected.actor == "li.wei" and rejected.pair_id == store[1]
    assert pair_status(db, store[1]) == "rejected"
    again = client.post(f"/steward/pairs/{store[1]}/merge", data={"csrf_token": token})  # decided already
    assert again.status_code == 303 and again.headers["location"].startswith(f"/steward/pairs/{store[1]}")
    assert "操作未完成" in client.get(again.headers["location"]).text and audits(db, "merge") == []

    with db.reading() as session:
        golden_id = session.scalar(select(SourceRecord.golden_id).where(SourceRecord.source_id == "CUST-000101"))
        record_id = session.scalar(select(SourceRecord.id).where(SourceRecord.source_id == "0000100101"))
    events_before = len(outbox_types(db))
    split = client.post(f"/steward/golden/{golden_id}/split", data={"csrf_token": token, "record_id": record_id})
    assert split.status_code == 303
    [done] = audits(db, "split")
    assert done.actor == "li.wei" and done.golden_id == golden_id
    assert outbox_types(db)[events_before:] == ["mdm.customer.unmerged.v1", "mdm.customer.code_assigned.v1",
                                                "mdm.customer.upserted.v1"]


# -- pages, search, languages ---------------------------------------------------------------------

def test_queue_filters_and_counts(client: TestClient, store: list[int]) -> None:
    sign_in(client, "zhang.san")
    page = client.get("/steward/queue")
    assert page.status_code == 200 and f"共 {len(store)} 对" in page.text
    south = client.get("/steward/queue", params={"region": "华南"})
    assert "共 1 对" in south.text and "佛山宏达电气有限公司" in south.text and "无锡" not in south.text
    dms = client.get("/steward/queue", params={"source": "dms", "entity": "customer"})
    assert "共 2 对" in dms.text
    assert "共 0 对" in client.get("/steward/queue", params={"min_score": "0.99"}).text
    assert "共 0 对" in client.get("/steward/queue", params={"overdue": "1"}).text  # SLA 24 h
    assert client.get("/steward/queue", params={"min_score": "abc", "entity": "x"}).status_code == 200


def test_pair_page_shows_differences_preview_and_explanation(client: TestClient, store: list[int]) -> None:
    sign_in(client, "li.wei")
    page = client.get(f"/steward/pairs/{store[0]}").text
    assert "<mark>" in page and "合并后的主数据" in page and "匹配说明" in page
    assert "customer:customer.yaml" in page and "信用代码" in page and "字号" in page
    for shortcut in ('data-key="m"', 'data-key="n"', 'data-key="s"', "<kbd>M</kbd>"):
        assert shortcut in page


@pytest.mark.parametrize("term", ["华成", "華成機械", "huacheng", "hcjx", "szhc", "0512-66251234", "66251234",
                                  HUACHENG["credit_code"], "机械-华东-001", "機械-華東-001"])
def test_search_finds_the_same_golden_record(client: TestClient, db: Database, term: str) -> None:
    token = sign_in(client, "zhang.san")
    with db.reading() as session:
        golden_id = session.scalar(select(SourceRecord.golden_id).where(SourceRecord.source_id == "CUST-000101"))
    answer = client.post("/steward/search", data={"csrf_token": token, "q": term, "entity": "customer"})
    assert answer.status_code == 200
    assert f"/steward/golden/{golden_id}" in answer.text


def test_language_from_parameter_cookie_and_accept_language(db: Database, store: list[int]) -> None:
    test_client, _ = make_app(db)
    with test_client as client:
        assert "登录" in client.get("/steward/login").text
        english = client.get("/steward/login", params={"lang": "en"})
        assert "Sign in" in english.text and 'lang="en"' in english.text
        assert "Sign in" in client.get("/steward/login").text  # remembered in the session
        assert "登录" in client.get("/steward/login", params={"lang": "zh"}).text
    other, _ = make_app(db)
    with other as client:
        assert "Sign in" in client.get("/steward/login", headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"}).text
        assert "登录" in client.get("/steward/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text


def test_no_personal_data_in_urls_or_logs(client: TestClient, db: Database, store: list[int],
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = sign_in(client, "li.wei")
    urls: set[str] = set()
    pages = [client.get("/steward/queue"), client.get(f"/steward/pairs/{store[0]}")]
    with db.reading() as session:
        golden_ids = list(session.scalars(select(Golden.golden_id)))
    pages += [client.get(f"/steward/golden/{g}") for g in golden_ids]
    pages.append(client.post("/steward/search", data={"csrf_token": token, "q": "华成机械"}))
    decided = client.post(f"/steward/pairs/{store[2]}/merge", data={"csrf_token": token})
    urls.add(decided.headers["location"])
    assert all(page.status_code == 200 for page in pages)
    for page in pages:
        urls.update(re.findall(r'(?:href|action|formaction)="([^"]*)"', page.text))
    assert urls
    leaks = [(url, value) for url in urls for value in PERSONAL if value and value in url]
    assert not leaks, leaks
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [v for v in PERSONAL if v and v in logged] and "华成机械" not in logged


# -- reverse proxy -----------------------------------------------------------------------------------

def test_reverse_proxy_headers_only_from_trusted_addresses(db: Database, store: list[int]) -> None:
    settings = load_settings(database_url=str(db.engine.url.render_as_string(hide_password=False)))
    web = WebSettings(secret_key="k" * 40, cookie_secure="never", trusted_proxies=["10.1.0.0/16"])
    app = create_app(settings, db=db, topology=build_topology(settings.bus), installers=[web_steward.installer(web)])
    headers = {"X-Remote-User": "wang.wu", "X-Remote-Role": "steward"}
    with TestClient(app, follow_redirects=False, client=("10.9.0.1", 4000)) as outsider:
        assert outsider.get("/steward/queue", headers=headers).status_code == 303  # not believed
    with TestClient(app, follow_redirects=False, client=("10.1.2.3", 4000)) as proxied:
        page = proxied.get("/steward/queue", headers=headers)
        assert page.status_code == 200 and "wang.wu" in page.text
        token = csrf_of(proxied.get(f"/steward/pairs/{store[3]}", headers=headers).text)
        answer = proxied.post(f"/steward/pairs/{store[3]}/merge", data={"csrf_token": token}, headers=headers)
        assert answer.status_code == 303
        viewer = {"X-Remote-User": "zhao.liu", "X-Remote-Role": "nonsense"}  # unknown role: the default (viewer)
        page = proxied.get(f"/steward/pairs/{store[0]}", headers=viewer)
        assert 'id="merge"' not in page.text
        denied = proxied.post(f"/steward/pairs/{store[0]}/merge", data={"csrf_token": csrf_of(page.text)},
                              headers=viewer)
        assert denied.status_code == 403
    [merged] = audits(db, "merge")
    assert merged.actor == "wang.wu"


# -- overdue reviews and `hub users` --------------------------------------------------------------

def test_overdue_reviews_are_announced_with_links(db: Database, store: list[int]) -> None:
    sent: list[str] = []
    assert announce_overdue_reviews(db, sent.append, "https://hub.example.cn", 24) == 0
    assert sent == []
    time.sleep(0.05)
    count = announce_overdue_reviews(db, sent.append, "https://hub.example.cn/", {"customer": 1e-5})
    assert count == len(store) and len(sent) == 1
    message = sent[0]
    assert f"{len(store)} 对" in message and "客户" in message
    assert "https://hub.example.cn/steward/queue?entity=customer&overdue=1" in message
    assert f"https://hub.example.cn/steward/pairs/{store[0]})" in message
    assert not [v for v in PERSONAL if v in message]


def test_hub_users_cli(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean(db)
    monkeypatch.setenv("HUB_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        added = runner.invoke(users_cli, ["add", "li.wei", "--role", "steward"], input=f"{PASSWORD}\n{PASSWORD}\n")
        assert added.exit_code == 0, added.output
        secret = tmp_path / "pw"
        secret.write_text("another long password\n")
        from_file = runner.invoke(users_cli, ["add", "root", "--role", "admin", "--password-file", str(secret)])
        assert from_file.exit_code == 0
        monkeypatch.setenv("NEW_PW", "third long password")
        assert runner.invoke(users_cli, ["add", "zhang.san", "--password-env", "NEW_PW"]).exit_code == 0
        assert runner.invoke(users_cli, ["add", "x", "--password", "inline"]).exit_code != 0  # no such option
        short = runner.invoke(users_cli, ["add", "wu", "--password-env", "SHORT"], env={"SHORT": "short"})
        assert short.exit_code == 2 and "at least" in short.output
        assert runner.invoke(users_cli, ["role", "zhang.san", "steward"]).exit_code == 0
        assert runner.invoke(users_cli, ["disable", "root"]).exit_code == 0
        listed = runner.invoke(users_cli, ["list"])
        assert "li.wei" in listed.output and "disabled" in listed.output and PASSWORD not in listed.output
    finally:
        get_settings.cache_clear()
    with db.transaction() as session:
        assert authenticate(session, "li.wei", PASSWORD) is not None
        assert authenticate(session, "zhang.san", "third long password").role == "steward"  # type: ignore[union-attr]
        assert authenticate(session, "root", "another long password") is None  # disabled
        stored = session.scalar(text("SELECT password_hash FROM hub_user WHERE name = 'li.wei'"))
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
