"""Reading webhook payloads: what they name, when things happened, and what must stay hidden.

Payloads come from the network: every reader here takes whatever it is given and answers
``None`` (or leaves a value out) rather than raising, so one odd field never loses an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from .. import schema

EVENTS = (
    "meeting.started",
    "meeting.ended",
    "meeting.participantJoined",
    "meeting.participantLeft",
    "meeting.chatSynced",
    "recording.statusUpdate",
    "livestreaming.statusUpdate",
    "meeting.transcript",
    "meeting.summary",
)
MASK = "********"


def is_secret_key(key: object) -> bool:
    """``streamKey`` (a credential) and every ``...DownloadUrl`` (a short-lived bearer link)."""
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    return lowered == "streamkey" or lowered.endswith("downloadurl")


def masked(value: Any) -> Any:
    """A copy of a payload with every secret value replaced by :data:`MASK`, for display."""
    if isinstance(value, Mapping):
        return {key: (MASK if is_secret_key(key) and item else masked(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def as_uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def as_text(value: Any, limit: int = 255) -> str:
    """A plain string column's value: text only, no NUL or lone surrogate, cut to ``limit``."""
    if not isinstance(value, str) or schema.unstorable(value):
        return ""
    return value[:limit]


def as_time(value: Any) -> datetime | None:
    """An ISO 8601 time the database can store, as an aware datetime; else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment is None or schema.storable_datetime_problem(moment):
        return None
    return moment


def section(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``payload[name]`` when it is an object, else an empty one."""
    value = payload.get(name)
    return value if isinstance(value, Mapping) else {}


def meeting_id_of(payload: Any) -> uuid.UUID | None:
    """The meeting an event is about: ``meeting.id``, or the flat ``meetingId`` of chat and
    recording events."""
    if not isinstance(payload, Mapping):
        return None
    return (
        as_uuid(section(payload, "meeting").get("id"))
        or as_uuid(payload.get("meetingId"))
        or as_uuid(section(payload, "recording").get("meetingId"))
    )


def session_id_of(payload: Mapping[str, Any]) -> str:
    return as_text(section(payload, "meeting").get("sessionId") or payload.get("sessionId"), 100)
