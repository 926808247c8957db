"""Celery tasks that run the reconcile walks unattended.

- ``realtimekit.reconcile_meetings``: one walk of the meetings listing.
- ``realtimekit.reconcile_participants``: one walk of one meeting's participants.
- ``realtimekit.reconcile_all``: the meetings walk, then one ``reconcile_participants`` task
  per meeting (the *fan-out*), sent to the queue so that every worker shares the work.
- ``realtimekit.provision_participants``: prepare the joins of an event's invited users ahead
  of its start, a chunk at a time, spread over the rate budget (see that task).

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
from .client import budget
from .conf import get_settings
from .exceptions import RateLimited, RealtimeKitError, ServerError, TransportError, ValidationError

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
        """Raise the walk's exception for ``autoretry_for`` when a later attempt may succeed.

        A rate limit (the API's 429 or the site's own budget) is retried once it is over (its
        ``retry_after``, at least the backoff), never sooner: retrying into a lockout extends it.
        """
        exc = report.exception
        if not self.should_retry(exc):
            return
        logger.info("reconcile %s: will retry (attempt %s)", report.kind, self.request.retries + 1)
        if isinstance(exc, RateLimited):
            wait = (
                exc.retry_after if exc.retry_after is not None else get_settings().rate_limit_window_seconds
            )
            raise self.retry(exc=exc, countdown=max(self.retry_backoff, math.ceil(wait)))
        raise exc


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
            [
                (name, f"is not a filter of the meetings listing (known: {', '.join(MEETING_FILTERS)})")
                for name in unknown
            ]
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
        (:class:`~realtimekit_django.sync.reconcile.StopWalk`): two walks never go on side by side.
        """
        from .sync.reconcile import StopWalk

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
    from .sync import reconcile

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
    from .sync import reconcile

    with overlap_lock(lock_name) as lock:
        if not lock:
            return _skipped(kind, "another run of this walk holds the lock", meeting_id)

        def renew_then_report(report, total_count):
            lock.renew()
            if progress is not None:
                progress(report, total_count)

        try:
            with budget.lane(budget.BACKGROUND):
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
    """When (epoch seconds) a scheduled run that completed within the recent window started.

    A record dated in the future (another host's clock ahead, or this one stepped back) is no
    reason to skip: skipping on it would stop every run until the clocks agree again.
    """
    started = _lock_cache().get(LAST_RUN_PREFIX + app_id)
    if started is not None and 0 <= now - started < RECENT_RUN_FRACTION * interval:
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
    from .sync import reconcile

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
    from .sync import reconcile

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
    """Walk the meetings, then send the participant walks the scheduler plans within the budget.

    A scheduled run walks the recent meetings (created within ``RECENT_MEETINGS_SECONDS``: the
    ``start_time`` filter) and its slice of the whole listing (a few pages a run, so that all of
    it is walked every ``FULL_SYNC_INTERVAL_SECONDS``); a run by hand walks all of them in one
    complete walk (the only kind that flags meetings missing), and every meeting's participants.
    A scheduled run's are :func:`~realtimekit_django.sync.schedule.plan_participant_walks`'
    (touched meetings first,
    then active ones in turn, then the age quota; at most ``SYNC_BUDGET_SHARE`` of the background
    budget), and the result says what was planned and whether ``PARTICIPANTS_MAX_AGE`` holds.

    ``interval`` (seconds) says this is a scheduled run every ``interval`` (``beat_schedule()``
    passes it): such a run skips when a run completed within ``RECENT_RUN_FRACTION`` of it.
    Without it (a run queued by hand, by the admin), the run always walks. Either way the
    participant tasks expire after ``EXPIRY_FRACTION`` of the interval (default
    ``SYNC_INTERVAL_SECONDS``), and nothing is fanned out while the previous fan-out is
    unfinished, or after an incomplete meetings walk (the next run will do it).

    The participant tasks are sent, not awaited (a task waiting on others can deadlock a busy
    pool); :func:`pending_fanout` says how many are still queued or running.
    """
    from .sync import reconcile, schedule

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
        filters = {"start_time": schedule.recent_start()} if scheduled else {}
        report = reconcile.reconcile_meetings(per_page=per_page, progress=progress, **filters)
        outcome["meetings_walk"] = "recent" if scheduled else "full"
        if report.completed:
            spent = report.http_requests
            if scheduled:
                spent += _walk_listing_slice(app_id, seconds, per_page, progress, outcome)
            _walk_presets(outcome)
            plan = schedule.plan_participant_walks(
                app_id,
                interval=seconds,
                spent=spent,
                per_page=per_page,
                everything=not scheduled,
            )
            outcome.update(plan.as_dict())
            outcome.update(
                fan_out(plan.meeting_ids, per_page=per_page, expires=EXPIRY_FRACTION * seconds, app_id=app_id)
            )
            if not plan.max_age_kept:
                logger.warning(
                    "reconcile_all: %s meetings were last verified more than PARTICIPANTS_MAX_AGE ago "
                    "(oldest: %s); the rate budget cannot keep up",
                    plan.overdue,
                    plan.oldest_verified or "never",
                )
            if scheduled:
                _record_run(app_id, started, seconds)
        return report

    report = locked_walk(meetings_lock_name(app_id), walk_then_fan_out, kind="meetings")
    self.retry_if_worth_it(report)
    if "participant_tasks" not in outcome:
        reason = report.error or "another run of this walk holds the lock"
        outcome.update(_no_fanout(f"no fan-out: the meetings walk did not complete ({reason})"))
    return {**report.as_dict(), **outcome}


