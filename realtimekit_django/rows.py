"""Turning API payloads into row values: the one place a remote value is judged storable.

Anything from the API is untrusted: a field of the wrong type, a timestamp no database can
hold or render, a string with a NUL that PostgreSQL refuses, a float that is not finite. Each
``*_row`` function either returns a complete row (a dict of column values, ready for
:mod:`realtimekit_django.store`) or raises ``InvalidResponse`` naming the item and the field,
before anything is written. A page therefore rejects its bad items one by one and stores the
rest; a single service call refuses the answer as a whole.

What a row keeps of its payload (``remote_data``) is the payload minus what must never be
stored: write-only storage secrets and participant tokens.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import schema
from .exceptions import InvalidResponse
from .models import MeetingStatus, Participant

MEETING_COLUMNS = (
    "id",
    "app_id",
    "title",
    "status",
    *schema.MEETING_BOOLEAN_FIELDS,
    "session_keep_alive_time_in_secs",
    "ai_config",
    "recording_config",
    "remote_created_at",
    "remote_updated_at",
    "synced_at",
    "missing_since",
    "participants_touched_at",
    "remote_data",
)
PARTICIPANT_COLUMNS = (
    "id",
    "meeting_id",
    "custom_participant_id",
    "preset_name",
    "name",
    "picture",
    "user_id",
    "remote_created_at",
    "remote_updated_at",
    "synced_at",
    "remote_data",
)

_STATUSES = frozenset(MeetingStatus.values)


def _max_length(model, name: str) -> int | None:
    return model._meta.get_field(name).max_length


_PARTICIPANT_LIMITS = {
    name: _max_length(Participant, name) for name in ("custom_participant_id", "preset_name", "picture")
}


def _what(kind: str, payload: Mapping) -> str:
    return f"{kind} {str(payload.get('id'))[:40]}"


def payload_id(payload: Any, kind: str) -> uuid.UUID:
    """The item's id as a UUID; raises ``InvalidResponse`` when it has none."""
    if not isinstance(payload, Mapping):
        raise InvalidResponse(f"{kind} payload is not an object")
    try:
        return uuid.UUID(str(payload["id"]))
    except (KeyError, ValueError, TypeError, AttributeError):
        raise InvalidResponse(f"{kind} payload: missing or malformed 'id'") from None


class EncodedPayload(dict):
    """A row's ``remote_data``: a plain dict to everyone, carrying the JSON text the
    storability proof already wrote for it (``json``), so that :func:`store.write_rows` sends
    that text instead of encoding the same payload a second time.

    Only a dict that passed the proof carries it, and the text is exactly that dict's strict
    JSON (no NaN, no lone surrogate, no NUL escape), which every supported backend stores as
    its JSON column's value. Nothing in this app mutates a built row before writing it.
    """

    __slots__ = ("json",)


def _surely_storable(payload: Mapping) -> str | None:
    """A C-speed proof that :func:`schema.unstorable` would find nothing in a payload parsed
    from JSON (so every key is a string): the payload's JSON text, or ``None`` for "not sure"
    (never "bad").

    Strict ``json.dumps`` refuses NaN and infinities, UTF-8 refuses lone surrogates, a NUL is
    always written ``\\u0000``, a number past the largest double has at least 309 digits, and
    a payload cannot nest deeper than the brackets it holds. A clean page, the usual one, is
    thus checked without walking every value in Python.
    """
    try:
        text = _encode_strictly(payload)
        if not text.isascii():  # an all-ASCII text holds no lone surrogate
            text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    if (
        "\\u0000" not in text
        and _LONG_NUMBER.search(text) is None
        and text.count("{") + text.count("[") <= schema.MAX_DEPTH
    ):
        return text
    return None


