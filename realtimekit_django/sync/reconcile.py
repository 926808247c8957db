"""Paged walks that make the local tables equal to what RealtimeKit holds.

A walk reads every page of a listing and hands each page to one bulk upsert in
:mod:`~realtimekit_django.services` (one SELECT and at most one INSERT ... ON CONFLICT per page,
whatever its size), so the cost per page is constant and rows whose payload did not change are
not written at all. An item no column can take is rejected alone and reported; the rest of its
page is stored.

Only a walk whose listing proved consistent (see ``client.PageWalk``) may act on what it did
*not* see, and even then each row it missed is looked up first (one GET): offset paging shifts
under concurrent changes, and a listing can lie. Only a 404 deletes a participant or flags a
meeting missing (``missing_since``; the API cannot delete meetings). A walk that fails part way
reports ``completed=False`` and deletes or flags nothing; whether to try again is the caller's
decision (the Celery tasks retry).

Pages are committed one by one: a walk over tens of thousands of meetings never holds one long
transaction, and a walk that dies half way has still stored the pages it read.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import router, transaction
from django.utils import timezone

from .. import services, signals, store, token_cache
from ..client import RealtimeKitClient, budget, get_client
from ..conf import get_settings
from ..exceptions import InvalidResponse, NotFound, RealtimeKitError
from ..models import Meeting, Participant
from . import schedule

# The name sites configure (docs/operations.md, "Logs"), kept short rather than __name__.
logger = logging.getLogger("realtimekit_django.reconcile")


class StopWalk(Exception):  # noqa: N818 - a request to stop, not an error of the walk
    """Raised by a ``progress`` callback to end the walk now, as incomplete.

    The walk stores nothing more, deletes and flags nothing, and reports ``str(exc)`` as its
    ``error``: for example a task whose overlap lock was lost, or a budget that ran out.
    """


#: What stops a walk without being a bug: the API failing (after the client's own retries),
#: Celery's soft time limit, or a progress callback asking to stop.
_WALK_STOPPERS = (RealtimeKitError, SoftTimeLimitExceeded, StopWalk)

ProgressCallback = Callable[["ReconcileReport", "int | None"], Any]


@dataclass
class ReconcileReport:
    """What one walk did. ``as_dict()`` is what tasks return (JSON-serialisable).

    ``flagged`` counts meetings newly marked missing, ``removed`` participants deleted; both stay
    0 unless the walk completed. ``stale`` counts payloads older than the stored row (ignored).
    ``rejected`` counts items no column could take (skipped); ``rejections`` says why, for the
    first few of them.
    ``skipped`` is set by the tasks when another run held the lock and this one did nothing.
    ``http_requests`` is what the walk spent from the rate budget (every attempt, retries
    included), from ``lane`` (walks spend from the background lane).
    """

    kind: str
    meeting_id: str | None = None
    pages: int = 0
    items: int = 0
    http_requests: int = 0
    lane: str = budget.BACKGROUND
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    removed: int = 0
    flagged: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    completed: bool = False
    error: str | None = None
    skipped: bool = False
    dry_run: bool = False
    #: The exception that stopped the walk, for the tasks' retry decision; never serialised.
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("exception")
        return data

    def summary(self) -> str:
        """One line for logs and the command's output."""
        what = self.kind if self.meeting_id is None else f"{self.kind} of meeting {self.meeting_id}"
        if self.skipped:
            return f"{what}: skipped ({self.error or 'another run holds the lock'})"
        outcome = "complete" if self.completed else f"INCOMPLETE ({self.error or 'stopped early'})"
        gone = f"{self.flagged} flagged missing" if self.kind == "meetings" else f"{self.removed} removed"
        prefix = "dry run, nothing written: " if self.dry_run else ""
        return (
            f"{prefix}{what}: {outcome}; {self.pages} pages, {self.http_requests} HTTP requests, "
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.stale} stale, {self.rejected} rejected, "
            f"{gone}, {self.duration_seconds:.2f}s"
        )


