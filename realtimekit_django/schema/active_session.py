"""The live session's payload rules: the body of ``kick_participants``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..exceptions import ValidationError
from .fields import _Object, _Spec, _Str, _validate

MAX_KICK = 100


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


def validate_kick(data: Mapping[str, Any]) -> dict:
    """The body of ``kick_participants``: at least one list of ids."""
    cleaned = _validate({"kick": _KICK}, data, "kick")
    if not cleaned:
        raise ValidationError([("participant_ids", "give participant_ids or custom_participant_ids")])
    return cleaned
