"""The session simulator: what people do in a meeting, delivered as signed webhooks.

In Python (``emulator.sessions.start(meeting_id)``, ``.join(...)``, ``.leave(...)``,
``.end(...)``, ``.recording(...)``) and over HTTP under the app's path, with the API token:

==========================================================  ===================================
``POST   .../emulator/meetings/{meeting_id}/sessions``        start; ``{"session_id"}``
``POST   .../emulator/sessions/{session_id}/participants``    join ``{custom_participant_id,
                                                              name}``; ``{"peer_id"}``
``DELETE .../emulator/sessions/{session_id}/participants/{peer_id}``   leave
``POST   .../emulator/sessions/{session_id}/say``             ``{peer_id, words}``: a line said
``POST   .../emulator/sessions/{session_id}/end``             end ``{reason}``
``POST   .../emulator/sessions/{session_id}/recording``       ``{status}``; ``{"recording_id"}``
``GET    .../emulator/sessions``                              every session and who is in
``PUT    .../emulator/webhooks/faults``                       ``{duplicate, out_of_order, delay}``
``POST   .../emulator/webhooks/flush``                        send held deliveries; ``{"sent"}``
==========================================================  ===================================

The simulator keeps no sessions of its own: it acts on the emulator's one session model
(``session_model.py``), so a simulated join is in the active session too, and the join of a
``custom_participant_id`` that is no participant of the meeting is refused (404), as the
platform refuses anyone without a participant's token. The last peer to leave ends the session.

Deliveries leave after the emulator's lock is released, so a receiver may call the emulator
back (to fetch the key, say) while it is being delivered to.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from typing import Any

from .answers import error as _error
from .answers import ok as _ok
from .session_model import END_REASONS

__all__ = ["END_REASONS", "RECORDING_STATUSES", "SessionSimulator"]

RECORDING_STATUSES = ("INVOKED", "RECORDING", "PAUSED", "UPLOADING", "UPLOADED", "ERRORED")


class SessionSimulator:
    """What people do, on the emulator's one session model (``session_model.py``): a join here
    is in the active session too, and only a participant of the meeting can join."""

    def __init__(self, emulator: Any) -> None:  # the Emulator (not imported: core imports this)
        self.emulator = emulator

    @property
    def _book(self):
        return self.emulator._session_book

    # -- state ---------------------------------------------------------------------------------

    def sessions(self, app_id: str | None = None) -> list[dict]:
        """Every session: id, meeting id, live or not, and the peers in it now."""
        with self.emulator._lock:
            return [
                {
                    "id": s["id"],
                    "meeting_id": s["meeting_id"],
                    "live": s["ended_at"] is None,
                    "peers": {pid: self._book.peer_payload(peer) for pid, peer in s["peers"].items()},
                }
                for s in self._book.all(app_id)
            ]

    def live_session(self, meeting_id: str) -> str | None:
        """The id of the meeting's live session, or None."""
        with self.emulator._lock:
            session = self._book.live(meeting_id)
            return session["id"] if session is not None else None

    # -- what people do --------------------------------------------------------------------------

    def start(self, meeting_id: str, app_id: str | None = None) -> str:
        """Start a session of ``meeting_id`` (delivers ``meeting.started``); its session id. A
        meeting has one live session: while one is live, this is its id and nothing is sent."""
        with self.emulator._lock:
            owner, meeting = self.emulator._call(self.emulator._find_meeting, meeting_id, app_id)
            session, events = self._book.start(owner, meeting)
        self.emulator._deliver_session_events(owner, events)
        return session["id"]

    def join(self, session_id: str, custom_participant_id: str, name: str | None = None) -> str:
        """A participant of the meeting joins, by their ``custom_participant_id`` (delivers
        ``meeting.participantJoined``); the new peer's id. Anyone else is refused
        (LookupError), as the platform refuses a join without a participant's token."""
        with self.emulator._lock:
            session = self._book.get(session_id)
            people = self.emulator._apps[session["app_id"]]["participants"].get(session["meeting_id"], {})
            person = next(
                (p for p in people.values() if p.get("custom_participant_id") == custom_participant_id), None
            )
            if person is None:
                raise LookupError(
                    f"No participant of meeting {session['meeting_id']} has custom_participant_id "
                    f"{custom_participant_id!r}: add them first"
                )
            peer, events = self._book.join(session, person, name)
        self.emulator._deliver_session_events(session["app_id"], events)
        return peer["peer_id"]

    def leave(self, session_id: str, peer_id: str) -> None:
        """Someone leaves (delivers ``meeting.participantLeft``); the last one out ends the
        session (``meeting.ended``, ``ALL_PARTICIPANTS_LEFT``)."""
        with self.emulator._lock:
            session = self._book.get(session_id)
            events = self._book.leave(session, peer_id)
        self.emulator._deliver_session_events(session["app_id"], events)

    def say(self, session_id: str, peer_id: str, words: str) -> None:
        """Someone in the session says something: a line of its chat export and transcript."""
        if not isinstance(words, str) or not words.strip():
            raise ValueError("words: required")
        with self.emulator._lock:
            session = self._book.get(session_id)
            peer = session["peers"].get(peer_id)
            if peer is None:
                raise LookupError("Peer not in the session")
            session.setdefault("said", []).append((peer["name"], self.emulator._now(), words))

    def end(self, session_id: str, reason: str = "HOST_ENDED_MEETING") -> None:
        """End the session: everyone still in leaves, then ``meeting.ended`` with ``reason``."""
        with self.emulator._lock:
            session = self._book.get(session_id)
            events = self._book.end(session, reason)
        self.emulator._deliver_session_events(session["app_id"], events)

    def recording(self, session_id: str, status: str = "RECORDING", recording_id: str | None = None) -> str:
        """A recording of the session changes status (delivers ``recording.statusUpdate``; an
        UPLOADED one carries download URLs, which are bearer links)."""
        if status not in RECORDING_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RECORDING_STATUSES)}")
        with self.emulator._lock:
            session = self._book.get(session_id)
            recording_id = recording_id or str(uuid.uuid4())
            uploaded = status == "UPLOADED"
            link = f"https://recordings.emulator.invalid/{recording_id}.mp4?token={secrets.token_urlsafe(16)}"
            recording = {
                "id": recording_id,
                "recordingId": recording_id,
                "status": status,
                "downloadUrl": link if uploaded else None,
                "audioDownloadUrl": link.replace(".mp4", ".mp3") if uploaded else None,
                "downloadUrlExpiry": self.emulator._now() if uploaded else None,
                "startedTime": session["started_at"],
                "stoppedTime": self.emulator._now() if uploaded else None,
                "fileSize": "1024" if uploaded else None,
                "outputFileName": f"{recording_id}.mp4",
                "meetingId": session["meeting_id"],
                "recordingDuration": 1 if uploaded else None,
                "roomUUID": session["room_name"],
            }
            payload = {
                "event": "recording.statusUpdate",
                "meeting": self._book.meeting_part(session),
                "recording": copy.deepcopy(recording),
            }
        self.emulator.webhooks.deliver(session["app_id"], payload["event"], payload)
        return recording_id

    # -- HTTP ------------------------------------------------------------------------------------

    def route(self, method: str, app_id: str, route: list[str], body: Any):
        """Answer ``.../emulator/...`` (called without the emulator's lock held)."""
        body = body if isinstance(body, dict) else {}
        webhooks = self.emulator.webhooks
        try:
            match (method, route[1:]):
                case ("POST", ["meetings", meeting_id, "sessions"]):
                    return _ok({"session_id": self.start(meeting_id, app_id)}, status=201)
                case ("GET", ["sessions"]):
                    return _ok(self.sessions(app_id))
                case ("POST", ["sessions", session_id, "participants"]):
                    custom_id = body.get("custom_participant_id")
                    if not isinstance(custom_id, str) or not custom_id:
                        return _error(400, "custom_participant_id: required")
                    peer_id = self.join(session_id, custom_id, body.get("name"))
                    return _ok({"peer_id": peer_id}, status=201)
                case ("DELETE", ["sessions", session_id, "participants", peer_id]):
                    self.leave(session_id, peer_id)
                    return _ok({})
                case ("POST", ["sessions", session_id, "say"]):
                    self.say(session_id, str(body.get("peer_id") or ""), body.get("words"))
                    return _ok({})
                case ("POST", ["sessions", session_id, "end"]):
                    self.end(session_id, body.get("reason") or "HOST_ENDED_MEETING")
                    return _ok({})
                case ("POST", ["sessions", session_id, "recording"]):
                    return _ok(
                        {"recording_id": self.recording(session_id, body.get("status") or "RECORDING")}
                    )
                case ("PUT", ["webhooks", "faults"]):
                    for name in ("duplicate", "out_of_order"):
                        if name in body:
                            setattr(webhooks.faults, name, bool(body[name]))
                    if "delay" in body:
                        webhooks.faults.delay = max(float(body["delay"]), 0.0)
                    return _ok(vars(webhooks.faults))
                case ("POST", ["webhooks", "flush"]):
                    return _ok({"sent": webhooks.flush()})
        except LookupError as err:
            return _error(404, str(err))
        except (ValueError, TypeError) as err:
            return _error(400, str(err))
        return _error(404, "Not found")
