"""Celery tasks that run the reconcile walks unattended.

- ``realtimekit.reconcile_meetings``: one walk of the meetings listing.
- ``realtimekit.reconcile_participants``: one walk of one meeting's participants.
- ``realtimekit.reconcile_all``: the meetings walk, then one ``reconcile_participants`` task
  per meeting (the *fan-out*), sent to the queue so that every worker shares the work.

Every task returns ``ReconcileReport.as_dict()`` (JSON), including when it did nothing because
another run of the same walk held the lock (``skipped: True``) and when it gave up. Bad
arguments (a page size outside the API's 1-100, an unknown filter) are refused before any
request is sent.

Why these safety nets:

- **Overlap lock.** Two runs of one walk would each pay for the whole walk and could race each
  other's deletions. The lock is a cache ``add`` (atomic on Redis, Memcached and the database
  cache) of a random owner token that expires after ``SYNC_LOCK_SECONDS`` and is renewed after
  every request the walk makes, so a live walk keeps it and a worker killed mid-walk blocks the
  next run for at most ``SYNC_LOCK_SECONDS``. A lock that vanished (a cache restarted or
  flushed, an eviction) is taken again with ``add``; a lock another run holds stops the walk as
  incomplete. Use a cache shared by every worker (``SYNC_LOCK_CACHE``).
- **Bounded scheduled work.** A scheduled run and the participant tasks it sends expire before
  the next run is due, so a backlog (beat running with no worker) is dropped rather than
  replayed; a run does not fan out while the previous fan-out still has walks queued or running
  (a counter in the lock cache); and a scheduled run that finds a run completed within
  ``RECENT_RUN_FRACTION`` of the interval skips (two beats started by mistake do the work once).
- **Retries.** The client already retries each request a few times; when a walk still fails on
  a transport error, a 5xx or a 429, the task is retried later with exponential backoff and
  jitter (Celery's ``autoretry_for``), up to ``max_retries`` times, and the last attempt returns
  its incomplete report instead of raising.
- **Time limits.** ``TASK_SOFT_TIME_LIMIT`` ends a walk (or a fan-out) cleanly with its report;
  ``TASK_TIME_LIMIT`` terminates the process. Both are read from settings when the worker
  starts; an ``apply_async(soft_time_limit=...)`` option wins.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import caches

from . import schema
from .conf import get_settings
from .exceptions import RateLimited, ServerError, TransportError, ValidationError

# ``reconcile`` and the models are imported inside the functions: this module must stay
# importable from a settings file (for :func:`beat_schedule`), before Django's app registry is
# ready.

logger = logging.getLogger("realtimekit_django.tasks")

#: Failures worth a later try: the API or the network having a bad moment. (``Timeout`` is a
#: ``TransportError``.) A 4xx other than 429 would fail again: no retry.
RETRY_FOR = (TransportError, ServerError, RateLimited)
BEAT_SCHEDULE_NAME = "realtimekit-reconcile-all"
LOCK_PREFIX = "realtimekit:reconcile-lock:"
FANOUT_PREFIX = "realtimekit:reconcile-fanout:"
LAST_RUN_PREFIX = "realtimekit:reconcile-last-run:"
#: The filters of the meetings listing (:func:`schema.validate_listing_params`).
MEETING_FILTERS = ("search", "status", "start_time", "end_time")
#: A scheduled run, and each participant task it sends, expires after this share of the
#: interval: a message still queued when the next run is due is dropped, not replayed.
EXPIRY_FRACTION = 0.9
#: A scheduled run skips when a run completed within this share of the interval. Above one half,
#: so that of two beats at any offset only one walks per interval; well below one, so that a
#: single beat whose previous run waited in the queue does not skip its own next run.
RECENT_RUN_FRACTION = 0.6


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

    def retry_if_worth_it(self, report) -> None:
        """Raise the walk's exception for ``autoretry_for`` when a later attempt may succeed."""
        if self.should_retry(report.exception):
            logger.info("reconcile %s: will retry (attempt %s)", report.kind, self.request.retries + 1)
            raise report.exception


# -- names and arguments ----------------------------------------------------------------------


