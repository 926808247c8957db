"""Validation of meeting and participant payloads against the RealtimeKit API contract.

Bad input must be refused before any HTTP call and before any row is written, and the emulator
must refuse exactly what the real API refuses; both therefore call this module, which knows
nothing of Django models or HTTP. The contract is ``realtimekit-api.md``; the official SDK's
param TypedDicts are the second source of truth for names (``tests/test_schema.py`` checks that
the two cannot drift apart).

Every validator collects *all* the problems it finds and raises one
:class:`~realtimekit_django.exceptions.ValidationError` listing them by full dotted path
(``recording_config.video_config.width: must be between 1 and 1920``), so a form or an admin
can show them all at once instead of one per round trip.

The validated payload is a fresh copy holding only the keys that were given: defaults are the
API's business, and PATCH must send only what changes.

Guards of this package's own, not API limits (the API documents none): a string longer than
:data:`MAX_STRING_LENGTH` characters and a keyword list longer than :data:`MAX_KEYWORDS`
entries are refused, so oversized input fails here with a clear message rather than somewhere
remote with an obscure one; likewise ``per_page`` is capped at :data:`MAX_PER_PAGE`.

Some values are valid JSON to Python but poison further on: a string holding U+0000 or a lone
surrogate (PostgreSQL refuses the first, UTF-8 cannot encode the second), ``NaN``, ``Infinity``
and ``1e999`` (strict JSON has none of them; a float column cannot hold an int past
``sys.float_info.max``), nesting deep enough to exhaust recursion, and a date-time past year 9999
once in UTC. :func:`unstorable` finds them anywhere in a value; the validators run it over
every payload, so such a value is refused by dotted path before any request, and the code that
builds rows from the API's answers calls it (and :func:`storable_datetime_problem`) on the way in.
"""

from __future__ import annotations

import copy
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .exceptions import ValidationError

__all__ = [
    "AUDIO_CHANNELS",
    "AUDIO_CODECS",
    "BOUNDS",
    "MAX_DEPTH",
    "MAX_KEYWORDS",
    "MAX_MAGNITUDE",
    "MAX_PER_PAGE",
    "MAX_STRING_LENGTH",
    "MEETING_BOOLEAN_FIELDS",
    "MEETING_MODES",
    "MEETING_READ_ONLY_FIELDS",
    "MEETING_STATUSES",
    "MEETING_WRITABLE_FIELDS",
    "PARTICIPANT_MODES",
    "PARTICIPANT_READ_ONLY_FIELDS",
    "STORAGE_AUTH_METHODS",
    "STORAGE_TYPES",
    "STORABLE_YEARS",
    "STORAGE_WRITE_ONLY_KEYS",
    "SUMMARY_TYPES",
    "TEXT_FORMATS",
    "TRANSCRIPTION_LANGUAGES",
    "VIDEO_CODECS",
    "WATERMARK_POSITIONS",
    "storable_datetime_problem",
    "strip_write_only",
    "unstorable",
    "validate_listing_params",
    "validate_meeting",
    "validate_participant",
]

# --- the enums and bounds of the contract ---------------------------------------------------

SUMMARY_TYPES = (
    "general",
    "team_meeting",
    "sales_call",
    "client_check_in",
    "interview",
    "daily_standup",
    "one_on_one_meeting",
    "lecture",
    "code_review",
)
TEXT_FORMATS = ("plain_text", "markdown")
TRANSCRIPTION_LANGUAGES = ("en-US", "en-IN", "de", "hi", "sv", "ru", "pl", "el", "fr", "nl")
AUDIO_CHANNELS = ("mono", "stereo")
AUDIO_CODECS = ("MP3", "AAC")
VIDEO_CODECS = ("H264", "VP8", "VP9")  # VP9 is in the SDK, not in the seed reference
WATERMARK_POSITIONS = ("left top", "right top", "left bottom", "right bottom")
STORAGE_TYPES = ("aws", "azure", "digitalocean", "gcs", "sftp")
STORAGE_AUTH_METHODS = ("KEY", "PASSWORD")
MEETING_STATUSES = ("ACTIVE", "INACTIVE")

