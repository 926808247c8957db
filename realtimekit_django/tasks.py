"""Celery tasks that run the reconcile walks unattended.

- ``realtimekit.reconcile_meetings``: one walk of the meetings listing.
- ``realtimekit.reconcile_participants``: one walk of one meeting's participants.
- ``realtimekit.reconcile_all``: the meetings walk, then one ``reconcile_participants`` task
  per meeting, sent to the queue so that every worker shares the work.

Every task returns ``ReconcileReport.as_dict()`` (JSON), including when it did nothing because
another run of the same walk held the lock (``skipped: True``) and when it gave up.

Why these safety nets:

- **Overlap lock.** Two runs of one walk would each pay for the whole walk and could race each
  other's deletions. The lock is a cache ``add`` (atomic on Redis, Memcached and the database
  cache) of a random owner token that expires after ``SYNC_LOCK_SECONDS`` and is renewed after
  every page, so a long walk keeps it and a worker killed mid-walk blocks the next run for at
  most ``SYNC_LOCK_SECONDS``; only the owner renews or deletes it. Use a cache shared by
  every worker (``SYNC_LOCK_CACHE``): a per-process cache (locmem) locks nothing across hosts.
- **Retries.** The client already retries each request a few times; when a walk still fails on
  a transport error, a 5xx or a 429, the task is retried later with exponential backoff and
  jitter (Celery's ``autoretry_for``), up to ``max_retries`` times, and the last attempt returns
  its incomplete report instead of raising.
- **Time limits.** ``TASK_SOFT_TIME_LIMIT`` ends a walk cleanly (incomplete report, lock
  released); ``TASK_TIME_LIMIT`` kills it (the lock then expires on its own). Both are read from
  settings when the worker starts; an ``apply_async(soft_time_limit=...)`` option wins.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task, group, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import caches

from .conf import get_settings
from .exceptions import RateLimited, ServerError, TransportError

# ``reconcile`` and the models are imported inside the tasks: this module must stay importable
# from a settings file (for :func:`beat_schedule`), before Django's app registry is ready.

logger = logging.getLogger("realtimekit_django.tasks")

#: Failures worth a later try: the API or the network having a bad moment. (``Timeout`` is a
#: ``TransportError``.) A 4xx other than 429 would fail again: no retry.
RETRY_FOR = (TransportError, ServerError, RateLimited)
BEAT_SCHEDULE_NAME = "realtimekit-reconcile-all"
LOCK_PREFIX = "realtimekit:reconcile-lock:"


class ReconcileTask(Task):
    """Base of the reconcile tasks: retry policy, and time limits taken from ``REALTIMEKIT``.

    The limits are properties so that they are read from settings when a worker asks (at its
    start) rather than when this module is imported. Assigning one (Celery's task annotations
    do) overrides the setting.
    """

    autoretry_for = RETRY_FOR
    retry_backoff = 5  # seconds: 5, 10, 20, ... with full jitter
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 3

    @property
    def soft_time_limit(self) -> int:
        return self.__dict__.get("_soft_time_limit") or get_settings().task_soft_time_limit

    @soft_time_limit.setter
    def soft_time_limit(self, value: int | None) -> None:
        self.__dict__["_soft_time_limit"] = value

    @property
    def time_limit(self) -> int:
        return self.__dict__.get("_time_limit") or get_settings().task_time_limit

    @time_limit.setter
    def time_limit(self, value: int | None) -> None:
        self.__dict__["_time_limit"] = value

    def should_retry(self, exc: BaseException | None) -> bool:
        """Whether a walk stopped by ``exc`` is worth another attempt later.

        Not on the last attempt (its incomplete report is the result), and not when run eagerly
        with ``task_eager_propagates``: Celery would raise ``Retry`` at the caller, which only
        wanted the walk done inline and has already seen the client's own retries.
        """
        if not isinstance(exc, RETRY_FOR) or self.request.retries >= (self.max_retries or 0):
            return False
        return not (self.request.is_eager and self.app.conf.task_eager_propagates)


# -- the overlap lock -------------------------------------------------------------------------


class OverlapLock:
    """A cache lock with an owner token, renewed by its owner after every page.

    Truthy when this run holds it. Release and renewal are compare-then-act: a run whose lock
    expired (and was taken by another run) must not delete or extend the new owner's lock. The
    compare and the act are two cache calls; the gap only matters for a lock that expired during
    this very run, which renewing after every page makes unlikely.
    """

    def __init__(self, name: str) -> None:
        config = get_settings()
        self.cache = caches[config.sync_lock_cache]
        self.key = LOCK_PREFIX + name
        self.ttl = config.sync_lock_seconds
        self.token = uuid.uuid4().hex
        self.acquired = bool(self.cache.add(self.key, self.token, timeout=self.ttl))

    def __bool__(self) -> bool:
        return self.acquired

    def renew(self, *_progress: Any) -> bool:
        """Push the expiry ``SYNC_LOCK_SECONDS`` ahead again (the walk's progress callback).

        So a live walk keeps its lock however long it runs, and a worker killed mid-walk
        blocks the next run for at most ``SYNC_LOCK_SECONDS`` after its last page.
        """
        if self.acquired and self.cache.get(self.key) == self.token:
            return bool(self.cache.touch(self.key, timeout=self.ttl))
        if self.acquired:
            logger.warning("reconcile lock %s expired or was taken over during the walk", self.key)
        return False

    def release(self) -> None:
        if self.acquired and self.cache.get(self.key) == self.token:
            self.cache.delete(self.key)


@contextmanager
def overlap_lock(name: str) -> Iterator[OverlapLock]:
    """Yields the lock ``name``: truthy when this run holds it, falsy when another run does."""
    lock = OverlapLock(name)
    try:
        yield lock
    finally:
        lock.release()


def break_lock(name: str) -> bool:
    """Delete a lock whoever holds it (for an operator sure that no run is alive)."""
    config = get_settings()
    return bool(caches[config.sync_lock_cache].delete(LOCK_PREFIX + name))


def _skipped(kind: str, meeting_id: str | None = None) -> dict[str, Any]:
    from . import reconcile

    report = reconcile.ReconcileReport(
        kind=kind, meeting_id=meeting_id, skipped=True, error="another run of this walk holds the lock"
    )
    logger.info("reconcile %s", report.summary())
    return report.as_dict()


def _locked_walk(
    task: ReconcileTask,
    lock_name: str,
    kind: str,
    walk: Callable[[Callable[..., Any]], Any],
    meeting_id: str | None = None,
) -> Any:
    """Run ``walk`` under the lock; returns the report, or the skipped result as a dict.

    A walk stopped by a retryable failure raises it (after the lock is released), so that
    ``autoretry_for`` schedules the retry, unless this was the last attempt.
    """
    from . import reconcile

    with overlap_lock(lock_name) as lock:
        if not lock:
            return _skipped(kind, meeting_id)
        try:
            report = walk(lock.renew)
        except SoftTimeLimitExceeded:  # hit outside the walk itself (between pages' bookkeeping)
            report = reconcile.ReconcileReport(
                kind=kind, meeting_id=meeting_id, error="stopped: soft time limit exceeded"
            )
    if task.should_retry(report.exception):
        logger.info("reconcile %s: will retry (attempt %s)", kind, task.request.retries + 1)
        raise report.exception
    return report


# -- the tasks --------------------------------------------------------------------------------


def _meetings_lock() -> str:
    return f"meetings:{get_settings().app_id}"


@shared_task(bind=True, base=ReconcileTask, name="realtimekit.reconcile_meetings")
def reconcile_meetings(self: ReconcileTask, per_page: int | None = None, **filters: Any) -> dict[str, Any]:
    """Walk the meetings listing (``filters`` as for :func:`reconcile.reconcile_meetings`)."""
    from . import reconcile

    result = _locked_walk(
        self,
        _meetings_lock(),
        "meetings",
        lambda renew: reconcile.reconcile_meetings(per_page=per_page, progress=renew, **filters),
    )
    return result if isinstance(result, dict) else result.as_dict()


@shared_task(bind=True, base=ReconcileTask, name="realtimekit.reconcile_participants")
def reconcile_participants(
    self: ReconcileTask, meeting_id: str, per_page: int | None = None
) -> dict[str, Any]:
    """Walk one meeting's participants (the meeting is fetched first if it is not stored yet)."""
    from . import reconcile

    meeting_id = str(uuid.UUID(str(meeting_id)))
    result = _locked_walk(
        self,
        f"participants:{meeting_id}",
        "participants",
        lambda renew: reconcile.reconcile_participants(meeting_id, per_page=per_page, progress=renew),
        meeting_id=meeting_id,
    )
    return result if isinstance(result, dict) else result.as_dict()


@shared_task(bind=True, base=ReconcileTask, name="realtimekit.reconcile_all")
def reconcile_all(self: ReconcileTask, per_page: int | None = None) -> dict[str, Any]:
    """Walk the meetings, then queue one participants walk per meeting still present remotely.

    The participant tasks are sent, not awaited (a task waiting on others can deadlock a busy
    pool); the result names their group (``participants_group_id``) and how many were sent.
    Nothing is fanned out after an incomplete meetings walk: the API is having trouble, and the
    next scheduled run will do it.
    """
    from . import reconcile
    from .models import Meeting

    result = _locked_walk(
        self,
        _meetings_lock(),
        "meetings",
        lambda renew: reconcile.reconcile_meetings(per_page=per_page, progress=renew),
    )
    if isinstance(result, dict):
        return result
    data = result.as_dict()
    data.update(participants_group_id=None, participant_tasks=0)
    if not result.completed:
        return data
    present = Meeting.objects.filter(app_id=get_settings().app_id).present_remotely()
    meeting_ids = present.order_by("remote_created_at", "pk").values_list("pk", flat=True)
    signatures = [reconcile_participants.si(str(pk), per_page=per_page) for pk in meeting_ids.iterator()]
    if signatures:
        fanned = group(signatures).apply_async()
        _save_group(fanned)
        data.update(participants_group_id=fanned.id, participant_tasks=len(signatures))
    return data


def _save_group(result) -> None:
    """Store the group so that a caller can ``GroupResult.restore(id)`` and wait for it."""
    try:
        result.save()
    except (NotImplementedError, AttributeError):  # no result backend (or eager mode): nothing to store
        pass


# -- scheduling -------------------------------------------------------------------------------


def beat_schedule(interval: float | None = None) -> dict[str, dict[str, Any]]:
    """The ``CELERY_BEAT_SCHEDULE`` entry that runs ``realtimekit.reconcile_all`` every
    ``interval`` seconds (default: the ``SYNC_INTERVAL_SECONDS`` setting)::

        CELERY_BEAT_SCHEDULE = {**beat_schedule(), ...}
    """
    seconds = interval if interval is not None else get_settings().sync_interval_seconds
    return {BEAT_SCHEDULE_NAME: {"task": "realtimekit.reconcile_all", "schedule": float(seconds)}}
