"""What every part of the emulator answers with: the response type, the API's envelopes and
errors, paging, timestamps.

The router (``core.py``) and the resources it mixes in (presets, recordings, live sessions,
sessions, livestreams, webhooks) all speak through these helpers. They live here, below all of
them, so that no resource module has to import ``core`` (which imports the resources): the
emulator's import graph has no circle. ``core`` still exports ``EmulatorResponse`` (a public name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from .faults import documented_error

__all__ = [
    "DEFAULT_PER_PAGE",
    "ApiError",
    "bool_param",
    "choice_param",
    "EmulatorResponse",
    "error",
    "format_timestamp",
    "int_param",
    "json_response",
    "ok",
    "page",
    "paging_params",
    "parse_timestamp",
    "time_param",
]

DEFAULT_PER_PAGE = 20


@dataclass
class EmulatorResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: An iterable of byte chunks sent instead of ``body`` (a recording's file), or None.
    stream: Any = None

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Unknown"

    def json(self) -> Any:
        return json.loads(self.body)


class ApiError(Exception):
    """Raised inside an operation: the router answers it in the API's documented error shape."""

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def format_timestamp(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 date-time; a value without a zone is taken as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _max_per_page() -> int:
    # Imported lazily: the schema module is shared with the client and may import Django bits.
    from realtimekit_django import schema

    return schema.MAX_PER_PAGE


def int_param(query: dict[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except ValueError:
        raise ApiError(400, f"{name}: must be a positive integer")
    if not number.is_integer() or number < 1:
        raise ApiError(400, f"{name}: must be a positive integer")
    return int(number)


def paging_params(query: dict[str, str]) -> tuple[int, int]:
    page_no = int_param(query, "page_no", 1)
    per_page = min(int_param(query, "per_page", DEFAULT_PER_PAGE), _max_per_page())
    return page_no, per_page


def page(items: list, page_no: int, per_page: int) -> tuple[list, dict]:
    total = len(items)
    start = (page_no - 1) * per_page
    chosen = items[start : start + per_page]
    if total == 0:
        paging = {"start_offset": 0, "end_offset": 0, "total_count": 0}
    else:
        paging = {"start_offset": start + 1, "end_offset": min(start + per_page, total), "total_count": total}
    return chosen, paging


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> EmulatorResponse:
    hdrs = {"content-type": "application/json"}
    hdrs.update(headers or {})
    return EmulatorResponse(status, hdrs, json.dumps(payload).encode())


def ok(data: Any, *, status: int = 200, paging: dict | None = None) -> EmulatorResponse:
    payload: dict[str, Any] = {"success": True, "data": data}
    if paging is not None:
        payload["paging"] = paging
    return json_response(status, payload)


def error(status: int, message: str | None) -> EmulatorResponse:
    return json_response(status, documented_error(status, message))


def bool_param(query: dict[str, str], name: str) -> bool:
    """A boolean query parameter as the SDK sends it (``true``/``false``); absent is false."""
    value = query.get(name)
    if value in (None, ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ApiError(400, f"{name}: must be true or false")


def choice_param(query: dict[str, str], name: str, allowed: tuple[str, ...], default: str | None = None):
    """A query parameter that must be one of ``allowed`` (``default`` when absent)."""
    value = query.get(name)
    if value in (None, ""):
        return default
    if value not in allowed:
        raise ApiError(400, f"{name}: must be one of {', '.join(allowed)}")
    return value


def time_param(query: dict[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ApiError(400, f"{name}: must be an ISO 8601 date-time")
