"""Processing a stored webhook event: one function per event type, run by a task.

:func:`process_event` takes the event row with ``SELECT ... FOR UPDATE`` and does nothing when
it is already processed, so a task sent twice, a replay racing a worker, or two workers on one
row process it once. Each handler merges what the payload says into :class:`Session` and
:class:`SessionParticipant` rows with rules that do not depend on order (earliest join, latest
leave, the end when one was seen), so deliveries in any order, any number of times, converge to
the same rows. The payload is enough: no handler calls the API. When an event names something
the mirror lacks (a meeting or a participant not synced yet), :func:`meeting_touched` tells the
sync that this meeting is worth its next walk; that hint is best effort (a cache outage loses
the hint, never the event).

A failed event keeps its error and is tried again by the retry task (:mod:`.retry`), later
each time, until it succeeds or uses up its tries.

Rows are locked in one order (event, then session, then peer), so concurrent events of one
session wait for each other instead of deadlocking.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.core.cache import caches
from django.db import IntegrityError, models, router, transaction
from django.utils import timezone

from .. import signals
from ..conf import get_settings
from ..models import Meeting, Participant, Session, SessionParticipant, SessionStatus, WebhookEvent
from ..sync import schedule
from . import payloads, retry

logger = logging.getLogger("realtimekit_django.webhooks")

TOUCHED_PREFIX = "realtimekit:meeting-touched:"
TOUCHED_SECONDS = 7 * 24 * 3600

Handler = Callable[[WebhookEvent], None]
HANDLERS: dict[str, Handler] = {}


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = function
        return function

    return register


class UnusableEvent(ValueError):
    """The payload lacks what its type needs (a session id, a peer id); kept as failed."""


# -- feeding the sync -------------------------------------------------------------------------


def meeting_touched(meeting_id: Any) -> None:
    """Record that a webhook named ``meeting_id`` and the mirror could not follow from the
    payload alone: the meeting's next participant walk is worth spending budget on.

    The one place the sync is fed from webhooks: the scheduler walks a touched meeting's
    participants first (``sync.schedule.mark_touched``); a meeting not mirrored yet is found
    by the next meetings walk, and :func:`last_touched` says when a webhook named it.

    A hint, not a duty: when the lock cache is down the time is not kept (logged), and the
    event is processed all the same.
    """
    try:
        caches[get_settings().sync_lock_cache].set(
            f"{TOUCHED_PREFIX}{meeting_id}", time.time(), TOUCHED_SECONDS
        )
    except Exception as err:
        logger.warning("could not keep the sync hint for meeting %s (%s)", meeting_id, type(err).__name__)
    schedule.mark_touched([meeting_id])


def last_touched(meeting_id: Any) -> float | None:
    """When :func:`meeting_touched` last named ``meeting_id`` (epoch seconds), or None (also
    when the lock cache cannot be read)."""
    try:
        return caches[get_settings().sync_lock_cache].get(f"{TOUCHED_PREFIX}{meeting_id}")
    except Exception as err:
        logger.warning("could not read the sync hint for meeting %s (%s)", meeting_id, type(err).__name__)
        return None


# -- the pipeline -----------------------------------------------------------------------------


def process_event(pk: int) -> str:
    """Process one stored event once: ``"processed"``, ``"already"`` (done before),
    ``"failed"`` (the error is kept on the row, and the retry task tries it again after a
    backoff, :func:`.retry.next_try`) or ``"missing"``."""
    using = router.db_for_write(WebhookEvent)
    with transaction.atomic(using=using):
        event = WebhookEvent.objects.using(using).select_for_update().filter(pk=pk).first()
        if event is None:
            return "missing"
        if event.processed_at is not None:
            return "already"
        event.attempts += 1
        try:
            with transaction.atomic(using=using):  # a failing handler leaves no half-merged rows
                handler = HANDLERS.get(event.event)
                if handler is not None:
                    handler(event)
                signals.webhook_received.send(sender=WebhookEvent, event=event)
        except Exception as err:
            # The type and our own message only: a receiver's message could quote the payload.
            event.error = _describe(err)
            event.next_try_at = retry.next_try(event.attempts)
            event.save(update_fields=["attempts", "error", "next_try_at"])
            logger.warning("webhook event %s (%s) failed: %s", event.pk, event.event, type(err).__name__)
            return "failed"
        event.processed_at = timezone.now()
        event.error = ""
        event.next_try_at = None
        event.save(update_fields=["attempts", "error", "processed_at", "next_try_at"])
        return "processed"


def _describe(err: Exception) -> str:
    if isinstance(err, UnusableEvent):
        return f"{type(err).__name__}: {err}"
    return type(err).__name__


def _locked_get_or_create(model: type[models.Model], lookup: dict, defaults: dict):
    """The row for ``lookup`` locked for update, created from ``defaults`` if absent; a
    concurrent creator makes our insert fail and we take theirs."""
    rows = model.objects.select_for_update()
    row = rows.filter(**lookup).first()
    if row is not None:
        return row, False
    try:
        with transaction.atomic():
            return model.objects.create(**lookup, **defaults), True
    except IntegrityError:
        return rows.get(**lookup), False


def _meeting_part(event: WebhookEvent) -> Mapping[str, Any]:
    return payloads.section(event.payload, "meeting")


def _merged_session(event: WebhookEvent, *, ended: bool = False) -> Session:
    """The event's session, created or merged: the earliest start seen; the end when a
    ``meeting.ended`` says so (the latest end, should two disagree)."""
    session_id = payloads.session_id_of(event.payload)
    if not session_id or event.meeting_id is None:
        raise UnusableEvent("the payload has no meeting.id or meeting.sessionId")
    meeting = _meeting_part(event)
    started_at = payloads.as_time(meeting.get("startedAt"))
    session, created = _locked_get_or_create(
        Session, {"pk": session_id}, {"meeting_id": event.meeting_id, "started_at": started_at}
    )
    changed = []
    if session.api_confirmed_end_at is not None:
        # The API confirmed the end and its figures win: a late or odd push moves nothing.
        return session
    if started_at is not None and (session.started_at is None or started_at < session.started_at):
        session.started_at = started_at
        changed.append("started_at")
    newly_ended = False
    if ended:
        ended_at = payloads.as_time(meeting.get("endedAt")) or event.received_at
        if session.ended_at is None or ended_at > session.ended_at:
            newly_ended = session.ended_at is None
            session.ended_at = ended_at
            session.end_reason = payloads.as_text(event.payload.get("reason"), 64)
            session.status = SessionStatus.ENDED
            changed += ["ended_at", "end_reason", "status"]
    if changed:
        session.save(update_fields=changed)
    if created:
        _touch_unless_mirrored(event.meeting_id)
        signals.meeting_started.send(sender=Session, session=session)
    if newly_ended:
        signals.meeting_ended.send(sender=Session, session=session)
    return session


def _touch_unless_mirrored(meeting_id) -> None:
    if not Meeting.objects.filter(pk=meeting_id).exists():
        meeting_touched(meeting_id)


@handles("meeting.started")
def meeting_started(event: WebhookEvent) -> None:
    _merged_session(event)


@handles("meeting.ended")
def meeting_ended(event: WebhookEvent) -> None:
    _merged_session(event, ended=True)


@handles("meeting.participantJoined")
def participant_joined(event: WebhookEvent) -> None:
    _merged_attendance(event, left=False)


@handles("meeting.participantLeft")
def participant_left(event: WebhookEvent) -> None:
    _merged_attendance(event, left=True)


@handles("recording.statusUpdate")
def recording_status(event: WebhookEvent) -> None:
    """The recording's status, from the payload alone (older pushes never move a row back)."""
    from .. import services

    recording = payloads.section(event.payload, "recording")
    if not recording:
        raise UnusableEvent("the payload has no recording")
    services.record_status(recording)