MEETING_BOOLEAN_FIELDS = (
    "record_on_start",
    "live_stream_on_start",
    "persist_chat",
    "summarize_on_end",
    "transcribe_on_end",
)
MEETING_WRITABLE_FIELDS = (
    "title",
    "status",
    *MEETING_BOOLEAN_FIELDS,
    "session_keep_alive_time_in_secs",
    "ai_config",
    "recording_config",
)
MEETING_READ_ONLY_FIELDS = ("id", "created_at", "updated_at")
PARTICIPANT_READ_ONLY_FIELDS = ("id", "created_at", "updated_at", "token")

# The API never returns these; this project sends them and never stores or shows them.
STORAGE_WRITE_ONLY_KEYS = ("access_key", "secret", "password", "private_key")

# Inclusive (minimum, maximum) by dotted path; ``None`` means the contract sets no maximum.
# Forms build their widgets from this table so the two cannot disagree.
BOUNDS: dict[str, tuple[int, int | None]] = {
    "session_keep_alive_time_in_secs": (60, 600),
    "ai_config.summarization.word_limit": (150, 1000),
    "recording_config.max_seconds": (60, 86400),
    "recording_config.video_config.width": (1, 1920),
    "recording_config.video_config.height": (1, 1920),
    "recording_config.video_config.watermark.size.width": (1, None),
    "recording_config.video_config.watermark.size.height": (1, None),
    "recording_config.storage_config.port": (1, 65535),
}

#: Bounds of the same numbers where they sit at the top of a start-recording body.
_START_BOUNDS: dict[str, tuple[int, int | None]] = {}

MAX_STRING_LENGTH = 10_000
MAX_KEYWORDS = 1000
MAX_PER_PAGE = 100  # the API's (the emulator clamps to it); conf, the client and the sync command use it

MEETING_MODES = ("create", "update", "replace")
PARTICIPANT_MODES = ("add", "edit")

Errors = list[tuple[str, str]]


def _join(path: str, key: object) -> str:
    segment = repr(key) if isinstance(key, str) and _UNSTORABLE_CHAR.search(key) else str(key)
    return f"{path}.{segment}" if path else segment


# --- poison: values JSON-like to Python that no column, JSON encoder or page can take ---------

#: How deep objects and arrays may nest (the contract's deepest payload nests 5 levels).
MAX_DEPTH = 64
#: The largest magnitude a number may have: the largest a double-precision float column holds.
MAX_MAGNITUDE = sys.float_info.max
#: The UTC years a stored date-time may fall in; see :func:`storable_datetime_problem`.
STORABLE_YEARS = (2, 9998)

_POSTGRESQL_OFFSET_LIMIT = timedelta(hours=16)

# U+0000 (PostgreSQL text and jsonb refuse it) and surrogates (a Python str holds them only
# unpaired, and UTF-8 cannot encode them).
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: Any, path: str = "") -> Errors:
    """Every ``(dotted path, problem)`` in a JSON-like value that would fail to be stored.

    Looks at all of it, keys included: a string holding U+0000 or a lone surrogate, a float
    that is NaN or infinite, a number beyond :data:`MAX_MAGNITUDE` (an int that big cannot
    become a float, and past 4,300 digits ``json.dumps`` itself refuses it), a key that is not a
    string, nesting deeper than :data:`MAX_DEPTH`, and anything that is not a Mapping, list,
    tuple, str, int, float, bool or None. An empty list means every text column, float column
    and JSON column on SQLite and PostgreSQL takes the value, and
    ``json.dumps(value, allow_nan=False)`` succeeds. ``path`` prefixes every path reported
    (``unstorable(meeting, "meetings[3]")``); keys that are themselves poisoned appear in
    paths as their ``repr``, so no path carries the poison. Lengths are not checked.
    """
    errors: Errors = []
    _walk(value, path, 0, errors)
    return errors