def meetings_lock_name(app_id: str | None = None) -> str:
    """The lock of an app's meetings walk (taken by the tasks and by ``realtimekit_sync``)."""
    return f"meetings:{app_id or get_settings().app_id}"


def participants_lock_name(meeting_id: str) -> str:
    """The lock of one meeting's participants walk."""
    return f"participants:{meeting_id}"


def _lock_cache():
    return caches[get_settings().sync_lock_cache]


def check_walk_arguments(per_page: Any = None, filters: dict[str, Any] | None = None) -> None:
    """Refuse a page size outside the API's bounds or an unknown or malformed filter.

    Raises :class:`~realtimekit_django.exceptions.ValidationError` naming the argument, before
    any request is sent or any lock is taken.
    """
    filters = filters or {}
    unknown = sorted(set(filters) - set(MEETING_FILTERS))
    if unknown:
        raise ValidationError(
            [(name, f"is not a filter of the meetings listing (known: {', '.join(MEETING_FILTERS)})")
             for name in unknown]
        )
    schema.validate_listing_params(per_page=per_page, **filters)


def _interval_seconds(interval: Any) -> float:
    if interval is None:
        return float(get_settings().sync_interval_seconds)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
        raise ValidationError([("interval", "must be a positive number of seconds")])
    return float(interval)


# -- the overlap lock -------------------------------------------------------------------------


