"""MDM's own events: `mdm.<entity>.upserted|merged|unmerged|code_assigned.v1`, data = the golden record."""

from __future__ import annotations

from typing import Any

from hub.core.events import CanonicalEvent, make_event
from hub.core.schemas import schema_id

KINDS = ("upserted", "merged", "unmerged", "code_assigned")


def golden_event(entity: str, kind: str, golden: dict[str, Any]) -> CanonicalEvent:
    """The event of one golden-record change; its id is stable for (golden_id, updated_at, kind)."""
    if kind not in KINDS:
        raise ValueError(f"unknown MDM event kind {kind!r}")
    return make_event(system="mdm", entity=entity, type=f"mdm.{entity}.{kind}.v1", key=golden["golden_id"],
                      version=golden["updated_at"], data=golden, dataschema=schema_id(f"mdm/golden_{entity}.v1"))