class _DryRunRollback(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised at the end of a dry run to roll back everything the walk wrote."""


#: How many rejection reasons a report keeps (the count has them all).
MAX_REJECTIONS_KEPT = 20
#: A complete meetings walk looks up each stored meeting it missed before flagging it, up to
#: this many; beyond, the listing is likelier wrong than that many meetings gone, and nothing
#: is flagged (the report says so).
MAX_MISSING_LOOKUPS = 100


def _add(report: ReconcileReport, result: services.UpsertResult) -> None:
    report.created += result.created
    report.updated += result.updated
    report.unchanged += result.unchanged
    report.stale += result.stale
    report.rejected += len(result.rejected)
    room = MAX_REJECTIONS_KEPT - len(report.rejections)
    if room > 0:
        report.rejections.extend(result.rejected[:room])
    for reason in result.rejected:
        logger.warning("reconcile %s: item rejected: %s", report.kind, reason)


def _walk(
    report: ReconcileReport,
    walk,
    store: Callable[[list[dict]], services.UpsertResult],
    progress: ProgressCallback | None,
) -> set:
    """Store every page of ``walk``; returns the ids seen. Sets ``report.completed``."""
    seen: set = set()
    for page in walk:
        result = store(page.items)
        seen |= result.seen
        _add(report, result)
        report.pages += 1
        report.items += len(page.items)
        if progress is not None:
            progress(report, walk.total_count)
    report.completed = walk.completed
    if not walk.completed:
        report.error = getattr(walk, "incomplete_reason", None) or (
            f"the listing still had pages after {walk.max_pages} pages (MAX_PAGES)"
        )
    return seen


def _run(
    report: ReconcileReport, body: Callable[[], None], *, client: RealtimeKitClient, dry_run: bool, model
) -> ReconcileReport:
    """Run ``body`` and fill in the report's costs; a dry run happens in a rolled-back transaction.

    The dry run really writes and then rolls back (rather than simulating the upsert), so its
    counts are exactly what a real run would have done at that moment; it does hold row locks on
    the touched rows until it ends.
    """
    started, requests_before = time.monotonic(), client.request_count
    report.dry_run = dry_run
    report.lane = budget.BACKGROUND
    try:
        if dry_run:
            try:
                with transaction.atomic(using=router.db_for_write(model)):
                    _guarded(report, body)
                    raise _DryRunRollback
            except _DryRunRollback:
                pass
        else:
            _guarded(report, body)
    except BaseException as exc:
        # Whatever stopped it (a lock cache or broker down, a bug), the walk is reported.
        report.completed = False
        report.exception = exc
        report.error = report.error or f"stopped by {type(exc).__name__}"
        raise
    finally:
        report.http_requests = client.request_count - requests_before
        report.duration_seconds = round(time.monotonic() - started, 3)
        log = logger.info if report.completed else logger.warning
        log("reconcile %s", report.summary())
        signals.reconcile_finished.send(sender=None, report=report)
    return report


def _guarded(report: ReconcileReport, body: Callable[[], None]) -> None:
    try:
        with budget.lane(budget.BACKGROUND):
            body()
    except _WALK_STOPPERS as exc:
        report.completed = False
        report.exception = exc
        if isinstance(exc, SoftTimeLimitExceeded):
            report.error = "stopped: soft time limit exceeded"
        else:
            report.error = str(exc)


def reconcile_meetings(
    *,
    per_page: int | None = None,
    client: RealtimeKitClient | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    **filters: Any,
) -> ReconcileReport:
    """Walk every page of the meetings listing into the ``Meeting`` table.

    ``filters`` (``search``, ``status``, ``start_time``, ``end_time``) narrow the listing; a
    filtered walk never flags anything, since a meeting it did not see may simply not match.
    ``progress(report, total_count)`` is called after every request the walk makes; it may
    raise :class:`StopWalk` to end the walk as incomplete.
    """
    api = client or get_client()
    report = ReconcileReport(kind="meetings")

    def body() -> None:
        walk_started = timezone.now()
        walk = api.meetings.walk_meetings(per_page=per_page, **filters)

        # A new or changed meeting is written with ``participants_touched_at``: walked soon.
        seen = _walk(report, walk, lambda items: services.upsert_meetings(items, app_id=api.app_id), progress)
        if report.completed and not filters:
            missing = store.meetings_not_seen(seen, app_id=api.app_id, walk_started=walk_started)
            if len(missing) > MAX_MISSING_LOOKUPS:
                # A listing that suddenly lacks that many meetings is likelier wrong than they
                # are all gone: look none up, flag none.
                report.completed = False
                report.error = (
                    f"the listing lacked {len(missing)} stored meetings, more than the "
                    f"{MAX_MISSING_LOOKUPS} a walk looks up; nothing flagged"
                )
            elif missing:
                seen |= _still_present(
                    report,
                    missing,
                    api.meetings.get_meeting_by_id,
                    lambda found: services.upsert_meetings(found, app_id=api.app_id),
                    progress,
                )
            if missing and report.completed:
                report.flagged = services.flag_missing_meetings(
                    seen, app_id=api.app_id, walk_started=walk_started
                )

    return _run(report, body, client=api, dry_run=dry_run, model=Meeting)


def reconcile_meeting_pages(
    first_page: int,
    pages: int,
    *,
    per_page: int | None = None,
    client: RealtimeKitClient | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[ReconcileReport, int | None]:
    """Walk ``pages`` pages of the whole meetings listing from ``first_page``: a slice of it.

    Scheduled runs walk the whole listing this way, a few pages a run, so that its cost
    (``ceil(N / PAGE_SIZE)`` requests: 1,000 at 100,000 meetings) is spread over
    ``FULL_SYNC_INTERVAL_SECONDS`` instead of spent at once, which stopped every other
    background walk for two runs. Meetings cannot be deleted, so a listing that gains meetings
    between slices only moves items to later pages: some are seen twice, none is skipped. A
    slice never flags anything (it cannot know what it did not see): only a complete walk
    (:func:`reconcile_meetings`, a sync by hand) does.

    Returns the report and the page the next slice starts at: ``None`` once a short page says
    the listing ended. A page holding more than ``per_page`` items, or no list, stops the slice
    (``InvalidResponse``), stored nothing of that page, and the next slice tries it again; so
    does a slice stopped by the rate budget.
    """
    api = client or get_client()
    config = get_settings()
    size = per_page or config.page_size
    report = ReconcileReport(kind="meetings")
    position: dict[str, int | None] = {"next": first_page}

    def body() -> None:
        for page_no in range(first_page, first_page + pages):
            envelope = api.meetings.get(page_no=page_no, per_page=size)
            items = envelope.get("data") if isinstance(envelope, dict) else None
            if not isinstance(items, list) or len(items) > size:
                raise InvalidResponse(f"meetings page {page_no} is not a list of at most {size} items")
            _add(report, services.upsert_meetings(items, app_id=api.app_id))
            report.pages += 1
            report.items += len(items)
            if progress is not None:
                progress(report, None)
            if len(items) < size:
                position["next"] = None
                break
            # A listing that never ends (one ignoring page_no) starts over after MAX_PAGES.
            position["next"] = page_no + 1 if page_no < config.max_pages else None
        report.completed = True

    _run(report, body, client=api, dry_run=False, model=Meeting)
    return report, position["next"]


def reconcile_participants(
    meeting: Meeting | uuid.UUID | str,
    *,
    per_page: int | None = None,
    client: RealtimeKitClient | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> ReconcileReport:
    """Walk every page of one meeting's participants into the ``Participant`` table.

    ``meeting`` may be a ``Meeting`` or its id; a meeting not stored locally yet is fetched
    first (one GET). After a complete walk, local participants the walk did not see are looked
    up one by one and deleted when the API says they are gone (404), except rows written after
    the walk began (a join meanwhile: the walk could not see them).
    """
    api = client or get_client()
    meeting_id = str(meeting.pk if isinstance(meeting, Meeting) else meeting)
    report = ReconcileReport(kind="participants", meeting_id=meeting_id)

    def body() -> None:
        target = meeting if isinstance(meeting, Meeting) else _local_meeting(meeting_id, api)
        walk_started = timezone.now()
        walk = api.meetings.walk_participants(meeting_id, per_page=per_page)
        store_page = _participant_page_store(target)
        seen = _walk(report, walk, store_page, progress)
        if report.completed:
            missing = store.participants_not_seen(target, seen, walk_started=walk_started)
            if missing:
                seen |= _still_present(
                    report,
                    missing,
                    lambda pk: api.meetings.get_meeting_participant(pk, meeting_id=meeting_id),
                    store_page,
                    progress,
                )
                report.removed = services.remove_missing_participants(target, seen, walk_started=walk_started)
                _forget_kept_tokens([pk for pk in missing if pk not in seen])  # gone remotely (404)
        if report.completed:
            schedule.mark_verified(target.pk, walk_started)

    return _run(report, body, client=api, dry_run=dry_run, model=Participant)


def _participant_page_store(meeting: Meeting) -> Callable[[list[dict]], services.UpsertResult]:
    """Store a page of participants, and forget the kept join tokens of those it moves to
    another preset (outside the site: the kept token no longer grants what the row says)."""

    def store_page(items: list[dict]) -> services.UpsertResult:
        moved = _moved_participants(meeting, items) if token_cache.enabled() else []
        result = services.upsert_participants(meeting, items)
        _forget_kept_tokens(moved)
        return result

    return store_page


def _moved_participants(meeting: Meeting, items: list) -> list:
    """Ids of the page's participants whose stored preset differs from the page's (one query)."""
    presets = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("preset_name"), str):
            try:
                presets[uuid.UUID(str(item.get("id")))] = item["preset_name"]
            except ValueError:
                continue  # the page's own validation rejects the item
    if not presets:
        return []
    stored = Participant.objects.filter(meeting=meeting, pk__in=list(presets))
    return [pk for pk, preset_name in stored.values_list("pk", "preset_name") if presets[pk] != preset_name]


def _forget_kept_tokens(participant_ids: list) -> None:
    """Drop kept join tokens once the walk's writes are committed (never in a dry run, whose
    transaction is rolled back)."""
    if participant_ids and token_cache.enabled():
        ids = list(participant_ids)
        transaction.on_commit(lambda: token_cache.drop_many(ids), using=router.db_for_write(Participant))


def _still_present(
    report: ReconcileReport,
    candidates: list,
    lookup: Callable[[str], dict],
    store_found: Callable[[list[dict]], services.UpsertResult],
    progress: ProgressCallback | None,
) -> set:
    """Ids of the rows a complete walk missed that still exist remotely (and stores them).

    Offset paging shifts under concurrent changes (a row deleted on a page already read pulls
    the next ones back onto it) and a listing can lie, so a complete walk can miss rows that
    are still there. Each one is therefore looked up (one GET); only a 404 lets it be deleted
    or flagged. The cost is one request per row actually gone, usually a handful.
    """
    found = []
    for pk in candidates:
        try:
            envelope = lookup(str(pk))
        except NotFound:
            continue
        finally:
            if progress is not None:  # after every request, not only after pages
                progress(report, None)
        if isinstance(envelope.get("data"), dict):
            found.append(envelope["data"])
    if not found:
        return set()
    result = store_found(found)
    _add(report, result)
    return result.seen


def _local_meeting(meeting_id: str, api: RealtimeKitClient) -> Meeting:
    found = Meeting.objects.filter(pk=meeting_id).first()
    return found if found is not None else services.refresh_meeting(meeting_id, client=api)


def reconcile_presets(
    *,
    client: RealtimeKitClient | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> ReconcileReport:
    """Walk the presets listing into the ``Preset`` table (a request or two: presets are few).

    A complete walk deletes the presets it did not see, then warns about a ``DEFAULT_PRESET``
    or ``HOST_PRESET`` the app does not have.
    """
    from ..models import Preset

    api = client or get_client()
    report = ReconcileReport(kind="presets")

    def body() -> None:
        walk_started = timezone.now()
        walk = api.presets.walk_presets()
        seen = _walk(report, walk, lambda items: services.upsert_presets(items, app_id=api.app_id), progress)
        if report.completed and not report.rejected:
            report.removed = services.remove_missing_presets(
                seen, app_id=api.app_id, walk_started=walk_started
            )
            services.warn_about_configured_presets()

    return _run(report, body, client=api, dry_run=dry_run, model=Preset)


def reconcile_recordings(
    *,
    per_page: int | None = None,
    client: RealtimeKitClient | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    **filters: Any,
) -> ReconcileReport:
    """Walk the recordings listing into the ``Recording`` table (statuses move only forward).

    Recordings are never deleted here: RealtimeKit drops them after 7 days, and the row is
    where the site's copy is recorded.
    """
    from ..models import Recording

    api = client or get_client()
    report = ReconcileReport(kind="recordings")

    def body() -> None:
        walk = api.recordings.walk_recordings(per_page=per_page, **filters)
        _walk(report, walk, lambda items: services.upsert_recordings(items, app_id=api.app_id), progress)

    return _run(report, body, client=api, dry_run=dry_run, model=Recording)
