"""The fan-out: one participants walk per meeting, sent to the queue, counted until done.

A run does not fan out while the previous fan-out still has walks queued or running: the number
of walks a fan-out sent lives in the lock cache (``SYNC_LOCK_CACHE``) for as long as they can
run, and each walk counts itself finished. What sends one walk is the caller's (``send``): the
Celery task :func:`realtimekit_django.tasks.reconcile_all` sends ``reconcile_participants``
tasks, a test can collect the calls; the bookkeeping runs and is tested without a worker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from ..conf import get_settings
from .locks import _lock_cache

logger = logging.getLogger("realtimekit_django.tasks")

FANOUT_PREFIX = "realtimekit:reconcile-fanout:"

#: ``send(meeting_id, *, per_page, fanout_id, expires)``: queue one participants walk.
SendWalk = Callable[..., Any]


def participant_walks_due(app_id: str | None = None) -> Iterable[str]:
    """The ids of the meetings whose participants a full sync walks, in the order it walks them.

    Every meeting a complete walk still found remotely. Both ``reconcile_all`` and
    ``realtimekit_sync --participants`` take their list from here, so a scheduler that picks
    fewer meetings (by priority, within a budget) changes one place.
    """
    from ..models import Meeting

    present = Meeting.objects.filter(app_id=app_id or get_settings().app_id).present_remotely()
    ordered = present.order_by("remote_created_at", "pk").values_list("pk", flat=True)
    return (str(pk) for pk in ordered.iterator())


def _fanout_pointer(app_id: str) -> str:
    return f"{FANOUT_PREFIX}{app_id}"


def _fanout_counter(app_id: str, fanout_id: str) -> str:
    return f"{FANOUT_PREFIX}{app_id}:{fanout_id}"


def pending_fanout(app_id: str | None = None) -> int:
    """How many participant walks of the app's last fan-out are still queued or running.

    0 once every one has finished, or once they have expired (the count expires with them).
    """
    app_id = app_id or get_settings().app_id
    cache = _lock_cache()
    fanout_id = cache.get(_fanout_pointer(app_id))
    if fanout_id is None:
        return 0
    return max(0, cache.get(_fanout_counter(app_id, fanout_id)) or 0)


def _fanout_walk_finished(fanout_id: str) -> None:
    """Count one walk of the fan-out ``fanout_id`` as finished (the last one clears the count)."""
    cache, key = _lock_cache(), _fanout_counter(get_settings().app_id, fanout_id)
    try:
        left = cache.decr(key)
    except ValueError:  # expired already: nothing left to count
        return
    if left <= 0:
        cache.delete(key)


def fan_out(
    meeting_ids: Iterable[str],
    *,
    send: SendWalk,
    per_page: int | None,
    expires: float,
    app_id: str | None = None,
) -> dict[str, Any]:
    """``send`` one participants walk per meeting id, unless the last fan-out is unfinished.

    Each task expires after ``expires`` seconds and stores no result (its report is logged and
    sent with ``reconcile_finished``). The count of unfinished walks lives in the lock cache
    for as long as the tasks can run. A soft time limit stops the sending; what was sent stays
    sent and is counted. Returns ``participant_tasks``, ``fanout_id``, ``fanout_complete`` and
    ``fanout_reason``.
    """
    app_id = app_id or get_settings().app_id
    outcome: dict[str, Any] = {**_no_fanout(None), "fanout_complete": True}
    pending = pending_fanout(app_id)
    if pending:
        outcome.update(
            fanout_complete=False,
            fanout_reason=f"the previous fan-out still has {pending} participant walks queued or running",
        )
        logger.info("reconcile_all: no fan-out: %s", outcome["fanout_reason"])
        return outcome
    ids = list(meeting_ids)
    if not ids:
        return outcome
    cache, fanout_id = _lock_cache(), uuid.uuid4().hex
    counter, timeout = _fanout_counter(app_id, fanout_id), max(1, round(expires))
    cache.set(counter, len(ids), timeout=timeout)  # before sending: an eager walk counts down at once
    cache.set(_fanout_pointer(app_id), fanout_id, timeout=timeout)
    outcome["fanout_id"] = fanout_id
    sent = 0
    try:
        for meeting_id in ids:
            send(meeting_id, per_page=per_page, fanout_id=fanout_id, expires=expires)
            sent += 1
    except SoftTimeLimitExceeded:
        outcome.update(
            fanout_complete=False,
            fanout_reason=f"stopped: soft time limit exceeded after sending {sent} of {len(ids)} walks",
        )
        logger.warning("reconcile_all: %s", outcome["fanout_reason"])
        _uncount(cache, counter, len(ids) - sent)
    outcome["participant_tasks"] = sent
    return outcome


def _uncount(cache, counter: str, unsent: int) -> None:
    try:
        if cache.decr(counter, unsent) <= 0:
            cache.delete(counter)
    except ValueError:
        pass


def _no_fanout(reason: str | None) -> dict[str, Any]:
    return dict(participant_tasks=0, fanout_id=None, fanout_complete=False, fanout_reason=reason)
