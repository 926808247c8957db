"""The query parameters of a listing (page, page size, search, status, time window).

``per_page`` is capped at :data:`MAX_PER_PAGE`, the API's maximum; conf, the client and the
sync command use it. The recordings listing adds its own filters in :mod:`.recordings`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..exceptions import ValidationError
from .fields import MAX_STRING_LENGTH, _Enum, _poison_not_yet_reported, _Str
from .meetings import MEETING_STATUSES
from .poison import Errors, _utc_problem

MAX_PER_PAGE = 100  # the API's (the emulator clamps to it); conf, the client and the sync command use it


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
