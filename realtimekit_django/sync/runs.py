"""The bookkeeping of a reconcile run: its arguments, the last completed scheduled run, and the
whole run of ``reconcile_all`` (meetings, a listing slice, presets, the planned fan-out).

A scheduled run and the participant walks it sends expire before the next run is due, so a
backlog (beat running with no worker) is dropped rather than replayed; a scheduled run that
finds a run completed within ``RECENT_RUN_FRACTION`` of the interval skips (two beats started
by mistake do the work once). :func:`run_all` does the whole run under the meetings lock and
returns its report and result; the Celery task only decides whether to retry it. Nothing here
needs a Celery worker.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from .. import schema
from ..conf import get_settings
from ..exceptions import RealtimeKitError, ValidationError
from .fanout import SendWalk, _no_fanout, fan_out
from .locks import _lock_cache, _skipped, locked_walk, meetings_lock_name

# ``reconcile``, ``schedule`` and the models are imported inside the functions: this module is
# imported by :mod:`realtimekit_django.tasks`, which must stay importable from a settings file.

logger = logging.getLogger("realtimekit_django.tasks")

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


def run_all(per_page: int | None, interval: float | None, *, send: SendWalk) -> tuple[Any, dict[str, Any]]:
    """One run of ``reconcile_all`` (see that task): ``(the meetings walk's report, the result)``.

    The caller decides whether the report's failure is worth a retry; the result is the task's
    answer otherwise. ``send`` queues one participants walk (see :func:`.fanout.fan_out`).
    """
    from . import reconcile, schedule

    check_walk_arguments(per_page)
    scheduled, seconds = interval is not None, _interval_seconds(interval)
    app_id = get_settings().app_id
    started = time.time()
    if scheduled and (last := _recent_run(app_id, seconds, started)) is not None:
        reason = (
            f"a run completed {started - last:.0f}s ago, within {RECENT_RUN_FRACTION:g} "
            f"of the {seconds:g}s interval (is a second beat running?)"
        )
        report = _skipped("meetings", reason)
        return report, {**report.as_dict(), **_no_fanout(reason)}

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
            if scheduled:
                spent += _assess_webhooks(outcome)
            plan = schedule.plan_participant_walks(
                app_id,
                interval=seconds,
                spent=spent,
                per_page=per_page,
                everything=not scheduled,
            )
            outcome.update(plan.as_dict())
            outcome.update(
                fan_out(
                    plan.meeting_ids,
                    send=send,
                    per_page=per_page,
                    expires=EXPIRY_FRACTION * seconds,
                    app_id=app_id,
                )
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
    if "participant_tasks" not in outcome:
        reason = report.error or "another run of this walk holds the lock"
        outcome.update(_no_fanout(f"no fan-out: the meetings walk did not complete ({reason})"))
    return report, {**report.as_dict(), **outcome}


def _assess_webhooks(outcome: dict[str, Any]) -> int:
    """Whether this run may rely on webhooks (:mod:`.health`); the requests that cost (0 or 1)."""
    from . import health

    found, sent = health.evaluate()
    outcome["webhooks_healthy"] = found.healthy
    outcome["webhooks_reason"] = found.reason
    return sent


def _walk_listing_slice(app_id: str, interval: float, per_page: int | None, progress, outcome: dict) -> int:
    """The run's slice of the whole meetings listing (see ``reconcile_meeting_pages``); its cost.

    A slice that fails (a lying page, the rate budget) costs only itself: the next run tries the
    same page again, and this run's participant walks go ahead.
    """
    from . import reconcile, schedule

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
    from . import reconcile

    try:
        outcome["presets"] = reconcile.reconcile_presets().summary()
    except RealtimeKitError as exc:
        outcome["presets"] = f"presets: not walked ({exc.message})"
