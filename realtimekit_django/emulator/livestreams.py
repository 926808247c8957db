"""The emulator's livestreams: starting and stopping a meeting's stream, its sessions, analytics.

The routes and shapes are those of the SDK (``cloudflare`` 5.9, ``realtime_kit.livestreams``):

=====================================================================  ==========================
``POST .../meetings/{meeting_id}/livestreams``                          start (``name``,
                                                                        ``video_config``)
``POST .../meetings/{meeting_id}/active-livestream/stop``               stop
``GET  .../meetings/{meeting_id}/active-livestream``                    the running stream
``GET  .../livestreams``                                                the listing (paging,
                                                                        filters)
``GET  .../livestreams/{livestream_id}``                                stream and its session
``GET  .../livestreams/{livestream_id}/active-livestream-session``      the same, while running
``GET  .../livestreams/sessions/{livestream_session_id}``               one session's figures
``GET  .../analytics/livestreams/overall`` and ``.../daywise``          ingest and viewer seconds
=====================================================================  ==========================

Choices where the API is undocumented:

* A start needs the meeting's live session (as a recording does; 400 otherwise) and no stream
  running in the meeting (409). Every start makes a new livestream with one livestream session:
  the answer says INVOKED, and the stream is LIVE from then on (the ingest began). Stopping it
  makes it IDLE for good (its session gets ``stopped_time``); so does the end of the live
  session it streams, noticed at the next request that reads the stream.
* ``livestreaming.statusUpdate`` goes to the app's webhooks once the answer is made: ``LIVE``
  after a start, ``OFFLINE`` after a stop (or the session's end), in the documented flat shape
  (``streamId``, ``status``, ``playbackUrl``, ``ingestServer``, ``streamKey``, ``meeting``).
* The SDK's models give ``get_all_livestreams`` and ``get_livestream_session_for_livestream_id``
  one object, not a list, beside ``paging``: the emulator answers the page's first livestream
  (or session) so; ``per_page=1`` walks them all. No viewer watches an emulated stream, so
  ``viewer_seconds`` is 0; ``ingest_seconds`` is the time the stream has been live. The SDK
  types ``disabled`` as a string (``"false"``) and the second counts as a string in
  ``active-livestream-session``, an integer in ``sessions/{id}``, a number in
  ``livestreams/{id}``: each answer follows its model.
* ``exclude_meetings=true`` leaves nothing (every emulated stream is a meeting's; the SDK 5.9
  has no independent livestream). ``start_time`` / ``end_time`` filter on ``created_at``.
  The analytics count the sessions that started within ``start_time`` / ``end_time`` (Unix
  seconds); ``filters`` is accepted and ignored.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from datetime import UTC
from typing import Any

from .answers import ApiError as _ApiError
from .answers import choice_param, paging_params, parse_timestamp, time_param
from .answers import error as _error
from .answers import ok as _ok
from .answers import page as _page

ACTIVE = ("INVOKED", "LIVE")
STATUSES = ("LIVE", "IDLE", "ERRORED", "INVOKED")
EVENT = "livestreaming.statusUpdate"
_LIVESTREAM_KEYS = (
    "id",
    "created_at",
    "disabled",
    "ingest_server",
    "meeting_id",
    "name",
    "playback_url",
    "status",
    "stream_key",
    "updated_at",
)
_START_KEYS = ("id", "ingest_server", "playback_url", "status", "stream_key")
_SESSION_KEYS = (
    "id",
    "created_at",
    "err_message",
    "ingest_seconds",
    "invoked_time",
    "livestream_id",
    "started_time",
    "stopped_time",
    "updated_at",
    "viewer_seconds",
)


class LivestreamsMixin:
    """Livestream state and operations of :class:`~realtimekit_django.emulator.core.Emulator`."""

    livestream_ingest_server = "rtmps://live.emulator.invalid:443/live/"
    livestream_playback_base_url = "https://stream.emulator.invalid"

    @staticmethod
    def _is_livestream_route(route: list[str]) -> bool:
        """Whether the router hands ``route`` (the segments after the app id) to this mixin."""
        if route[:1] == ["livestreams"]:
            return True
        if route[:2] == ["analytics", "livestreams"]:
            return True
        in_meeting = route[:1] == ["meetings"] and len(route) >= 3
        return in_meeting and route[2] in ("livestreams", "active-livestream")

    def _livestreams(self, app_id: str) -> dict[str, dict]:
        return self._app(app_id).setdefault("livestreams", {})

    # -- operations ------------------------------------------------------------------------------

    def _start_livestream(self, app_id: str, meeting_id: str, body: dict) -> dict:
        from realtimekit_django.schema.livestreams import validate_livestream_start

        checked = validate_livestream_start(body)
        _, meeting = self._find_meeting(meeting_id, app_id)
        session = self._live_session(meeting_id)
        if session is None:
            raise self._api_error(400, "The meeting has no live session to livestream")
        if self._running_livestream(app_id, meeting_id) is not None:
            raise self._api_error(409, "The meeting is already being livestreamed")
        now = self._now()
        livestream_id = str(uuid.uuid4())
        stream = {
            "id": livestream_id,
            "meeting_id": meeting_id,
            "meeting_session_id": session["id"],
            "name": checked.get("name") or meeting.get("title") or f"livestream-{livestream_id[:8]}",
            "video_config": copy.deepcopy(checked.get("video_config") or {}),
            "status": "INVOKED",
            "disabled": "false",
            "ingest_server": self.livestream_ingest_server,
            "stream_key": secrets.token_hex(32),
            "playback_url": (
                f"{self.livestream_playback_base_url.rstrip('/')}/{uuid.uuid4().hex}/manifest/video.m3u8"
            ),
            "created_at": now,
            "updated_at": now,
            "session": {
                "id": str(uuid.uuid4()),
                "livestream_id": livestream_id,
                "created_at": now,
                "updated_at": now,
                "invoked_time": now,
                "started_time": None,
                "stopped_time": None,
                "err_message": None,
            },
        }
        self._livestreams(app_id)[livestream_id] = stream
        answer = {key: stream[key] for key in _START_KEYS}
        # The ingest begins once the platform has answered: the stream is LIVE from here on.
        later = self._now()
        stream["status"] = "LIVE"
        stream["updated_at"] = stream["session"]["updated_at"] = stream["session"]["started_time"] = later
        self._announce_livestream(app_id, stream, "LIVE")
        return answer

    def _stop_livestream(self, app_id: str, meeting_id: str) -> dict:
        self._find_meeting(meeting_id, app_id)
        stream = self._running_livestream(app_id, meeting_id)
        if stream is None:
            raise self._api_error(404, "The meeting has no active livestream")
        self._end_livestream(app_id, stream)
        return {"message": "Livestream stopped"}

    def _end_livestream(self, app_id: str, stream: dict, *, status: str = "IDLE", error: str | None = None):
        now = self._now()
        stream["status"] = status
        stream["updated_at"] = now
        session = stream["session"]
        session["stopped_time"] = session["updated_at"] = now
        session["err_message"] = error
        if status == "IDLE":
            self._announce_livestream(app_id, stream, "OFFLINE")

    def _settle_livestream(self, app_id: str, stream: dict) -> None:
        """A running stream whose live session has ended stops with it (the platform's bot
        leaves the meeting)."""
        if stream["status"] not in ACTIVE:
            return
        live = self._live_session(stream["meeting_id"])
        if live is None or live["id"] != stream["meeting_session_id"]:
            self._end_livestream(app_id, stream)

    def _running_livestream(self, app_id: str, meeting_id: str) -> dict | None:
        for stream in self._livestreams(app_id).values():
            if stream["meeting_id"] == meeting_id:
                self._settle_livestream(app_id, stream)
                if stream["status"] in ACTIVE:
                    return stream
        return None

    def _find_livestream(self, app_id: str, livestream_id: str) -> dict:
        stream = self._livestreams(app_id).get(livestream_id)
        if stream is None:
            raise self._api_error(404, "Livestream not found")
        self._settle_livestream(app_id, stream)
        return stream

    def _announce_livestream(self, app_id: str, stream: dict, status: str) -> None:
        """``livestreaming.statusUpdate`` to the app's webhooks, once the answer is made (the
        receiver must not wait on the emulator's lock)."""
        meeting = self._apps[app_id]["meetings"][stream["meeting_id"]]
        payload = {
            "event": EVENT,
            "streamId": stream["id"],
            "status": status,
            "playbackUrl": stream["playback_url"],
            "ingestServer": stream["ingest_server"],
            "streamKey": stream["stream_key"],
            "meeting": {
                "id": meeting["id"],
                "sessionId": stream["meeting_session_id"],
                "title": meeting.get("title"),
                "status": "LIVE",
                "createdAt": meeting["created_at"],
                "startedAt": stream["session"]["invoked_time"],
                "organizedBy": {"id": app_id, "name": "emulator"},
            },
        }
        self._after_answer(lambda: self.webhooks.deliver(app_id, EVENT, payload))

    # -- answers ---------------------------------------------------------------------------------

    @staticmethod
    def _public_livestream(stream: dict) -> dict:
        return {key: copy.deepcopy(stream.get(key)) for key in _LIVESTREAM_KEYS}

    def _public_livestream_session(self, stream: dict, seconds_as=int) -> dict:
        session = stream["session"]
        public = {key: session.get(key) for key in _SESSION_KEYS}
        public["ingest_seconds"] = seconds_as(self._ingest_seconds(stream))
        public["viewer_seconds"] = seconds_as(0)
        return public

    def _ingest_seconds(self, stream: dict) -> int:
        session = stream["session"]
        if session["started_time"] is None:
            return 0
        start = parse_timestamp(session["started_time"]).timestamp()
        stopped = session["stopped_time"]
        end = parse_timestamp(stopped).timestamp() if stopped else self.clock.time()
        return max(round(end - start), 0)

    def _list_livestreams(self, app_id: str, query: dict[str, str]) -> dict:
        page_no, per_page = paging_params(query)
        status = choice_param(query, "status", STATUSES)
        order = choice_param(query, "sort_order", ("ASC", "DSC"), "ASC")
        exclude = choice_param(query, "exclude_meetings", ("true", "false"), "false") == "true"
        start, end = time_param(query, "start_time"), time_param(query, "end_time")
        found = []
        for stream in self._livestreams(app_id).values():
            self._settle_livestream(app_id, stream)
            created = parse_timestamp(stream["created_at"])
            if exclude or (status and stream["status"] != status):
                continue
            if (start and created < start) or (end and created > end):
                continue
            found.append(stream)
        found.sort(key=lambda s: (s["created_at"], s["id"]), reverse=order == "DSC")
        chosen, paging = _page(found, page_no, per_page)
        data = self._public_livestream(chosen[0]) if chosen else {}
        return {**data, "paging": paging}

    def _livestream_with_session(self, app_id: str, livestream_id: str, query: dict[str, str]) -> dict:
        stream = self._find_livestream(app_id, livestream_id)
        page_no, per_page = paging_params(query)
        chosen, paging = _page([stream], page_no, per_page)
        answer = {"livestream": self._public_livestream(stream), "paging": paging}
        if chosen:
            answer["session"] = self._public_livestream_session(stream, seconds_as=float)
        return answer

    def _active_livestream_session(self, app_id: str, livestream_id: str) -> dict:
        stream = self._find_livestream(app_id, livestream_id)
        if stream["status"] not in ACTIVE:
            raise self._api_error(404, "The livestream has no active session")
        return {
            "livestream": self._public_livestream(stream),
            "session": self._public_livestream_session(stream, seconds_as=str),
        }

    def _livestream_session(self, app_id: str, session_id: str) -> dict:
        for stream in self._livestreams(app_id).values():
            if stream["session"]["id"] == session_id:
                self._settle_livestream(app_id, stream)
                return self._public_livestream_session(stream)
        raise self._api_error(404, "Livestream session not found")

    def _livestream_analytics(self, app_id: str, query: dict[str, str], *, daywise: bool):
        bounds = [_unix_param(query, name) for name in ("start_time", "end_time")]
        days: dict[str, dict] = {}
        total = {"count": 0, "total_ingest_seconds": 0, "total_viewer_seconds": 0}
        for stream in self._livestreams(app_id).values():
            self._settle_livestream(app_id, stream)
            started = parse_timestamp(stream["session"]["invoked_time"])
            if (bounds[0] is not None and started.timestamp() < bounds[0]) or (
                bounds[1] is not None and started.timestamp() > bounds[1]
            ):
                continue
            day = days.setdefault(
                started.astimezone(UTC).date().isoformat(),
                {"count": 0, "total_ingest_seconds": 0, "total_viewer_seconds": 0},
            )
            for bucket in (day, total):
                bucket["count"] += 1
                bucket["total_ingest_seconds"] += self._ingest_seconds(stream)
        if daywise:
            return [{"date": date, **figures} for date, figures in sorted(days.items())]
        return total

    # -- router ----------------------------------------------------------------------------------

    def _route_livestreams(self, method: str, app_id: str, route: list[str], query: dict, body: Any):
        """Answer the routes :meth:`_is_livestream_route` accepts (under the emulator's lock).

        A refusal is answered here rather than raised, so that a webhook queued by a stream
        found stopped on the way (see :meth:`_settle_livestream`) still leaves with the answer."""
        try:
            return self._livestream_answer(method, app_id, route, query, body)
        except _ApiError as err:
            return _error(err.status, err.message)

    def _livestream_answer(self, method: str, app_id: str, route: list[str], query: dict, body: Any):
        match route:
            case ["meetings", meeting_id, "livestreams"]:
                if method == "POST":
                    return _ok(self._start_livestream(app_id, meeting_id, self._object(body)), status=201)
            case ["meetings", meeting_id, "active-livestream"]:
                if method == "GET":
                    self._find_meeting(meeting_id, app_id)
                    stream = self._running_livestream(app_id, meeting_id)
                    if stream is None:
                        raise self._api_error(404, "The meeting has no active livestream")
                    return _ok(self._public_livestream(stream))
            case ["meetings", meeting_id, "active-livestream", "stop"]:
                if method == "POST":
                    return _ok(self._stop_livestream(app_id, meeting_id))
            case ["livestreams"]:
                if method == "GET":
                    return _ok(self._list_livestreams(app_id, query))
            case ["livestreams", "sessions", session_id]:
                if method == "GET":
                    return _ok(self._livestream_session(app_id, session_id))
            case ["livestreams", livestream_id]:
                if method == "GET":
                    return _ok(self._livestream_with_session(app_id, livestream_id, query))
            case ["livestreams", livestream_id, "active-livestream-session"]:
                if method == "GET":
                    return _ok(self._active_livestream_session(app_id, livestream_id))
            case ["analytics", "livestreams", ("overall" | "daywise") as kind]:
                if method == "GET":
                    return _ok(self._livestream_analytics(app_id, query, daywise=kind == "daywise"))
            case _:
                return _error(404, "Not found")
        return _error(405, "Method not allowed")

    # -- Python helpers (tests, demo) ------------------------------------------------------------

    def livestreams(self, app_id: str | None = None) -> list[dict]:
        """Every livestream of an app as the API shows it now (stream keys included: it is the
        emulator's own view), oldest first."""
        with self._lock:
            owner = self._resolve_app_id(app_id)
            found = sorted(self._livestreams(owner).values(), key=lambda s: (s["created_at"], s["id"]))
            for stream in found:
                self._settle_livestream(owner, stream)
            shown = [self._public_livestream(stream) for stream in found]
        self._deliver_pending()
        return shown

    def start_livestream(self, meeting_id: str, app_id: str | None = None, **body: Any) -> dict:
        """Start livestreaming a meeting directly (no HTTP, no faults), as the POST would; the
        start answer, stream key included. Raises LookupError for an unknown meeting,
        ValueError when the meeting has no live session or a stream runs. The session code can
        call it for a meeting whose ``live_stream_on_start`` is set."""
        with self._lock:
            owner = self._meeting_app.get(meeting_id) if app_id is None else app_id
            if owner is None:
                raise LookupError("Meeting not found")
            try:
                answer = self._start_livestream(owner, meeting_id, body)
            except _ApiError as err:
                raise (LookupError if err.status == 404 else ValueError)(err.message) from None
            self._save_state()
        self._deliver_pending()
        return answer

    def fail_livestream(self, livestream_id: str, app_id: str | None = None, message: str = "Ingest failed"):
        """The stream breaks: ERRORED, its session stopped with ``message`` (no webhook: the
        documented ``livestreaming.statusUpdate`` statuses have no error)."""
        with self._lock:
            owner = self._resolve_app_id(app_id)
            stream = self._call(self._find_livestream, owner, livestream_id)
            self._end_livestream(owner, stream, status="ERRORED", error=message)
            self._save_state()
        self._deliver_pending()


def _unix_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise _ApiError(400, f"{name}: must be a Unix timestamp in seconds")
