"""Pending reviews past their SLA, announced in the stewards' WeCom group with a link to the queue.

    announce_overdue_reviews(db, robot.notify, "https://hub.example.cn", 24)

The daily tier or the worker calls it; `sender` takes a markdown text (a WeCom group robot's
`notify`, see connectors/wecom/robot.py, or anything else). The message carries counts, ages and
links with opaque pair ids only: no company names, phones or codes leave the hub this way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from hub.app.steward_queries import Overdue, now, overdue
from hub.core.db import Database

log = logging.getLogger(__name__)

Sender = Callable[[str], object]
ENTITY_ZH = {"customer": "客户", "channel": "渠道", "product": "产品"}
MAX_BYTES = 4096  # WeCom markdown limit (UTF-8 bytes)


def _sla(sla_hours: float | Mapping[str, float]) -> Callable[[str], float]:
    if isinstance(sla_hours, Mapping):
        default = float(sla_hours.get("default", 24.0))
        return lambda entity: float(sla_hours.get(entity, default))
    return lambda _entity: float(sla_hours)


def _age(oldest: dt.datetime, at: dt.datetime) -> str:
    hours = max(0.0, (at - oldest).total_seconds() / 3600)
    return f"{hours / 24:.1f} 天" if hours >= 48 else f"{hours:.0f} 小时"


def format_overdue(groups: list[Overdue], base_url: str, sla: Callable[[str], float],
                   at: dt.datetime | None = None) -> str:
    """WeCom markdown: one line per entity (count, SLA, oldest age, queue link) and links to the oldest pairs."""
    at = at or now()
    base = base_url.rstrip("/") + "/steward"
    total = sum(g.count for g in groups)
    lines = [f"## <font color=\"warning\">主数据待审核超时：{total} 对</font>"]
    for g in groups:
        queue = f"{base}/queue?{urlencode({'entity': g.entity, 'overdue': '1'})}"
        lines.append(f"> **{ENTITY_ZH.get(g.entity, g.entity)}** {g.count} 对超过 {sla(g.entity):g} 小时，"
                     f"最早已等待 {_age(g.oldest, at)} · [打开队列]({queue})")
        links = " ".join(f"[#{pid}]({base}/pairs/{pid})" for pid in g.pair_ids)
        if links:
            lines.append(f"> 最早的：{links}")
    text = "\n".join(lines)
    data = text.encode()
    return text if len(data) <= MAX_BYTES else data[: MAX_BYTES - 3].decode(errors="ignore") + "…"


def announce_overdue_reviews(db: Database, sender: Sender, base_url: str,
                             sla_hours: float | Mapping[str, float] = 24.0) -> int:
    """Announce open pairs older than their SLA (hours, or entity → hours); returns how many are overdue."""
    sla = _sla(sla_hours)
    with db.reading() as session:
        groups = overdue(session, sla)
    total = sum(g.count for g in groups)
    if total == 0:
        return 0
    sender(format_overdue(groups, base_url, sla))
    log.info("steward: %d overdue review(s) announced (%s)", total,
             ", ".join(f"{g.entity}={g.count}" for g in groups))
    return total
