"""The recording payloads' rules: the start body, the stop/pause/resume action, the listing query,
and the bearer links a stored recording must not keep.

These are the one description of those shapes: the client's recordings resource takes the
start body's fields (:data:`RECORDING_START_FIELDS`) and the listing's parameters
(:data:`RECORDING_LISTING_PARAMS`) from here rather than listing them again.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..exceptions import ValidationError
from .fields import _AnyObject, _Bool, _Enum, _Number, _Object, _Str, _Url, _validate
from .listings import validate_listing_params
from .meetings import _BOUNDS_AT, _RECORDING_CONFIG, _without_secrets
from .poison import Errors

RECORDING_STATUSES = ("INVOKED", "RECORDING", "PAUSED", "UPLOADING", "UPLOADED", "ERRORED")
#: The statuses of a recording that is still running (it can be paused, resumed or stopped).
RECORDING_ACTIVE_STATUSES = ("INVOKED", "RECORDING", "PAUSED")
RECORDING_ACTIONS = ("stop", "pause", "resume")
#: Keys of a recording payload that are short-lived bearer links: never stored, logged or shown.
RECORDING_URL_KEYS = ("download_url", "audio_download_url", "downloadUrl", "audioDownloadUrl")


_RECORDING_START = _Object(
    {
        "meeting_id": _Str(non_empty=True),
        "allow_multiple_recordings": _Bool(),
        "audio_config": _RECORDING_CONFIG.fields["audio_config"],
        "file_name_prefix": _Str(),
        "interactive_config": _AnyObject(),
        "max_seconds": _Number(_BOUNDS_AT, whole=True),
        "realtimekit_bucket_config": _RECORDING_CONFIG.fields["realtimekit_bucket_config"],
        "rtmp_out_config": _AnyObject(),
        "storage_config": _RECORDING_CONFIG.fields["storage_config"],
        "url": _Url(schemes=("http", "https")),
        "video_config": _RECORDING_CONFIG.fields["video_config"],
    },
    required=("meeting_id",),
)
#: The fields of a start-recording body; the client's ``start_recordings`` sends these.
RECORDING_START_FIELDS = tuple(_RECORDING_START.fields)


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


#: The query parameters of a recordings listing, as :func:`validate_recording_listing` takes them.
RECORDING_LISTING_PARAMS = tuple(inspect.signature(validate_recording_listing).parameters)
