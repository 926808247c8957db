"""Participants: add, edit, remove, and new tokens; tokens are returned, never stored.

A participant added remotely that cannot be kept locally (a lost race, a failing signal
receiver, a database error) is deleted remotely at once: otherwise it would hold a working
100-day token that nobody here knows of.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, router, transaction
from django.views.decorators.debug import sensitive_variables

from .. import signals, store, token_cache
from ..client import RealtimeKitClient, get_client
from ..exceptions import NotFound, RealtimeKitError, ValidationError
from ..models import Meeting, Participant
from ..tokens import token_expiry
from .answers import data_of, token_of
from .presets import require_known_preset

logger = logging.getLogger("realtimekit_django.services")


@sensitive_variables()
def keep_added(api: RealtimeKitClient, meeting: Meeting, payload: Mapping, *, user=None) -> Participant:
    """Store a participant just added remotely and announce it; on any failure, undo the add.

    The row and the ``participant_added`` receivers share one transaction (a savepoint inside
    a caller's), so a failing receiver also takes the row back, and the caller's transaction
    stays usable after a lost race.
    """
    try:
        with transaction.atomic(using=router.db_for_write(Participant)):
            participant = store.save_participant(meeting, payload, user_id=getattr(user, "pk", None))
            signals.participant_added.send(sender=Participant, participant=participant)
        return participant
    except Exception:
        _undo_add(api, meeting, payload)
        raise


def _undo_add(api: RealtimeKitClient, meeting: Meeting, payload: Mapping) -> None:
    participant_id = str(payload.get("id"))
    try:
        api.meetings.delete_meeting_participant(participant_id, meeting_id=str(meeting.pk))
    except NotFound:
        pass
    except RealtimeKitError as exc:
        logger.error(
            "participant %s of meeting %s could not be stored and could not be deleted remotely "
            "(%s); the next participants walk adopts it, and deleting it revokes its tokens",
            participant_id,
            meeting.pk,
            exc,
        )


@sensitive_variables()
def add_participant(
    meeting: Meeting,
    *,
    custom_participant_id: str,
    preset_name: str,
    name: str | None = None,
    picture: str | None = None,
    user=None,
    client: RealtimeKitClient | None = None,
) -> tuple[Participant, str]:
    """Add a remote participant and store it. Returns ``(participant, token)``; the token is
    not stored anywhere: hand it to the person and forget it."""
    require_known_preset(preset_name)
    api = client or get_client()
    if user is not None and Participant.objects.filter(meeting=meeting, user=user).exists():
        raise ValidationError([("user", "already has a participant in this meeting")])
    optional = {key: value for key, value in (("name", name), ("picture", picture)) if value is not None}
    envelope = api.meetings.add_participant(
        str(meeting.pk), custom_participant_id=custom_participant_id, preset_name=preset_name, **optional
    )
    payload = data_of(envelope, "add participant")
    token = token_of(payload, "add participant")
    try:
        participant = keep_added(api, meeting, payload, user=user)
    except IntegrityError:  # another add for this user won meanwhile (ours was undone)
        raise ValidationError([("user", "already has a participant in this meeting")]) from None
    signals.meetings_touched.send(sender=Meeting, meeting_ids=[meeting.pk])
    return participant, token


@sensitive_variables()
def edit_participant(
    participant: Participant, *, client: RealtimeKitClient | None = None, **changes: Any
) -> Participant:
    """PATCH a participant's name, picture or preset, in place (the new token is dropped)."""
    if not changes:
        return participant
    if changes.get("preset_name") is not None:
        require_known_preset(changes["preset_name"])
    api = client or get_client()
    envelope = api.meetings.edit_participant(
        str(participant.pk), meeting_id=str(participant.meeting_id), **changes
    )
    payload = data_of(envelope, "edit participant")
    signals.meetings_touched.send(sender=Meeting, meeting_ids=[participant.meeting_id])
    with transaction.atomic(using=router.db_for_write(Participant)):
        return store.save_participant(
            participant.meeting, payload, user_id=participant.user_id, instance=participant
        )


def remove_participant(participant: Participant, *, client: RealtimeKitClient | None = None) -> None:
    """DELETE the remote participant, which revokes every token it was given, then the row.

    A participant already gone remotely (404) is removed locally all the same: the goal,
    nobody holding a working token for it, is reached either way.
    """
    api = client or get_client()
    try:
        api.meetings.delete_meeting_participant(str(participant.pk), meeting_id=str(participant.meeting_id))
    except NotFound:
        logger.info("participant %s was already gone remotely; removing the local row", participant.pk)
    info = {
        "participant_id": participant.pk,
        "meeting_id": participant.meeting_id,
        "custom_participant_id": participant.custom_participant_id,
    }
    token_cache.drop(participant.pk)
    with transaction.atomic(using=router.db_for_write(Participant)):
        Participant.objects.filter(pk=participant.pk).delete()
        signals.participant_removed.send(sender=Participant, **info)
    signals.meetings_touched.send(sender=Meeting, meeting_ids=[info["meeting_id"]])


@sensitive_variables()
def refresh_participant_token(participant: Participant, *, client: RealtimeKitClient | None = None) -> str:
    """A new token for the participant. Earlier tokens stay valid: only removal revokes."""
    api = client or get_client()
    envelope = api.meetings.refresh_participant_token(
        str(participant.pk), meeting_id=str(participant.meeting_id)
    )
    token = token_of(data_of(envelope, "refresh token"), "refresh token")
    signals.token_issued.send(sender=Participant, participant=participant, expires_at=token_expiry(token))
    return token


def upsert_participants(meeting: Meeting, payloads: Iterable[Mapping]) -> store.UpsertResult:
    """Store a page of one meeting's participant payloads (bad items rejected alone)."""
    return store.upsert_participant_page(meeting, payloads)


def remove_missing_participants(meeting: Meeting, seen: set, *, walk_started: datetime) -> int:
    """After a *complete* walk (and a lookup of each participant it missed): delete local
    participants not in ``seen``, except rows written after the walk began (a join meanwhile)."""
    missing = store.participants_not_seen(meeting, seen, walk_started=walk_started)
    return store.delete_participants(missing, walk_started=walk_started)
