"""The emulator's one session model: every session of every meeting, live or ended, and its peers.

The API answers about sessions from one record: the active-session routes
(``active_session.py``), the webhook simulator (``sessions.py``), recordings, livestreams and
the sessions routes all read and change sessions here and only here, so that what the webhooks
tell a site and what the API answers it can never disagree about who is in.

The rules are the platform's:

- a meeting has at most one live session; starting one while it is live is the same session;
- only a participant of the meeting can join (a peer is one device of one participant, so a
  participant may be in twice);
- a session ends when the host ends it (``HOST_ENDED_MEETING``) or when its last peer leaves
  or is removed (``ALL_PARTICIPANTS_LEFT``); everyone still in leaves first;
- an ended session keeps its peers' history (join and leave times, minutes), which the
  sessions routes answer from.

Every change returns the webhook payloads it causes, in order, so that the caller can deliver
them once the emulator's lock is released (a receiver may call the emulator back). The book
knows nothing of HTTP or webhooks; the ``on_end`` callback lets the emulator stop what a
session's end stops (its recordings) and make what it leaves behind (``session_routes.py``),
whose announcements follow ``meeting.ended``.
"""

from __future__ import annotations

import copy
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from .answers import parse_timestamp

END_REASONS = ("HOST_ENDED_MEETING", "ALL_PARTICIPANTS_LEFT")

#: The keys of the API's session object (``GET .../sessions/{id}``, ``.../active-session``).
PUBLIC_KEYS = (
    "id",
    "associated_id",
    "created_at",
    "live_participants",
    "max_concurrent_participants",
    "meeting_display_name",
    "minutes_consumed",
    "organization_id",
    "started_at",
    "status",
    "type",
    "updated_at",
)


def _seconds(timestamp: str) -> float:
    return parse_timestamp(timestamp).timestamp()


def _minutes(start: str, end: str) -> float:
    return round(max(_seconds(end) - _seconds(start), 0.0) / 60.0, 2)


