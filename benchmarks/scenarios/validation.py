"""``validation``: what checking a listing page's meetings costs, ours against pydantic v2.

Issue 28 asked whether the checks each payload of a page goes through should move to the
library the official SDK is built on. On a page, a meeting passes ``rows.meeting_row``: the
whole payload proven storable (no NUL, lone surrogate, NaN or infinity, number past a double,
nesting past ``schema.MAX_DEPTH``: one strict ``json.dumps`` in C), then each column's type,
enum, bound and date checked and the row built. ``schema.py``'s specs validate what goes *out*
(one payload per admin or service call) and are not on this path.

The pydantic model below is as strict on the columns (types with no coercion of ``bool`` to a
number, the status enum, finite numbers, ISO 8601 dates within a storable year, aware or read
as UTC, the text limit) and reuses the same whole-payload proof, which pydantic has no
equivalent of for the untyped rest of a payload (``remote_data``). Both must build the same
row for every meeting and refuse the same poison, or the run fails. Figures are the best of
``rounds`` runs, in milliseconds, for ``size`` meetings.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from django.utils import timezone
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from realtimekit_django import rows, schema
from realtimekit_django.client import get_client
from realtimekit_django.exceptions import InvalidResponse

from ..emulator import seed_meetings, served
from ..report import Result


def _storable(moment: datetime | None) -> datetime | None:
    """pydantic parses the text (its own ISO 8601 reader, in Rust); what is left for Python is
    the two rules no type says: a naive time is UTC, and the year must be one a column takes."""
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    problem = schema.storable_datetime_problem(moment)
    if problem:
        raise ValueError(problem)
    return moment.astimezone(UTC)


Moment = Annotated[Annotated[datetime, Field(strict=False)] | None, AfterValidator(_storable)]


class _MeetingColumns(BaseModel):
    # strict: no bool for a number, no number for a text; dates still parsed from text.
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)

    id: uuid.UUID
    title: str | None = None
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    record_on_start: bool = False
    live_stream_on_start: bool = False
    persist_chat: bool = False
    summarize_on_end: bool = False
    transcribe_on_end: bool = False
    session_keep_alive_time_in_secs: float = 60.0
    ai_config: dict = {}
    recording_config: dict = {}
    created_at: Moment = None
    updated_at: Moment = None


_COLUMNS = TypeAdapter(_MeetingColumns)


def _pydantic_row(payload: Any, app_id: str, now: datetime) -> dict:
    if not isinstance(payload, dict):
        raise InvalidResponse("meeting payload is not an object")
    data = rows._without_storage_secrets(payload)
    rows._refuse_unstorable(data, "meeting")
    try:
        checked = _COLUMNS.validate_python({**data, "id": rows.payload_id(data, "meeting")})
    except (ValidationError, ValueError) as exc:
        raise InvalidResponse(f"meeting: {exc}") from None
    return {
        "id": checked.id,
        "app_id": app_id,
        "title": checked.title,
        "status": checked.status,
        **{name: getattr(checked, name) for name in schema.MEETING_BOOLEAN_FIELDS},
        "session_keep_alive_time_in_secs": checked.session_keep_alive_time_in_secs,
        "ai_config": checked.ai_config,
        "recording_config": checked.recording_config,
        "remote_created_at": checked.created_at,
        "remote_updated_at": checked.updated_at,
        "synced_at": now,
        "missing_since": None,
        "participants_touched_at": now,
        "remote_data": data,
    }


_POISON = {
    "NUL in the title": {"title": "a\x00b"},
    "NaN keep-alive": {"session_keep_alive_time_in_secs": float("nan")},
    "a boolean as a number": {"session_keep_alive_time_in_secs": True},
    "year 10000": {"updated_at": "10000-01-01T00:00:00Z"},
    "an unknown status": {"status": "PAUSED"},
    "a lone surrogate deep inside": {"ai_config": {"x": ["\ud800"]}},
    "a number as the title": {"title": 5},
}


def _best(fn, rounds: int) -> float:
    best = math.inf
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


def run(database: str, size: int, rounds: int) -> Result:
    from cloudflare.types.realtime_kit.meeting_get_response import MeetingGetResponse

    result = Result("validation", database, size, rounds)
    with served() as (emulator, _server):
        seed_meetings(emulator, size)
        pages = [page.items for page in get_client().meetings.walk_meetings(per_page=100)]
    now = timezone.now()
    payloads = [item for page in pages for item in page]
    for payload in payloads:
        ours, theirs = rows.meeting_row(payload, app_id="a", now=now), _pydantic_row(payload, "a", now)
        if ours != theirs:
            raise AssertionError(f"the two checks built different rows for {payload['id']}")
    for what, change in _POISON.items():
        poisoned = {**payloads[0], **change}
        for check in (
            lambda p: rows.meeting_row(p, app_id="a", now=now),
            lambda p: _pydantic_row(p, "a", now),
        ):
            try:
                check(poisoned)
            except InvalidResponse:
                continue
            raise AssertionError(f"a check let {what} through")
    import json

    texts = [json.dumps(page) for page in pages]
    paging = {"start_offset": 1, "end_offset": 100, "total_count": size}
    ours_ms = _best(lambda: [rows.meeting_row(p, app_id="a", now=now) for p in payloads], rounds)
    pydantic_ms = _best(lambda: [_pydantic_row(p, "a", now) for p in payloads], rounds)
    result.figures = {
        "ours_ms": ours_ms,
        "pydantic_ms": pydantic_ms,
        "ours_vs_pydantic": round(ours_ms / pydantic_ms, 2) if pydantic_ms else None,
        # The parts: the whole-payload proof both share, and pydantic's column check alone.
        "shared_proof_ms": _best(lambda: [rows._refuse_unstorable(p, "meeting") for p in payloads], rounds),
        "pydantic_columns_only_ms": _best(
            lambda: [_COLUMNS.validate_python({**p, "id": rows.payload_id(p, "meeting")}) for p in payloads],
            rounds,
        ),
        "sdk_lax_ms": _best(
            lambda: [
                MeetingGetResponse.model_validate({"success": True, "data": p, "paging": paging})
                for p in pages
            ],
            rounds,
        ),
        "json_loads_ms": _best(lambda: [json.loads(t) for t in texts], rounds),
    }
    result.notes.append(
        "validation: best of the rounds for all meetings; ours = rows.meeting_row; pydantic = a pydantic v2 "
        "model as strict on the columns plus the same whole-payload proof, building the same row; "
        "sdk_lax = the SDK's own listing model (no bounds, no enum, no NUL or NaN check); json_loads = "
        "parsing the same pages' JSON text, for scale"
    )
    return result
