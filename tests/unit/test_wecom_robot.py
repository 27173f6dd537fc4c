"""Group robots: ≤ 20 messages per sliding minute, the excess merged into digests (never dropped), 45009 backoff."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.testing.wecom_server import DEMO_ROBOT_KEY, WecomServer, seed
from connectors.wecom.client import WecomClient
from connectors.wecom.errors import WecomAuthError, WecomUnavailable
from connectors.wecom.robot import MAX_BYTES, Robot, digests, fit, robots_from_settings
from hub.core.settings import load_settings

KEY = SecretStr("robot-key-CANARY-7f3e")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Webhook:
    """Records what the robot sends; can answer 45009 a number of times."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.rate_limited = 0

    def __call__(self, key: SecretStr, payload: dict[str, Any]) -> None:
        assert key is KEY
        if self.rate_limited:
            self.rate_limited -= 1
            raise WecomUnavailable("WeCom kept rate-limiting /cgi-bin/webhook/send (errcode 45009)", 45009)
        self.sent.append(payload)

    def contents(self) -> list[str]:
        return [p["markdown"]["content"] for p in self.sent]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def webhook() -> Webhook:
    return Webhook()


@pytest.fixture
def robot(clock: Clock, webhook: Webhook) -> Robot:
    return Robot("alerts", KEY, webhook, clock=clock)


def test_markdown_messages_are_sent_at_once_within_the_limit(robot: Robot, webhook: Webhook) -> None:
    for i in range(20):
        assert robot.notify(f"**告警 {i}**") is True
    assert webhook.sent[0] == {"msgtype": "markdown", "markdown": {"content": "**告警 0**"}}
    assert len(webhook.sent) == 20 and robot.pending() == 0


def test_the_21st_message_in_a_minute_waits_and_nothing_is_dropped(robot: Robot, webhook: Webhook,
                                                                      clock: Clock) -> None:
    for i in range(20):
        robot.notify(f"alert {i}")
    for i in range(20, 45):
        assert robot.notify(f"alert {i}") is False
    assert len(webhook.sent) == 20 and robot.pending() == 25
    assert robot.flush() == 0  # the window is full
    clock.now += 59.9
    assert robot.flush() == 0 and 0 < robot.wait_s() <= 0.1
    clock.now += 0.2
    assert robot.flush() == 25 and robot.pending() == 0
    assert len(webhook.sent) == 21  # one digest for the 25 held messages
    digest = webhook.contents()[-1]
    assert digest.startswith("**25 条通知合并发送**")
    assert all(f"alert {i}" in digest for i in range(20, 45))


def test_the_window_slides(robot: Robot, webhook: Webhook, clock: Clock) -> None:
    for _ in range(10):
        robot.notify("early")
    clock.now += 30
    for _ in range(10):
        robot.notify("late")
    assert robot.notify("held") is False
    clock.now += 30.5  # the 10 early ones left the window, the 10 late ones did not
    assert robot.flush() == 1 and webhook.contents()[-1] == "held"
    for _ in range(9):
        assert robot.notify("more") is True
    assert robot.notify("one too many") is False


def test_new_messages_queue_behind_held_ones_in_order(robot: Robot, webhook: Webhook, clock: Clock) -> None:
    for i in range(21):
        robot.notify(f"m{i}")
    clock.now += 61
    robot.notify("m21")
    last = webhook.contents()[-1]
    assert last.index("m20") < last.index("m21")


def test_a_big_backlog_is_split_into_digests_under_the_size_limit(robot: Robot, webhook: Webhook,
                                                                 clock: Clock) -> None:
    for _ in range(20):
        robot.notify("x")
    for i in range(300):
        robot.notify(f"设备 D-{i:04d} 温度超限 " + "详情" * 20)
    clock.now += 61
    assert robot.flush() == 300
    held = webhook.contents()[20:]
    assert len(held) > 1 and all(len(c.encode()) <= MAX_BYTES for c in held)
    assert sum(c.count("设备 D-") for c in held) == 300


def test_45009_backs_off_and_keeps_the_message(robot: Robot, webhook: Webhook, clock: Clock,
                                               caplog: pytest.LogCaptureFixture) -> None:
    webhook.rate_limited = 2
    assert robot.notify("hello") is False and robot.pending() == 1
    assert robot.wait_s() == pytest.approx(5.0)
    clock.now += 5
    assert robot.flush() == 0 and robot.wait_s() == pytest.approx(10.0)  # doubled
    clock.now += 10
    assert robot.flush() == 1 and webhook.contents() == ["hello"]
    assert "45009" in caplog.text and KEY.get_secret_value() not in caplog.text


def test_a_refused_key_is_raised_not_swallowed(clock: Clock) -> None:
    def refuse(key: SecretStr, payload: dict[str, Any]) -> None:
        raise WecomAuthError("WeCom refused the robot webhook key (errcode 93000)", 93000)

    robot = Robot("alerts", KEY, refuse, clock=clock)
    with pytest.raises(WecomAuthError):
        robot.notify("x")
    assert robot.pending() == 1 and KEY.get_secret_value() not in repr(robot)


def test_fit_and_digests_respect_utf8_bytes() -> None:
    text = "告" * 2000  # 6000 bytes
    assert len(fit(text).encode()) <= MAX_BYTES and fit(text).endswith("…")
    assert digests(["only"]) == [("only", 1)]
    assert digests(["a", "b"])[0][1] == 2


def test_robots_against_the_simulator_keep_to_its_limit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # a CLI test may have quietened it
    with WecomServer(data=seed(n_users=1, field_users=0, days=1)) as server:
        settings = load_settings(wecom=server.settings()).wecom
        client = WecomClient(server.url, "", {}, timeout_s=2.0)
        robot = robots_from_settings(settings, client)["alerts"]
        for i in range(25):
            robot.notify(f"**告警** {i}")
        sent = server.webhooks[DEMO_ROBOT_KEY]
        assert len(sent) == 20 and robot.pending() == 5
        assert DEMO_ROBOT_KEY not in caplog.text and "key=***" in caplog.text
        server.robot_per_minute = 0  # WeCom counts another sender: 45009 on the next send
        robot._sent.clear()
        assert robot.flush() == 0 and robot.pending() == 5 and "45009" in caplog.text
        client.close()
