"""The session simulator: what people do in a meeting, delivered as signed webhooks.

In Python (``emulator.sessions.start(meeting_id)``, ``.join(...)``, ``.leave(...)``,
``.end(...)``, ``.recording(...)``) and over HTTP under the app's path, with the API token:

==========================================================  ===================================
``POST   .../emulator/meetings/{meeting_id}/sessions``        start; ``{"session_id"}``
``POST   .../emulator/sessions/{session_id}/participants``    join ``{custom_participant_id,
                                                              name}``; ``{"peer_id"}``
``DELETE .../emulator/sessions/{session_id}/participants/{peer_id}``   leave
``POST   .../emulator/sessions/{session_id}/end``             end ``{reason}``
``POST   .../emulator/sessions/{session_id}/recording``       ``{status}``; ``{"recording_id"}``
``GET    .../emulator/sessions``                              every session and who is in
``PUT    .../emulator/webhooks/faults``                       ``{duplicate, out_of_order, delay}``
``POST   .../emulator/webhooks/flush``                        send held deliveries; ``{"sent"}``
==========================================================  ===================================

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

END_REASONS = ("HOST_ENDED_MEETING", "ALL_PARTICIPANTS_LEFT")
RECORDING_STATUSES = ("INVOKED", "RECORDING", "PAUSED", "UPLOADING", "UPLOADED", "ERRORED")


class SessionSimulator:
    def __init__(self, emulator: Any) -> None:  # the Emulator (not imported: core imports this)
        self.emulator = emulator
        self._sessions: dict[str, dict] = {}

    def reset(self) -> None:
        self._sessions.clear()

    # -- state ---------------------------------------------------------------------------------

    def _session(self, session_id: str) -> dict:
        found = self._sessions.get(session_id)
        if found is None:
            raise LookupError("Session not found")
        return found

    def _meeting_part(self, session: dict, **extra: Any) -> dict:
        meeting = session["meeting"]
        return {
            "id": meeting["id"],
            "sessionId": session["id"],
            "title": meeting.get("title"),
            "roomName": session["room_name"],
            "status": "LIVE",
            "createdAt": meeting["created_at"],
            "startedAt": session["started_at"],
            "organizedBy": {"id": session["organizer_id"], "name": "emulator"},
            **extra,
        }

    def sessions(self) -> list[dict]:
        """Every session: id, meeting id, live or not, and the peers in it now."""
        with self.emulator._lock:
            return [
                {
                    "id": s["id"],
                    "meeting_id": s["meeting"]["id"],
                    "live": s["ended_at"] is None,
                    "peers": copy.deepcopy(s["peers"]),
                }
                for s in self._sessions.values()
            ]

    def live_session(self, meeting_id: str) -> str | None:
        with self.emulator._lock:
            return next(
                (
                    s["id"]
                    for s in self._sessions.values()
                    if s["meeting"]["id"] == meeting_id and s["ended_at"] is None
                ),
                None,
            )

    # -- what people do --------------------------------------------------------------------------

    def start(self, meeting_id: str, app_id: str | None = None) -> str:
        """Start a session of ``meeting_id`` (delivers ``meeting.started``); its session id."""
        with self.emulator._lock:
            owner, meeting = self.emulator._call(self.emulator._find_meeting, meeting_id, app_id)
            session = {
                "id": str(uuid.uuid4()),
                "app_id": owner,
                "meeting": copy.deepcopy(meeting),
                "room_name": secrets.token_hex(6),
                "organizer_id": str(uuid.uuid4()),
                "started_at": self.emulator._now(),
                "ended_at": None,
                "peers": {},
            }
            self._sessions[session["id"]] = session
            payload = {"event": "meeting.started", "meeting": self._meeting_part(session)}
        self.emulator.webhooks.deliver(owner, "meeting.started", payload)
        return session["id"]

    def join(self, session_id: str, custom_participant_id: str, name: str | None = None) -> str:
        """Someone joins (delivers ``meeting.participantJoined``); their peer id."""
        with self.emulator._lock:
            session = self._live(session_id)
            peer = {
                "peerId": str(uuid.uuid4()),
                "userDisplayName": name or custom_participant_id,
                "customParticipantId": custom_participant_id,
                "clientSpecificId": custom_participant_id,
                "joinedAt": self.emulator._now(),
            }
            session["peers"][peer["peerId"]] = peer
            self._join_active_session(session, custom_participant_id)
            payload = {
                "event": "meeting.participantJoined",
                "meeting": self._meeting_part(session),
                "participant": copy.deepcopy(peer),
            }
        self.emulator.webhooks.deliver(session["app_id"], payload["event"], payload)
        return peer["peerId"]

    def _join_active_session(self, session: dict, custom_participant_id: str) -> None:
        """A participant of the meeting is in its active session too, so that recording it and
        removing them (``active-session``) work on what the simulator made."""
        meeting_id = session["meeting"]["id"]
        people = self.emulator._apps[session["app_id"]]["participants"].get(meeting_id, {})
        for participant_id, person in people.items():
            if person.get("custom_participant_id") == custom_participant_id:
                self.emulator.join_session(meeting_id, participant_id, session["app_id"])
                return

    def leave(self, session_id: str, peer_id: str) -> None:
        """Someone leaves (delivers ``meeting.participantLeft``)."""
        with self.emulator._lock:
            session = self._live(session_id)
            peer = session["peers"].pop(peer_id, None)
            if peer is None:
                raise LookupError("Peer not in the session")
            payload = self._left_payload(session, peer)
        self.emulator.webhooks.deliver(session["app_id"], payload["event"], payload)

    def _left_payload(self, session: dict, peer: dict) -> dict:
        return {
            "event": "meeting.participantLeft",
            "meeting": self._meeting_part(session),
            "participant": {**peer, "leftAt": self.emulator._now()},
        }

    def removed(self, meeting_id: str, custom_participant_ids: set | None) -> None:
        """People removed from the meeting's live session (``active-session/kick``) leave its
        simulated sessions; ``None`` (kick-all) ends them. Delivers what the platform would."""
        with self.emulator._lock:
            live = [
                s
                for s in self._sessions.values()
                if s["meeting"]["id"] == meeting_id and s["ended_at"] is None
            ]
        for session in live:
            if custom_participant_ids is None:
                self.end(session["id"], reason="HOST_ENDED_MEETING")
                continue
            peers = [
                peer_id
                for peer_id, peer in list(session["peers"].items())
                if peer.get("customParticipantId") in custom_participant_ids
            ]
            for peer_id in peers:
                self.leave(session["id"], peer_id)

    def end(self, session_id: str, reason: str = "HOST_ENDED_MEETING") -> None:
        """End the session: everyone still in leaves, then ``meeting.ended`` with ``reason``."""
        if reason not in END_REASONS:
            raise ValueError(f"reason must be one of {', '.join(END_REASONS)}")
        with self.emulator._lock:
            session = self._live(session_id)
            payloads = [self._left_payload(session, peer) for peer in session["peers"].values()]
            session["peers"].clear()
            session["ended_at"] = self.emulator._now()
            payloads.append(
                {
                    "event": "meeting.ended",
                    "meeting": self._meeting_part(session, endedAt=session["ended_at"]),
                    "reason": reason,
                }
            )
        for payload in payloads:
            self.emulator.webhooks.deliver(session["app_id"], payload["event"], payload)

    def recording(self, session_id: str, status: str = "RECORDING", recording_id: str | None = None) -> str:
        """A recording of the session changes status (delivers ``recording.statusUpdate``; an
        UPLOADED one carries download URLs, which are bearer links)."""
        if status not in RECORDING_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RECORDING_STATUSES)}")
        with self.emulator._lock:
            session = self._session(session_id)
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
                "meetingId": session["meeting"]["id"],
                "recordingDuration": 1 if uploaded else None,
                "roomUUID": session["room_name"],
            }
            payload = {
                "event": "recording.statusUpdate",
                "meeting": self._meeting_part(session),
                "recording": recording,
            }
        self.emulator.webhooks.deliver(session["app_id"], payload["event"], payload)
        return recording_id

    def _live(self, session_id: str) -> dict:
        session = self._session(session_id)
        if session["ended_at"] is not None:
            raise LookupError("Session has ended")
        return session

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
                    mine = [s for s in self.sessions() if self._sessions[s["id"]]["app_id"] == app_id]
                    return _ok(mine)
                case ("POST", ["sessions", session_id, "participants"]):
                    custom_id = body.get("custom_participant_id")
                    if not isinstance(custom_id, str) or not custom_id:
                        return _error(400, "custom_participant_id: required")
                    peer_id = self.join(session_id, custom_id, body.get("name"))
                    return _ok({"peer_id": peer_id}, status=201)
                case ("DELETE", ["sessions", session_id, "participants", peer_id]):
                    self.leave(session_id, peer_id)
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