def _walk(value: Any, path: str, depth: int, errors: Errors) -> None:
    if isinstance(value, Mapping | list | tuple):
        if depth >= MAX_DEPTH:
            errors.append((path, f"nests deeper than {MAX_DEPTH} levels"))
            return
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            if isinstance(value, Mapping):
                item_path = _join(path, key)
                _key_problem(key, item_path, errors)
            else:
                item_path = f"{path}[{key}]"
            _walk(item, item_path, depth + 1, errors)
        return
    problem = _scalar_problem(value)
    if problem:
        errors.append((path, problem))


def _key_problem(key: Any, path: str, errors: Errors) -> None:
    if not isinstance(key, str):
        errors.append((path, "key must be a string"))
    elif _UNSTORABLE_CHAR.search(key):
        errors.append((path, "key must not contain U+0000 or a lone surrogate"))


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if _UNSTORABLE_CHAR.search(value):
            return "must not contain U+0000 or a lone surrogate"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, int | float):
        # int vs float comparison is exact in Python, so no int is rounded on the way.
        if abs(value) > MAX_MAGNITUDE:
            return f"must be a number of magnitude at most {MAX_MAGNITUDE!r}"
        return None
    return "must be a JSON value (object, array, string, number, boolean or null)"


def storable_datetime_problem(value: Any) -> str | None:
    """``None`` when ``value`` is an aware datetime that is safe to store and to show; else why not.

    Safe means its UTC year is within :data:`STORABLE_YEARS`, a year inside each end of what
    ``datetime`` can hold. A stored value at the very edge is a page that answers 500 later:
    9999-12-31T23:59Z shown in UTC+14 is past year 9999, and the admin's date hierarchy
    computes the next day, month or year of what it shows. No time zone is a day or more
    away from UTC, so a year of margin covers every zone and that calendar arithmetic.
    Naive datetimes are refused: the mirror stores aware ones. So are offsets PostgreSQL cannot
    read back from text (16 hours or more, or a fraction of a second: no real zone has one),
    since a datetime is stored with the offset it carries.
    """
    if not isinstance(value, datetime):
        return "must be a datetime"
    problem = _utc_problem(value)
    if problem:
        return problem
    offset = value.utcoffset()
    if offset is None:
        return "must be aware (carry a time zone)"
    if abs(offset) >= _POSTGRESQL_OFFSET_LIMIT or offset.microseconds:
        return "must have a UTC offset of whole seconds under 16 hours"
    low, high = STORABLE_YEARS
    if not low <= value.astimezone(UTC).year <= high:
        return f"must be within years {low} to {high} in UTC"
    return None


def _utc_problem(value: datetime) -> str | None:
    """Why an aware datetime has no UTC equivalent, or None (a naive one has none to check)."""
    try:
        offset = value.utcoffset()
    except (ValueError, TypeError, OverflowError):  # a tzinfo that refuses this datetime
        return "must have a valid time zone offset"
    if offset is None:
        return None
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        return "must be within years 1 to 9999 in UTC"
    return None


# --- the spec vocabulary: each node checks one value and returns its clean copy -------------
#
# ``clean(value, path, errors)`` appends (path, problem) pairs instead of raising, so one walk
# finds every problem. What it returns is meaningless once an error has been recorded.


class _Spec:
    nullable = False

    def clean(self, value: Any, path: str, errors: Errors) -> Any:
        if value is None and self.nullable:
            return None
        return self._clean(value, path, errors)

    def _clean(self, value: Any, path: str, errors: Errors) -> Any:  # pragma: no cover
        raise NotImplementedError


