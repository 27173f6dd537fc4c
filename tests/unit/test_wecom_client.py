"""The WeCom API client against the simulator: tokens, refresh, backoff, errors, windows, no leaks."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.testing.wecom_server import DEMO_SECRETS, SEED_START, WecomServer, seed
from connectors.wecom.client import MAX_SPAN_S, MAX_USERS, WecomClient, redact
from connectors.wecom.connector import SETTING_NAMES, WecomConnector, app_secrets
from connectors.wecom.errors import WecomAuthError, WecomRejected, WecomUnavailable
from connectors.wecom.records import approval_payload, local_iso
from connectors.wecom.streams import CheckinStream, chunks, windows
from hub.core.errors import (
    ConfigError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
    is_retriable,
)
from hub.core.settings import load_settings

CANARY = "CANARY-secret-4d1f9b7e"
TOKEN_PATH = "/cgi-bin/gettoken"
CHECKIN_PATH = "/cgi-bin/checkin/getcheckindata"
CHINA = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def wecom() -> Iterator[WecomServer]:
    secrets = dict(DEMO_SECRETS, checkin=CANARY)
    with WecomServer(data=seed(n_users=230, field_users=12, days=75), app_secrets=secrets) as server:
        yield server


class Sleeps(list[float]):
    """A sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(server: WecomServer, *, clock: Any = None, sleep: Any = None, **secrets: str) -> WecomClient:
    values = {app: SecretStr(value) for app, value in server.app_secrets.items()}
    values.update({app: SecretStr(value) for app, value in secrets.items()})
    options: dict[str, Any] = {"sleep": Sleeps() if sleep is None else sleep, "retries": 3, "backoff_s": 0.5}
    if clock is not None:
        options["clock"] = clock
    return WecomClient(server.url, server.corp_id, values, setting_names=SETTING_NAMES, timeout_s=2.0, **options)


def some_checkins(client: WecomClient) -> list[dict[str, Any]]:
    start = int(dt.datetime.combine(SEED_START, dt.time(), CHINA).timestamp())
    return client.checkin_data(["zhangwei"], start, start + 7 * 86400)


# ------------------------------------------------------------------------------------------- tokens


def test_token_is_cached_until_shortly_before_expiry(wecom: WecomServer) -> None:
    now = [1000.0]
    client = make_client(wecom, clock=lambda: now[0])
    first = client.token("checkin")
    now[0] += 7200 - 301
    assert client.token("checkin") == first and wecom.call_count(TOKEN_PATH) == 1
    now[0] += 2  # within the 300 s margin: fetched again before WeCom would expire it
    assert client.token("checkin") != first and wecom.call_count(TOKEN_PATH) == 2


def test_each_app_has_its_own_token(wecom: WecomServer) -> None:
    client = make_client(wecom)
    assert client.token("checkin") != client.token("approval")
    assert wecom.call_count(TOKEN_PATH) == 2


