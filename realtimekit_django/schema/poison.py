"""Poison: values that are JSON-like to Python but that no column, JSON encoder or page can take.

A string holding U+0000 or a lone surrogate (PostgreSQL refuses the first, UTF-8 cannot encode
the second), ``NaN``, ``Infinity`` and ``1e999`` (strict JSON has none of them; a float column
cannot hold an int past ``sys.float_info.max``), nesting deep enough to exhaust recursion, and a
date-time past year 9999 once in UTC. :func:`unstorable` finds them anywhere in a value; the
validators (:mod:`.fields`) run it over every payload, and the code that builds rows from the
API's answers calls it (and :func:`storable_datetime_problem`) on the way in. This module is the
bottom of :mod:`realtimekit_django.schema`: it imports nothing of the package.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Errors = list[tuple[str, str]]


def _join(path: str, key: object) -> str:
    segment = repr(key) if isinstance(key, str) and _UNSTORABLE_CHAR.search(key) else str(key)
    return f"{path}.{segment}" if path else segment


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
