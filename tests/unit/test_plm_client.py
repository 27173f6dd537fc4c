"""The PLM REST client against the simulator on loopback: OAuth2 tokens, the error table, retries, ETags."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from connectors.plm.client import PlmClient, RateLimited
from connectors.testing.plm_data import seed
from connectors.testing.plm_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PlmServer
from hub.core.errors import (
    ConfigError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
    is_retriable,
)


@pytest.fixture
def plm() -> Iterator[PlmServer]:
    with PlmServer(store=seed()) as server:
        yield server


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(plm: PlmServer, *, secret: str = DEMO_CLIENT_SECRET, retries: int = 2, timeout_s: float = 5.0,
                max_retry_after_s: float = 5.0, clock: Clock | None = None) -> PlmClient:
    return PlmClient(plm.base_url, DEMO_CLIENT_ID, secret, retries=retries, timeout_s=timeout_s,
                     max_retry_after_s=max_retry_after_s, refresh_margin_s=60, backoff_s=0.01,
                     max_backoff_s=0.02, clock=clock or time.monotonic)


@pytest.fixture
def client(plm: PlmServer) -> Iterator[PlmClient]:
    c = make_client(plm)
    yield c
    c.close()


def test_one_token_serves_many_calls(plm: PlmServer, client: PlmClient) -> None:
    assert client.ping() == plm.store.count()
    client.parts(None, 1, 5)
    client.part("FG-HC100-SS")
    assert client.token_fetches == 1 and plm.call_count("/oauth/token") == 1


def test_the_token_is_renewed_before_it_expires(plm: PlmServer) -> None:
    clock = Clock()
    client = make_client(plm, clock=clock)
    client.ping()
    clock.now += 3600 - 60 - 1  # still inside the lifetime minus the margin
    client.ping()
    assert client.token_fetches == 1
    clock.now += 2  # within 60 s of expiry: renewed before the call, the API never answers 401
    client.ping()
    assert client.token_fetches == 2 and plm.call_count("/oauth/token") == 2
    client.close()


def test_a_401_renews_the_token_once_and_retries(plm: PlmServer, client: PlmClient) -> None:
    client.ping()
    plm.fault_next("expired_token")
    page = client.parts(None, 1, 3)
    assert page is not None and len(page.items) == 3
    assert client.token_fetches == 2


def test_a_401_after_renewal_is_an_auth_error(plm: PlmServer, client: PlmClient) -> None:
    plm.fault_next("expired_token", times=2)
    with pytest.raises(SourceAuthError, match="even after renewing") as info:
        client.parts(None, 1, 3)
    assert not is_retriable(info.value) and client.token_fetches == 2


def test_wrong_client_secret_names_the_settings_never_the_secret(plm: PlmServer) -> None:
    client = make_client(plm, secret="not-the-secret-123")
    with pytest.raises(SourceAuthError) as info:
        client.ping()
    message = str(info.value)
    assert "HUB_PLM__CLIENT_SECRET" in message and "crm-hub" in message
    assert "not-the-secret-123" not in message and "not-the-secret-123" not in repr(client)
    assert plm.call_count("/api/") == 0


def test_403_is_an_auth_error(plm: PlmServer, client: PlmClient) -> None:
    plm.fault_next("forbidden")
    with pytest.raises(SourceAuthError, match="HTTP 403"):
        client.parts(None, 1, 3)


def test_429_waits_as_long_as_retry_after_says(plm: PlmServer, client: PlmClient) -> None:
    plm.fault_next("rate_limited", retry_after_s=1)
    started = time.monotonic()
    page = client.parts(None, 1, 3)
    assert page is not None and time.monotonic() - started >= 1.0
    assert plm.call_count("/api/v1/parts") == 2


def test_a_retry_after_beyond_the_bound_is_not_waited_for(plm: PlmServer) -> None:
    client = make_client(plm, max_retry_after_s=2)
    plm.fault_next("rate_limited", retry_after_s=120)
    started = time.monotonic()
    with pytest.raises(RateLimited, match="retry after 120 s") as info:
        client.parts(None, 1, 3)
    assert time.monotonic() - started < 1.0 and is_retriable(info.value)
    assert plm.call_count("/api/v1/parts") == 1


def test_rate_limiting_that_outlasts_the_retries_gives_up(plm: PlmServer) -> None:
    client = make_client(plm, retries=1)
    plm.fault_next("rate_limited", times=2, retry_after_s=0)
    with pytest.raises(SourceUnavailable, match="HTTP 429"):
        client.parts(None, 1, 3)
    assert plm.call_count("/api/v1/parts") == 2


def test_5xx_is_retried_then_succeeds(plm: PlmServer, client: PlmClient) -> None:
    plm.fault_next("http_500", times=2)
    assert client.parts(None, 1, 3) is not None
    assert plm.call_count("/api/v1/parts") == 3


def test_5xx_beyond_the_retries_is_unavailable_without_the_body(plm: PlmServer) -> None:
    client = make_client(plm, retries=0)
    plm.fault_next("http_500")
    with pytest.raises(SourceUnavailable) as info:
        client.parts(None, 1, 3)
    assert "HTTP 500" in str(info.value) and "<html>" not in str(info.value)


def test_malformed_json_is_a_protocol_error_and_not_retried(plm: PlmServer, client: PlmClient) -> None:
    plm.fault_next("malformed")
    with pytest.raises(SourceProtocolError, match="malformed JSON") as info:
        client.parts(None, 1, 3)
    assert "FG-HC1" not in str(info.value) and plm.call_count("/api/v1/parts") == 1


def test_a_slow_answer_times_out(plm: PlmServer) -> None:
    client = make_client(plm, retries=0, timeout_s=0.3)
    plm.fault_next("slow", delay_s=2.0)
    with pytest.raises(SourceUnavailable, match="did not answer within 0.3 s"):
        client.parts(None, 1, 3)


def test_an_unreachable_host_says_so() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = PlmClient(f"http://127.0.0.1:{port}", DEMO_CLIENT_ID, "s3cret-value", retries=0, timeout_s=1.0)
    with pytest.raises(SourceUnavailable) as info:
        client.ping()
    message = str(info.value)
    assert "unreachable" in message and "HUB_PLM__BASE_URL" in message and "s3cret-value" not in message


def test_an_unknown_part_or_bom_is_none_and_a_bad_request_is_rejected(client: PlmClient) -> None:
    assert client.part("NO-SUCH-PART") is None
    assert client.bom("FG-FYF500-SS", "A") is None  # INWORK, no BOM yet
    assert client.bom("FG-HC100-SS", "B") == {
        "partNumber": "FG-HC100-SS", "partRevision": "B", "bomNumber": "BOM-FG-HC100-SS", "bomType": "EBOM",
        "alternate": "0", "itemCount": 42, "lifecycleState": "RELEASED"}
    with pytest.raises(SourceRejected, match="HTTP 400"):
        client.parts("yesterday", 1, 3)


def test_an_unchanged_page_answers_304_and_gives_none(client: PlmClient) -> None:
    first = client.parts(None, 1, 4)
    assert first is not None and first.etag and first.next_page == 2
    assert client.parts(None, 1, 4, etag=first.etag) is None
    assert client.parts(None, 1, 4, etag='"something-else"') is not None


def test_paging_follows_next_page_to_the_end(plm: PlmServer, client: PlmClient) -> None:
    seen, page_no = 0, 1
    while page_no:
        page = client.parts(None, page_no, 4)
        assert page is not None
        seen += len(page.items)
        page_no = page.next_page or 0
    assert seen == plm.store.count()


@pytest.mark.parametrize("url", ["ftp://plm.example/api", "plm.example", "file:///etc/passwd"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ConfigError, match="HUB_PLM__BASE_URL"):
        PlmClient(url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


# ------------------------------------------------------------------------ answers no simulator gives


def canned(api: Callable[[httpx.Request], httpx.Response],
           token: bytes = b'{"access_token": "abc", "expires_in": 3600}') -> PlmClient:
    """A client whose token and API answers come from in-process handlers."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, content=token)
        return api(request)

    client = PlmClient("http://plm.test", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, retries=0, max_retry_after_s=0)
    client._http = httpx.Client(transport=httpx.MockTransport(handle))  # noqa: SLF001 - canned answers
    return client


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"items": [{"number": "\\udc80"}]}',
                                  b'{"items": [], "x": "\xff"}'])