# One encoder for every proof: ``json.dumps`` with options builds a new encoder on each call,
# which was a fifth of the proof's time (issue 28, 2026-12-07 profile).
_encode_strictly = json.JSONEncoder(allow_nan=False, ensure_ascii=False, check_circular=False).encode
# ASCII digits only: a JSON number is written with them, and ``\d`` (every Unicode digit) is
# twice as slow to scan for; a long run of other digits can only be inside a string.
_LONG_NUMBER = re.compile(r"[0-9]{309}")


def _refuse_unstorable(payload: Mapping, what: str) -> str | None:
    """Raise when a payload cannot be stored; its JSON text when the fast proof wrote one."""
    text = _surely_storable(payload)
    if text is not None:
        return text
    problems = schema.unstorable(payload)
    if problems:
        path, problem = problems[0]
        raise InvalidResponse(f"{what}: '{path}' {problem}")
    return None


def _encoded(data: dict, text: str | None) -> dict:
    """``data`` as a row's ``remote_data``: carrying its JSON text when the proof wrote one."""
    if text is None:
        return data
    payload = EncodedPayload(data)
    payload.json = text
    return payload


def _timestamp(payload: Mapping, key: str, what: str) -> datetime | None:
    value = payload.get(key)
    if value is None:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but no such date (month 13, hour 25)
        parsed = None
    if parsed is None:
        raise InvalidResponse(f"{what}: '{key}' is not an ISO 8601 date-time: {str(value)[:40]!r}")
    if parsed.tzinfo is UTC and _FIRST_YEAR <= parsed.year <= _LAST_YEAR:
        # The API's own spelling ("...Z"): UTC already, whole-second offset 0, and a UTC year
        # inside STORABLE_YEARS is exactly what storable_datetime_problem would accept.
        return parsed
    moment = parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
    problem = schema.storable_datetime_problem(moment)
    if problem:
        raise InvalidResponse(f"{what}: '{key}' {problem}: {value[:40]!r}")
    return moment.astimezone(UTC)


_FIRST_YEAR, _LAST_YEAR = schema.STORABLE_YEARS


def _typed(payload: Mapping, key: str, types: tuple[type, ...], what: str, default: Any = None) -> Any:
    value = payload.get(key, default)
    if value is None:
        return default
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise InvalidResponse(f"{what}: '{key}' has the wrong type ({type(value).__name__})")
    return value


def _text(payload: Mapping, key: str, what: str, *, limit: int | None = None, default=None) -> str | None:
    value = _typed(payload, key, (str,), what, default)
    if value is not None and limit is not None and len(value) > limit:
        raise InvalidResponse(f"{what}: '{key}' is longer than {limit} characters")
    return value


def _finite(payload: Mapping, key: str, what: str, default: float) -> float:
    value = _typed(payload, key, (int, float), what, default)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidResponse(f"{what}: '{key}' is not a finite number")
    return number


def _without_storage_secrets(payload: Mapping) -> dict:
    """The payload minus write-only storage secrets; copied deeply only when one is there (the
    API never returns them, and a page parsed from JSON is ours alone)."""
    recording = payload.get("recording_config")
    storage = recording.get("storage_config") if isinstance(recording, Mapping) else None
    if isinstance(storage, Mapping) and any(key in storage for key in schema.STORAGE_WRITE_ONLY_KEYS):
        return schema.strip_write_only(payload)
    return dict(payload)


def _flag(data: Mapping, key: str, what: str) -> bool:
    """A boolean column (absent or null is ``False``); the common case costs two identity tests."""
    value = data.get(key)
    if value is True or value is False:
        return value
    return _typed(data, key, (bool,), what, False)


def _mapping(data: Mapping, key: str, what: str) -> dict:
    """An object column (absent or null is ``{}``); a payload parsed from JSON holds plain dicts."""
    value = data.get(key)
    if type(value) is dict:
        return value
    return _typed(data, key, (dict,), what, {})


