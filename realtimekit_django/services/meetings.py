"""Meetings: every change is sent to RealtimeKit first, then the answer is stored.

Meetings cannot be deleted remotely, so a meeting created remotely that cannot be stored (for
any reason) is not undone: the error and the log say so, and the next complete sync adopts it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import router, transaction
from django.views.decorators.debug import sensitive_variables

from .. import signals, store
from ..client import RealtimeKitClient, get_client
from ..conf import get_settings
from ..exceptions import InvalidResponse
from ..models import Meeting
from .answers import data_of

logger = logging.getLogger("realtimekit_django.services")


def _atomic():
    return transaction.atomic(using=router.db_for_write(Meeting))


@sensitive_variables()  # storage secrets travel in the arguments
def create_meeting(*, client: RealtimeKitClient | None = None, **fields: Any) -> Meeting:
    """POST the meeting, then store what the API answered (storage secrets stripped).

    Any local failure after the POST (an answer that cannot be stored, a failing
    ``meeting_created`` receiver, a database error) rolls the row back and is logged with the
    remote meeting's id; the meeting stays remotely (the API cannot delete meetings) and the
    next complete sync adopts it. An unstorable answer is raised as ``InvalidResponse`` saying
    so; any other error is raised as it is.
    """
    api = client or get_client()
    payload = data_of(api.meetings.create(**fields), "create meeting")
    try:
        with _atomic():
            meeting = store.save_meeting(payload, app_id=api.app_id)
            signals.meeting_created.send(sender=Meeting, meeting=meeting)
            signals.meetings_touched.send(sender=Meeting, meeting_ids=[meeting.pk])
    except Exception as exc:
        remote_id = str(payload.get("id"))[:40]
        logger.error(
            "meeting %s was created remotely, but could not be stored (%s); the next complete sync adopts it",
            remote_id,
            type(exc).__name__,
        )
        if isinstance(exc, InvalidResponse):
            raise InvalidResponse(
                f"meeting {remote_id} was created remotely, but its answer cannot be "
                f"stored ({exc.message}); the next complete sync adopts it if it can"
            ) from exc
        raise
    return meeting


@sensitive_variables()  # storage secrets travel in the arguments
def update_meeting(meeting: Meeting, *, client: RealtimeKitClient | None = None, **changes: Any) -> Meeting:
    """PATCH only ``changes`` (with none, nothing is sent); ``meeting`` is updated in place."""
    if not changes:
        return meeting
    api = client or get_client()
    payload = data_of(api.meetings.update_meeting_by_id(str(meeting.pk), **changes), "update meeting")
    with _atomic():
        store.save_meeting(payload, app_id=meeting.app_id or api.app_id, instance=meeting)
        signals.meeting_updated.send(sender=Meeting, meeting=meeting, changed=tuple(changes))
        signals.meetings_touched.send(sender=Meeting, meeting_ids=[meeting.pk])
    return meeting


@sensitive_variables()  # storage secrets travel in the arguments
def replace_meeting(meeting: Meeting, *, client: RealtimeKitClient | None = None, **fields: Any) -> Meeting:
    """PUT the whole meeting (fields not given go back to the API's defaults), in place."""
    api = client or get_client()
    payload = data_of(api.meetings.replace_meeting_by_id(str(meeting.pk), **fields), "replace meeting")
    with _atomic():
        store.save_meeting(payload, app_id=meeting.app_id or api.app_id, instance=meeting)
        signals.meeting_updated.send(sender=Meeting, meeting=meeting, changed=tuple(fields))
        signals.meetings_touched.send(sender=Meeting, meeting_ids=[meeting.pk])
    return meeting


def set_meeting_status(meeting: Meeting, status: str, *, client: RealtimeKitClient | None = None) -> Meeting:
    """Activate or deactivate (nobody can join an INACTIVE meeting), in place."""
    return update_meeting(meeting, client=client, status=status)


def refresh_meeting(
    meeting: Meeting | uuid.UUID | str, *, client: RealtimeKitClient | None = None
) -> Meeting:
    """GET the meeting and store it; a ``Meeting`` given is updated in place (an id also
    imports a meeting this site has never seen)."""
    api = client or get_client()
    instance = meeting if isinstance(meeting, Meeting) else None
    meeting_id = str(instance.pk if instance is not None else meeting)
    payload = data_of(api.meetings.get_meeting_by_id(meeting_id), "get meeting")
    app_id = instance.app_id if instance is not None and instance.app_id else api.app_id
    with _atomic():
        return store.save_meeting(payload, app_id=app_id, instance=instance)


def upsert_meetings(payloads: Iterable[Mapping], *, app_id: str | None = None) -> store.UpsertResult:
    """Store a page of meeting payloads: one SELECT and one upsert, bad items rejected alone."""
    return store.upsert_meeting_page(payloads, app_id=app_id or get_settings().app_id)


def flag_missing_meetings(seen: set, *, app_id: str, walk_started: datetime) -> int:
    """After a *complete*, unfiltered walk (and a lookup of each meeting it missed): flag the
    local meetings not in ``seen`` as missing remotely.

    Meetings cannot be deleted remotely, so a missing one is flagged (``missing_since``), never
    deleted: it may be another app's, or the API may be having a bad day.
    """
    missing = store.meetings_not_seen(seen, app_id=app_id, walk_started=walk_started)
    return store.flag_meetings_missing(missing, walk_started=walk_started)
