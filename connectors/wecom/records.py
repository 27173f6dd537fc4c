"""WeCom rows as SourceRecords: the API's JSON, plus the few values the mapping language cannot derive.

WeCom sends times as Unix seconds and coordinates as degrees × 1,000,000. The mapping language has
no epoch or scaling transform, so each record keeps every original field and gains, next to it:

    <field>_at      the Unix time as RFC 3339 in China time (+08:00), e.g. checkin_time_at
    lat_deg/lng_deg the coordinates in degrees
    text            (approval form controls) the control's value as text

Everything else (renames, enumerations, phone numbers) is in `mappings/wecom/*.yaml`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from connectors.base import SourceRecord

CHINA = dt.timezone(dt.timedelta(hours=8))


def local_iso(epoch: Any) -> str | None:
    """Unix seconds as RFC 3339 China time; None for 0, blanks, non-numbers and times beyond year 9999."""
    try:
        seconds = int(epoch)
        return dt.datetime.fromtimestamp(seconds, CHINA).isoformat() if seconds > 0 else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def with_times(row: dict[str, Any], *fields: str) -> dict[str, Any]:
    """A copy of `row` with `<field>_at` added for each present Unix-time field."""
    out = dict(row)
    for name in fields:
        stamp = local_iso(row.get(name))
        if stamp is not None:
            out[f"{name}_at"] = stamp
    return out


# ------------------------------------------------------------------------------------- check-ins


def checkin_key(row: dict[str, Any]) -> str | None:
    """`<userid>:<checkin_time>`, the check-in's natural key (WeCom gives check-ins no id)."""
    userid, when = row.get("userid"), row.get("checkin_time")
    if not userid or not isinstance(when, int) or isinstance(when, bool) or local_iso(when) is None:
        return None  # no time, or one no calendar holds (local_iso is None for 0 and beyond year 9999)
    return f"{userid}:{when}"


def checkin_payload(row: dict[str, Any]) -> dict[str, Any]:
    """A getcheckindata row with its key, local times and coordinates in degrees."""
    out = with_times(row, "checkin_time", "sch_checkin_time")
    out["source_id"] = checkin_key(row)
    for name in ("lat", "lng"):
        value = row.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value != 0:
            out[f"{name}_deg"] = value / 1_000_000
    return out


def checkin_record(row: dict[str, Any]) -> SourceRecord | None:
    """The record of one check-in, or None when it has no userid or checkin_time."""
    key = checkin_key(row)
    if key is None:
        return None
    payload = checkin_payload(row)
    return SourceRecord.from_payload(key, payload["checkin_time_at"], payload)


# ------------------------------------------------------------------------------------- approvals


def approval_payload(info: dict[str, Any], change_event: int | None, changed_at: str) -> dict[str, Any]:
    """getapprovaldetail's info with local times, form values as text and the callback's change."""
    out = with_times(info, "apply_time")
    out["sp_record"] = [_step(step) for step in _objects(info.get("sp_record"))]
    out["form"] = [_control(c) for c in _objects(_object(info.get("apply_data")).get("contents"))]
    notified = [n.get("userid") for n in _objects(info.get("notifyer")) if n.get("userid")]
    if notified:
        out["notifyer_userids"] = notified
    if change_event is not None:
        out["change_event"] = change_event
    out["updated_at"] = changed_at
    return out


def _step(step: dict[str, Any]) -> dict[str, Any]:
    out = dict(step)
    out["details"] = [with_times(d, "sptime") | {"userid": _object(d.get("approver")).get("userid")}
                      for d in _objects(step.get("details"))]
    return out


def _control(control: dict[str, Any]) -> dict[str, Any]:
    """One form control: id, type, its zh_CN title and its value rendered as text (when simple)."""
    titles = _objects(control.get("title"))
    title = next((t.get("text") for t in titles if t.get("lang") == "zh_CN"), None)
    title = title or next((t.get("text") for t in titles if t.get("text")), None)
    out: dict[str, Any] = {"id": control.get("id"), "control": control.get("control"), "title": title}
    text = control_text(str(control.get("control") or ""), _object(control.get("value")))
    if text:
        out["text"] = text
    return out


def control_text(kind: str, value: dict[str, Any]) -> str | None:
    """The value of a simple form control as text; None for controls without a plain value."""
    if kind in ("Text", "Textarea"):
        return str(value.get("text") or "") or None
    if kind == "Number":
        return str(value.get("new_number") or "") or None
    if kind == "Money":
        return str(value.get("new_money") or "") or None
    if kind == "Date":
        return local_iso(_object(value.get("date")).get("s_timestamp"))
    if kind == "Selector":
        options = _objects(_object(value.get("selector")).get("options"))
        texts = [v.get("text") for o in options for v in _objects(o.get("value")) if v.get("lang") == "zh_CN"]
        return "、".join(str(t) for t in texts if t) or None
    if kind == "Contact":
        people = [m.get("name") or m.get("userid") for m in _objects(value.get("members"))]
        return "、".join(str(p) for p in people if p) or None
    return None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of WeCom's answer, or {} when the answer has something else there."""
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array of WeCom's answer; anything else there is left out."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ----------------------------------------------------------------------------------- contacts


def contact_payload(detail: dict[str, Any], status: str, changed_at: str) -> dict[str, Any]:
    """externalcontact/get's answer with local times, the contact's status and the change time."""
    follow = [with_times(f, "createtime") for f in _objects(detail.get("follow_user"))]
    return {"external_contact": dict(_object(detail.get("external_contact"))), "follow_user": follow,
            "status": status, "updated_at": changed_at}


def deleted_contact_payload(external_userid: str, changed_at: str) -> dict[str, Any]:
    """The tombstone of a contact WeCom no longer shows (84061): its id stands in for the name."""
    contact = {"external_userid": external_userid, "name": external_userid}
    return {"external_contact": contact, "follow_user": [], "status": "deleted", "updated_at": changed_at}
