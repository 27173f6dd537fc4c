"""PLM answers fuzzed: any status, content type and body becomes data or a hub error, never a raw exception.

The simulator's request handler answers in-process (httpx.MockTransport, no socket), and hypothesis
replaces or distorts its answers: malformed JSON, wrong shapes, 5 MB bodies, invalid UTF-8, lone
surrogate escapes, wrong content types, odd ETag and Retry-After headers.

    client     one call (token, ping, parts, part, BOM) → its data, or a HubError
    stream     a sync whose answers are distorted in transit → received = published + dead-lettered
               (or a HubError, with nothing of the failed page committed)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.plm.client import USER_AGENT, PartsPage, PlmClient
from connectors.plm.connector import PlmConnector
from connectors.testing.plm_data import seed
from connectors.testing.plm_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PlmServer
from hub.core.db import Database
from hub.core.errors import HubError
from hub.core.settings import load_settings
from hub.core.topology import Topology
from tests.faults.fuzzing import (
    FEW,
    FUZZ,
    bodies,
    mojibake,
    mutated,
    mutated_object,
    odd_text,
    scalars,
    sync_again,
    sync_from_scratch,
)

Answer = tuple[int, dict[str, str], bytes]
Draw = Callable[[st.SearchStrategy[Any]], Any]
BASE_URL = "http://plm.fuzz"
statuses = st.sampled_from([200, 200, 201, 204, 302, 304, 400, 401, 403, 404, 409, 418, 429, 500, 503])
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/html",
                                 "application/xml", "text/plain; charset=gbk", "application/octet-stream", ""])
etags = st.one_of(st.sampled_from(['"长"', '"\ufeff"', 'W/"a\x01"', '"a\r\nX-Evil: 1"', '"\x80"', '"abc"']),
                  odd_text, mojibake, st.text(max_size=20))
retry_afters = st.one_of(st.sampled_from(["1", "²", "9" * 40, "Mon, 99 Feb 2026 00:00:00 GMT",
                                         "Fri, 31 Dec 9999 23:59:59 -2359"]), odd_text, st.text(max_size=30))
headers = st.fixed_dictionaries({}, optional={"Content-Type": content_types, "ETag": etags,
                                              "Retry-After": retry_afters})


def surrogate_escaped(body: bytes) -> bytes:
    """The JSON body with a lone surrogate escape in its first `number` (valid JSON, invalid Unicode)."""
    return re.sub(rb'"number": ?"', lambda m: m.group(0) + rb"\udc80", body, count=1)


def distorted(draw: Draw, answer: Answer) -> Answer:
    """The simulator's answer, mostly kept; else its JSON mutated, its body replaced, or all of it."""
    status, head, body = answer
    choice = draw(st.integers(0, 12))
    if choice <= 7:
        return answer
    if choice == 8:
        return status, {**head, "ETag": draw(etags)}, body
    if choice == 9:
        try:
            loaded = json.loads(body)
        except ValueError:
            return answer
        return status, head, json.dumps(draw(mutated(loaded)), ensure_ascii=False, default=str).encode()
    if choice == 10:
        return status, head, surrogate_escaped(body)
    if choice == 11:
        return status, head, draw(bodies)
    return draw(statuses), draw(headers), draw(bodies)


def transport(plm: PlmServer, answer: Callable[[str, Answer], Answer]) -> httpx.MockTransport:
    """The simulator behind httpx, with `answer(path, simulated)` deciding what the client gets."""
    def handle(request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode()
        simulated = plm.handle(request.method, target, dict(request.headers), request.content)
        status, head, body = answer(request.url.path, simulated)
        raw = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in head.items()]  # as on the wire
        return httpx.Response(status, headers=raw, content=body)

    return httpx.MockTransport(handle)


