"""The emulator's active-session routes and helpers: who is in a meeting right now, removing them.

The sessions themselves live in :mod:`.session_model` (one model for these routes, the webhook
simulator and the sessions routes), so a join here is the same join the simulator makes and
delivers the same webhooks. A session starts with :meth:`start_session` (or the first
:meth:`join_session`) and ends when its last peer leaves or is removed, or with
:meth:`end_session`; ending it stops the meeting's running recordings (``stop_reason``
``ALL_PEERS_LEFT``). Sessions live in memory only: a restart ends them, as it would end real calls.
"""

from __future__ import annotations

import copy
from typing import Any

from .answers import error as _error
from .answers import ok as _ok


class LiveSessionMixin:
    """Live-session state and operations of :class:`~realtimekit_django.emulator.core.Emulator`."""

    def _live_session(self, meeting_id: str) -> dict | None:
        return self._session_book.live(meeting_id)

    def _public_session(self, session: dict) -> dict:
        meeting = self._apps[session["app_id"]]["meetings"].get(session["meeting_id"]) or session["meeting"]
        return self._session_book.public(session, meeting.get("title"))

    def _session_ended(self, session: dict) -> list[dict]:
        """What a session's end stops and leaves (called by the session book, under the lock):
        the meeting's recordings stop; its files are made; the webhooks announcing them."""
        self._stop_recordings_of(session["app_id"], session["meeting_id"], reason="ALL_PEERS_LEFT")
        return self._session_files(session)

    def _deliver_session_events(self, app_id: str, events: list[dict]) -> None:
        """Send the webhooks a session change caused (never with the emulator's lock held)."""
        for payload in events:
            self.webhooks.deliver(app_id, payload["event"], payload)

    def _after_session_change(self, app_id: str, events: list[dict]) -> None:
        if events:
            self._after_answer(lambda: self._deliver_session_events(app_id, events))

    def _kick(self, app_id: str, meeting_id: str, body: dict) -> dict:
        from realtimekit_django import schema

        self._find_meeting(meeting_id, app_id)
        session = self._need_live(meeting_id)
        wanted = schema.validate_kick(body)
        ids = set(wanted.get("participant_ids", []))
        custom = set(wanted.get("custom_participant_ids", []))
        people = self._app(app_id)["participants"].get(meeting_id, {})
        chosen = {
            pid
            for pid in self._session_book.participant_ids(session)
            if pid in ids or people.get(pid, {}).get("custom_participant_id") in custom
        }
        if not chosen:
            raise self._api_error(404, "None of these participants is in the live session")
        kicked, events = self._session_book.remove(session, chosen)
        self._after_session_change(app_id, events)
        shown = [
            {
                key: people[pid].get(key)
                for key in ("id", "name", "picture", "custom_participant_id", "created_at", "updated_at")
            }
            for pid in kicked
            if pid in people
        ]
        return {"action": "kick", "participants": shown}

    def _kick_all(self, app_id: str, meeting_id: str) -> dict:
        self._find_meeting(meeting_id, app_id)
        session = self._need_live(meeting_id)
        count = len(session["peers"])
        self._after_session_change(app_id, self._session_book.end(session, "HOST_ENDED_MEETING"))
        return {"action": "kick-all", "kicked_participants_count": count}

    def _need_live(self, meeting_id: str) -> dict:
        session = self._live_session(meeting_id)
        if session is None:
            raise self._api_error(404, "The meeting has no active session")
        return session

    def _route_active_session(self, method: str, app_id: str, meeting_id: str, rest: list[str], body: Any):
        if not rest and method == "GET":
            self._find_meeting(meeting_id, app_id)
            return _ok(self._public_session(self._need_live(meeting_id)))
        if rest == ["kick"] and method == "POST":
            return _ok(self._kick(app_id, meeting_id, self._object(body)))
        if rest == ["kick-all"] and method == "POST":
            return _ok(self._kick_all(app_id, meeting_id))
        if len(rest) > 1 or rest and rest[0] not in ("kick", "kick-all"):
            return _error(404, "Not found")
        return _error(405, "Method not allowed")

    # Python helpers: each changes the session book under the lock, then delivers what the
    # change caused once the lock is released -----------------------------------------------

    def start_session(self, meeting_id: str, app_id: str | None = None) -> dict:
        """Start a live session in a meeting (idempotent while one is live)."""
        with self._lock:
            app_id, meeting = self._find_meeting(meeting_id, app_id)
            session, events = self._session_book.start(app_id, meeting)
            shown = self._public_session(session)
        self._deliver_session_events(app_id, events)
        return shown

    def join_session(self, meeting_id: str, participant_id: str, app_id: str | None = None) -> dict:
        """A participant of the meeting joins its live session (starting one if needed); a
        participant already in stays in with the one device."""
        with self._lock:
            person = self._find_participant(meeting_id, participant_id, app_id)
            app_id, meeting = self._find_meeting(meeting_id, app_id)
            session, events = self._session_book.start(app_id, meeting)
            if participant_id not in self._session_book.participant_ids(session):
                events += self._session_book.join(session, {**person, "id": participant_id})[1]
            shown = self._public_session(session)
        self._deliver_session_events(app_id, events)
        return shown

    def leave_session(self, meeting_id: str, participant_id: str) -> None:
        """Every device of the participant leaves the live session (none live: nothing)."""
        with self._lock:
            session = self._live_session(meeting_id)
            if session is None:
                return
            events = self._session_book.remove(session, {participant_id})[1]
        self._deliver_session_events(session["app_id"], events)

    def end_session(self, meeting_id: str) -> None:
        """The host ends the meeting's live session for everyone (none live: nothing)."""
        with self._lock:
            session = self._live_session(meeting_id)
            if session is None:
                return
            events = self._session_book.end(session, "HOST_ENDED_MEETING")
        self._deliver_session_events(session["app_id"], events)

    def live_participants(self, meeting_id: str) -> list[str]:
        """The ids of the participants in the meeting's live session (none when not live)."""
        with self._lock:
            session = self._live_session(meeting_id)
            return self._session_book.participant_ids(session) if session else []

    def session(self, meeting_id: str) -> dict | None:
        """The meeting's latest session (live or ended), or None."""
        with self._lock:
            session = self._session_book.latest(meeting_id)
            return copy.deepcopy(self._public_session(session)) if session else None
