"""The session operations (one run of a meeting, its participants and its artifacts), named as
in the official SDK (``realtime_kit.sessions``).

Same method and keyword names and the same method, path, query string and JSON body for the
same arguments (``tests/test_client_sessions.py`` compares them with the SDK's), minus
``account_id`` / ``app_id``, which come from configuration. Every argument is checked before a
request, and every answer against :mod:`~realtimekit_django.schema.sessions` after it: a
session is mirrored from these answers, so a lying one is refused (:class:`InvalidResponse`)
before it reaches a row. The chat, transcript and summary answers hold short-lived download
links; no error or log line of this module names them.

The walks (:meth:`SessionsResource.walk_sessions`, :meth:`~SessionsResource.walk_session_participants`)
are the background sync's: each page is fetched on the budget's background lane, so a walk
never spends the reserve kept for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..exceptions import ValidationError
from ..schema import sessions as rules
from . import lanes
from .resource import Client, _query_order, _seg, _validate_ids

if TYPE_CHECKING:
    from .paging import PageWalk

#: The keyword filters of the sessions listing, besides paging.
SESSION_FILTERS = (
    "associated_id",
    "end_time",
    "participants",
    "search",
    "sort_by",
    "sort_order",
    "start_time",
    "status",
)
#: The keyword filters of a session's participant listing, besides paging.
SESSION_PARTICIPANT_FILTERS = ("include_peer_events", "search", "sort_by", "sort_order", "view")
# The SDK builds its query dicts in alphabetical key order; the same order gives the same bytes.
_SESSIONS_ORDER = tuple(sorted((*SESSION_FILTERS, "page_no", "per_page")))
_PARTICIPANTS_ORDER = tuple(sorted((*SESSION_PARTICIPANT_FILTERS, "page_no", "per_page")))


class SessionsResource:
    """``get_sessions``, ``get_session_details``, ``get_session_participants``,
    ``get_session_participant_details``, ``get_participant_data_from_peer_id``,
    ``get_session_chat``, ``get_session_transcripts``, ``get_session_summary``,
    ``generate_summary_of_transcripts``; and the background walks."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _call(self, operation: str, method: str, path: str, params: Any = None) -> dict:
        envelope = self._client.request(method, path, params=params or None)
        return rules.validate_response(operation, envelope, method=method, path=path)

    # sessions ------------------------------------------------------------------------------

    def get_sessions(
        self,
        *,
        associated_id: str | None = None,
        end_time: Any = None,
        page_no: int | None = None,
        participants: str | None = None,
        per_page: int | None = None,
        search: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        start_time: Any = None,
        status: str | None = None,
    ) -> dict:
        """GET /sessions: one page of the app's sessions (``data.sessions``, ``paging``)."""
        params = rules.validate_sessions_query(
            associated_id=associated_id,
            end_time=end_time,
            page_no=page_no,
            participants=participants,
            per_page=per_page,
            search=search,
            sort_by=sort_by,
            sort_order=sort_order,
            start_time=start_time,
            status=status,
        )
        return self._call("get_sessions", "GET", "/sessions", _query_order(params, _SESSIONS_ORDER))

    def get_session_details(self, session_id: str, *, include_breakout_rooms: bool | None = None) -> dict:
        """GET /sessions/{session_id}: the session's figures (status, times, minutes, peak)."""
        params = rules.validate_session_flags(include_breakout_rooms=include_breakout_rooms)
        return self._call("get_session_details", "GET", _path(session_id), params)

    # participants --------------------------------------------------------------------------

    def get_session_participants(
        self,
        session_id: str,
        *,
        include_peer_events: bool | None = None,
        page_no: int | None = None,
        per_page: int | None = None,
        search: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        view: str | None = None,
    ) -> dict:
        """GET /sessions/{session_id}/participants: one page of who took part, with join and
        leave times and durations (``view="consolidated"`` adds up breakout rooms)."""
        path = _path(session_id) + "/participants"
        params = rules.validate_session_participants_query(
            include_peer_events=include_peer_events,
            page_no=page_no,
            per_page=per_page,
            search=search,
            sort_by=sort_by,
            sort_order=sort_order,
            view=view,
        )
        return self._call("get_session_participants", "GET", path, _query_order(params, _PARTICIPANTS_ORDER))

    def get_session_participant_details(
        self, participant_id: str, *, session_id: str, include_peer_events: bool | None = None
    ) -> dict:
        """GET /sessions/{session_id}/participants/{participant_id}."""
        _validate_ids(session_id=session_id, participant_id=participant_id)
        path = f"/sessions/{_seg(session_id)}/participants/{_seg(participant_id)}"
        params = rules.validate_session_flags(include_peer_events=include_peer_events)
        return self._call("get_session_participant_details", "GET", path, params)

    def get_participant_data_from_peer_id(
        self, peer_id: str, *, filters: str | None = None, include_peer_events: bool | None = None
    ) -> dict:
        """GET /sessions/peer-report/{peer_id}: one peer's report (device, network, events)."""
        _validate_ids(peer_id=peer_id)
        params = {
            **rules.validate_choice(filters, "filters", rules.PEER_REPORT_FILTERS),
            **rules.validate_session_flags(include_peer_events=include_peer_events),
        }
        path = f"/sessions/peer-report/{_seg(peer_id)}"
        return self._call(
            "get_participant_data_from_peer_id", "GET", path, _query_order(params, ("filters", "include_peer_events"))
        )

    # artifacts -----------------------------------------------------------------------------

    def get_session_chat(self, session_id: str) -> dict:
        """GET /sessions/{session_id}/chat: a fresh ``chat_download_url`` and its expiry."""
        return self._call("get_session_chat", "GET", _path(session_id) + "/chat")

    def get_session_transcripts(self, session_id: str, *, format: str | None = None) -> dict:  # noqa: A002
        """GET /sessions/{session_id}/transcript: a fresh ``transcript_download_url`` and its expiry."""
        path = _path(session_id) + "/transcript"
        params = rules.validate_choice(format, "format", rules.TRANSCRIPT_FORMATS)
        return self._call("get_session_transcripts", "GET", path, params)

    def get_session_summary(self, session_id: str) -> dict:
        """GET /sessions/{session_id}/summary: a fresh ``summaryDownloadUrl`` and its expiry."""
        return self._call("get_session_summary", "GET", _path(session_id) + "/summary")

    def generate_summary_of_transcripts(self, session_id: str) -> dict:
        """POST /sessions/{session_id}/summary: ask for a summary of the session's transcript."""
        return self._call("generate_summary_of_transcripts", "POST", _path(session_id) + "/summary")

    # walkers (the background sync's) -------------------------------------------------------

    def walk_sessions(self, *, per_page: int | None = None, **filters: Any) -> PageWalk:
        """Every page of the sessions listing, each fetched on the background lane.

        Bad or unknown filters are refused now, not at the first page. The walk's items are
        the sessions (``data.sessions``); it is complete only when they agree with ``paging``.
        """
        _known(filters, SESSION_FILTERS, "session listing")
        rules.validate_sessions_query(**filters)
        return self._client.walk(
            _background(
                lambda page_no, size: _as_listing(
                    self.get_sessions(page_no=page_no, per_page=size, **filters), "sessions"
                )
            ),
            per_page,
        )

    def walk_session_participants(
        self, session_id: str, *, per_page: int | None = None, **filters: Any
    ) -> PageWalk:
        """Every page of one session's participants, each fetched on the background lane."""
        _validate_ids(session_id=session_id)
        _known(filters, SESSION_PARTICIPANT_FILTERS, "session participant listing")
        rules.validate_session_participants_query(**filters)
        return self._client.walk(
            _background(
                lambda page_no, size: _as_listing(
                    self.get_session_participants(session_id, page_no=page_no, per_page=size, **filters),
                    "participants",
                )
            ),
            per_page,
        )

    def iter_sessions(self, *, per_page: int | None = None, **filters: Any) -> Iterator[dict]:
        """Every session, page after page (on the background lane)."""
        return _items(self.walk_sessions(per_page=per_page, **filters))

    def iter_session_participants(
        self, session_id: str, *, per_page: int | None = None, **filters: Any
    ) -> Iterator[dict]:
        """Every participant of a session, page after page (on the background lane)."""
        return _items(self.walk_session_participants(session_id, per_page=per_page, **filters))


def _path(session_id: str) -> str:
    _validate_ids(session_id=session_id)
    return f"/sessions/{_seg(session_id)}"


def _known(filters: dict, known: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(filters) - set(known))
    if unknown:
        names = ", ".join(known)
        raise ValidationError([(name, f"is not a {what} filter (known: {names})") for name in unknown])


def _background(fetch: Callable[[int, int], dict]) -> Callable[[int, int], dict]:
    """``fetch``, each call made on the budget's background lane (whatever lane the caller is on)."""

    def on_background_lane(page_no: int, size: int) -> dict:
        with lanes.lane(lanes.BACKGROUND):
            return fetch(page_no, size)

    return on_background_lane


def _as_listing(envelope: dict, key: str) -> dict:
    """The envelope a :class:`PageWalk` reads: ``data`` the list under ``data[key]``."""
    data = envelope.get("data")
    items = data.get(key) if isinstance(data, dict) else None
    return {**envelope, "data": [] if items is None else items}


def _items(walk: PageWalk) -> Iterator[dict]:
    for page in walk:
        yield from page.items