def fuzz_client(plm: PlmServer, answer: Callable[[str, Answer], Answer]) -> PlmClient:
    """A client of the simulator whose answers pass through `answer`; never retries or waits."""
    client = PlmClient(BASE_URL, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, retries=0, max_retry_after_s=0.0,
                       backoff_s=0.0, max_backoff_s=0.0)
    client._http = httpx.Client(transport=transport(plm, answer),  # noqa: SLF001 - the transport under test
                                headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    return client


@pytest.fixture(scope="module")
def plm() -> PlmServer:
    return PlmServer(store=seed(bad_rows=True))  # never started: its handler answers in-process


def parts_twice(client: PlmClient) -> PartsPage | None:
    """A page of parts, then the same page again with its ETag (as the next sync asks)."""
    page = client.parts(None, 1, 5)
    if page is not None and page.etag:
        client.parts(None, 1, 5, etag=page.etag)
    return page


CALLS: dict[str, Callable[[PlmClient], Any]] = {
    "token": lambda c: c.ping(),  # with the token answer fuzzed
    "ping": lambda c: c.ping(),
    "parts": parts_twice,
    "part": lambda c: c.part("FG-HC100-SS"),
    "bom": lambda c: c.bom("FG-HC100-SS", "B"),
}
RESULTS: dict[str, type | tuple[type, ...]] = {"token": int, "ping": int, "parts": (PartsPage, type(None)),
                                               "part": (dict, type(None)), "bom": (dict, type(None))}


TOKEN = {"access_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "token_type": "Bearer", "expires_in": 3600}
tokens = st.one_of(st.builds(lambda value: {**TOKEN, "access_token": value},
                             st.one_of(odd_text, mojibake, st.text())),
                   st.builds(lambda value: {**TOKEN, "expires_in": value}, scalars), mutated(TOKEN))
token_answers = st.one_of(st.builds(lambda token: (200, {"Content-Type": "application/json"}, json.dumps(
    token, ensure_ascii=False, default=str).encode()), tokens), st.tuples(statuses, headers, bodies))


@pytest.mark.parametrize("call", list(CALLS))
def test_any_answer_is_data_or_a_hub_error(plm: PlmServer, call: str) -> None:
    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        def answer(path: str, simulated: Answer) -> Answer:
            if call == "token":
                return data.draw(token_answers) if path == "/oauth/token" else simulated
            return distorted(data.draw, simulated) if path.startswith("/api/") else simulated

        client = fuzz_client(plm, answer)
        try:
            assert isinstance(CALLS[call](client), RESULTS[call])
        except HubError:
            pass
        finally:
            client.close()

    check()


@FUZZ
@given(retry_after=retry_afters)
def test_any_retry_after_of_a_rate_limit_is_a_hub_error(plm: PlmServer, retry_after: str) -> None:
    client = fuzz_client(plm, lambda path, simulated: (429, {"Retry-After": retry_after}, b"")
                         if path.startswith("/api/") else simulated)
    try:
        with pytest.raises(HubError):
            client.ping()
    finally:
        client.close()


# ----------------------------------------------------------------------------------------- stream


class PartAnswers:
    """A PLM client answering the stream with hypothesis' data, in the shapes the client guarantees."""

    def __init__(self, items: list[dict[str, Any]], master: dict[str, Any] | None,
                 bom: dict[str, Any] | None) -> None:
        self.items, self.master, self.bom_header = items, master, bom

    def parts(self, since: str | None, page: int, size: int, etag: str | None = None) -> PartsPage:
        return PartsPage(self.items, None, None)

    def part(self, number: str) -> dict[str, Any] | None:
        return self.master

    def bom(self, number: str, revision: str) -> dict[str, Any] | None:
        return self.bom_header

    def close(self) -> None:
        """Nothing to close."""


STORE = seed()
ITEM = next(i for i in STORE.page(None, 1, 50)[0] if i["lifecycleState"] == "RELEASED")
MASTER, BOM = STORE.part(ITEM["number"]), STORE.bom(ITEM["number"], ITEM["revision"])


@FEW
@given(items=st.lists(mutated_object(ITEM), max_size=4), master=st.one_of(mutated_object(MASTER), st.none()),
       bom=st.one_of(mutated_object(BOM), st.none()))
def test_any_part_data_is_published_dead_lettered_or_left_out(fuzz_db: Database, fuzz_topology: Topology,
                                                              items: list[dict[str, Any]],
                                                              master: dict[str, Any] | None,
                                                              bom: dict[str, Any] | None) -> None:
    settings = load_settings(plm={"base_url": BASE_URL, "client_id": DEMO_CLIENT_ID}).plm
    answers = PartAnswers(items, master, bom)
    connector = PlmConnector(settings, lambda _s: answers)  # type: ignore[arg-type,return-value]
    sync_from_scratch(fuzz_db, fuzz_topology, connector, connector.stream("products"))


def test_distorted_answers_are_published_dead_lettered_or_a_hub_error(plm: PlmServer, fuzz_db: Database,
                                                                      fuzz_topology: Topology) -> None:
    settings = load_settings(plm={"base_url": BASE_URL, "client_id": DEMO_CLIENT_ID,
                                  "client_secret": DEMO_CLIENT_SECRET, "page_size": 4, "retries": 0}).plm

    @FEW
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        budget = iter(range(20))  # distort the first 20 API answers: the simulator's data then ends the sync

        def answer(path: str, simulated: Answer) -> Answer:
            api = path.startswith("/api/") and next(budget, None) is not None
            return distorted(data.draw, simulated) if api else simulated

        connector = PlmConnector(settings, lambda _s: fuzz_client(plm, answer))
        try:
            sync_from_scratch(fuzz_db, fuzz_topology, connector, connector.stream("products"))
            sync_again(fuzz_db, fuzz_topology, connector, connector.stream("products"))  # from the stored cursor
        except HubError:
            pass
        finally:
            connector.close()

    check()
