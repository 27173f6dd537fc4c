"""The steward pages in real headless Chromium (Debian's, driven by Playwright), served by uvicorn.

A seeded SQLite store; the steward signs in, opens the queue, merges the oldest pair with the `m`
key, undoes the merge on the golden record's page, skips a pair with `s`, marks one "not a
duplicate" with `n`, searches by pinyin initials and switches to English. Afterwards the database
has the audit rows naming the steward, and the events reach a RabbitMQ queue through the outbox.
A screenshot of each page is saved under test-output/screenshots/ for review.

Needs /usr/bin/chromium (`apt-get install chromium`): skipped without it, failed under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pytest
import uvicorn
from sqlalchemy import select

from hub.app import web_steward
from hub.app.steward_settings import WebSettings
from hub.app.users import add_user
from hub.app.web import create_app
from hub.core.db import Database, open_database
from hub.core.outbox import Relay
from hub.core.publisher import Publisher
from hub.core.settings import HubSettings, load_settings
from hub.core.topology import Topology, apply, build_topology, delete
from mdm.models import Audit, Golden, Pair
from tests.conftest import AMQP_URL, require_service
from tests.steward_seed import seed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
USER, PASSWORD = "li.wei", "steward password 1"


def require_chromium() -> None:
    """Skip (or, under CI=true, fail) when Chromium or Playwright is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[test]')"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem + " (CI=true: browser tests are required)")
    pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """The running app: its URL, database, settings, topology and the open pairs seeded."""

    url: str
    db: Database
    settings: HubSettings
    topology: Topology
    pairs: list[int]
    queue: str


def _settings(db_url: str) -> HubSettings:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    bus = {"url": AMQP_URL, "events_exchange": f"{prefix}.events", "dead_exchange": f"{prefix}.dlx",
           "dead_queue": f"{prefix}.dead", "delivery_limit": 3, "subscribers": {f"{prefix}.crm": ["mdm.#"]}}
    return load_settings(database_url=db_url, bus=bus)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """uvicorn on a free loopback port, in a thread, over a seeded SQLite store; the topology on RabbitMQ."""
    require_chromium()
    require_service("RabbitMQ", 5672)
    db_url = f"sqlite:///{tmp_path_factory.mktemp('steward')}/hub.db"
    settings = _settings(db_url)
    topology = build_topology(settings.bus)
    apply(settings.bus, topology)
    db = open_database(db_url)
    with db.transaction() as session:
        pairs = seed(session)
        add_user(session, USER, "steward", PASSWORD)
    web = WebSettings(secret_key="e2e-" + "s" * 40, cookie_secure="auto")
    app = create_app(settings, db=db, topology=topology, installers=[web_steward.installer(web)])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", db, settings, topology, pairs,
                     next(q.name for q in topology.queues if q.name.endswith(".crm")))
    finally:
        server.should_exit = True
        thread.join(10)
        delete(settings.bus, topology)
        db.dispose()


@pytest.fixture(scope="module")
def page(served: Served) -> Iterator[Any]:
    """A Chromium page (Debian's browser; Playwright's own download is not used)."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.on("dialog", lambda dialog: dialog.accept())  # the "really undo?" confirmation
        yield tab
        context.close()
        browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def pair_id_of(url: str) -> int:
    found = re.search(r"/steward/pairs/(\d+)", url)
    assert found, url
    return int(found.group(1))


def audit_rows(db: Database, operation: str) -> list[Audit]:
    with db.reading() as session:
        return list(session.scalars(select(Audit).where(Audit.operation == operation).order_by(Audit.id)))


def bus_messages(served: Served) -> list[dict[str, Any]]:
    """Relay the outbox to RabbitMQ, then take everything from the subscriber queue bound to mdm.#."""
    with Publisher(served.settings.bus) as publisher:
        Relay(served.db, publisher, served.topology).drain()
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    out = []
    while True:
        method, _props, body = channel.basic_get(served.queue, auto_ack=True)
        if method is None:
            break
        out.append(json.loads(body))
    connection.close()
    return out


def test_a_steward_works_through_the_queue_in_the_browser(served: Served, page: Any) -> None:
    # Sign in (the queue sends us to the sign-in page first).
    page.goto(served.url + "/steward/queue")
    assert "/steward/login" in page.url
    shot(page, "login")
    page.fill("#name", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/steward/queue")
    assert f"共 {len(served.pairs)} 对" in page.inner_text("#total")
    shot(page, "queue")

    # The oldest pair, merged with the keyboard.
    page.click("#start")
    page.wait_for_url("**/steward/pairs/*")
    first = pair_id_of(page.url)
    assert first == served.pairs[0]
    assert page.locator("#compare mark").count() > 0 and page.locator("#explanation meter").count() > 0
    assert "M 合并" in page.inner_text(".shortcuts")
    shot(page, "pair")
    with page.expect_navigation():
        page.keyboard.press("m")
    assert "已合并" in page.inner_text("#flash")
    [merged] = audit_rows(served.db, "merge")
    assert merged.actor == USER and merged.pair_id == first
    with served.db.reading() as session:
        assert session.get(Pair, first).status == "merged"  # type: ignore[union-attr]

    # The survivor's page: members, aliases, history; undo the merge there.
    page.goto(f"{served.url}/steward/golden/{merged.golden_id}")
    assert page.locator("#members tbody tr").count() == 3
    assert page.locator("#aliases .chip").count() == 1
    assert USER in page.inner_text("#history")
    shot(page, "golden")
    with page.expect_navigation():
        page.click(f"button[data-merged='{merged.other_golden_id}']")
    assert "已撤销合并" in page.inner_text("#flash")
    assert page.locator("#members tbody tr").count() == 2
    [undone] = audit_rows(served.db, "unmerge")
    assert undone.actor == USER and undone.other_golden_id == merged.other_golden_id
    with served.db.reading() as session:
        assert session.get(Golden, merged.other_golden_id).status == "active"  # type: ignore[arg-type,union-attr]

    # Back in the queue: skip one pair with "s", mark the next "not a duplicate" with "n".
    page.goto(served.url + "/steward/queue")
    page.click("#start")
    page.wait_for_url("**/steward/pairs/*")
    skipped = pair_id_of(page.url)
    with page.expect_navigation():
        page.keyboard.press("s")
    rejected = pair_id_of(page.url)
    assert rejected != skipped
    with page.expect_navigation():
        page.keyboard.press("n")
    assert "不是重复" in page.inner_text("#flash")
    [reject] = audit_rows(served.db, "reject")
    assert reject.actor == USER and reject.pair_id == rejected
    with served.db.reading() as session:
        assert session.get(Pair, rejected).status == "rejected"  # type: ignore[union-attr]
        assert session.get(Pair, skipped).status == "open"  # type: ignore[union-attr]

    # Search by pinyin initials: the term goes in the POST body, not the URL.
    page.goto(served.url + "/steward/search")
    page.fill("#q", "szhcjx")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/steward/search")
    assert "苏州华成机械有限公司" in page.inner_text("#results")
    shot(page, "search")

    # English on request.
    page.goto(served.url + "/steward/queue?lang=en")
    assert "Candidate duplicates to review" in page.inner_text("h1")
    shot(page, "queue-en")

    # The bus: the merge, its undo (and nothing for "not a duplicate") reached the subscriber's queue.
    received = bus_messages(served)
    assert [m["type"] for m in received] == ["mdm.customer.merged.v1", "mdm.customer.unmerged.v1",
                                             "mdm.customer.upserted.v1"]
    assert received[0]["data"]["golden_id"] == merged.golden_id
    assert received[1]["data"]["golden_id"] == merged.other_golden_id