@handles("livestreaming.statusUpdate")
def livestream_status(event: WebhookEvent) -> None:
    """The stream's status and playback URL (the stream key was redacted at intake and is
    never read here)."""
    from ..services.livestreams import record_livestream

    payload = event.payload
    if not isinstance(payload.get("streamId"), str):
        raise UnusableEvent("the payload has no streamId")
    record_livestream(
        {"id": payload["streamId"], "status": payload.get("status"), "playbackUrl": payload.get("playbackUrl")},
        meeting_id=event.meeting_id,
    )


@handles("meeting.chatSynced", "meeting.transcript", "meeting.summary")
def artifact_announced(event: WebhookEvent) -> None:
    """A chat export, transcript or summary is ready: its artifact row is announced and its
    copy sent to a worker. The payload's download URL was redacted at intake and is never
    read: the copy asks the API for a fresh one."""
    from ..services import artifacts

    session_id = payloads.session_id_of(event.payload)
    if not session_id or event.meeting_id is None:
        raise UnusableEvent("the payload has no sessionId or meeting id")
    session, _ = _locked_get_or_create(Session, {"pk": session_id}, {"meeting_id": event.meeting_id})
    artifact = artifacts.announce_artifact(session, artifacts.EVENT_KINDS[event.event])
    transaction.on_commit(lambda: _send_copy(artifact.pk), using=router.db_for_write(type(artifact)))


