"""The participant payload's rules: ``add`` (POST) and ``edit`` (PATCH) of a meeting's participant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import _Object, _Refused, _Spec, _Str, _Url, _validate

PARTICIPANT_READ_ONLY_FIELDS = ("id", "created_at", "updated_at", "token")
PARTICIPANT_MODES = ("add", "edit")

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


def validate_participant(data: Mapping[str, Any], *, mode: str) -> dict:
    """The payload for ``add`` (POST) or ``edit`` (PATCH) of a participant, checked."""
    return _validate(_PARTICIPANT_SPECS, data, mode)
