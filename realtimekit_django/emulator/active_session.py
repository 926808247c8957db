"""The emulator's live sessions: who is in a meeting right now, and removing them.

A session starts with :meth:`start_session` (or the first :meth:`join_session`) and ends when
its last peer leaves or is removed, or with :meth:`end_session`; ending it stops the meeting's
running recordings (``stop_reason`` ``ALL_PEERS_LEFT``). Sessions live in memory only: a
restart ends them, as it would end real calls.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .answers import error as _error
from .answers import ok as _ok


class LiveSessionMixin:
    """Live-session state and operations of :class:`~realtimekit_django.emulator.core.Emulator`."""

    def _live_session(self, meeting_id: str) -> dict | None:
        session = self._live.get(meeting_id)
        return session if session is not None and session["status"] == "LIVE" else None

    def _public_session(self, session: dict) -> dict:
        meeting = self._apps[session["app_id"]]["meetings"][session["meeting_id"]]
        public = {
            key: value for key, value in session.items() if key not in ("peers", "app_id", "meeting_id")
        }
        return {
            **public,
            "associated_id": session["meeting_id"],
            "live_participants": len(session["peers"]),
            "meeting_display_name": meeting.get("title") or "",
            "type": "meeting",
        }

    def _kick(self, app_id: str, meeting_id: str, body: dict) -> dict:
        from realtimekit_django import schema

        self._find_meeting(meeting_id, app_id)
        session = self._need_live(meeting_id)
        wanted = schema.validate_kick(body)
        ids = set(wanted.get("participant_ids", []))
        custom = set(wanted.get("custom_participant_ids", []))
        people = self._app(app_id)["participants"].get(meeting_id, {})
        kicked = [
            pid
            for pid in list(session["peers"])
            if pid in ids or people.get(pid, {}).get("custom_participant_id") in custom
        ]
        if not kicked:
            raise self._api_error(404, "None of these participants is in the live session")
        for pid in kicked:
            self._leave(session, pid)
        removed = {people[pid].get("custom_participant_id") for pid in kicked if pid in people}
        self._after_answer(lambda: self.sessions.removed(meeting_id, removed))
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
        self._end(session, reason="HOST_ENDED_MEETING")
        self._after_answer(lambda: self.sessions.removed(meeting_id, None))
        return {"action": "kick-all", "kicked_participants_count": count}

    def _need_live(self, meeting_id: str) -> dict:
        session = self._live_session(meeting_id)
        if session is None:
            raise self._api_error(404, "The meeting has no active session")
        return session

    def _leave(self, session: dict, participant_id: str) -> None:
        session["peers"].pop(participant_id, None)
        session["updated_at"] = self._now()
        if not session["peers"]:
            self._end(session, reason="ALL_PARTICIPANTS_LEFT")

    def _end(self, session: dict, *, reason: str) -> None:
        session["peers"].clear()
        session["status"] = "ENDED"
        session["ended_at"] = session["updated_at"] = self._now()
        session["end_reason"] = reason
        self._stop_recordings_of(session["app_id"], session["meeting_id"], reason="ALL_PEERS_LEFT")

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

    # Python helpers ----------------------------------------------------------------------

    def start_session(self, meeting_id: str, app_id: str | None = None) -> dict:
        """Start a live session in a meeting (idempotent while one is live)."""
        with self._lock:
            app_id, meeting = self._find_meeting(meeting_id, app_id)
            session = self._live_session(meeting_id)
            if session is None:
                now = self._now()
                session = {
                    "id": str(uuid.uuid4()),
                    "app_id": app_id,
                    "meeting_id": meeting_id,
                    "organization_id": app_id,
                    "status": "LIVE",
                    "created_at": now,
                    "started_at": now,
                    "updated_at": now,
                    "max_concurrent_participants": 0,
                    "minutes_consumed": 0,
                    "peers": {},
                }
                self._live[meeting_id] = session
            return self._public_session(session)

    def join_session(self, meeting_id: str, participant_id: str, app_id: str | None = None) -> dict:
        """A participant of the meeting joins its live session (starting one if needed)."""
        with self._lock:
            person = self._find_participant(meeting_id, participant_id, app_id)
            self.start_session(meeting_id, app_id)
            session = self._live[meeting_id]
            session["peers"][participant_id] = person["custom_participant_id"]
            session["max_concurrent_participants"] = max(
                session["max_concurrent_participants"], len(session["peers"])
            )
            session["updated_at"] = self._now()
            return self._public_session(session)

    def leave_session(self, meeting_id: str, participant_id: str) -> None:
        with self._lock:
            session = self._live_session(meeting_id)
            if session is not None:
                self._leave(session, participant_id)

    def end_session(self, meeting_id: str) -> None:
        with self._lock:
            session = self._live_session(meeting_id)
            if session is not None:
                self._end(session, reason="HOST_ENDED_MEETING")

    def live_participants(self, meeting_id: str) -> list[str]:
        """The ids of the participants in the meeting's live session (none when not live)."""
        with self._lock:
            session = self._live_session(meeting_id)
            return sorted(session["peers"]) if session else []

    def session(self, meeting_id: str) -> dict | None:
        """The meeting's latest session (live or ended), or None."""
        with self._lock:
            session = self._live.get(meeting_id)
            return copy.deepcopy(self._public_session(session)) if session else None
