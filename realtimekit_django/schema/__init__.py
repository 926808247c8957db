"""Validation of meeting and participant payloads against the RealtimeKit API contract.

Bad input must be refused before any HTTP call and before any row is written, and the emulator
must refuse exactly what the real API refuses; both therefore call this package, which knows
nothing of Django models or HTTP. The contract is ``realtimekit-api.md``; the official SDK's
param TypedDicts are the second source of truth for names (``tests/test_schema.py`` checks that
the two cannot drift apart).

Every validator collects *all* the problems it finds and raises one
:class:`~realtimekit_django.exceptions.ValidationError` listing them by full dotted path
(``recording_config.video_config.width: must be between 1 and 1920``), so a form or an admin
can show them all at once instead of one per round trip.

The validated payload is a fresh copy holding only the keys that were given: defaults are the
API's business, and PATCH must send only what changes.

The machinery is apart from each resource's rules:

- :mod:`.poison`: :func:`unstorable` and :func:`storable_datetime_problem`, what no column,
  JSON encoder or page can take (U+0000, lone surrogates, NaN, too deep, past year 9999);
- :mod:`.fields`: the spec nodes and the walk that runs them, and this package's own guards
  (:data:`MAX_STRING_LENGTH`, :data:`MAX_KEYWORDS`);
- :mod:`.meetings`, :mod:`.participants`, :mod:`.presets`, :mod:`.recordings`,
  :mod:`.active_session`, :mod:`.listings`: one resource's rules each.

Every name is importable from here, as it was when this package was one module (the private
ones too: ``rows.py`` uses ``_plain_copy``), hence the unused-import waivers below.
"""

from __future__ import annotations

from .active_session import _KICK, MAX_KICK, _IdList, validate_kick  # noqa: F401
from .fields import (  # noqa: F401
    MAX_KEYWORDS,
    MAX_STRING_LENGTH,
    _AnyObject,
    _at_or_under,
    _Bool,
    _Enum,
    _is_absolute_url,
    _Number,
    _Object,
    _plain_copy,
    _poison_not_yet_reported,
    _Refused,
    _Spec,
    _Str,
    _StrList,
    _Url,
    _validate,
)
from .listings import MAX_PER_PAGE, _as_datetime, validate_listing_params  # noqa: F401
from .meetings import (  # noqa: F401
    _AI_CONFIG,
    _BOUNDS_AT,
    _MEETING_SPECS,
    _RECORDING_CONFIG,
    _START_BOUNDS,
    AUDIO_CHANNELS,
    AUDIO_CODECS,
    BOUNDS,
    MEETING_BOOLEAN_FIELDS,
    MEETING_MODES,
    MEETING_READ_ONLY_FIELDS,
    MEETING_STATUSES,
    MEETING_WRITABLE_FIELDS,
    STORAGE_AUTH_METHODS,
    STORAGE_TYPES,
    STORAGE_WRITE_ONLY_KEYS,
    SUMMARY_TYPES,
    TEXT_FORMATS,
    TRANSCRIPTION_LANGUAGES,
    VIDEO_CODECS,
    WATERMARK_POSITIONS,
    _meeting_spec,
    _without_secrets,
    strip_write_only,
    validate_meeting,
)
from .participants import (  # noqa: F401
    _PARTICIPANT_COMMON,
    _PARTICIPANT_SPECS,
    PARTICIPANT_MODES,
    PARTICIPANT_READ_ONLY_FIELDS,
    validate_participant,
)
from .poison import (  # noqa: F401
    _POSTGRESQL_OFFSET_LIMIT,
    _UNSTORABLE_CHAR,
    MAX_DEPTH,
    MAX_MAGNITUDE,
    STORABLE_YEARS,
    Errors,
    _join,
    _key_problem,
    _scalar_problem,
    _utc_problem,
    _walk,
    storable_datetime_problem,
    unstorable,
)
from .presets import _PRESET_SPECS, PRESET_MODES, PRESET_PARTS, _preset_spec, validate_preset  # noqa: F401
from .recordings import (  # noqa: F401
    _RECORDING_START,
    RECORDING_ACTIONS,
    RECORDING_ACTIVE_STATUSES,
    RECORDING_LISTING_PARAMS,
    RECORDING_START_FIELDS,
    RECORDING_STATUSES,
    RECORDING_URL_KEYS,
    strip_recording_urls,
    validate_recording_action,
    validate_recording_listing,
    validate_recording_start,
)

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
