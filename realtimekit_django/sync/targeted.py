"""Targeted fetches: what a webhook event names and the mirror lacks is fetched at once.

A processed event (:data:`~realtimekit_django.signals.webhook_received`, sent by
``webhooks.handlers`` once the event's rows are merged; :mod:`.receivers` connects
:func:`on_webhook`) may name

- a meeting the mirror does not hold, or holds in a version older than the event's
  (``meeting.updatedAt`` newer than the row's ``remote_updated_at``): its meeting is fetched
  (``GET /meetings/{id}``, :data:`MEETING`);
- a participant (by its custom participant id: the payload carries no participant id) the
  mirror lacks, in a meeting whose participants were not walked since the event: that meeting's
  participants are walked (:data:`PARTICIPANTS`, one page for most meetings; a meeting not held
  yet is fetched first by the walk).

Such a fetch is queued on the background lane at once instead of waiting for the rotation
(:mod:`.schedule`) to come round, and runs as event-driven work: it may spend the event reserve
(``RATE_LIMIT_EVENT_RESERVE``) that the rotation, the sessions walk and the copies leave, so it
does not queue behind their budget waits. Two bounds keep a burst of events from spending the budget
that the rotation and people's joins need:

- one pending fetch per object: a second event naming it while the first fetch has not
  started is dropped (the fetch, when it runs, sees what both announced);
- at most ``TARGETED_FETCHES_PER_MINUTE`` a minute (per app, every process together, counted in
  the lock cache); over it the object waits for its turn in the rotation, which the handlers'
  ``mark_touched`` already asked for.

A ``meeting.started`` also moves its meeting to the front of the next run's participant walks
(:func:`.schedule.move_to_front`). Everything here is a hint: a cache that is down loses the
fetch (logged), never the event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.db import transaction

from ..conf import get_settings
from . import health, schedule

logger = logging.getLogger("realtimekit_django.sync")

MEETING = "meeting"
PARTICIPANTS = "participants"
KINDS = (MEETING, PARTICIPANTS)
PREFIX = "realtimekit:targeted:"
#: A pending fetch keeps its object's dedupe mark at most this long (it expires with the task).
PENDING_SECONDS = 300
PARTICIPANT_EVENTS = ("meeting.participantJoined", "meeting.participantLeft")

TASK_NAME = "realtimekit.targeted_fetch"
#: ``send(kind, meeting_id)``: queue one targeted fetch. ``None``: the Celery task
#: ``realtimekit.targeted_fetch`` (:func:`realtimekit_django.tasks.targeted_fetch`), found by
#: name in the current Celery app. A test or a benchmark may set its own.
SEND: Callable[[str, str], Any] | None = None


def _cache():
    return caches[get_settings().sync_lock_cache]


def _pending_key(kind: str, meeting_id: str) -> str:
    return f"{PREFIX}{get_settings().app_id}:{kind}:{meeting_id}"


def _minute_key(now: float) -> str:
    return f"{PREFIX}{get_settings().app_id}:minute:{int(now // 60)}"


# -- what an event names ------------------------------------------------------------------------


def wanted(event: Any) -> list[str]:
    """The fetches ``event`` calls for (:data:`KINDS`), from the mirror's rows (one or two reads)."""
    from ..models import Meeting, Participant
    from ..webhooks import payloads

    if event.meeting_id is None:
        return []
    row = (
        Meeting.objects.filter(pk=event.meeting_id)
        .values("remote_updated_at", "participants_synced_at")
        .first()
    )
    about_participant = event.event in PARTICIPANT_EVENTS
    if row is None:
        # The participants walk fetches the meeting first: one fetch covers both.
        return [PARTICIPANTS if about_participant else MEETING]
    kinds = []
    updated = payloads.as_time(payloads.section(event.payload, "meeting").get("updatedAt"))
    if updated is not None and (row["remote_updated_at"] is None or updated > row["remote_updated_at"]):
        kinds.append(MEETING)
    if about_participant:
        person = payloads.section(event.payload, "participant")
        custom = payloads.as_text(person.get("customParticipantId") or person.get("clientSpecificId"))
        happened = payloads.as_time(person.get("joinedAt")) or event.received_at
        walked = row["participants_synced_at"]
        if (
            custom
            and (walked is None or happened is None or walked < happened)
            and not Participant.objects.filter(
                meeting_id=event.meeting_id, custom_participant_id=custom
            ).exists()
        ):
            kinds.append(PARTICIPANTS)
    return kinds