def _walk_listing_slice(app_id: str, interval: float, per_page: int | None, progress, outcome: dict) -> int:
    """The run's slice of the whole meetings listing (see ``reconcile_meeting_pages``); its cost.

    A slice that fails (a lying page, the rate budget) costs only itself: the next run tries the
    same page again, and this run's participant walks go ahead.
    """
    from .sync import reconcile, schedule

    first = schedule.listing_cursor(app_id)
    size = per_page or get_settings().page_size
    pages = schedule.listing_pages_per_run(app_id, interval=interval, per_page=size)
    part, next_page = reconcile.reconcile_meeting_pages(first, pages, per_page=size, progress=progress)
    schedule.set_listing_cursor(app_id, next_page or 1)
    outcome["meetings_listing"] = {
        "first_page": first,
        "pages": part.pages,
        "next_page": next_page or 1,
        "completed": part.completed,
        "error": part.error,
        "http_requests": part.http_requests,
    }
    return part.http_requests


def _walk_presets(outcome: dict[str, Any]) -> None:
    """The presets walk of a run (a request or two); its failure costs only its own report."""
    from .sync import reconcile

    try:
        outcome["presets"] = reconcile.reconcile_presets().summary()
    except RealtimeKitError as exc:
        outcome["presets"] = f"presets: not walked ({exc.message})"


@shared_task(bind=True, base=ReconcileTask, name="realtimekit.reconcile_recordings")
def reconcile_recordings(self: ReconcileTask, per_page: int | None = None) -> dict[str, Any]:
    """Walk the recordings listing (statuses, for sites that take no webhooks)."""
    from .sync import reconcile

    check_walk_arguments(per_page)
    report = locked_walk(
        f"realtimekit:reconcile:recordings:{get_settings().app_id}",
        lambda progress: reconcile.reconcile_recordings(per_page=per_page, progress=progress),
        kind="recordings",
    )
    self.retry_if_worth_it(report)
    return report.as_dict()


@shared_task(bind=True, name="realtimekit.copy_recordings", ignore_result=True)
def copy_recordings(self) -> dict[str, Any]:
    """Copy every UPLOADED recording not yet kept into ``RECORDING_STORAGE`` (off when unset).

    Each copy is claimed on its row, so two runs never copy one recording twice; a copy that
    fails is left for the next run (its reason is on the row's ``copy_error``).
    """
    from . import services

    if not get_settings().recording_storage:
        return {"copied": 0, "failed": 0, "skipped": "RECORDING_STORAGE is not set"}
    copied = failed = 0
    for recording in services.recordings_to_copy().iterator(chunk_size=100):
        try:
            services.copy_recording(recording)
        except RealtimeKitError as exc:
            failed += 1
            logger.warning("recording %s was not copied: %s", recording.pk, exc.message)
        else:
            copied += bool(recording.stored_name)
    return {"copied": copied, "failed": failed, "skipped": None}


def _no_fanout(reason: str | None) -> dict[str, Any]:
    return dict(participant_tasks=0, fanout_id=None, fanout_complete=False, fanout_reason=reason)


# -- provisioning -----------------------------------------------------------------------------

#: Provisioning's pace: a chunk of ``PROVISION_BATCH`` people every ``PROVISION_INTERVAL``
#: seconds, 100 a minute: 500 of the API's 1,200 requests per 5 minutes, so preparing an event
#: leaves more than half of the budget to the rest of the site (5,000 people: 50 minutes).
PROVISION_BATCH = 100
PROVISION_INTERVAL = 60
#: A run waits out this many stops in a row (budget out, API failing) before it gives up.
PROVISION_MAX_STALLS = 12


def check_pace(batch_size: Any, interval: Any) -> None:
    """Refuse a provisioning pace out of bounds (ValidationError naming the argument)."""
    problems = []
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 1000:
        problems.append(("batch_size", "must be a whole number between 1 and 1000"))
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 <= interval <= 86400:
        problems.append(("interval", "must be a number of seconds between 0 and 86400"))
    if problems:
        raise ValidationError(problems)