def test_many_threads_share_one_gettoken_call(wecom: WecomServer) -> None:
    wecom.delay(TOKEN_PATH, 0.3)
    client = make_client(wecom)
    barrier, tokens = threading.Barrier(16), []

    def worker() -> None:
        barrier.wait()
        tokens.append(client.token("checkin"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(tokens) == 16 and len(set(tokens)) == 1
    assert wecom.call_count(TOKEN_PATH) == 1


def test_many_threads_refreshing_a_refused_token_share_one_new_one(wecom: WecomServer) -> None:
    client = make_client(wecom)
    some_checkins(client)
    wecom.expire_tokens()
    barrier, errors = threading.Barrier(8), []

    def worker() -> None:
        barrier.wait()
        try:
            some_checkins(client)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert wecom.call_count(TOKEN_PATH) == 2  # the first one, and one refresh for all eight


@pytest.mark.parametrize("break_tokens", ["expire_tokens", "revoke_tokens"], ids=["42001", "40014"])
def test_a_refused_token_is_refreshed_and_the_call_retried_once(wecom: WecomServer, break_tokens: str) -> None:
    client = make_client(wecom)
    some_checkins(client)
    getattr(wecom, break_tokens)()
    assert some_checkins(client)
    assert wecom.call_count(TOKEN_PATH) == 2 and wecom.call_count(CHECKIN_PATH) == 3


def test_errcode_40001_on_a_call_means_a_stale_token_too(wecom: WecomServer) -> None:
    client = make_client(wecom)
    wecom.fail_next(CHECKIN_PATH, errcode=40001)
    assert some_checkins(client)
    assert wecom.call_count(TOKEN_PATH) == 2


def test_a_fresh_token_refused_again_is_an_auth_error(wecom: WecomServer) -> None:
    client = make_client(wecom)
    wecom.fail_next(CHECKIN_PATH, errcode=42001, times=2)
    with pytest.raises(WecomAuthError) as info:
        some_checkins(client)
    assert "HUB_WECOM__CHECKIN_SECRET" in str(info.value)
    assert wecom.call_count(CHECKIN_PATH) == 2  # retried once, not more


# --------------------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize("errcode", [45009, 45011, 45033, -1])
def test_rate_limits_back_off_and_succeed(wecom: WecomServer, errcode: int) -> None:
    sleeps = Sleeps()
    client = make_client(wecom, sleep=sleeps)
    client.token("checkin")
    wecom.fail_next(CHECKIN_PATH, errcode=errcode, times=2)
    assert some_checkins(client)
    assert sleeps == [0.5, 1.0]


def test_rate_limit_retries_are_bounded(wecom: WecomServer) -> None:
    sleeps = Sleeps()
    client = make_client(wecom, sleep=sleeps)
    client.token("checkin")
    wecom.fail_next(CHECKIN_PATH, errcode=45009, times=10)
    with pytest.raises(WecomUnavailable) as info:
        some_checkins(client)
    assert is_retriable(info.value) and info.value.errcode == 45009
    assert wecom.call_count(CHECKIN_PATH) == 4 and sleeps == [0.5, 1.0, 2.0]


def test_http_5xx_is_retried_then_unavailable(wecom: WecomServer) -> None:
    client = make_client(wecom)
    client.token("checkin")
    wecom.fail_next(CHECKIN_PATH, http_status=502, times=1)
    assert some_checkins(client)
    wecom.fail_next(CHECKIN_PATH, http_status=503, times=4)
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        some_checkins(client)


def test_an_unreachable_server_is_unavailable() -> None:
    client = WecomClient("http://127.0.0.1:9", "ww1", {"checkin": SecretStr(CANARY)}, retries=1, sleep=Sleeps())
    with pytest.raises(SourceUnavailable) as info:
        client.token("checkin")
    assert "unreachable" in str(info.value) and CANARY not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ------------------------------------------------------------------------------------------- errors


def test_wrong_corp_id_is_an_auth_error_naming_the_setting(wecom: WecomServer) -> None:
    client = WecomClient(wecom.url, "ww-not-ours", {"checkin": SecretStr(CANARY)}, sleep=Sleeps())
    with pytest.raises(SourceAuthError, match="HUB_WECOM__CORP_ID"):
        client.token("checkin")


def test_wrong_secret_is_an_auth_error_naming_the_setting(wecom: WecomServer) -> None:
    client = make_client(wecom, checkin="wrong-" + CANARY)
    with pytest.raises(SourceAuthError) as info:
        client.token("checkin")
    assert "HUB_WECOM__CHECKIN_SECRET" in str(info.value) and CANARY not in str(info.value)
    assert not is_retriable(info.value) and wecom.call_count(TOKEN_PATH) == 1


@pytest.mark.parametrize(("errcode", "error"), [
    (60011, SourceAuthError), (48002, SourceAuthError), (301002, SourceRejected), (301025, SourceRejected),
    (84061, SourceRejected),
])
def test_error_table(wecom: WecomServer, errcode: int, error: type[Exception]) -> None:
    client = make_client(wecom)
    client.token("checkin")
    wecom.fail_next(CHECKIN_PATH, errcode=errcode)
    with pytest.raises(error) as info:
        some_checkins(client)
    assert f"errcode {errcode}" in str(info.value) and "hint" in str(info.value)
    assert not is_retriable(info.value) and wecom.call_count(CHECKIN_PATH) == 1


def test_an_app_without_a_secret_is_a_config_error(wecom: WecomServer) -> None:
    client = make_client(wecom, approval="")
    with pytest.raises(ConfigError, match="HUB_WECOM__APPROVAL_SECRET"):
        client.approval_detail("202408150001")


def test_the_simulator_enforces_the_limits_the_client_respects(wecom: WecomServer) -> None:
    client = make_client(wecom)
    with pytest.raises(ValueError):
        client.checkin_data([f"u{i}" for i in range(MAX_USERS + 1)], 0, 10)
    with pytest.raises(ValueError):
        client.checkin_data(["zhangwei"], 0, MAX_SPAN_S + 1)
    body = {"opencheckindatatype": 3, "starttime": 0, "endtime": 10, "useridlist": [f"u{i}" for i in range(101)]}
    with pytest.raises(WecomRejected, match="301023"):
        client.call("checkin", "POST", CHECKIN_PATH, body=body)
    body = {"opencheckindatatype": 3, "starttime": 0, "endtime": MAX_SPAN_S + 1, "useridlist": ["zhangwei"]}
    with pytest.raises(WecomRejected, match="301022"):
        client.call("checkin", "POST", CHECKIN_PATH, body=body)


def test_external_contact_follows_the_cursor(wecom: WecomServer) -> None:
    wecom.follow_page_size = 1
    client = make_client(wecom)
    detail = client.external_contact("wmJ3vXCQAAq2Lf8Pz6Tn4Rw1Xe9Ub7Ck")
    assert [f["userid"] for f in detail["follow_user"]] == ["lina", "zhangwei"]
    assert wecom.call_count("/cgi-bin/externalcontact/get") == 2


# ------------------------------------------------------------------------------------------ windows


def test_windows_and_chunks_split_exactly() -> None:
    day = 86400
    assert list(windows(0, 75 * day, 30 * day)) == [(0, 30 * day), (30 * day, 60 * day), (60 * day, 75 * day)]
    assert [len(c) for c in chunks([str(i) for i in range(230)])] == [100, 100, 30]
    with pytest.raises(ValueError):
        list(windows(0, 10, 31 * day))


def test_checkin_stream_pulls_100_users_by_30_days_at_most(wecom: WecomServer) -> None:
    start = dt.datetime.combine(SEED_START, dt.time(), CHINA)
    now = (start + dt.timedelta(days=75)).timestamp()
    settings = load_settings(wecom=wecom.settings(checkin_settle_s=0)).wecom
    connector = WecomConnector(settings)
    stream = CheckinStream(connector.client, settings, clock=lambda: now)
    pages = list(stream.read(None))
    requests = wecom.checkin_requests()
    assert len(requests) == 3 * 3  # ⌈230 / 100⌉ user chunks × ⌈75 / 30⌉ windows
    for body in requests:
        assert 0 < len(body["useridlist"]) <= MAX_USERS
        assert body["endtime"] - body["starttime"] <= MAX_SPAN_S
    covered = {(body["starttime"], body["endtime"]) for body in requests}
    assert min(s for s, _ in covered) == int(start.timestamp()) and max(e for _, e in covered) == int(now) - 1
    assert sum(len(p.records) for p in pages) == len(wecom.data.checkins)
    keys = [r.key for p in pages for r in p.records]
    assert len(keys) == len(set(keys))
    assert pages[-1].cursor["until"] == int(now)
    connector.close()


def test_users_come_from_user_list_id_filtered_by_department(wecom: WecomServer) -> None:
    settings = load_settings(wecom=wecom.settings(checkin_departments=[2])).wecom
    connector = WecomConnector(settings)
    stream = CheckinStream(connector.client, settings)
    assert len(stream.users()) == 12
    assert wecom.call_count("/cgi-bin/user/list_id") == 1
    settings = load_settings(wecom=wecom.settings(checkin_users=["lina", "zhangwei", "lina"])).wecom
    assert CheckinStream(connector.client, settings).users() == ["lina", "zhangwei"]
    connector.close()


# ------------------------------------------------------------------------------------------- leaks


def test_secrets_and_tokens_never_reach_logs_or_errors(wecom: WecomServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # another test's CLI run may have quietened it
    client = make_client(wecom)
    token = client.token("checkin")
    some_checkins(client)
    wecom.expire_tokens()
    some_checkins(client)
    new_token = client.token("checkin")
    wecom.fail_next(CHECKIN_PATH, errcode=45009, times=1)
    some_checkins(client)
    messages = []
    for broken in (make_client(wecom, checkin="x" + CANARY), WecomClient("http://127.0.0.1:9", wecom.corp_id,
                                                                          {"checkin": SecretStr(CANARY)},
                                                                          retries=0)):
        with pytest.raises(Exception) as info:
            broken.token("checkin")
        messages.append(str(info.value))
    logged = caplog.text
    assert "corpsecret=***" in logged and "access_token=***" in logged  # httpx logged, redacted
    for secret in (CANARY, token, new_token):
        assert secret not in logged
        assert all(secret not in m for m in messages)
    assert CANARY not in repr(client) and CANARY not in repr(app_secrets(load_settings(
        wecom={"checkin_secret": CANARY}).wecom))


def test_redact_hides_every_secret_query_value() -> None:
    line = "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=S3CRET&x=1 /send?key=K3Y&access_token=T0K"
    assert redact(line) == "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=***&x=1 /send?key=***&access_token=***"


# ------------------------------------------------------------------------------------ contract hook


def test_simulated_settings_hook_gives_a_working_connector() -> None:
    from connectors import load_connector
    from connectors.wecom.simulator import simulated_settings
    from mappings import load_mapping

    with simulated_settings() as overrides:
        connector = load_connector("wecom", load_settings(**overrides))
        connector.check()
        (stream,) = connector.streams()
        assert (stream.name, stream.entity, stream.mapping, stream.primary_key, stream.cursor_field) == (
            "checkins", "checkin", "wecom/checkin", ("userid", "checkin_time"), "checkin_time")
        assert load_mapping(stream.mapping).target == "wecom/checkin.v1"
        pages = list(stream.read(None))
        assert sum(len(p.records) for p in pages) > 0
        assert not any(p.records for p in stream.read(pages[-1].cursor))
        secret = overrides["wecom"]["checkin_secret"]
        wrong = {**overrides, "wecom": {**overrides["wecom"], "checkin_secret": "wrong", "approval_secret": "",
                                        "contact_secret": "", "directory_secret": ""}}
        broken = load_connector("wecom", load_settings(**wrong))
        with pytest.raises(SourceAuthError) as info:
            broken.check()
        assert secret not in str(info.value) and "wrong" not in str(info.value)
        connector.close()
        broken.close()


# ------------------------------------------------------------------------ answers no simulator gives


def canned(answer: bytes) -> WecomClient:
    """A client whose every API answer (a token first) is `answer`."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"errcode": 0, "access_token": "t", "expires_in": 7200})
        return httpx.Response(200, content=answer)

    return WecomClient("http://wecom.test", "ww1", {"checkin": SecretStr("s"), "contact": SecretStr("s")},
                       retries=0, transport=httpx.MockTransport(handle), sleep=Sleeps())


@pytest.mark.parametrize("answer", [b"[" * 100_000 + b"]" * 100_000, b'{"errcode": 0, "x": "\\ud800"}',
                                    b'{"errcode": 0, "x": "\xff"}'])
def test_answers_nested_too_deep_or_not_unicode_are_not_json(answer: bytes) -> None:
    with pytest.raises(SourceProtocolError, match="not JSON"):
        canned(answer).checkin_data(["zhangwei"], 0, 60)


@pytest.mark.parametrize("rows", [5, "abc", {"userid": "zhangwei"}, True])
def test_checkin_data_that_is_not_a_list_is_a_protocol_error(rows: object) -> None:
    with pytest.raises(SourceProtocolError, match="checkindata"):
        canned(json.dumps({"errcode": 0, "checkindata": rows}).encode()).checkin_data(["zhangwei"], 0, 60)


def test_checkin_rows_that_are_not_objects_or_have_no_time_are_rejected_with_the_reason() -> None:
    good = {"userid": "zhangwei", "checkin_time": 1_722_475_800, "checkin_type": "上班打卡"}
    rows = [good, "zhangwei", 7, None, {**good, "checkin_time": 10**30}, {**good, "checkin_time": "1722475800"},
            {**good, "checkin_time": 10**12}, {**good, "checkin_time": True}]
    client = canned(json.dumps({"errcode": 0, "checkindata": rows}).encode())
    settings = load_settings(wecom={"corp_id": "ww1", "checkin_secret": "s"}).wecom
    page = CheckinStream(lambda: client, settings).window(["zhangwei"], 1_722_470_400, 1_722_556_800)
    assert [r.key for r in page.records] == ["zhangwei:1722475800"]  # 10**30 arrives as a float: no time
    assert [reason for _raw, reason in page.rejected] == ["checkins: row without userid or checkin_time"] * 7


@pytest.mark.parametrize("epoch", [10**12, 10**30, float("inf"), float("nan"), "9" * 5000, -1, None, "x"])
def test_unix_times_no_calendar_holds_have_no_local_time(epoch: object) -> None:
    assert local_iso(epoch) is None


def test_approval_details_of_any_shape_give_a_payload() -> None:
    options = [{"value": [{"lang": "zh_CN", "text": 5}]}, "x"]
    contents = [{"control": "Selector", "title": "x", "value": {"selector": {"options": options}}},
                {"control": "Contact", "value": {"members": [{"name": 7}, "x"]}},
                {"control": "Date", "value": {"date": []}}, "text"]
    info = {"sp_no": "1", "sp_record": [5, {"details": "x"}], "apply_data": {"contents": contents},
            "notifyer": {"userid": "a"}, "apply_time": 10**20, "title": 3}
    payload = approval_payload(info, None, "2026-11-20T09:00:00+08:00")
    assert payload["sp_record"] == [{"details": []}] and "apply_time_at" not in payload
    assert [c.get("text") for c in payload["form"]] == ["5", "7", None]