class OverlapLock:
    """A cache lock with an owner token, renewed by its owner after every request of the walk.

    Truthy when this run holds it. Renewal and release compare the token first: a run must not
    extend or delete another run's lock. The compare and the act are two cache calls; a lock
    taken over in that gap is found at the next renewal, one request later.
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

    def renew(self, *_progress: Any) -> None:
        """Push the expiry ``SYNC_LOCK_SECONDS`` ahead again (the walk's progress callback).

        A lock that vanished is taken again atomically (``add``), so the walk goes on only if
        no other run took it meanwhile; otherwise the walk stops as incomplete
        (:class:`~realtimekit_django.reconcile.StopWalk`): two walks never go on side by side.
        """
        from .reconcile import StopWalk

        if not self.acquired:
            return
        holder = self.cache.get(self.key)
        if holder == self.token and self.cache.touch(self.key, timeout=self.ttl):
            return
        if holder in (None, self.token) and self.cache.add(self.key, self.token, timeout=self.ttl):
            logger.warning("reconcile lock %s vanished during the walk; taken again", self.key)
            return
        self.acquired = False
        logger.warning("reconcile lock %s lost: another run holds it; stopping this walk", self.key)
        raise StopWalk(f"stopped: reconcile lock lost ({self.key} is held by another run)")

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
    return bool(_lock_cache().delete(LOCK_PREFIX + name))


def _skipped(kind: str, reason: str, meeting_id: str | None = None):
    from . import reconcile

    report = reconcile.ReconcileReport(kind=kind, meeting_id=meeting_id, skipped=True, error=reason)
    logger.info("reconcile %s", report.summary())
    return report


def locked_walk(
    lock_name: str,
    walk: Callable[[Callable[..., Any]], Any],
    *,
    kind: str,
    meeting_id: str | None = None,
    progress: Callable[..., Any] | None = None,
):
    """Run ``walk(progress)`` holding the lock ``lock_name``; returns its ``ReconcileReport``.

    The lock is renewed after every request, before ``progress`` (if given) is called. When
    another run holds the lock, nothing is walked and the report says ``skipped``.
    """
    from . import reconcile

    with overlap_lock(lock_name) as lock:
        if not lock:
            return _skipped(kind, "another run of this walk holds the lock", meeting_id)

        def renew_then_report(report, total_count):
            lock.renew()
            if progress is not None:
                progress(report, total_count)

        try:
            return walk(renew_then_report)
        except SoftTimeLimitExceeded:  # struck outside the walk itself (its own bookkeeping)
            return reconcile.ReconcileReport(
                kind=kind, meeting_id=meeting_id, error="stopped: soft time limit exceeded"
            )


# -- what the fan-out walks -------------------------------------------------------------------


def participant_walks_due(app_id: str | None = None) -> Iterable[str]:
    """The ids of the meetings whose participants a full sync walks, in the order it walks them.

    Every meeting a complete walk still found remotely. Both ``reconcile_all`` and
    ``realtimekit_sync --participants`` take their list from here, so a scheduler that picks
    fewer meetings (by priority, within a budget) changes one place.
    """
    from .models import Meeting

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
    meeting_ids: Iterable[str], *, per_page: int | None, expires: float, app_id: str | None = None
) -> dict[str, Any]:
    """Send one ``reconcile_participants`` task per meeting id, unless the last fan-out is unfinished.

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
            reconcile_participants.apply_async(
                (meeting_id,),
                {"per_page": per_page, "fanout_id": fanout_id},
                expires=expires,
                ignore_result=True,
            )
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


# -- the last completed scheduled run ---------------------------------------------------------


def _recent_run(app_id: str, interval: float, now: float) -> float | None:
    """When (epoch seconds) a scheduled run that completed within the recent window started."""
    started = _lock_cache().get(LAST_RUN_PREFIX + app_id)
    if started is not None and now - started < RECENT_RUN_FRACTION * interval:
        return started
    return None


def _record_run(app_id: str, started: float, interval: float) -> None:
    """Remember when a completed scheduled run started (kept a little longer than the window)."""
    keep = math.ceil(RECENT_RUN_FRACTION * interval) + 1
    _lock_cache().set(LAST_RUN_PREFIX + app_id, started, timeout=keep)


# -- the tasks --------------------------------------------------------------------------------


@shared_task(bind=True, base=ReconcileTask, name="realtimekit.reconcile_meetings")
def reconcile_meetings(self: ReconcileTask, per_page: int | None = None, **filters: Any) -> dict[str, Any]:
    """Walk the meetings listing (``filters`` as for :func:`reconcile.reconcile_meetings`)."""
    from . import reconcile

    check_walk_arguments(per_page, filters)
    report = locked_walk(
        meetings_lock_name(),
        lambda progress: reconcile.reconcile_meetings(per_page=per_page, progress=progress, **filters),
        kind="meetings",
    )
    self.retry_if_worth_it(report)
    return report.as_dict()


@shared_task(bind=True, base=ReconcileTask, name="realtimekit.reconcile_participants")
def reconcile_participants(
    self: ReconcileTask, meeting_id: str, per_page: int | None = None, fanout_id: str | None = None
) -> dict[str, Any]:
    """Walk one meeting's participants (the meeting is fetched first if it is not stored yet).

    ``fanout_id`` is set by ``reconcile_all``: the walk counts itself finished in that fan-out
    when it ends, unless it is retried later (the last attempt counts).
    """
    from . import reconcile

    retried = False
    try:
        check_walk_arguments(per_page)
        meeting_id = str(uuid.UUID(str(meeting_id)))
        report = locked_walk(
            participants_lock_name(meeting_id),
            lambda progress: reconcile.reconcile_participants(
                meeting_id, per_page=per_page, progress=progress
            ),
            kind="participants",
            meeting_id=meeting_id,
        )
        retried = self.should_retry(report.exception)
        self.retry_if_worth_it(report)
        return report.as_dict()
    finally:
        if fanout_id is not None and not retried:
            _fanout_walk_finished(fanout_id)


@shared_task(bind=True, base=ReconcileTask, name="realtimekit.reconcile_all")
def reconcile_all(
    self: ReconcileTask, per_page: int | None = None, interval: float | None = None
) -> dict[str, Any]:
    """Walk the meetings, then send one participants walk per meeting still present remotely.

    ``interval`` (seconds) says this is a scheduled run every ``interval`` (``beat_schedule()``
    passes it): such a run skips when a run completed within ``RECENT_RUN_FRACTION`` of it.
    Without it (a run queued by hand, by the admin), the run always walks. Either way the
    participant tasks expire after ``EXPIRY_FRACTION`` of the interval (default
    ``SYNC_INTERVAL_SECONDS``), and nothing is fanned out while the previous fan-out is
    unfinished, or after an incomplete meetings walk (the next run will do it).

    The participant tasks are sent, not awaited (a task waiting on others can deadlock a busy
    pool); :func:`pending_fanout` says how many are still queued or running.
    """
    from . import reconcile

    check_walk_arguments(per_page)
    scheduled, seconds = interval is not None, _interval_seconds(interval)
    app_id = get_settings().app_id
    started = time.time()
    if scheduled and (last := _recent_run(app_id, seconds, started)) is not None:
        reason = (
            f"a run completed {started - last:.0f}s ago, within {RECENT_RUN_FRACTION:g} "
            f"of the {seconds:g}s interval (is a second beat running?)"
        )
        return {**_skipped("meetings", reason).as_dict(), **_no_fanout(reason)}

    outcome: dict[str, Any] = {}

    def walk_then_fan_out(progress):
        report = reconcile.reconcile_meetings(per_page=per_page, progress=progress)
        if report.completed:
            ids = participant_walks_due(app_id)
            outcome.update(fan_out(ids, per_page=per_page, expires=EXPIRY_FRACTION * seconds, app_id=app_id))
            if scheduled:
                _record_run(app_id, started, seconds)
        return report

    report = locked_walk(meetings_lock_name(app_id), walk_then_fan_out, kind="meetings")
    self.retry_if_worth_it(report)
    if not outcome:
        reason = report.error or "another run of this walk holds the lock"
        outcome = _no_fanout(f"no fan-out: the meetings walk did not complete ({reason})")
    return {**report.as_dict(), **outcome}


def _no_fanout(reason: str | None) -> dict[str, Any]:
    return dict(participant_tasks=0, fanout_id=None, fanout_complete=False, fanout_reason=reason)


# -- scheduling -------------------------------------------------------------------------------


def beat_schedule(interval: float | None = None) -> dict[str, dict[str, Any]]:
    """The ``CELERY_BEAT_SCHEDULE`` entry that runs ``realtimekit.reconcile_all`` every
    ``interval`` seconds (default: the ``SYNC_INTERVAL_SECONDS`` setting)::

        CELERY_BEAT_SCHEDULE = {**beat_schedule(), ...}

    Each run is told its interval and expires before the next one is due.
    """
    seconds = _interval_seconds(interval)
    return {
        BEAT_SCHEDULE_NAME: {
            "task": "realtimekit.reconcile_all",
            "schedule": seconds,
            "kwargs": {"interval": seconds},
            "options": {"expires": EXPIRY_FRACTION * seconds},
        }
    }


# -- webhooks -----------------------------------------------------------------------------------

WEBHOOK_CLEANUP_SCHEDULE_NAME = "realtimekit-webhook-cleanup"


@shared_task(name="realtimekit.process_webhook_event", ignore_result=True)
def process_webhook_event(event_pk: int) -> str:
    """Process one stored webhook event (once, however often this is sent); see
    :func:`realtimekit_django.webhooks.handlers.process_event`. A failure is kept on the row
    for a replay (admin action or ``realtimekit_webhooks replay``), not retried blindly."""
    from .webhooks.handlers import process_event

    return process_event(event_pk)


@shared_task(name="realtimekit.cleanup_webhook_events", ignore_result=True)
def cleanup_webhook_events(days: int | None = None) -> int:
    """Delete webhook events received more than ``days`` (default ``WEBHOOK_RETENTION_DAYS``)
    ago; returns how many. Their download URLs expired long before."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import WebhookEvent

    keep = days if days is not None else get_settings().webhook_retention_days
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValidationError([("days", "must be a whole number of days, at least 1")])
    deleted, _ = WebhookEvent.objects.filter(received_at__lt=timezone.now() - timedelta(days=keep)).delete()
    logger.info("deleted %s webhook events older than %s days", deleted, keep)
    return deleted


def webhook_beat_schedule(every_seconds: float = 24 * 3600) -> dict[str, dict[str, Any]]:
    """The ``CELERY_BEAT_SCHEDULE`` entry that runs the webhook retention cleanup daily."""
    return {
        WEBHOOK_CLEANUP_SCHEDULE_NAME: {
            "task": "realtimekit.cleanup_webhook_events",
            "schedule": float(every_seconds),
            "options": {"expires": EXPIRY_FRACTION * float(every_seconds)},
        }
    }
