"""The validation machinery: spec nodes that check one value each and the walk that runs them.

Each node's ``clean(value, path, errors)`` appends ``(dotted path, problem)`` pairs instead of
raising, so one walk finds every problem; :func:`_validate` runs a payload's spec, adds what
:func:`~.poison.unstorable` finds that the spec did not already refuse, and raises one
:class:`~realtimekit_django.exceptions.ValidationError` listing them all. The nodes know no
resource: each resource's rules (:mod:`.meetings`, :mod:`.participants`, :mod:`.presets`,
:mod:`.recordings`, :mod:`.active_session`, :mod:`.listings`) are built from them.

Guards of this package's own, not API limits (the API documents none): a string longer than
:data:`MAX_STRING_LENGTH` characters and a keyword list longer than :data:`MAX_KEYWORDS`
entries are refused, so oversized input fails here with a clear message rather than somewhere
remote with an obscure one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ValidationError
from .poison import Errors, _join, unstorable

MAX_STRING_LENGTH = 10_000
MAX_KEYWORDS = 1000

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
    """A finite int or float within ``bounds[path]``; ``whole`` where the SDK says ``int``.

    ``bounds`` maps dotted paths to inclusive ``(minimum, maximum)`` pairs (``None``: no maximum).
    The bound is looked up by path, not kept on the node, because one node can sit at two paths
    (a recording config's parts sit at the top of a start-recording body too).
    """

    def __init__(self, bounds: Mapping[str, tuple[int, int | None]], *, whole: bool = False) -> None:
        self.bounds = bounds
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
        low, high = self.bounds[path]
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


class _AnyObject(_Spec):
    """A JSON object this package passes through whole (a preset's config, permissions, ui):
    the API owns its many fields; :func:`unstorable` still refuses poison inside it."""

    def _clean(self, value, path, errors):
        if not isinstance(value, Mapping):
            errors.append((path, "must be an object"))
        return value


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


def _plain_copy(value: Any) -> Any:
    # copy.deepcopy alone would keep (or choke on) read-only mappings such as MappingProxyType.
    if isinstance(value, Mapping):
        return {key: _plain_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_copy(item) for item in value]
    if value is None or isinstance(value, str | int | float):  # immutable: nothing to copy
        return value
    return copy.deepcopy(value)