class _Bool(_Spec):
    def __init__(self, *, nullable: bool = False) -> None:
        self.nullable = nullable

    def _clean(self, value, path, errors):
        # 0/1 and "true" are refused: the API's JSON schema says boolean, and a silent
        # coercion here would hide a caller's bug.
        if not isinstance(value, bool):
            errors.append((path, "must be a boolean"))
        return value


class _Str(_Spec):
    def __init__(self, *, nullable: bool = False, non_empty: bool = False) -> None:
        self.nullable = nullable
        self.non_empty = non_empty

    def _clean(self, value, path, errors):
        if not isinstance(value, str):
            errors.append((path, "must be a string"))
        elif len(value) > MAX_STRING_LENGTH:
            errors.append((path, f"must be at most {MAX_STRING_LENGTH} characters"))
        elif self.non_empty and not value.strip():
            errors.append((path, "must not be empty"))
        return value


class _Enum(_Spec):
    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    def _clean(self, value, path, errors):
        if not isinstance(value, str) or value not in self.choices:
            errors.append((path, "must be one of: " + ", ".join(self.choices)))
        return value


class _Number(_Spec):
    """A finite int or float within ``BOUNDS[path]``; ``whole`` where the SDK says ``int``."""

    def __init__(self, *, whole: bool = False) -> None:
        self.whole = whole

    def _clean(self, value, path, errors):
        # bool is an int subclass, but True is not a meeting length.
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append((path, "must be a number"))
            return value
        if isinstance(value, float) and not math.isfinite(value):
            errors.append((path, "must be a finite number"))
            return value
        if self.whole:
            if isinstance(value, float) and not value.is_integer():
                errors.append((path, "must be a whole number"))
                return value
            # The API's schema says integer; 1920.0 would reach it as "1920.0".
            value = int(value)
        low, high = BOUNDS[path] if path in BOUNDS else _START_BOUNDS[path]
        if high is None and value < low:
            errors.append((path, f"must be at least {low}"))
        elif high is not None and not low <= value <= high:
            errors.append((path, f"must be between {low} and {high}"))
        return value


class _Url(_Spec):
    def __init__(self, *, schemes: tuple[str, ...] | None = None, nullable: bool = False) -> None:
        self.schemes = schemes
        self.nullable = nullable

    def _clean(self, value, path, errors):
        if not isinstance(value, str):
            errors.append((path, "must be a string"))
        elif len(value) > MAX_STRING_LENGTH:
            errors.append((path, f"must be at most {MAX_STRING_LENGTH} characters"))
        elif not _is_absolute_url(value, self.schemes):
            hint = f" ({' or '.join(self.schemes)})" if self.schemes else ""
            errors.append((path, f"must be an absolute URL{hint}"))
        return value


