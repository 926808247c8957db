"""The meeting payload's rules: its enums, bounds, writable and read-only fields, storage secrets.

``validate_meeting`` checks a ``create`` (POST), ``update`` (PATCH) or ``replace`` (PUT) body;
``strip_write_only`` takes the storage secrets out of anything that is to be stored or shown.
Forms build their widgets from :data:`BOUNDS` and the enums here, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..exceptions import ValidationError
from .fields import (
    _Bool,
    _Enum,
    _Number,
    _Object,
    _plain_copy,
    _Refused,
    _Spec,
    _Str,
    _StrList,
    _Url,
    _validate,
)

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

#: Bounds of the same numbers where they sit at the top of a start-recording body (the start
#: body carries the recording config's parts at its top level, with the same bounds).
_START_BOUNDS: dict[str, tuple[int, int | None]] = {
    path.removeprefix("recording_config."): bounds
    for path, bounds in BOUNDS.items()
    if path.startswith("recording_config.")
}
#: Every path a number node may be checked at (the two tables share no path).
_BOUNDS_AT: dict[str, tuple[int, int | None]] = {**BOUNDS, **_START_BOUNDS}

MEETING_MODES = ("create", "update", "replace")


_AI_CONFIG = _Object(
    {
        "summarization": _Object(
            {
                "summary_type": _Enum(SUMMARY_TYPES),
                "text_format": _Enum(TEXT_FORMATS),
                "word_limit": _Number(_BOUNDS_AT, whole=True),
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
                "width": _Number(_BOUNDS_AT, whole=True),
                "height": _Number(_BOUNDS_AT, whole=True),
                "export_file": _Bool(),
                "watermark": _Object(
                    {
                        "url": _Url(schemes=("http", "https")),
                        "position": _Enum(WATERMARK_POSITIONS),
                        "size": _Object(
                            {
                                "width": _Number(_BOUNDS_AT, whole=True),
                                "height": _Number(_BOUNDS_AT, whole=True),
                            }
                        ),
                    }
                ),
            }
        ),
        "file_name_prefix": _Str(),
        "max_seconds": _Number(_BOUNDS_AT),
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
                "port": _Number(_BOUNDS_AT, whole=True),
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
        "session_keep_alive_time_in_secs": _Number(_BOUNDS_AT),
        "ai_config": _AI_CONFIG,
        "recording_config": _RECORDING_CONFIG,
    }
    fields.update({key: _Refused("is read-only") for key in MEETING_READ_ONLY_FIELDS})
    return _Object(fields)


_MEETING_SPECS = {mode: _meeting_spec(mode) for mode in MEETING_MODES}


def validate_meeting(data: Mapping[str, Any], *, mode: str) -> dict:
    """The payload for ``create`` (POST), ``update`` (PATCH) or ``replace`` (PUT), checked.

    Storage secrets are kept: they must reach the API. Use :func:`strip_write_only` on
    anything that is to be stored or shown.
    """
    return _validate(_MEETING_SPECS, data, mode)


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


def _without_secrets(recording: Mapping[str, Any]) -> dict:
    recording = dict(recording)
    storage = recording.get("storage_config")
    if isinstance(storage, Mapping):
        recording["storage_config"] = {
            key: value for key, value in storage.items() if key not in STORAGE_WRITE_ONLY_KEYS
        }
    return recording
