"""The livestream operations, named as in the official SDK (``realtime_kit.livestreams``).

Same names, paths, queries and bodies as the SDK for the same arguments (less ``account_id`` /
``app_id``); arguments are checked before a request and answers after it
(:mod:`~realtimekit_django.schema.livestreams`). The answers of ``start_livestreaming_a_meeting``
and the listings carry the stream key and the ingest server: they are returned to the caller
(who shows them once to the person who started the stream) and appear in no log line or error
of this module; :func:`~realtimekit_django.schema.livestreams.strip_livestream_secrets` makes
an answer fit to be stored. The analytics operations are not mirrored here.
"""

from __future__ import annotations

from typing import Any

from ..schema import livestreams as rules
from ..schema.sessions import validate_response
from .resource import OMIT, Client, _given, _query_order, _seg, _validate_ids

_LISTING_ORDER = ("end_time", "exclude_meetings", "page_no", "per_page", "sort_order", "start_time", "status")


class LivestreamsResource:
    """``start_livestreaming_a_meeting``, ``stop_livestreaming_a_meeting``,
    ``get_meeting_active_livestreams``, ``get_all_livestreams``,
    ``get_livestream_session_for_livestream_id``, ``get_active_livestreams_for_livestream_id``,
    ``get_livestream_session_details_for_session_id``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, operation: str, method: str, path: str, *, params: Any = None, json: Any = None) -> dict:
        envelope = self._client.request(method, path, params=params or None, json=json)
        return validate_response(operation, envelope, rules.RESPONSES, method=method, path=path)

    def start_livestreaming_a_meeting(
        self, meeting_id: str, *, name: str | None = OMIT, video_config: dict = OMIT
    ) -> dict:
        """POST /meetings/{meeting_id}/livestreams: start streaming the meeting's live session.

        The answer holds ``stream_key`` and ``ingest_server``: secrets, shown once, never kept.
        """
        path = _meeting(meeting_id) + "/livestreams"
        body = rules.validate_livestream_start(_given({}, name=name, video_config=video_config))
        return self._call("start_livestreaming_a_meeting", "POST", path, json=body)

    def stop_livestreaming_a_meeting(self, meeting_id: str) -> dict:
        """POST /meetings/{meeting_id}/active-livestream/stop."""
        path = _meeting(meeting_id) + "/active-livestream/stop"
        return self._call("stop_livestreaming_a_meeting", "POST", path)

    def get_meeting_active_livestreams(self, meeting_id: str) -> dict:
        """GET /meetings/{meeting_id}/active-livestream: the meeting's running stream."""
        return self._call("get_meeting_active_livestreams", "GET", _meeting(meeting_id) + "/active-livestream")

    def get_all_livestreams(
        self,
        *,
        end_time: Any = None,
        exclude_meetings: bool | None = None,
        page_no: int | None = None,
        per_page: int | None = None,
        sort_order: str | None = None,
        start_time: Any = None,
        status: str | None = None,
    ) -> dict:
        """GET /livestreams: the app's livestreams (``sort_order`` is ``ASC`` or ``DSC``)."""
        params = rules.validate_livestreams_query(
            end_time=end_time,
            exclude_meetings=exclude_meetings,
            page_no=page_no,
            per_page=per_page,
            sort_order=sort_order,
            start_time=start_time,
            status=status,
        )
        return self._call("get_all_livestreams", "GET", "/livestreams", params=_query_order(params, _LISTING_ORDER))

    def get_livestream_session_for_livestream_id(
        self, livestream_id: str, *, page_no: int | None = None, per_page: int | None = None
    ) -> dict:
        """GET /livestreams/{livestream_id}: the livestream and its session."""
        params = rules.validate_paging_query(page_no=page_no, per_page=per_page)
        return self._call(
            "get_livestream_session_for_livestream_id",
            "GET",
            _livestream(livestream_id),
            params=_query_order(params, ("page_no", "per_page")),
        )

    def get_active_livestreams_for_livestream_id(self, livestream_id: str) -> dict:
        """GET /livestreams/{livestream_id}/active-livestream-session."""
        path = _livestream(livestream_id) + "/active-livestream-session"
        return self._call("get_active_livestreams_for_livestream_id", "GET", path)

    def get_livestream_session_details_for_session_id(self, livestream_session_id: str) -> dict:
        """GET /livestreams/sessions/{livestream_session_id}: ingest and viewer seconds, times."""
        _validate_ids(livestream_session_id=livestream_session_id)
        path = f"/livestreams/sessions/{_seg(livestream_session_id)}"
        return self._call("get_livestream_session_details_for_session_id", "GET", path)


def _meeting(meeting_id: str) -> str:
    _validate_ids(meeting_id=meeting_id)
    return f"/meetings/{_seg(meeting_id)}"


def _livestream(livestream_id: str) -> str:
    _validate_ids(livestream_id=livestream_id)
    return f"/livestreams/{_seg(livestream_id)}"
