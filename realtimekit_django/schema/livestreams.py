"""The livestreams resource's rules: the start body, the listing query, and the answers.

A livestream answer carries the stream key and the ingest server (:data:`LIVESTREAM_SECRET_KEYS`):
whoever holds them can broadcast into the site's stream. They are checked like any string but
never repeated in a problem, and :func:`strip_livestream_secrets` takes them out of anything
that is to be stored, logged or shown after the one time the starter sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import _Enum, _Object, _Str, _validate
from .poison import Errors
from .sessions import (
    MAX_COUNT,
    MAX_SECONDS,
    _Bounded,
    _check,
    _Choice,
    _common,
    _Id,
    _Record,
    _Secret,
    _Time,
    query_bool,
)

LIVESTREAM_STATUSES = ("LIVE", "IDLE", "ERRORED", "INVOKED")
#: The livestream listing spells descending ``DSC`` (the SDK's ``Literal["ASC", "DSC"]``).
LIVESTREAM_SORT_ORDERS = ("ASC", "DSC")
#: Keys of a livestream answer that are secrets: never stored, logged or kept in a payload.
LIVESTREAM_SECRET_KEYS = ("stream_key", "ingest_server", "streamKey", "ingestServer")
#: The livestream video's size in pixels: a guard of this package's own, as for recordings.
LIVESTREAM_VIDEO_BOUNDS = {"width": (1, 1920), "height": (1, 1920)}


class _Pixels(_Bounded):
    def __init__(self, low: int, high: int) -> None:
        super().__init__(low, high, whole=True, nullable=False)

    def _clean(self, value, path, errors):
        value = super()._clean(value, path, errors)
        return int(value) if isinstance(value, float) and value.is_integer() else value


_START = _Object(
    {
        "name": _Str(nullable=True),
        "video_config": _Object({key: _Pixels(*bounds) for key, bounds in LIVESTREAM_VIDEO_BOUNDS.items()}),
    }
)


def validate_livestream_start(data: Mapping[str, Any]) -> dict:
    """The body of ``start_livestreaming_a_meeting`` (only the given keys)."""
    return _validate({"start": _START}, data, "start")


def validate_livestreams_query(
    *,
    end_time: Any = None,
    exclude_meetings: Any = None,
    page_no: Any = None,
    per_page: Any = None,
    sort_order: Any = None,
    start_time: Any = None,
    status: Any = None,
) -> dict:
    """The query of ``get_all_livestreams``."""
    errors: Errors = []
    params: dict[str, Any] = {}
    _common(params, errors, page_no=page_no, per_page=per_page, start_time=start_time, end_time=end_time)
    if exclude_meetings is not None:
        params["exclude_meetings"] = query_bool(exclude_meetings, "exclude_meetings", errors)
    if sort_order is not None:
        params["sort_order"] = _Enum(LIVESTREAM_SORT_ORDERS).clean(sort_order, "sort_order", errors)
    if status is not None:
        params["status"] = _Enum(LIVESTREAM_STATUSES).clean(status, "status", errors)
    _check(errors, {})
    return params


def validate_paging_query(*, page_no: Any = None, per_page: Any = None) -> dict:
    """``page_no`` and ``per_page`` alone."""
    errors: Errors = []
    params: dict[str, Any] = {}
    _common(params, errors, page_no=page_no, per_page=per_page)
    _check(errors, {})
    return params


def strip_livestream_secrets(payload: Any) -> Any:
    """A copy of a livestream answer (or any nesting of them) without stream keys or ingest servers."""
    if isinstance(payload, Mapping):
        return {
            key: strip_livestream_secrets(value)
            for key, value in payload.items()
            if key not in LIVESTREAM_SECRET_KEYS
        }
    if isinstance(payload, list):
        return [strip_livestream_secrets(item) for item in payload]
    return payload


_SECRET = _Secret(_Str(nullable=True))
LIVESTREAM = _Record(
    {
        "id": _Id(nullable=True),
        "created_at": _Time(),
        "disabled": _Str(nullable=True),
        "ingest_server": _SECRET,
        "meeting_id": _Id(nullable=True),
        "name": _Str(nullable=True),
        "playback_url": _Str(nullable=True),
        "status": _Choice(LIVESTREAM_STATUSES),
        "stream_key": _SECRET,
        "updated_at": _Time(),
    }
)


class _SecondsOrNumericString(_Bounded):
    """The SDK types some second counts as strings in one answer and numbers in another."""

    def _clean(self, value, path, errors):
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                errors.append((path, "must be a number"))
                return value
            super()._clean(number, path, errors)
            return value
        return super()._clean(value, path, errors)


LIVESTREAM_SESSION = _Record(
    {
        "id": _Id(nullable=True),
        "created_at": _Time(),
        "err_message": _Str(nullable=True),
        "ingest_seconds": _SecondsOrNumericString(0, MAX_SECONDS),
        "invoked_time": _Time(),
        "livestream_id": _Id(nullable=True),
        "started_time": _Time(),
        "stopped_time": _Time(),
        "updated_at": _Time(),
        "viewer_seconds": _SecondsOrNumericString(0, MAX_SECONDS * MAX_COUNT),
    }
)
_PAGING = _Record({key: _Bounded(0, 10**12, whole=True) for key in ("start_offset", "end_offset", "total_count")})

RESPONSES = {
    "start_livestreaming_a_meeting": LIVESTREAM,
    "stop_livestreaming_a_meeting": _Record({"message": _Str(nullable=True)}),
    "get_meeting_active_livestreams": LIVESTREAM,
    "get_all_livestreams": _Record({**LIVESTREAM.fields, "paging": _PAGING}),
    "get_livestream_session_for_livestream_id": _Record(
        {"livestream": LIVESTREAM, "paging": _PAGING, "session": LIVESTREAM_SESSION}
    ),
    "get_active_livestreams_for_livestream_id": _Record(
        {"livestream": LIVESTREAM, "session": LIVESTREAM_SESSION}
    ),
    "get_livestream_session_details_for_session_id": LIVESTREAM_SESSION,
}
for _spec in (LIVESTREAM, LIVESTREAM_SESSION, _PAGING):
    _spec.nullable = True
