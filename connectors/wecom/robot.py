"""Group robots (群机器人) for alerts and steward notifications: markdown, ≤ 20 per minute, digests.

WeCom accepts at most 20 messages per minute per robot. A robot here counts its sends in a
sliding 60-second window; a message that does not fit waits in a queue, and when the window has
room again everything waiting goes out together as one digest (split only where the 4,096-byte
markdown limit forces it): the excess is delayed and merged, never dropped. errcode 45009 (WeCom
counting differently, e.g. another process posting to the same robot) backs off 5 s, doubling
to 60 s, and the message stays queued. `start()` runs a thread that sends the queue as soon as the
window allows; without it, call `flush()` now and then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from connectors.wecom.errors import WecomUnavailable
from hub.core.errors import is_retriable

if TYPE_CHECKING:
    from connectors.wecom.client import WecomClient
    from hub.core.settings import WecomSettings

log = logging.getLogger(__name__)

PER_MINUTE = 20
WINDOW_S = 60.0
MAX_BYTES = 4096  # markdown.content limit, UTF-8 bytes
RATE_LIMITED = 45009
_SEPARATOR = "\n\n"

Send = Callable[[SecretStr, dict[str, Any]], None]


def markdown(content: str) -> dict[str, Any]:
    """The webhook payload of a markdown message."""
    return {"msgtype": "markdown", "markdown": {"content": content}}


def fit(text: str, limit: int = MAX_BYTES) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, with an ellipsis when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode(errors="ignore") + "…"


def digests(items: list[str], limit: int = MAX_BYTES) -> list[tuple[str, int]]:
    """Held messages packed into as few digests as fit the limit: (content, how many items each)."""
    out: list[tuple[str, int]] = []
    batch: list[str] = []
    for item in items:
        candidate = [*batch, item]
        if batch and len(_digest(candidate).encode()) > limit:
            out.append((_digest(batch), len(batch)))
            candidate = [item]
        batch = candidate
    if batch:
        out.append((_digest(batch) if len(batch) > 1 else batch[0], len(batch)))
    return [(fit(content, limit), count) for content, count in out]


def _digest(items: list[str]) -> str:
    header = f"**{len(items)} 条通知合并发送**（群机器人每分钟最多 {PER_MINUTE} 条）"
    return _SEPARATOR.join([header, *items])


class Robot:
    """One group robot: sends markdown now when its window allows, else queues it for a digest."""

    def __init__(self, name: str, key: SecretStr, send: Send, *, per_minute: int = PER_MINUTE,
                 window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic,
                 min_backoff_s: float = 5.0, max_backoff_s: float = 60.0) -> None:
        self.name, self._key, self._send = name, key, send
        self.per_minute, self.window_s = per_minute, window_s
        self._clock = clock
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self._sent: deque[float] = deque()
        self._held: deque[str] = deque()
        self._blocked_until = 0.0
        self._backoff = 0.0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Robot({self.name!r})"  # never the key

    # --------------------------------------------------------------------------------- API

    def notify(self, content: str) -> bool:
        """Send a markdown message now if the window allows (True), else queue it for the next digest."""
        with self._lock:
            self._held.append(fit(content))
            before = len(self._held)
            self.flush()
            return len(self._held) < before and not self._held

    def flush(self) -> int:
        """Send queued messages (as digests) while the window allows; returns how many went out."""
        sent = 0
        with self._lock:
            while self._held and self.wait_s() == 0:
                content, count = digests(list(self._held))[0]
                if not self._deliver(content):
                    break
                for _ in range(count):
                    self._held.popleft()
                sent += count
        return sent

    def pending(self) -> int:
        """Messages waiting for the window."""
        return len(self._held)

    def wait_s(self) -> float:
        """Seconds until the next send is allowed (0: now)."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
            waits = [self._blocked_until - now]
            if len(self._sent) >= self.per_minute:
                waits.append(self._sent[0] + self.window_s - now)
            return max(0.0, *waits)

    def start(self) -> None:
        """Send the queue from a background thread whenever the window allows."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"wecom-robot-{self.name}", daemon=True)
            self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (messages still queued are logged as not sent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._held:
            log.warning("robot %s: %d message(s) still queued at close", self.name, len(self._held))

    # ----------------------------------------------------------------------------- internals

    def _deliver(self, content: str) -> bool:
        """One webhook call; False (and a backoff) when WeCom rate-limits or is away."""
        try:
            self._send(self._key, markdown(content))
        except WecomUnavailable as exc:
            self._back_off(exc.errcode == RATE_LIMITED, str(exc))
            return False
        except Exception as exc:
            if not is_retriable(exc):
                raise
            self._back_off(False, type(exc).__name__)
            return False
        self._sent.append(self._clock())
        self._backoff = 0.0
        return True

    def _back_off(self, rate_limited: bool, why: str) -> None:
        self._backoff = min(max(self._backoff * 2, self.min_backoff_s), self.max_backoff_s)
        self._blocked_until = self._clock() + self._backoff
        what = "rate-limited (45009)" if rate_limited else "unavailable"
        log.warning("robot %s: WeCom %s, %d message(s) queued, retrying in %.0f s: %s", self.name, what,
                    len(self._held), self._backoff, why)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - a refused key: keep the queue, say so, retry later
                log.error("robot %s: %s", self.name, exc)
                self._stop.wait(self.max_backoff_s)
            self._stop.wait(min(max(self.wait_s(), 0.2), 1.0) if self._held else 0.5)


def robots_from_settings(settings: WecomSettings, client: WecomClient) -> dict[str, Robot]:
    """One Robot per configured webhook key (HUB_WECOM__ROBOT_KEYS), sending through `client`."""
    return {name: Robot(name, key, client.send_webhook) for name, key in settings.robot_keys.items()}
