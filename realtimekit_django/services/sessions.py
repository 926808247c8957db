"""Storing what the API says about sessions and their attendees, and the attendance signal.

The sessions walk (:mod:`realtimekit_django.sync.sessions`) reads the API; this module is the
only code that writes its answers into :class:`Session` and :class:`SessionParticipant` rows.
The API's figures live in their own columns (``minutes_consumed``, ``api_joined_at`` ...), so
the webhook handlers' merge and this one never overwrite each other's values, and the result
does not depend on which came first. For an ended session the API wins: its start and end
replace what webhooks said, and later webhooks no longer move them.

Every payload is checked whole before anything is written (:func:`parse_session`,
:func:`parse_participants`): a listing that lies (an unknown status, an end before the start,
a negative duration) is refused with a clear error and leaves the rows as they were.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import signals
from ..exceptions import InvalidResponse
from ..models import Participant, Session, SessionParticipant, SessionStatus


@dataclass(frozen=True)
class RemoteSession:
    id: str
    meeting_id: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    minutes_consumed: float | None
    max_concurrent_participants: int | None
    data: dict


@dataclass(frozen=True)
class RemoteAttendee:
    peer_id: str
    user_id: str
    custom_participant_id: str
    display_name: str
    joined_at: datetime | None
    left_at: datetime | None
    duration: float | None


def _refuse(what: str, why: str) -> InvalidResponse:
    return InvalidResponse(f"RealtimeKit's {what} is unusable: {why}")


def _time(item: Mapping, key: str, what: str) -> datetime | None:
    value = item.get(key)
    if value in (None, ""):
        return None
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        raise _refuse(what, f"{key} is not an ISO 8601 time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _number(item: Mapping, key: str, what: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _refuse(what, f"{key} is not a non-negative number")
    return float(value)


def _text(item: Mapping, key: str, what: str, limit: int, *, required: bool = False) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or "\x00" in value:
        raise _refuse(what, f"{key} is missing or not text")
    return value[:limit]


def parse_session(item: Any) -> RemoteSession:
    """One session of the API's answer, checked; :class:`InvalidResponse` when it lies."""
    if not isinstance(item, Mapping):
        raise _refuse("session", "not an object")
    session_id = _text(item, "id", "session", 100, required=True)
    what = f"session {session_id[:40]}"
    status = item.get("status")
    if status not in SessionStatus.values:
        raise _refuse(what, "status is neither LIVE nor ENDED")
    started_at, ended_at = _time(item, "started_at", what), _time(item, "ended_at", what)
    if started_at and ended_at and ended_at < started_at:
        raise _refuse(what, "it ended before it started")
    concurrent = _number(item, "max_concurrent_participants", what)
    return RemoteSession(
        id=session_id,
        meeting_id=_text(item, "associated_id", what, 100, required=True),
        status=status,
        started_at=started_at,
        ended_at=ended_at,
        minutes_consumed=_number(item, "minutes_consumed", what),
        max_concurrent_participants=None if concurrent is None else int(concurrent),
        data={key: item[key] for key in item if key != "participants"},
    )


def parse_participants(items: Any, session_id: str) -> list[RemoteAttendee]:
    """A session's participants, checked and deduplicated (a listing that repeats a peer
    keeps its first copy); :class:`InvalidResponse` when one lies."""
    if not isinstance(items, list):
        raise _refuse(f"participants of session {session_id[:40]}", "not a list")
    seen: dict[str, RemoteAttendee] = {}
    for item in items:
        if not isinstance(item, Mapping):
            raise _refuse(f"participants of session {session_id[:40]}", "an item is not an object")
        peer_id = _text(item, "id", "session participant", 100, required=True)
        what = f"participant {peer_id[:40]} of session {session_id[:40]}"
        joined_at, left_at = _time(item, "joined_at", what), _time(item, "left_at", what)
        if joined_at and left_at and left_at < joined_at:
            raise _refuse(what, "it left before it joined")
        if peer_id in seen:
            continue
        seen[peer_id] = RemoteAttendee(
            peer_id=peer_id,
            user_id=_text(item, "user_id", what, 100),
            custom_participant_id=_text(item, "custom_participant_id", what, 255),
            display_name=_text(item, "display_name", what, 10_000),
            joined_at=joined_at,
            left_at=left_at,
            duration=_number(item, "duration", what),
        )
    return list(seen.values())