class SessionBook:
    """All sessions, by id, with the live one of each meeting; see the module docstring."""

    def __init__(self, now: Callable[[], str], on_end: Callable[[dict], list[dict]]) -> None:
        self._now = now
        self._on_end = on_end
        self._by_id: dict[str, dict] = {}
        self._live: dict[str, str] = {}  # meeting_id -> id of its live session
        self._latest: dict[str, str] = {}  # meeting_id -> id of its newest session

    # -- reading -------------------------------------------------------------------------------

    def get(self, session_id: str) -> dict:
        """The session (live or ended); LookupError when there is none of that id."""
        found = self._by_id.get(session_id)
        if found is None:
            raise LookupError("Session not found")
        return found

    def find(self, session_id: str) -> dict | None:
        return self._by_id.get(session_id)

    def live(self, meeting_id: str) -> dict | None:
        session_id = self._live.get(meeting_id)
        return self._by_id[session_id] if session_id is not None else None

    def latest(self, meeting_id: str) -> dict | None:
        session_id = self._latest.get(meeting_id)
        return self._by_id[session_id] if session_id is not None else None

    def all(self, app_id: str | None = None) -> list[dict]:
        """Every session (of one app, when given), oldest first."""
        return [s for s in self._by_id.values() if app_id is None or s["app_id"] == app_id]

    @staticmethod
    def participant_ids(session: dict) -> list[str]:
        """The participants in the session now (one entry each, however many devices)."""
        return sorted({peer["participant_id"] for peer in session["peers"].values()})

    def minutes_consumed(self, session: dict) -> float:
        """Peer-minutes so far: every peer's time in, the ones still in counted up to now."""
        until = session["ended_at"] or self._now()
        return round(sum(_minutes(p["joined_at"], p["left_at"] or until) for p in session["history"]), 2)

    def public(self, session: dict, meeting_title: str | None) -> dict:
        """The session as the API shows it (``associated_id`` is the meeting)."""
        shown = {
            "id": session["id"],
            "associated_id": session["meeting_id"],
            "created_at": session["created_at"],
            "live_participants": len(session["peers"]),
            "max_concurrent_participants": session["max_concurrent_participants"],
            "meeting_display_name": meeting_title or "",
            "minutes_consumed": self.minutes_consumed(session),
            "organization_id": session["app_id"],
            "started_at": session["started_at"],
            "status": session["status"],
            "type": "meeting",
            "updated_at": session["updated_at"],
        }
        if session["ended_at"] is not None:
            shown["ended_at"] = session["ended_at"]
            shown["end_reason"] = session["end_reason"]
        return shown

    def attendees(self, session: dict, *, peer_events: bool = False) -> list[dict]:
        """Each participant who was in the session, as the ``consolidated`` view of
        ``GET .../sessions/{id}/participants`` shows them: first join, last leave (None while a
        device is still in), minutes summed over all their devices and rejoins."""
        in_now = {peer["participant_id"] for peer in session["peers"].values()}
        rows: dict[str, dict] = {}
        for stay in self.peer_rows(session, peer_events=True):
            person = stay["user_id"]
            row = rows.get(person)
            if row is None:
                row = rows[person] = {
                    **stay,
                    "id": person,
                    "left_at": None,
                    "duration": 0.0,
                    "peer_events": [],
                }
            row["duration"] = round(row["duration"] + stay["duration"], 2)
            if person not in in_now:
                row["left_at"] = max(row["left_at"] or "", stay["left_at"])
            row["updated_at"] = max(row["updated_at"], stay["updated_at"])
            row["peer_events"] += stay["peer_events"]
        shown = list(rows.values())
        if not peer_events:
            for row in shown:
                del row["peer_events"]
        return shown

    def peer_rows(self, session: dict, *, peer_events: bool = False) -> list[dict]:
        """One row a peer (a device's stay), as the ``raw`` view of the participants shows: its
        ``id`` is the peer id the webhooks name, ``user_id`` the meeting's participant."""
        until = session["ended_at"] or self._now()
        rows = []
        for peer in session["history"]:
            row = {
                "id": peer["peer_id"],  # the webhooks' peerId: one row a stay
                "custom_participant_id": peer["custom_participant_id"],
                "display_name": peer["name"],
                "preset_name": peer["preset_name"],
                "user_id": peer["participant_id"],
                "created_at": peer["joined_at"],
                "joined_at": peer["joined_at"],
                "left_at": peer["left_at"],
                "updated_at": peer["left_at"] or peer["joined_at"],
                "duration": _minutes(peer["joined_at"], peer["left_at"] or until),
            }
            if peer_events:
                row["peer_events"] = self._peer_events(session, peer)
            rows.append(row)
        return rows

    @staticmethod
    def _peer_events(session: dict, peer: dict) -> list[dict]:
        def event(name: str, at: str) -> dict:
            return {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{peer['peer_id']}/{name}")),
                "created_at": at,
                "updated_at": at,
                "event_name": name,
                "participant_id": peer["participant_id"],
                "peer_id": peer["peer_id"],
                "session_id": session["id"],
                "preset_view_type": "GROUP_CALL",
            }

        events = [event("PEER_JOINING", peer["joined_at"])]
        if peer["left_at"] is not None:
            events.append(event("PEER_LEAVING", peer["left_at"]))
        return events

    # -- changing ------------------------------------------------------------------------------

    def start(self, app_id: str, meeting: dict) -> tuple[dict, list[dict]]:
        """The meeting's live session, started now (``meeting.started``) unless one is live."""
        live = self.live(meeting["id"])
        if live is not None:
            return live, []
        now = self._now()
        session = {
            "id": str(uuid.uuid4()),
            "app_id": app_id,
            "meeting_id": meeting["id"],
            "meeting": {key: copy.deepcopy(meeting.get(key)) for key in ("id", "title", "created_at")},
            "room_name": secrets.token_hex(6),
            "organizer_id": str(uuid.uuid4()),
            "status": "LIVE",
            "created_at": now,
            "started_at": now,
            "updated_at": now,
            "ended_at": None,
            "end_reason": None,
            "max_concurrent_participants": 0,
            "peers": {},  # peer_id -> peer, the devices in now
            "history": [],  # every peer that joined, in order (left ones have left_at)
        }
        self._by_id[session["id"]] = session
        self._live[meeting["id"]] = self._latest[meeting["id"]] = session["id"]
        return session, [{"event": "meeting.started", "meeting": self.meeting_part(session)}]

    def join(self, session: dict, participant: dict, name: str | None = None) -> tuple[dict, list[dict]]:
        """One device of ``participant`` (the emulator's participant record) joins."""
        self._need_live(session)
        now = self._now()
        peer = {
            "peer_id": str(uuid.uuid4()),
            "participant_id": participant["id"],
            "custom_participant_id": participant.get("custom_participant_id"),
            "name": name or participant.get("name") or participant.get("custom_participant_id") or "",
            "preset_name": participant.get("preset_name"),
            "joined_at": now,
            "left_at": None,
        }
        session["peers"][peer["peer_id"]] = peer
        session["history"].append(peer)
        session["max_concurrent_participants"] = max(
            session["max_concurrent_participants"], len(session["peers"])
        )
        session["updated_at"] = now
        payload = {
            "event": "meeting.participantJoined",
            "meeting": self.meeting_part(session),
            "participant": self.peer_payload(peer),
        }
        return peer, [payload]

    def leave(self, session: dict, peer_id: str) -> list[dict]:
        """A device leaves; the last one out ends the session (``ALL_PARTICIPANTS_LEFT``)."""
        self._need_live(session)
        if peer_id not in session["peers"]:
            raise LookupError("Peer not in the session")
        events = [self._left(session, peer_id)]
        if not session["peers"]:
            events += self._ended(session, "ALL_PARTICIPANTS_LEFT")
        return events

    def remove(self, session: dict, participant_ids: set[str]) -> tuple[list[str], list[dict]]:
        """Every device of these participants leaves (``active-session/kick``); the ids removed."""
        self._need_live(session)
        peers = [pid for pid, peer in session["peers"].items() if peer["participant_id"] in participant_ids]
        events = [self._left(session, peer_id) for peer_id in peers]
        if peers and not session["peers"]:
            events += self._ended(session, "ALL_PARTICIPANTS_LEFT")
        return sorted({p["participant_id"] for p in session["history"] if p["peer_id"] in peers}), events

    def end(self, session: dict, reason: str = "HOST_ENDED_MEETING") -> list[dict]:
        """End the session: everyone still in leaves, then ``meeting.ended`` with ``reason``."""
        if reason not in END_REASONS:
            raise ValueError(f"reason must be one of {', '.join(END_REASONS)}")
        self._need_live(session)
        events = [self._left(session, peer_id) for peer_id in list(session["peers"])]
        return events + self._ended(session, reason)

    def reset(self) -> None:
        self._by_id.clear()
        self._live.clear()
        self._latest.clear()

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _need_live(session: dict) -> None:
        if session["ended_at"] is not None:
            raise LookupError("Session has ended")

    def _left(self, session: dict, peer_id: str) -> dict:
        peer = session["peers"].pop(peer_id)
        peer["left_at"] = session["updated_at"] = self._now()
        return {
            "event": "meeting.participantLeft",
            "meeting": self.meeting_part(session),
            "participant": self.peer_payload(peer),
        }

    def _ended(self, session: dict, reason: str) -> list[dict]:
        session["status"] = "ENDED"
        session["ended_at"] = session["updated_at"] = self._now()
        session["end_reason"] = reason
        self._live.pop(session["meeting_id"], None)
        ended = {
            "event": "meeting.ended",
            "meeting": self.meeting_part(session, endedAt=session["ended_at"]),
            "reason": reason,
        }
        return [ended, *self._on_end(session)]

    @staticmethod
    def peer_payload(peer: dict) -> dict:
        """A peer as the webhooks name it."""
        shown = {
            "peerId": peer["peer_id"],
            "userDisplayName": peer["name"],
            "customParticipantId": peer["custom_participant_id"],
            "clientSpecificId": peer["custom_participant_id"],
            "joinedAt": peer["joined_at"],
        }
        if peer["left_at"] is not None:
            shown["leftAt"] = peer["left_at"]
        return shown

    @staticmethod
    def meeting_part(session: dict, **extra: Any) -> dict:
        meeting = session["meeting"]
        return {
            "id": session["meeting_id"],
            "sessionId": session["id"],
            "title": meeting.get("title"),
            "roomName": session["room_name"],
            "status": "LIVE",
            "createdAt": meeting.get("created_at"),
            "startedAt": session["started_at"],
            "organizedBy": {"id": session["organizer_id"], "name": "emulator"},
            **extra,
        }