@shared_task(bind=True, name="realtimekit.provision_participants", ignore_result=True)
def provision_participants(
    self: Task,
    meeting_id: str,
    user_ids: list,
    run_id: str | None = None,
    batch_size: int = PROVISION_BATCH,
    interval: float = PROVISION_INTERVAL,
    stalls: int = 0,
) -> dict[str, Any]:
    """Prepare the joins of the users ``user_ids`` in a meeting: one chunk now, the rest later.

    Each run handles ``batch_size`` users (:func:`services.provision_participants`, in the
    budget's background lane), then sends itself for the rest after ``interval`` seconds, or
    after the wait the budget or the API asked for when it stopped the chunk. Progress is kept
    for the admin (:func:`services.provisioning.progress_of`); a newer run for the same meeting
    supersedes this one, which then stops. Run eagerly (tests, the demo), a stop ends the run:
    run it again, prepared people cost nothing.
    """
    from django.contrib.auth import get_user_model

    from .exceptions import MeetingInactive
    from .models import Meeting
    from .services import provisioning

    check_pace(batch_size, interval)
    meeting_id = str(uuid.UUID(str(meeting_id)))
    user_ids = list(user_ids)
    if run_id is None:
        run_id = provisioning.start_progress(meeting_id, len(user_ids))
    elif not provisioning.is_current(meeting_id, run_id):
        return {"meeting_id": meeting_id, "run_id": run_id, "superseded": True}
    chunk, rest = user_ids[:batch_size], user_ids[batch_size:]
    try:
        meeting = Meeting.objects.joinable().get(pk=meeting_id)
        users = list(get_user_model().objects.filter(pk__in=chunk).order_by("pk"))
        report = provisioning.provision_participants(meeting, users)
    except (Meeting.DoesNotExist, MeetingInactive) as exc:
        reason = "the meeting is inactive" if isinstance(exc, MeetingInactive) else "no such joinable meeting"
        report = provisioning.ProvisionReport(meeting_id=meeting_id, total=len(chunk), stopped=reason)
        provisioning.record_progress(meeting_id, run_id, report, finished=True)
        return {**report.as_dict(), "run_id": run_id, "left": len(user_ids), "finished": True}
    report.failed += len(chunk) - len(users)  # users deleted since the run was queued
    countdown, stalls = (report.retry_after, stalls + 1) if report.stopped else (interval, 0)
    rest = [*report.left, *rest]
    finished = not rest or stalls > PROVISION_MAX_STALLS or bool(report.stopped and self.request.is_eager)
    next_at = None if finished else time.time() + countdown
    provisioning.record_progress(meeting_id, run_id, report, finished=finished, next_at=next_at)
    if not finished:
        self.apply_async(
            (meeting_id, rest),
            {"run_id": run_id, "batch_size": batch_size, "interval": interval, "stalls": stalls},
            countdown=countdown,
        )
    return {**report.as_dict(), "run_id": run_id, "left": len(rest), "finished": finished}


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
WEBHOOK_RETRY_SCHEDULE_NAME = "realtimekit-webhook-retry"


@shared_task(name="realtimekit.process_webhook_event", ignore_result=True)
def process_webhook_event(event_pk: int) -> str:
    """Process one stored webhook event (once, however often this is sent); see
    :func:`realtimekit_django.webhooks.handlers.process_event`. A failure is kept on the row
    for the retry task (``realtimekit.retry_webhook_events``) and for a replay."""
    from .webhooks.handlers import process_event

    return process_event(event_pk)


@shared_task(name="realtimekit.retry_webhook_events", ignore_result=True)
def retry_webhook_events() -> dict[str, int]:
    """Process again the stored webhook events whose next try is due (failed ones, with
    backoff, and ones whose task never ran); see :func:`realtimekit_django.webhooks.retry.retry_due`."""
    from .webhooks.retry import retry_due

    return retry_due()


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


def webhook_beat_schedule(
    every_seconds: float = 24 * 3600, retry_seconds: float = 60
) -> dict[str, dict[str, Any]]:
    """The ``CELERY_BEAT_SCHEDULE`` entries that run the webhook retention cleanup daily and the
    retry of unprocessed events every minute."""
    return {
        WEBHOOK_CLEANUP_SCHEDULE_NAME: {
            "task": "realtimekit.cleanup_webhook_events",
            "schedule": float(every_seconds),
            "options": {"expires": EXPIRY_FRACTION * float(every_seconds)},
        },
        WEBHOOK_RETRY_SCHEDULE_NAME: {
            "task": "realtimekit.retry_webhook_events",
            "schedule": float(retry_seconds),
            "options": {"expires": EXPIRY_FRACTION * float(retry_seconds)},
        },
    }