def store_session(remote: RemoteSession, attendees: list[RemoteAttendee] | None = None) -> tuple[Session, bool]:
    """Merge one session (and, when given, its attendees) into the rows, in one transaction;
    the row and whether its attendance became final now (``session_attendance_final`` sent)."""
    now = timezone.now()
    using = router.db_for_write(Session)
    with transaction.atomic(using=using):
        session = Session.objects.select_for_update().filter(pk=remote.id).first()
        if session is None:
            session = Session(id=remote.id, meeting_id=remote.meeting_id, started_at=remote.started_at)
        session.minutes_consumed = remote.minutes_consumed
        session.max_concurrent_participants = remote.max_concurrent_participants
        session.api_synced_at = now
        session.unknown_to_api_since = None
        session.remote_data = remote.data
        final_now = False
        if remote.status == SessionStatus.ENDED:
            # The API wins for an ended session.
            session.status = SessionStatus.ENDED
            session.started_at = remote.started_at or session.started_at
            session.ended_at = remote.ended_at or session.ended_at or now
            if attendees is not None and session.api_confirmed_end_at is None:
                session.api_confirmed_end_at = now
                final_now = True
        elif remote.started_at and (session.started_at is None or remote.started_at < session.started_at):
            session.started_at = remote.started_at
        session.save(using=using)
        if attendees is not None:
            _store_attendees(session, attendees)
        if final_now:
            signals.session_attendance_final.send(sender=Session, session=session)
    return session, final_now


def _store_attendees(session: Session, attendees: list[RemoteAttendee]) -> None:
    """One SELECT, one bulk INSERT and one bulk UPDATE for the whole list."""
    rows = {row.peer_id: row for row in SessionParticipant.objects.filter(session=session)}
    links = _participant_links(session.meeting_id, attendees)
    new, changed = [], []
    for remote in attendees:
        row = rows.get(remote.peer_id)
        if row is None:
            row = SessionParticipant(
                session=session, peer_id=remote.peer_id, custom_participant_id=remote.custom_participant_id,
                display_name=remote.display_name,
            )
            new.append(row)
        else:
            changed.append(row)
        row.api_joined_at, row.api_left_at = remote.joined_at, remote.left_at
        row.api_duration_seconds, row.user_id = remote.duration, remote.user_id
        row.custom_participant_id = row.custom_participant_id or remote.custom_participant_id
        row.display_name = row.display_name or remote.display_name
        if row.participant_id is None:
            row.participant_id = links.get(remote.user_id) or links.get(("custom", remote.custom_participant_id))
    if new:
        SessionParticipant.objects.bulk_create(new)
    if changed:
        SessionParticipant.objects.bulk_update(
            changed,
            ["api_joined_at", "api_left_at", "api_duration_seconds", "user_id", "custom_participant_id",
             "display_name", "participant"],
        )


def _participant_links(meeting_id, attendees: list[RemoteAttendee]) -> dict:
    """The mirrored participants the attendees name: by the API's ``user_id`` (the
    participant's id) or, failing that, by custom participant id (the newest)."""
    user_ids = [a.user_id for a in attendees if a.user_id]
    customs = [a.custom_participant_id for a in attendees if a.custom_participant_id]
    links: dict = {}
    rows = Participant.objects.filter(meeting_id=meeting_id).filter(
        Q(pk__in=_uuids(user_ids)) | Q(custom_participant_id__in=customs)
    ).order_by("remote_created_at", "pk").values_list("pk", "custom_participant_id")
    for pk, custom in rows:
        links[str(pk)] = pk
        links[("custom", custom)] = pk
    return links


def _uuids(values: list) -> list:
    valid = []
    for value in values:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    return valid


def mark_unknown(session_id: str) -> bool:
    """The API answered 404 for a session we hold: mark it (kept, never deleted); whether
    the mark is new."""
    return bool(
        Session.objects.filter(pk=session_id, unknown_to_api_since__isnull=True).update(
            unknown_to_api_since=timezone.now()
        )
    )
