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

The tasks are thin: the work they run is in :mod:`realtimekit_django.sync` (the walks in
:mod:`~realtimekit_django.sync.reconcile`, the overlap lock in :mod:`~realtimekit_django.sync.locks`,
the fan-out's counters in :mod:`~realtimekit_django.sync.fanout`, a run's bookkeeping in
:mod:`~realtimekit_django.sync.runs`), in :mod:`realtimekit_django.services.provisioning`
(:func:`~realtimekit_django.services.provisioning.provision_chunk`),
:mod:`realtimekit_django.services.recordings` (``copy_uploaded_recordings``) and
:mod:`realtimekit_django.webhooks.retention`, which run and are tested without a worker; the
names this module had stay importable from here. This module adds what only Celery has: retries, time
limits, and the schedule (:func:`beat_schedule`, :func:`webhook_beat_schedule`).

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
import uuid
from typing import Any

from celery import Task, shared_task

from .conf import get_settings
from .exceptions import RateLimited, ServerError, TransportError, ValidationError
from .sync.fanout import (  # noqa: F401  (the public names of this module before sync/ held them)
    FANOUT_PREFIX,
    _fanout_counter,
    _fanout_pointer,
    _fanout_walk_finished,
    _no_fanout,
    _uncount,
    participant_walks_due,
    pending_fanout,
)
from .sync.fanout import fan_out as _fan_out
from .sync.locks import (  # noqa: F401
    LOCK_PREFIX,
    OverlapLock,
    _lock_cache,
    _skipped,
    break_lock,
    locked_walk,
    meetings_lock_name,
    overlap_lock,
    participants_lock_name,
)
from .sync.runs import (  # noqa: F401
    EXPIRY_FRACTION,
    LAST_RUN_PREFIX,
    MEETING_FILTERS,
    RECENT_RUN_FRACTION,
    _interval_seconds,
    _recent_run,
    _record_run,
    _walk_listing_slice,
    _walk_presets,
    check_walk_arguments,
    run_all,
)

# ``reconcile`` and the models are imported inside the functions: this module must stay
# importable from a settings file (for :func:`beat_schedule`), before Django's app registry is
# ready.

logger = logging.getLogger("realtimekit_django.tasks")

#: Failures worth a later try: the API or the network having a bad moment. (``Timeout`` is a
#: ``TransportError``.) A 4xx other than 429 would fail again: no retry.
RETRY_FOR = (TransportError, ServerError, RateLimited)
BEAT_SCHEDULE_NAME = "realtimekit-reconcile-all"


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
    report, result = run_all(per_page, interval, send=_send_participant_walk)
    self.retry_if_worth_it(report)
    return result


def _send_participant_walk(meeting_id: str, *, per_page: int | None, fanout_id: str, expires: float) -> None:
    """Queue one participants walk of a fan-out (it stores no result: its report is logged)."""
    reconcile_participants.apply_async(
        (meeting_id,), {"per_page": per_page, "fanout_id": fanout_id}, expires=expires, ignore_result=True
    )


def fan_out(
    meeting_ids, *, per_page: int | None, expires: float, app_id: str | None = None
) -> dict[str, Any]:
    """:func:`realtimekit_django.sync.fanout.fan_out`, sending ``reconcile_participants`` tasks."""
    return _fan_out(
        meeting_ids, send=_send_participant_walk, per_page=per_page, expires=expires, app_id=app_id
    )


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
    from .client.budget import BACKGROUND, lane
    from .services import recordings

    with lane(BACKGROUND):  # a task: never the part of the reserve kept for people
        return recordings.copy_uploaded_recordings()



@shared_task(name="realtimekit.copy_artifact", ignore_result=True)
def copy_artifact(artifact_pk: int) -> str:
    """Copy one session artifact (chat export, transcript, summary) into the site's storage;
    see :func:`realtimekit_django.services.artifacts.copy_artifact`. Returns its state."""
    from .client.budget import BACKGROUND, lane
    from .services import artifacts

    with lane(BACKGROUND):  # a task: the fresh link it asks for must not spend the joins' reserve
        return artifacts.copy_artifact_by_id(artifact_pk)


@shared_task(name="realtimekit.copy_artifacts", ignore_result=True)
def copy_artifacts() -> dict[str, Any]:
    """Copy every session artifact whose copy is due (announced, or failed and its next try
    come); run it every few minutes from beat."""
    from .client.budget import BACKGROUND, lane
    from .services import artifacts

    with lane(BACKGROUND):
        return artifacts.copy_due_artifacts()


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
    from .services import provisioning

    check_pace(batch_size, interval)
    result, follow_up = provisioning.provision_chunk(
        meeting_id,
        user_ids,
        run_id=run_id,
        batch_size=batch_size,
        interval=interval,
        stalls=stalls,
        max_stalls=PROVISION_MAX_STALLS,
        eager=bool(self.request.is_eager),
    )
    if follow_up is not None:
        self.apply_async(
            (follow_up["meeting_id"], follow_up["user_ids"]),
            {
                "run_id": follow_up["run_id"],
                "batch_size": batch_size,
                "interval": interval,
                "stalls": follow_up["stalls"],
            },
            countdown=follow_up["countdown"],
        )
    return result


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


@shared_task(name="realtimekit.targeted_fetch", ignore_result=True)
def targeted_fetch(kind: str, meeting_id: str) -> dict[str, Any]:
    """One targeted fetch a webhook event asked for (a meeting, or one meeting's participants),
    on the background lane; see :func:`realtimekit_django.sync.targeted.fetch`."""
    from .sync import targeted

    return targeted.fetch(kind, meeting_id)


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
    from .webhooks import retention

    return retention.delete_old_events(days)


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


# -- after the meeting --------------------------------------------------------------------------

SESSIONS_SCHEDULE_NAME = "realtimekit-sync-sessions"
ARTIFACTS_SCHEDULE_NAME = "realtimekit-copy-artifacts"


@shared_task(name="realtimekit.sync_sessions", ignore_result=True)
def sync_sessions(per_page: int | None = None) -> dict[str, Any]:
    """One sessions walk in the background lane: the API's figures and attendance of recent
    sessions, stale LIVE sessions checked; see :func:`realtimekit_django.sync.sessions.sync_sessions`."""
    from .sync.sessions import sync_sessions as walk

    return walk(per_page=per_page).as_dict()


def sessions_beat_schedule(
    every_seconds: float = 900, copy_seconds: float = 300
) -> dict[str, dict[str, Any]]:
    """The ``CELERY_BEAT_SCHEDULE`` entries that run ``realtimekit.sync_sessions`` every
    ``every_seconds`` (default 15 minutes) and ``realtimekit.copy_artifacts`` every
    ``copy_seconds`` (default 5 minutes: the artifacts' links expire, so copies must not wait
    for the next walk); each run expires before the next is due."""
    return {
        SESSIONS_SCHEDULE_NAME: {
            "task": "realtimekit.sync_sessions",
            "schedule": float(every_seconds),
            "options": {"expires": EXPIRY_FRACTION * float(every_seconds)},
        },
        ARTIFACTS_SCHEDULE_NAME: {
            "task": "realtimekit.copy_artifacts",
            "schedule": float(copy_seconds),
            "options": {"expires": EXPIRY_FRACTION * float(copy_seconds)},
        },
    }
