"""The MDM bus participant: the `mdm.intake` queue's handler.

A `src.<system>.customer|product|channel.<verb>.v1` event carries a canonical source record in
`data`; the handler upserts it into the MDM store (matched incrementally against what is
there) and writes the resulting `mdm.<entity>.upserted|merged|code_assigned.v1` events to the
outbox in the consumer's transaction, so the effect, the processed id and the events commit
together. Other event types on the queue are acknowledged without effect.

    consumer = Consumer(settings.bus, db, topology, "mdm.intake", mdm_intake_handler(topology))

`hub worker` runs it as the `mdm_intake` component (`mdm_intake_components`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from hub.core import outbox
from hub.core.consumer import Handler
from hub.core.events import CanonicalEvent
from hub.core.topology import Topology
from mdm.rules import Rules, load_rules
from mdm.store import upsert

log = logging.getLogger(__name__)
ENTITIES = ("customer", "product", "channel")


def entity_of(event_type: str) -> str | None:
    """`src.erp.customer.changed.v1` → customer; None for anything MDM does not master."""
    parts = event_type.split(".")
    if len(parts) >= 4 and parts[0] == "src" and parts[2] in ENTITIES:
        return parts[2]
    return None


def mdm_intake_handler(topology: Topology, rules: Mapping[str, Rules] | None = None,
                       rules_dir: Path | None = None, actor: str = "mdm-intake") -> Handler:
    """A consumer handler that masters source records and queues the golden-record events."""
    table = dict(rules or {})

    def rules_for(entity: str) -> Rules:
        if entity not in table:
            table[entity] = load_rules(entity, rules_dir)
        return table[entity]

    def handle(event: CanonicalEvent, session: Session) -> None:
        entity = entity_of(event.type)
        if entity is None:
            return
        result = upsert(session, rules_for(entity), event.data, actor)
        outbox.add_events(session, result.events, topology)
        log.debug("mdm intake: %s %s → %s (%s)", entity, event.subject, result.golden_id, result.decision)

    return handle


def mdm_intake_components(context: Any) -> list[Any]:
    """The `mdm_intake` component of `hub worker`: a consumer of the queue bound to source masters."""
    from hub.app.worker import ConsumerComponent, queue_for
    from hub.core.consumer import Consumer

    rt = context.runtime
    queue = queue_for(rt, "src.erp.customer.changed.v1")
    consumer = Consumer(rt.settings.bus, rt.db, rt.topology, queue, mdm_intake_handler(rt.topology),
                        name="mdm.intake", metrics=context.metrics)
    return [ConsumerComponent("mdm_intake", consumer)]