def _is_absolute_url(value: str, schemes: tuple[str, ...] | None) -> bool:
    if any(char.isspace() or not char.isprintable() for char in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    if not parts.scheme or not parts.netloc:
        return False
    return schemes is None or parts.scheme.lower() in schemes


class _StrList(_Spec):
    def _clean(self, value, path, errors):
        if not isinstance(value, list | tuple):
            errors.append((path, "must be a list of strings"))
            return value
        if len(value) > MAX_KEYWORDS:
            errors.append((path, f"must have at most {MAX_KEYWORDS} entries"))
            return value
        item = _Str()
        return [item.clean(entry, f"{path}[{index}]", errors) for index, entry in enumerate(value)]


class _Refused(_Spec):
    """A key the caller may know but may not send here (read-only, or wrong method)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def clean(self, value, path, errors):
        errors.append((path, self.reason))
        return value


class _Object(_Spec):
    def __init__(
        self, fields: dict[str, _Spec], *, required: tuple[str, ...] = (), nullable: bool = False
    ) -> None:
        self.fields = fields
        self.required = required
        self.nullable = nullable
        self.allowed = ", ".join(key for key, spec in fields.items() if not isinstance(spec, _Refused))

    def _clean(self, value, path, errors):
        if not isinstance(value, Mapping):
            errors.append((path or "payload", "must be an object"))
            return value
        cleaned = {}
        for key, item in value.items():
            item_path = _join(path, key)
            spec = self.fields.get(key) if isinstance(key, str) else None
            if spec is None:
                errors.append((item_path, f"unknown field (allowed: {self.allowed})"))
            else:
                cleaned[key] = spec.clean(item, item_path, errors)
        for key in self.required:
            if key not in value:
                errors.append((_join(path, key), "is required"))
        return cleaned


# --- the payloads ---------------------------------------------------------------------------

_AI_CONFIG = _Object(
    {
        "summarization": _Object(
            {
                "summary_type": _Enum(SUMMARY_TYPES),
                "text_format": _Enum(TEXT_FORMATS),
                "word_limit": _Number(whole=True),
            }
        ),
        "transcription": _Object(
            {
                "keywords": _StrList(),
                "language": _Enum(TRANSCRIPTION_LANGUAGES),
                "profanity_filter": _Bool(),
            }
        ),
    }
)

_RECORDING_CONFIG = _Object(
    {
        "audio_config": _Object(
            {"channel": _Enum(AUDIO_CHANNELS), "codec": _Enum(AUDIO_CODECS), "export_file": _Bool()}
        ),
        "video_config": _Object(
            {
                "codec": _Enum(VIDEO_CODECS),
                "width": _Number(whole=True),
                "height": _Number(whole=True),
                "export_file": _Bool(),
                "watermark": _Object(
                    {
                        "url": _Url(schemes=("http", "https")),
                        "position": _Enum(WATERMARK_POSITIONS),
                        "size": _Object({"width": _Number(whole=True), "height": _Number(whole=True)}),
                    }
                ),
            }
        ),
        "file_name_prefix": _Str(),
        "max_seconds": _Number(),
        "live_streaming_config": _Object({"rtmp_url": _Url()}),
        "realtimekit_bucket_config": _Object({"enabled": _Bool()}, required=("enabled",)),
        # The SDK types storage_config as Optional in all three methods: null clears it.
        "storage_config": _Object(
            {
                "type": _Enum(STORAGE_TYPES),
                "bucket": _Str(),
                "region": _Str(),
                "path": _Str(),
                "host": _Str(),
                "port": _Number(whole=True),
                "username": _Str(),
                "auth_method": _Enum(STORAGE_AUTH_METHODS),
                **{key: _Str() for key in STORAGE_WRITE_ONLY_KEYS},
            },
            required=("type",),
            nullable=True,
        ),
    }
)


def _meeting_spec(mode: str) -> _Object:
    # The SDK's create and replace params type title, record_on_start and live_stream_on_start
    # as Optional; its update params do not.
    optional = mode != "update"
    status: _Spec = (
        _Enum(MEETING_STATUSES)
        if mode == "update"
        else _Refused("can only be changed with update_meeting_by_id (PATCH)")
    )
    fields: dict[str, _Spec] = {
        "title": _Str(nullable=optional),
        "status": status,
        "record_on_start": _Bool(nullable=optional),
        "live_stream_on_start": _Bool(nullable=optional),
        "persist_chat": _Bool(),
        "summarize_on_end": _Bool(),
        "transcribe_on_end": _Bool(),
        "session_keep_alive_time_in_secs": _Number(),
        "ai_config": _AI_CONFIG,
        "recording_config": _RECORDING_CONFIG,
    }
    fields.update({key: _Refused("is read-only") for key in MEETING_READ_ONLY_FIELDS})
    return _Object(fields)


_MEETING_SPECS = {mode: _meeting_spec(mode) for mode in MEETING_MODES}

_PARTICIPANT_COMMON: dict[str, _Spec] = {
    "name": _Str(nullable=True),
    "picture": _Url(schemes=("http", "https"), nullable=True),
    **{key: _Refused("is read-only") for key in PARTICIPANT_READ_ONLY_FIELDS},
}
_PARTICIPANT_SPECS = {
    "add": _Object(
        {
            "custom_participant_id": _Str(non_empty=True),
            "preset_name": _Str(non_empty=True),
            **_PARTICIPANT_COMMON,
        },
        required=("custom_participant_id", "preset_name"),
    ),
    "edit": _Object(
        {
            # It is the caller's stable id for the person: changing it would orphan the mirror.
            "custom_participant_id": _Refused("cannot be changed once the participant is added"),
            "preset_name": _Str(non_empty=True),
            **_PARTICIPANT_COMMON,
        }
    ),
}


def _validate(specs: dict[str, _Object], data: Any, mode: str) -> dict:
    if not isinstance(mode, str) or mode not in specs:
        raise ValidationError([("mode", "must be one of: " + ", ".join(specs))])
    errors: Errors = []
    cleaned = specs[mode].clean(data, "", errors)
    errors += _poison_not_yet_reported(data, errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _poison_not_yet_reported(data: Any, errors: Errors) -> Errors:
    """:func:`unstorable`'s findings, less those at or under a path the spec already refused.

    The spec knows the field (``must be between 60 and 600``); the walk makes sure nothing it
    does not look at (a string check it lacks, a deep unknown branch) lets poison through.
    """
    if not isinstance(data, Mapping):
        return []  # the spec refused the payload itself
    refused = {path for path, _ in errors}
    return [(path, problem) for path, problem in unstorable(data) if not _at_or_under(path, refused)]


def _at_or_under(path: str, refused: set[str]) -> bool:
    return any(path == other or path.startswith((other + ".", other + "[")) for other in refused)


def validate_meeting(data: Mapping[str, Any], *, mode: str) -> dict:
    """The payload for ``create`` (POST), ``update`` (PATCH) or ``replace`` (PUT), checked.

    Storage secrets are kept: they must reach the API. Use :func:`strip_write_only` on
    anything that is to be stored or shown.
    """
    return _validate(_MEETING_SPECS, data, mode)


def validate_participant(data: Mapping[str, Any], *, mode: str) -> dict:
    """The payload for ``add`` (POST) or ``edit`` (PATCH) of a participant, checked."""
    return _validate(_PARTICIPANT_SPECS, data, mode)


def validate_listing_params(
    *,
    page_no: Any = None,
    per_page: Any = None,
    search: Any = None,
    status: Any = None,
    start_time: Any = None,
    end_time: Any = None,
) -> dict:
    """The query parameters of a meeting listing, ready to send.

    ``None`` means "not given" (the contract sends query parameters only when given).
    Page numbers are sent as ints even when given as integral floats, since the query string
    would otherwise read ``2.0``. Datetimes are formatted as the SDK does (``isoformat()``);
    strings must already be ISO 8601 and are sent unchanged.
    """
    errors: Errors = []
    params: dict[str, Any] = {}
    for name, value, high in (("page_no", page_no, None), ("per_page", per_page, MAX_PER_PAGE)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append((name, "must be a whole number"))
        elif isinstance(value, float) and not value.is_integer():  # also refuses NaN and inf
            errors.append((name, "must be a whole number"))
        elif value < 1:
            errors.append((name, "must be at least 1"))
        elif high is not None and value > high:
            errors.append((name, f"must be at most {high}"))
        else:
            params[name] = int(value)
    if search is not None:
        params["search"] = _Str().clean(search, "search", errors)
    if status is not None:
        params["status"] = _Enum(MEETING_STATUSES).clean(status, "status", errors)
    for name, value in (("start_time", start_time), ("end_time", end_time)):
        if value is None:
            continue
        parsed = _as_datetime(value)
        problem = (
            "must be a datetime or an ISO 8601 date-time string" if parsed is None else _utc_problem(parsed)
        )
        if problem:
            errors.append((name, problem))
        else:
            params[name] = value.isoformat() if isinstance(value, datetime) else value
    given = {"page_no": page_no, "per_page": per_page, "search": search, "status": status}
    errors += _poison_not_yet_reported(given, errors)
    if errors:
        raise ValidationError(errors)
    return params


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) > MAX_STRING_LENGTH:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def strip_write_only(meeting: Mapping[str, Any]) -> dict:
    """A copy without storage secrets, fit to be stored or shown.

    Accepts a meeting (``{"recording_config": {...}}``) or a bare recording config
    (``{"storage_config": {...}}``). Everything else is kept as is, unknown keys included:
    remote responses may carry fields this package does not know yet.
    """
    if not isinstance(meeting, Mapping):
        raise ValidationError([("payload", "must be an object")])
    stripped = _plain_copy(meeting)
    if isinstance(stripped.get("recording_config"), Mapping):
        stripped["recording_config"] = _without_secrets(stripped["recording_config"])
    if isinstance(stripped.get("storage_config"), Mapping):  # a bare recording config
        stripped = _without_secrets(stripped)
    return stripped


def _plain_copy(value: Any) -> Any:
    # copy.deepcopy alone would keep (or choke on) read-only mappings such as MappingProxyType.
    if isinstance(value, Mapping):
        return {key: _plain_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_copy(item) for item in value]
    if value is None or isinstance(value, str | int | float):  # immutable: nothing to copy
        return value
    return copy.deepcopy(value)


def _without_secrets(recording: Mapping[str, Any]) -> dict:
    recording = dict(recording)
    storage = recording.get("storage_config")
    if isinstance(storage, Mapping):
        recording["storage_config"] = {
            key: value for key, value in storage.items() if key not in STORAGE_WRITE_ONLY_KEYS
        }
    return recording


# --- presets, recordings and the live session -------------------------------------------------

PRESET_MODES = ("create", "update", "replace")
PRESET_PARTS = ("config", "permissions", "ui")
RECORDING_STATUSES = ("INVOKED", "RECORDING", "PAUSED", "UPLOADING", "UPLOADED", "ERRORED")
#: The statuses of a recording that is still running (it can be paused, resumed or stopped).
RECORDING_ACTIVE_STATUSES = ("INVOKED", "RECORDING", "PAUSED")
RECORDING_ACTIONS = ("stop", "pause", "resume")
#: Keys of a recording payload that are short-lived bearer links: never stored, logged or shown.
RECORDING_URL_KEYS = ("download_url", "audio_download_url", "downloadUrl", "audioDownloadUrl")
MAX_KICK = 100


class _AnyObject(_Spec):
    """A JSON object this package passes through whole (a preset's config, permissions, ui):
    the API owns its many fields; :func:`unstorable` still refuses poison inside it."""

    def _clean(self, value, path, errors):
        if not isinstance(value, Mapping):
            errors.append((path, "must be an object"))
        return value


def _preset_spec(mode: str) -> _Object:
    fields: dict[str, _Spec] = {"name": _Str(non_empty=True), **{part: _AnyObject() for part in PRESET_PARTS}}
    fields.update({key: _Refused("is read-only") for key in ("id", "created_at", "updated_at")})
    required = () if mode == "update" else ("name", *PRESET_PARTS)
    return _Object(fields, required=required)


_PRESET_SPECS = {mode: _preset_spec(mode) for mode in PRESET_MODES}

_RECORDING_START = _Object(
    {
        "meeting_id": _Str(non_empty=True),
        "allow_multiple_recordings": _Bool(),
        "audio_config": _RECORDING_CONFIG.fields["audio_config"],
        "file_name_prefix": _Str(),
        "interactive_config": _AnyObject(),
        "max_seconds": _Number(whole=True),
        "realtimekit_bucket_config": _RECORDING_CONFIG.fields["realtimekit_bucket_config"],
        "rtmp_out_config": _AnyObject(),
        "storage_config": _RECORDING_CONFIG.fields["storage_config"],
        "url": _Url(schemes=("http", "https")),
        "video_config": _RECORDING_CONFIG.fields["video_config"],
    },
    required=("meeting_id",),
)
# The start body carries the recording config's parts at its top level, with the same bounds.
_START_BOUNDS.update(
    {
        path.removeprefix("recording_config."): bounds
        for path, bounds in BOUNDS.items()
        if path.startswith("recording_config.")
    }
)


class _IdList(_Spec):
    def _clean(self, value, path, errors):
        if not isinstance(value, list | tuple) or not value:
            errors.append((path, "must be a non-empty list of ids"))
            return value
        if len(value) > MAX_KICK:
            errors.append((path, f"must have at most {MAX_KICK} ids"))
            return value
        item = _Str(non_empty=True)
        return [item.clean(entry, f"{path}[{index}]", errors) for index, entry in enumerate(value)]


_KICK = _Object({"custom_participant_ids": _IdList(), "participant_ids": _IdList()})


def validate_preset(data: Mapping[str, Any], *, mode: str) -> dict:
    """The payload for a preset ``create`` (POST), ``update`` (PATCH) or ``replace`` (PUT)."""
    return _validate(_PRESET_SPECS, data, mode)


def validate_recording_start(data: Mapping[str, Any]) -> dict:
    """The body of ``start_recordings``; storage secrets are kept (they must reach the API)."""
    return _validate({"start": _RECORDING_START}, data, "start")


def validate_recording_action(action: Any) -> str:
    """``stop``, ``pause`` or ``resume``."""
    errors: Errors = []
    _Enum(RECORDING_ACTIONS).clean(action, "action", errors)
    if errors:
        raise ValidationError(errors)
    return action


def validate_kick(data: Mapping[str, Any]) -> dict:
    """The body of ``kick_participants``: at least one list of ids."""
    cleaned = _validate({"kick": _KICK}, data, "kick")
    if not cleaned:
        raise ValidationError([("participant_ids", "give participant_ids or custom_participant_ids")])
    return cleaned


def validate_recording_listing(
    *,
    page_no: Any = None,
    per_page: Any = None,
    search: Any = None,
    start_time: Any = None,
    end_time: Any = None,
    meeting_id: Any = None,
    expired: Any = None,
    sort_by: Any = None,
    sort_order: Any = None,
    status: Any = None,
) -> dict:
    """The query of a recordings listing (``status`` is a list of statuses)."""
    params = validate_listing_params(
        page_no=page_no, per_page=per_page, search=search, start_time=start_time, end_time=end_time
    )
    errors: Errors = []
    if meeting_id is not None:
        params["meeting_id"] = _Str(non_empty=True).clean(meeting_id, "meeting_id", errors)
    if expired is not None:
        params["expired"] = "true" if _Bool().clean(expired, "expired", errors) else "false"
    if sort_by is not None:
        params["sort_by"] = _Enum(("invokedTime",)).clean(sort_by, "sort_by", errors)
    if sort_order is not None:
        params["sort_order"] = _Enum(("ASC", "DESC")).clean(sort_order, "sort_order", errors)
    if status is not None:
        if isinstance(status, str) or not isinstance(status, list | tuple):
            errors.append(("status", "must be a list of statuses"))
        else:
            params["status"] = [_Enum(RECORDING_STATUSES).clean(s, "status", errors) for s in status]
    if errors:
        raise ValidationError(errors)
    return params


def strip_recording_urls(recording: Mapping[str, Any]) -> dict:
    """A recording payload without its bearer links or storage secrets, fit to be stored."""
    cleaned = {key: value for key, value in recording.items() if key not in RECORDING_URL_KEYS}
    return _without_secrets(cleaned)