def test_deep_nesting_lone_surrogates_and_invalid_utf8_are_malformed_json(body: bytes) -> None:
    client = canned(lambda _r: httpx.Response(200, content=body))
    with pytest.raises(SourceProtocolError, match="malformed JSON"):
        client.parts(None, 1, 3)


@pytest.mark.parametrize("token", [b'{"access_token": "\xe9\x95\xbf", "expires_in": 60}',
                                   b'{"access_token": "a b", "expires_in": 60}'])
def test_a_token_no_authorization_header_can_carry_is_a_protocol_error(token: bytes) -> None:
    with pytest.raises(SourceProtocolError, match="access_token"):
        canned(lambda _r: httpx.Response(200, json={"items": []}), token).parts(None, 1, 3)


def test_an_etag_that_cannot_be_sent_back_is_not_kept() -> None:
    client = canned(lambda r: httpx.Response(200, json={"items": []}, headers=[(b"ETag", '"长"'.encode())]))
    page = client.parts(None, 1, 3)
    assert page is not None and page.etag is None


def test_a_total_that_is_not_a_number_is_a_protocol_error() -> None:
    with pytest.raises(SourceProtocolError, match="totalItems"):
        canned(lambda _r: httpx.Response(200, json={"items": [], "totalItems": " "})).ping()


def test_a_retry_after_float_cannot_read_is_no_retry_after() -> None:
    client = canned(lambda _r: httpx.Response(429, headers=[(b"Retry-After", "²".encode())]))
    with pytest.raises(RateLimited) as info:
        client.ping()
    assert info.value.retry_after_s is None
