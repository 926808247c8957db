"""Reading webhook payloads: what they name, when things happened, and what must stay hidden.

Payloads come from the network: every reader here takes whatever it is given and answers
``None`` (or leaves a value out) rather than raising, so one odd field never loses an event.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from .. import schema
from . import redact

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
#: The key under which :func:`storable` lists the paths of the values it had to replace.
UNSTORABLE_KEY = "_unstorable"
#: What a character no database stores (U+0000, a lone surrogate) becomes.
REPLACEMENT_CHARACTER = "\ufffd"
_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
#: The most paths :func:`storable` lists, each cut to this many characters.
UNSTORABLE_PATHS, UNSTORABLE_PATH_LENGTH = 20, 200

is_secret_key = redact.is_secret_key


def masked(value: Any) -> Any:
    """A copy of a payload with every secret value replaced by :data:`MASK`, for display
    (stored payloads are redacted at intake already; this is the second belt)."""
    return redact.redacted(value, MASK)


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and lists in ``value`` nest more than ``limit`` levels (no recursion, so
    a hostile depth cannot raise ``RecursionError`` here)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def storable(payload: dict) -> dict:
    """The payload, or, when a value in it could not be stored (a NUL or a lone surrogate in
    a text or a key, NaN, an infinite or too large number), a copy with each such character
    replaced by U+FFFD and each such number by ``None``, the paths replaced listed under
    :data:`UNSTORABLE_KEY`: the event is kept whole and processed, whatever a person typed
    into a display name. (Nesting is bounded before this is called.)"""
    problems = schema.unstorable(payload)
    if not problems:
        return payload
    cleaned = _cleaned(payload)
    cleaned[UNSTORABLE_KEY] = [path[:UNSTORABLE_PATH_LENGTH] for path, _ in problems[:UNSTORABLE_PATHS]]
    return cleaned


def _cleaned(value: Any) -> Any:
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = (
                _UNSTORABLE_CHARACTER.sub(REPLACEMENT_CHARACTER, key) if isinstance(key, str) else repr(key)
            )
            while name in result:  # two keys that became one: keep both
                name += REPLACEMENT_CHARACTER
            result[name] = _cleaned(item)
        return result
    if isinstance(value, list | tuple):
        return [_cleaned(item) for item in value]
    if isinstance(value, str):
        return _UNSTORABLE_CHARACTER.sub(REPLACEMENT_CHARACTER, value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= schema.MAX_MAGNITUDE else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None


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
