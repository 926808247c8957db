"""The preset payload's rules: a name and three objects (config, permissions, ui) the API owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import _AnyObject, _Object, _Refused, _Spec, _Str, _validate

PRESET_MODES = ("create", "update", "replace")
PRESET_PARTS = ("config", "permissions", "ui")


def _preset_spec(mode: str) -> _Object:
    fields: dict[str, _Spec] = {"name": _Str(non_empty=True), **{part: _AnyObject() for part in PRESET_PARTS}}
    fields.update({key: _Refused("is read-only") for key in ("id", "created_at", "updated_at")})
    required = () if mode == "update" else ("name", *PRESET_PARTS)
    return _Object(fields, required=required)


_PRESET_SPECS = {mode: _preset_spec(mode) for mode in PRESET_MODES}


def validate_preset(data: Mapping[str, Any], *, mode: str) -> dict:
    """The payload for a preset ``create`` (POST), ``update`` (PATCH) or ``replace`` (PUT)."""
    return _validate(_PRESET_SPECS, data, mode)