def meeting_row(payload: Any, *, app_id: str, now: datetime, pk: uuid.UUID | None = None) -> dict:
    """The column values for a meeting payload (storage secrets removed).

    ``pk`` is the payload's id when the caller has already read it (a sync page reads every
    item's id first); it must be ``payload_id(payload, "meeting")``.

    Profiled on a 10,000-meeting walk (issue 28), this function was a third of the project's
    own time over the floor: the common, well-typed case is now checked inline (identity and
    exact-type tests), and anything else goes through the same helpers and errors as before.
    """
    if not isinstance(payload, Mapping):
        raise InvalidResponse("meeting payload is not an object")
    what = _what("meeting", payload)
    data = _without_storage_secrets(payload)
    text = _refuse_unstorable(data, what)
    status = data.get("status")
    if status is None:
        status = MeetingStatus.ACTIVE
    elif type(status) is not str:
        status = _text(data, "status", what, default=MeetingStatus.ACTIVE)
    if status not in _STATUSES:
        raise InvalidResponse(f"{what}: unknown status {status[:20]!r}")
    title = data.get("title")
    if title is not None and type(title) is not str:
        title = _text(data, "title", what)
    keep_alive = data.get("session_keep_alive_time_in_secs")
    if type(keep_alive) is int and -(2**53) <= keep_alive <= 2**53:
        keep_alive = float(keep_alive)
    else:
        keep_alive = _finite(data, "session_keep_alive_time_in_secs", what, 60)
    # Checked in the order the row lists them, so a payload with two faults names the same one.
    pk = pk if pk is not None else payload_id(data, "meeting")
    ai_config = _mapping(data, "ai_config", what)
    recording_config = _mapping(data, "recording_config", what)
    created_at = _timestamp(data, "created_at", what)
    # A new meeting's two times are one string: parsed and checked once.
    updated = data.get("updated_at")
    if type(updated) is str and updated == data.get("created_at"):
        updated_at = created_at
    else:
        updated_at = _timestamp(data, "updated_at", what)
    row = {
        "id": pk,
        "app_id": app_id,
        "title": title,
        "status": status,
        "session_keep_alive_time_in_secs": keep_alive,
        "ai_config": ai_config,
        "recording_config": recording_config,
        "remote_created_at": created_at,
        "remote_updated_at": updated_at,
        "synced_at": now,
        "missing_since": None,
        # A row is written only when it is new or its payload changed: either way its
        # participants are worth walking soon (the scheduler's "touched").
        "participants_touched_at": now,
        "remote_data": _encoded(data, text),
    }
    for name in schema.MEETING_BOOLEAN_FIELDS:
        row[name] = _flag(data, name, what)
    return row


def participant_row(
    payload: Any, *, meeting_id: uuid.UUID, now: datetime, user_id: Any = None, pk: uuid.UUID | None = None
) -> dict:
    """The column values for a participant payload (its token, if any, is dropped here).

    ``pk``, as for :func:`meeting_row`, is the payload's id when the caller has read it."""
    if not isinstance(payload, Mapping):
        raise InvalidResponse("participant payload is not an object")
    what = _what("participant", payload)
    data = {key: value for key, value in payload.items() if key != "token"}
    text = _refuse_unstorable(data, what)
    limits = _PARTICIPANT_LIMITS
    custom_id = _text(data, "custom_participant_id", what, limit=limits["custom_participant_id"])
    preset_name = _text(data, "preset_name", what, limit=limits["preset_name"])
    if not custom_id or not preset_name:
        raise InvalidResponse(f"{what}: 'custom_participant_id' and 'preset_name' are required")
    return {
        "id": pk if pk is not None else payload_id(data, "participant"),
        "meeting_id": meeting_id,
        "custom_participant_id": custom_id,
        "preset_name": preset_name,
        "name": _text(data, "name", what),
        "picture": _text(data, "picture", what, limit=limits["picture"]),
        "user_id": user_id,
        "remote_created_at": _timestamp(data, "created_at", what),
        "remote_updated_at": _timestamp(data, "updated_at", what),
        "synced_at": now,
        "remote_data": _encoded(data, text),
    }