def _send_copy(artifact_pk: int) -> None:
    """Best effort: a lost send is picked up by the next ``realtimekit.copy_artifacts`` run."""
    try:
        from ..tasks import copy_artifact

        copy_artifact.delay(artifact_pk)
    except Exception as exc:  # a broker outage must not fail the event
        logger.warning("artifact %s: the copy task was not sent (%s)", artifact_pk, type(exc).__name__)


def _merged_attendance(event: WebhookEvent, *, left: bool) -> SessionParticipant:
    """The peer's row, created or merged: the earliest join and the latest leave seen."""
    session = _merged_session(event)
    person = payloads.section(event.payload, "participant")
    peer_id = payloads.as_text(person.get("peerId"), 100)
    if not peer_id:
        raise UnusableEvent("the payload has no participant.peerId")
    joined_at = payloads.as_time(person.get("joinedAt"))
    left_at = (payloads.as_time(person.get("leftAt")) or event.received_at) if left else None
    names = {
        "custom_participant_id": payloads.as_text(
            person.get("customParticipantId") or person.get("clientSpecificId")
        ),
        "display_name": payloads.as_text(person.get("userDisplayName"), 10_000),
    }
    attendance, created = _locked_get_or_create(
        SessionParticipant,
        {"session": session, "peer_id": peer_id},
        {**names, "joined_at": joined_at, "left_at": left_at},
    )
    newly_left = created and left_at is not None
    if not created:
        changed = _merge_times(attendance, joined_at, left_at)
        newly_left = "left_at" in changed and changed["left_at"] is None
        for name, value in names.items():
            if value and not getattr(attendance, name):
                setattr(attendance, name, value)
                changed[name] = ""
        if changed:
            attendance.save(update_fields=list(changed))
    if attendance.participant_id is None and attendance.custom_participant_id:
        _link_participant(attendance, session.meeting_id)
    if created:
        signals.participant_joined.send(sender=SessionParticipant, attendance=attendance)
    if newly_left:
        signals.participant_left.send(sender=SessionParticipant, attendance=attendance)
    return attendance


def _merge_times(attendance: SessionParticipant, joined_at, left_at) -> dict[str, Any]:
    """Move ``joined_at`` earlier and ``left_at`` later; the changed fields with old values."""
    changed: dict[str, Any] = {}
    if joined_at is not None and (attendance.joined_at is None or joined_at < attendance.joined_at):
        changed["joined_at"] = attendance.joined_at
        attendance.joined_at = joined_at
    if left_at is not None and (attendance.left_at is None or left_at > attendance.left_at):
        changed["left_at"] = attendance.left_at
        attendance.left_at = left_at
    return changed


def _link_participant(attendance: SessionParticipant, meeting_id) -> None:
    """Point the attendance at the mirrored participant with its custom id (the newest, as a
    meeting may hold several); without one, the sync should look."""
    participant_id = (
        Participant.objects.filter(
            meeting_id=meeting_id, custom_participant_id=attendance.custom_participant_id
        )
        .order_by("-remote_created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if participant_id is None:
        meeting_touched(meeting_id)
        return
    attendance.participant_id = participant_id
    attendance.save(update_fields=["participant"])


def replay(events: models.QuerySet) -> dict[str, int]:
    """Process the given events again, in the order they were received, each in its own
    transaction (the handlers converge, so a processed event run twice changes nothing);
    how many ended each way."""
    outcomes: dict[str, int] = {}
    pks = list(events.order_by("received_at", "pk").values_list("pk", flat=True))
    for pk in pks:
        WebhookEvent.objects.filter(pk=pk).update(processed_at=None)
        outcome = process_event(pk)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
