"""The sessions resource's rules: the query of each call, and the answers the API gives.

A session (one run of a meeting) and its participants come back from the API to be mirrored,
so the answers are checked as strictly as what goes out: ids are non-empty strings, times are
ISO 8601 with a time zone and storable, counts and minutes are finite and bounded, and no
string carries U+0000 or a lone surrogate. Unknown keys are kept (the API adds fields), but
what this package reads must be what the SDK's models say.

The artifact answers (chat, transcript, summary) carry short-lived bearer links
(:data:`SESSION_URL_KEYS`): they are checked without ever being echoed in a problem, and
:func:`strip_session_urls` takes them out of anything that is to be stored or logged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..exceptions import InvalidResponse, ValidationError
from .fields import _at_or_under, _Bool, _Enum, _poison_not_yet_reported, _Spec, _Str, _Url
from .listings import _as_datetime, validate_listing_params
from .poison import Errors, storable_datetime_problem, unstorable

SESSION_STATUSES = ("LIVE", "ENDED")
SESSION_TYPES = ("meeting", "livestream", "participant")
SESSION_SORT_BY = ("minutesConsumed", "createdAt")
SESSION_PARTICIPANT_SORT_BY = ("joinedAt", "duration")
SESSION_PARTICIPANT_VIEWS = ("raw", "consolidated")
SORT_ORDERS = ("ASC", "DESC")
TRANSCRIPT_FORMATS = ("SRT", "VTT", "JSON", "CSV")
PEER_EVENT_NAMES = ("PEER_CREATED", "PEER_JOINING", "PEER_LEAVING")
PRESET_VIEW_TYPES = ("GROUP_CALL", "WEBINAR", "AUDIO_ROOM", "LIVESTREAM", "CHAT")
PEER_REPORT_FILTERS = ("device_info", "ip_information", "precall_network_information", "events", "quality_stats")
#: Keys of an artifact answer (and of the matching webhooks) that are bearer links.
SESSION_URL_KEYS = (
    "chat_download_url",
    "chatDownloadUrl",
    "transcript_download_url",
    "transcriptDownloadUrl",
    "summary_download_url",
    "summaryDownloadUrl",
)
#: A guard of this package's own: the API documents no maximum. A session lasting more than
#: ten years of minutes, or a million people at once, is a lie, not a figure to store.
MAX_MINUTES = 10 * 366 * 24 * 60
MAX_COUNT = 1_000_000
MAX_SECONDS = MAX_MINUTES * 60
#: Items in one list of an answer (participants of a page, peer events of a participant).
MAX_ITEMS = 100_000


# --- response nodes --------------------------------------------------------------------------


class _Record(_Spec):
    """An object of an answer: known keys checked, unknown keys kept, ``required`` ones present."""

    def __init__(self, fields: dict[str, _Spec], *, required: tuple[str, ...] = (), nullable: bool = False):
        self.fields = fields
        self.required = required
        self.nullable = nullable

    def _clean(self, value, path, errors):
        if not isinstance(value, Mapping):
            errors.append((path or "data", "must be an object"))
            return value
        cleaned = dict(value)
        for key, spec in self.fields.items():
            item_path = f"{path}.{key}" if path else key
            if key in value:
                cleaned[key] = spec.clean(value[key], item_path, errors)
            elif key in self.required:
                errors.append((item_path, "is required"))
        return cleaned


class _List(_Spec):
    def __init__(self, item: _Spec, *, nullable: bool = True) -> None:
        self.item = item
        self.nullable = nullable

    def _clean(self, value, path, errors):
        if not isinstance(value, list):
            errors.append((path, "must be a list"))
            return value
        if len(value) > MAX_ITEMS:
            errors.append((path, f"must have at most {MAX_ITEMS} entries"))
            return value
        return [self.item.clean(entry, f"{path}[{index}]", errors) for index, entry in enumerate(value)]


class _Id(_Str):
    def __init__(self, *, nullable: bool = False) -> None:
        super().__init__(nullable=nullable, non_empty=True)


class _Time(_Spec):
    """An ISO 8601 date-time string with a time zone, within the storable years."""

    def __init__(self, *, nullable: bool = True) -> None:
        self.nullable = nullable

    def _clean(self, value, path, errors):
        parsed = _as_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            errors.append((path, "must be an ISO 8601 date-time string"))
            return value
        problem = storable_datetime_problem(parsed)
        if problem:
            errors.append((path, problem))
        return value


class _Bounded(_Spec):
    """A finite number between ``low`` and ``high`` (inclusive); ``whole`` for a count."""

    def __init__(self, low: float, high: float, *, whole: bool = False, nullable: bool = True) -> None:
        self.low, self.high, self.whole, self.nullable = low, high, whole, nullable

    def _clean(self, value, path, errors):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append((path, "must be a number"))
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append((path, "must be a finite number"))
        elif self.whole and isinstance(value, float) and not value.is_integer():
            errors.append((path, "must be a whole number"))
        elif not self.low <= value <= self.high:
            errors.append((path, f"must be between {self.low} and {self.high}"))
        return value


class _Choice(_Enum):
    """An enum an answer may leave out or send as null (the SDK's ``Optional[Literal[...]]``)."""

    nullable = True


class _Secret(_Spec):
    """A bearer link or key: checked like its plain node, but never named with its value."""

    def __init__(self, inner: _Spec) -> None:
        self.inner = inner
        self.nullable = inner.nullable

    def _clean(self, value, path, errors):
        return self.inner.clean(value, path, errors)


def _count(**kw: Any) -> _Bounded:
    return _Bounded(0, MAX_COUNT, whole=True, **kw)


SESSION = _Record(
    {
        "id": _Id(),
        "associated_id": _Id(),
        "created_at": _Time(nullable=False),
        "live_participants": _count(nullable=False),
        "max_concurrent_participants": _count(nullable=False),
        "meeting_display_name": _Str(nullable=True),
        "minutes_consumed": _Bounded(0, MAX_MINUTES, nullable=False),
        "organization_id": _Str(nullable=True),
        "started_at": _Time(nullable=False),
        "status": _Enum(SESSION_STATUSES),
        "type": _Enum(SESSION_TYPES),
        "updated_at": _Time(nullable=False),
        "breakout_rooms": _List(_Record({})),
        "ended_at": _Time(),
    },
    required=("id", "associated_id", "status", "started_at", "created_at", "updated_at", "minutes_consumed"),
)
PEER_EVENT = _Record(
    {
        "id": _Id(nullable=True),
        "created_at": _Time(),
        "event_name": _Choice(PEER_EVENT_NAMES),
        "minutes_consumed": _Bounded(0, MAX_MINUTES),
        "participant_id": _Id(nullable=True),
        "peer_id": _Id(nullable=True),
        "preset_view_type": _Choice(PRESET_VIEW_TYPES),
        "session_id": _Id(nullable=True),
        "socket_session_id": _Str(nullable=True),
        "updated_at": _Time(),
    }
)
SESSION_PARTICIPANT = _Record(
    {
        "id": _Id(),
        "created_at": _Time(),
        "custom_participant_id": _Str(nullable=True),
        "display_name": _Str(nullable=True),
        "duration": _Bounded(0, MAX_MINUTES),
        "joined_at": _Time(),
        "left_at": _Time(),
        "peer_events": _List(PEER_EVENT),
        "preset_name": _Str(nullable=True),
        "updated_at": _Time(),
        "user_id": _Str(nullable=True),
    },
    # A participant without an id cannot be merged with anything: the listing is lying.
    required=("id",),
)
_SECRET_URL = _Secret(_Url(schemes=("https", "http")))

#: What each operation's ``data`` must look like (``None``: whatever object the API sends).
RESPONSES: dict[str, _Spec] = {
    "get_sessions": _Record({"sessions": _List(SESSION)}),
    "get_session_details": SESSION,
    "get_session_participants": _Record({"participants": _List(SESSION_PARTICIPANT)}),
    "get_session_participant_details": _Record({"participant": SESSION_PARTICIPANT}),
    "get_participant_data_from_peer_id": _Record({}),
    "get_session_chat": _Record(
        {"chat_download_url": _SECRET_URL, "chat_download_url_expiry": _Time(nullable=False)},
        required=("chat_download_url", "chat_download_url_expiry"),
    ),
    "get_session_transcripts": _Record(
        {
            "sessionId": _Id(),
            "transcript_download_url": _SECRET_URL,
            "transcript_download_url_expiry": _Time(nullable=False),
        },
        required=("sessionId", "transcript_download_url", "transcript_download_url_expiry"),
    ),
    "get_session_summary": _Record(
        {
            "sessionId": _Id(),
            "summaryDownloadUrl": _SECRET_URL,
            "summaryDownloadUrlExpiry": _Time(nullable=False),
        },
        required=("sessionId", "summaryDownloadUrl", "summaryDownloadUrlExpiry"),
    ),
    "generate_summary_of_transcripts": _Record({"session_id": _Id(nullable=True), "status": _Str(nullable=True)}),
}


def validate_response(operation: str, envelope: dict, specs: Mapping[str, _Spec] = RESPONSES, **context) -> dict:
    """The envelope, its ``data`` checked against ``specs[operation]``.

    Raises :class:`InvalidResponse` listing every problem by path; no problem repeats a value
    (a download link, a stream key), only where it was and what was wrong.
    """
    errors: Errors = []
    data = envelope.get("data")
    cleaned = specs[operation].clean(data, "data", errors)
    refused = {path for path, _ in errors}
    errors += [(path, problem) for path, problem in unstorable(data, "data") if not _at_or_under(path, refused)]
    if errors:
        text = "; ".join(f"{path}: {problem}" for path, problem in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        raise InvalidResponse(f"the API's answer breaks the contract: {text}{more}", **context)
    return {**envelope, "data": cleaned}


def strip_session_urls(payload: Mapping[str, Any]) -> dict:
    """An artifact answer or webhook without its bearer links, fit to be stored or logged."""
    return {key: value for key, value in payload.items() if key not in SESSION_URL_KEYS}


# --- request checks --------------------------------------------------------------------------


def _check(errors: Errors, given: Mapping[str, Any]) -> None:
    errors += _poison_not_yet_reported(dict(given), errors)
    if errors:
        raise ValidationError(errors)


def query_bool(value: Any, name: str, errors: Errors) -> str:
    """A boolean as the SDK's transport sends it in a query string."""
    _Bool().clean(value, name, errors)
    return "true" if value is True else "false"


def query_time(value: Any, name: str) -> Any:
    """A datetime or ISO string, as :func:`validate_listing_params` checks and formats it."""
    return validate_listing_params(**{name: value})[name]


def _common(
    params: dict, errors: Errors, *, page_no=None, per_page=None, search=None, start_time=None, end_time=None
) -> None:
    try:
        params.update(
            validate_listing_params(
                page_no=page_no, per_page=per_page, search=search, start_time=start_time, end_time=end_time
            )
        )
    except ValidationError as exc:
        errors += exc.errors


def validate_sessions_query(
    *,
    associated_id: Any = None,
    end_time: Any = None,
    page_no: Any = None,
    participants: Any = None,
    per_page: Any = None,
    search: Any = None,
    sort_by: Any = None,
    sort_order: Any = None,
    start_time: Any = None,
    status: Any = None,
) -> dict:
    """The query of ``get_sessions`` (``None``: not given)."""
    errors: Errors = []
    params: dict[str, Any] = {}
    _common(params, errors, page_no=page_no, per_page=per_page, search=search, start_time=start_time, end_time=end_time)
    if associated_id is not None:
        params["associated_id"] = _Id().clean(associated_id, "associated_id", errors)
    if participants is not None:
        params["participants"] = _Str().clean(participants, "participants", errors)
    if sort_by is not None:
        params["sort_by"] = _Enum(SESSION_SORT_BY).clean(sort_by, "sort_by", errors)
    if sort_order is not None:
        params["sort_order"] = _Enum(SORT_ORDERS).clean(sort_order, "sort_order", errors)
    if status is not None:
        params["status"] = _Enum(SESSION_STATUSES).clean(status, "status", errors)
    _check(errors, {"associated_id": associated_id, "participants": participants})
    return params


def validate_session_participants_query(
    *,
    include_peer_events: Any = None,
    page_no: Any = None,
    per_page: Any = None,
    search: Any = None,
    sort_by: Any = None,
    sort_order: Any = None,
    view: Any = None,
) -> dict:
    """The query of ``get_session_participants``."""
    errors: Errors = []
    params: dict[str, Any] = {}
    _common(params, errors, page_no=page_no, per_page=per_page, search=search)
    if include_peer_events is not None:
        params["include_peer_events"] = query_bool(include_peer_events, "include_peer_events", errors)
    if sort_by is not None:
        params["sort_by"] = _Enum(SESSION_PARTICIPANT_SORT_BY).clean(sort_by, "sort_by", errors)
    if sort_order is not None:
        params["sort_order"] = _Enum(SORT_ORDERS).clean(sort_order, "sort_order", errors)
    if view is not None:
        params["view"] = _Enum(SESSION_PARTICIPANT_VIEWS).clean(view, "view", errors)
    _check(errors, {})
    return params


def validate_session_flags(**flags: Any) -> dict:
    """Boolean query flags (``include_breakout_rooms``, ``include_peer_events``), given ones only."""
    errors: Errors = []
    params = {name: query_bool(value, name, errors) for name, value in flags.items() if value is not None}
    _check(errors, {})
    return params


def validate_choice(value: Any, name: str, choices: tuple[str, ...]) -> dict:
    """``{name: value}`` for an enum query parameter, ``{}`` when it is not given."""
    if value is None:
        return {}
    errors: Errors = []
    _Enum(choices).clean(value, name, errors)
    _check(errors, {})
    return {name: value}

