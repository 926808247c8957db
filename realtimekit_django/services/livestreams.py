"""Starting and stopping livestreams, and keeping their rows current.

The pipeline of every service: the remote call first, then the row, then the signal
``livestream_updated``. The API's start answer holds ``stream_key`` and ``ingest_server``,
credentials for whoever pushes video: :func:`start_livestream` returns them to its caller (the
admin shows them once to the staff member who started the stream) in a :class:`Started` whose
``repr`` hides them; they never reach a row, a log or a signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from .. import signals
from ..client import get_client
from ..exceptions import InvalidResponse
from ..models import Livestream, LivestreamStatus, Meeting
from ..models.livestreams import FINISHED
from ..schema import storable_datetime_problem


@dataclass(frozen=True)
class Started:
    livestream: Livestream
    stream_key: str = field(repr=False)
    ingest_server: str = field(repr=False)


def _data(answer: Any) -> Mapping:
    data = answer.get("data", answer) if isinstance(answer, Mapping) else None
    if not isinstance(data, Mapping):
        raise InvalidResponse("RealtimeKit's livestream answer is not an object")
    return data


def record_livestream(item: Mapping, *, meeting_id=None) -> tuple[Livestream, bool]:
    """Merge what the API or a ``livestreaming.statusUpdate`` says about one stream (either
    spelling, ``playback_url`` or ``playbackUrl``) into its row; secrets are not read."""
    stream_id = item.get("id") or item.get("streamId") or item.get("livestream_id")
    if not isinstance(stream_id, str) or not stream_id or len(stream_id) > 100:
        raise InvalidResponse("RealtimeKit's livestream has no usable id")
    status = item.get("status")
    if status not in LivestreamStatus.values:
        raise InvalidResponse(f"RealtimeKit's livestream {stream_id[:40]} has an unknown status")
    playback = item.get("playback_url") or item.get("playbackUrl") or ""
    if (
        not isinstance(playback, str)
        or len(playback) > 2048
        or (playback and not playback.startswith("https://"))
    ):
        playback = ""
    now = timezone.now()
    # Before any write. The SDK's livestream shapes say when the stream was created, not
    # started: it began then (a webhook may say ``started_at``).
    started_at = _time(item, "started_at") or _time(item, "created_at")
    ended_at = _time(item, "ended_at")
    using = router.db_for_write(Livestream)
    with transaction.atomic(using=using):
        row = Livestream.objects.select_for_update().filter(pk=stream_id).first()
        created = row is None
        if (
            not created
            and None not in (meeting_id, row.meeting_id)
            and str(row.meeting_id) != str(meeting_id)
        ):
            raise InvalidResponse(
                f"RealtimeKit's livestream {stream_id[:40]} is a stream of another meeting here"
            )
        if created:
            row = Livestream(id=stream_id, meeting_id=meeting_id, started_at=started_at or now)
        elif row.status in FINISHED and status not in FINISHED:
            return row, False  # an older push never reopens a finished stream
        if meeting_id is not None and row.meeting_id is None:
            row.meeting_id = meeting_id
        if status != LivestreamStatus.INVOKED or created:
            # INVOKED is where every stream begins: a start answer that arrives after the
            # platform's LIVE push (it may) must not move the row back.
            row.status = status
        row.playback_url = playback or row.playback_url
        if isinstance(item.get("name"), str):
            row.name = item["name"][:255]
        if status in FINISHED and row.ended_at is None:
            row.ended_at = ended_at or now
        row.save(using=using)
        signals.livestream_updated.send(sender=Livestream, livestream=row, created=created)
    return row, created


def _time(item: Mapping, key: str):
    """The zoned, storable moment at ``key``, or None when the answer leaves it out. A value
    that is there but unusable is refused rather than stored naive or replaced by now (and a
    well-formed impossible date would be a bare ``ValueError`` from ``parse_datetime``)."""
    value = item.get(key)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 64 else None
    except ValueError:
        moment = None
    if moment is None or storable_datetime_problem(moment):
        raise InvalidResponse(f"RealtimeKit's livestream has an unusable {key}")
    return moment


def start_livestream(meeting: Meeting, *, name: str | None = None, client=None, **options: Any) -> Started:
    """Start livestreaming ``meeting``: the stream's row, and its credentials for the caller
    alone (show them once; they are not kept anywhere)."""
    api = client or get_client()
    kwargs = dict(options)
    if name:
        kwargs["name"] = name
    data = _data(api.livestreams.start_livestreaming_a_meeting(str(meeting.pk), **kwargs))
    key, server = data.get("stream_key"), data.get("ingest_server")
    for what, value in (("stream_key", key), ("ingest_server", server)):
        # Optional in the SDK's types, but a start without them is a page of blank credentials.
        if not isinstance(value, str) or not value.strip():
            raise InvalidResponse(f"RealtimeKit's livestream start answer has no usable {what}")
    # The SDK's start answer has no ``name``: the one asked for is the stream's name.
    named = data if isinstance(data.get("name"), str) or not name else {**data, "name": name}
    row, _ = record_livestream(named, meeting_id=meeting.pk)
    return Started(row, key, server)


def stop_livestream(meeting: Meeting, *, client=None) -> list[Livestream]:
    """Stop the meeting's active livestream; its rows marked OFFLINE."""
    api = client or get_client()
    unfinished = Livestream.objects.filter(meeting=meeting).exclude(status__in=FINISHED)
    running = list(unfinished.values_list("pk", flat=True))
    api.livestreams.stop_livestreaming_a_meeting(str(meeting.pk))
    # The platform's OFFLINE push may have marked a row already (it can beat the answer).
    for row in Livestream.objects.filter(pk__in=running).exclude(status__in=FINISHED):
        record_livestream({"id": row.pk, "status": LivestreamStatus.OFFLINE})
    return list(Livestream.objects.filter(pk__in=running).order_by("started_at", "pk"))