# -- scheduling one -----------------------------------------------------------------------------


def request(kind: str, meeting_id: Any, *, now: float | None = None) -> str:
    """Queue a targeted fetch of ``kind`` for ``meeting_id`` unless bounded; what happened:
    ``"queued"``, ``"pending"`` (one is queued already), ``"over"`` (the minute's bound is used
    up), ``"off"`` (``TARGETED_FETCHES_PER_MINUTE`` is 0) or ``"unavailable"`` (cache down).

    Sent when the surrounding transaction commits (the event's rows are then visible to the
    fetch's worker).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown targeted fetch {kind!r} (known: {', '.join(KINDS)})")
    limit = get_settings().targeted_fetches_per_minute
    if limit <= 0:
        return "off"
    meeting_id, now = str(meeting_id), time.time() if now is None else now
    try:
        cache = _cache()
        if not cache.add(_pending_key(kind, meeting_id), now, timeout=PENDING_SECONDS):
            return "pending"
        minute = _minute_key(now)
        cache.add(minute, 0, timeout=120)
        if cache.incr(minute) > limit:
            cache.delete(_pending_key(kind, meeting_id))  # a later minute may take it
            return "over"
    except Exception as err:
        logger.warning(
            "could not schedule a targeted fetch of meeting %s (%s)", meeting_id, type(err).__name__
        )
        return "unavailable"
    transaction.on_commit(lambda: _send(kind, meeting_id))
    return "queued"


def _send(kind: str, meeting_id: str) -> None:
    send = SEND
    if send is not None:
        send(kind, meeting_id)
        return
    # By name: sync/ never imports tasks.py (tasks.py wraps sync/, not the other way round).
    from celery import current_app

    task = current_app.tasks.get(TASK_NAME)
    if task is None:
        logger.warning(
            "the task %s is not registered (does the Celery app import realtimekit_django.tasks?); "
            "meeting %s waits for the rotation",
            TASK_NAME,
            meeting_id,
        )
        return
    task.apply_async((kind, meeting_id), expires=PENDING_SECONDS, ignore_result=True)


def fetch(kind: str, meeting_id: str, *, client: Any = None) -> dict[str, Any]:
    """Run one targeted fetch on the background lane; its outcome (never raises for the API).

    The object's pending mark is dropped first, so that an event arriving during the fetch
    schedules another one (this fetch may have missed what it announces).
    """
    from .. import services
    from ..client import budget
    from ..exceptions import RealtimeKitError
    from . import reconcile
    from .locks import locked_walk, participants_lock_name

    if kind not in KINDS:
        raise ValueError(f"unknown targeted fetch {kind!r} (known: {', '.join(KINDS)})")
    meeting_id = str(meeting_id)
    try:
        _cache().delete(_pending_key(kind, meeting_id))
    except Exception as err:
        logger.warning(
            "could not clear the targeted fetch mark of meeting %s (%s)", meeting_id, type(err).__name__
        )
    # Event-driven: it may spend the event reserve the rotation and the other walks leave
    # (RATE_LIMIT_EVENT_RESERVE), so it does not wait behind them for the background lane.
    with budget.lane(budget.BACKGROUND), budget.event_driven():
        if kind == MEETING:
            try:
                services.refresh_meeting(meeting_id, client=client)
            except RealtimeKitError as err:
                logger.info("targeted fetch of meeting %s failed: %s", meeting_id, type(err).__name__)
                return {
                    "kind": kind,
                    "meeting_id": meeting_id,
                    "completed": False,
                    "error": type(err).__name__,
                }
            return {"kind": kind, "meeting_id": meeting_id, "completed": True, "error": None}
        report = locked_walk(
            participants_lock_name(meeting_id),
            lambda progress: reconcile.reconcile_participants(meeting_id, client=client, progress=progress),
            kind="participants",
            meeting_id=meeting_id,
        )
    return {"kind": kind, "meeting_id": meeting_id, "completed": report.completed, "error": report.error}


# -- the receiver -------------------------------------------------------------------------------


def on_webhook(sender: Any, event: Any, **kwargs: Any) -> None:
    """A processed event: note the delivery, move a started meeting to the front, fetch what
    the event names and the mirror lacks."""
    health.note_delivery(event)
    if event.meeting_id is None:
        return
    if event.event == "meeting.started":
        schedule.move_to_front([event.meeting_id])
    for kind in wanted(event):
        request(kind, event.meeting_id)