def newer_or_equal(row: dict, other: dict) -> bool:
    """Whether ``row`` describes the same or a later remote state than ``other``."""
    if row["remote_updated_at"] is None or other["remote_updated_at"] is None:
        return True
    return row["remote_updated_at"] >= other["remote_updated_at"]


def apply_row(instance, row: dict):
    """Set a loaded instance's fields to ``row`` (what a save of that row would leave)."""
    for name, value in row.items():
        setattr(instance, name, value)
    return instance


PRESET_COLUMNS = (
    "id",
    "app_id",
    "name",
    "remote_created_at",
    "remote_updated_at",
    "synced_at",
    "remote_data",
)
RECORDING_COLUMNS = (
    "id",
    "app_id",
    "meeting_id",
    "session_id",
    "status",
    "output_file_name",
    "file_size",
    "invoked_at",
    "started_at",
    "stopped_at",
    "duration_seconds",
    "download_url_expiry",
    "synced_at",
    "remote_data",
)
#: How far along a recording is: a payload never moves a row back (a late webhook, a stale page).
RECORDING_PROGRESS = {"INVOKED": 0, "RECORDING": 1, "PAUSED": 1, "UPLOADING": 2, "UPLOADED": 3, "ERRORED": 3}


def preset_row(payload: Any, *, app_id: str, now: datetime) -> dict:
    """The column values for a preset payload (a listing item or a whole preset)."""
    if not isinstance(payload, Mapping):
        raise InvalidResponse("preset payload is not an object")
    what = _what("preset", payload)
    data = schema._plain_copy(payload)
    _refuse_unstorable(data, what)
    name = _text(data, "name", what, limit=255)
    if not name:
        raise InvalidResponse(f"{what}: 'name' is required")
    return {
        "id": payload_id(data, "preset"),
        "app_id": app_id,
        "name": name,
        "remote_created_at": _timestamp(data, "created_at", what),
        "remote_updated_at": _timestamp(data, "updated_at", what),
        "synced_at": now,
        "remote_data": data,
    }


def _whole(payload: Mapping, key: str, what: str) -> int | None:
    value = payload.get(key)
    if isinstance(value, str) and value.isdigit():  # webhooks send fileSize as a string
        value = int(value)
    if value is None:
        return None
    number = _finite(payload, key, what, 0) if not isinstance(value, int) else value
    if isinstance(value, bool) or number < 0 or number != int(number) or number > 2**62:
        raise InvalidResponse(f"{what}: '{key}' is not a whole number of at least 0")
    return int(number)


def recording_row(payload: Any, *, app_id: str, now: datetime, meeting_id: Any = None) -> dict:
    """The column values for a recording payload, without its download links or secrets."""
    if not isinstance(payload, Mapping):
        raise InvalidResponse("recording payload is not an object")
    what = _what("recording", payload)
    data = schema.strip_recording_urls(payload)
    _refuse_unstorable(data, what)
    status = _text(data, "status", what)
    if status not in RECORDING_PROGRESS:
        raise InvalidResponse(f"{what}: unknown status {str(status)[:20]!r}")
    session = _text(data, "session_id", what)
    try:
        session_id = uuid.UUID(session) if session else None
    except ValueError:
        raise InvalidResponse(f"{what}: 'session_id' is not a UUID") from None
    return {
        "id": payload_id(data, "recording"),
        "app_id": app_id,
        "meeting_id": meeting_id,
        "session_id": session_id,
        "status": status,
        "output_file_name": _text(data, "output_file_name", what, limit=1024, default=""),
        "file_size": _whole(data, "file_size", what),
        "invoked_at": _timestamp(data, "invoked_time", what),
        "started_at": _timestamp(data, "started_time", what),
        "stopped_at": _timestamp(data, "stopped_time", what),
        "duration_seconds": _whole(data, "recording_duration", what),
        "download_url_expiry": _timestamp(data, "download_url_expiry", what),
        "synced_at": now,
        "remote_data": data,
    }
