"""What the scheduled sync walks next, within its share of the rate budget.

A walk of every meeting's participants on every run costs one request per meeting per run, and
meetings are never deleted, so every site grows out of its budget that way. Instead each run
plans participant walks worth at most its *allowance*::

    allowance = SYNC_BUDGET_SHARE * floor(RATE_LIMIT_REQUESTS * (1 - RATE_LIMIT_RESERVE))
                * interval / RATE_LIMIT_WINDOW_SECONDS  -  what the run's meetings walk spent

and picks meetings in this order (a meeting is planned at its estimated cost,
``ceil(max(1, local participants) / per_page)`` requests):

0. **in front**: meetings whose session just started (:func:`move_to_front`, from a
   ``meeting.started`` webhook), not walked since, first started first;
1. **touched**: something suggested their participants changed since their last walk
   (:func:`mark_touched`: this site's services, a remote ``updated_at`` change seen by a meetings
   walk, webhooks), oldest touch first; up to the allowance less the age quota;
2. **active**: meetings created, touched, or joined through the site (a participant of one of
   its users written) within ``RECENT_MEETINGS_SECONDS`` (and ``ACTIVE_GRACE_RUNS`` runs more),
   not verified within the last half interval (``WEBHOOK_HEALTHY_ROTATION_SECONDS`` while
   webhooks are healthy, :mod:`.health`: the events announce most changes then), the longest
   unverified first; up to the allowance less the age quota. A change made behind the site's
   back sends no signal, and these are the meetings people use: walking them in rotation bounds
   how long such a change goes unseen (docs/operations.md, "What a scheduled sync costs", gives
   the bound);
3. **the age quota**: ``ceil(meetings * interval / PARTICIPANTS_MAX_AGE)`` meetings, or more
   when more would be past ``PARTICIPANTS_MAX_AGE`` by the next run (a run that missed its
   share is made up), never verified first (newest first), then the longest unverified, so that
   every meeting is verified within ``PARTICIPANTS_MAX_AGE`` while the allowance covers it;
4. **active** again, with whatever the quota did not need.

``Meeting.participants_synced_at`` records each complete walk (its start, so a touch during the
walk still counts). The plan says when the allowance cannot keep ``PARTICIPANTS_MAX_AGE``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from ..client.budget import BACKGROUND, budget_for
from ..conf import get_settings
from . import health

LISTING_CURSOR_PREFIX = "realtimekit:listing-cursor:"
FRONT_PREFIX = "realtimekit:walks-front:"
#: The meetings kept in front at most (the newest starts win): a run walks a few hundred.
FRONT_MAX = 1_000
#: A meeting stays active this many runs past ``RECENT_MEETINGS_SECONDS``: a change made just
#: before it would leave is still found by the rotation (which comes round within about three
#: runs at 100,000 meetings), at the cost of ~1.4% more active meetings at the defaults.
ACTIVE_GRACE_RUNS = 4


def now() -> datetime:
    """The moment the scheduler plans for (``time.time()``; tests drive it with the emulator's clock)."""
    return datetime.fromtimestamp(time.time(), tz=UTC)


def _meetings():
    from ..models import Meeting

    return Meeting.objects


# -- marks --------------------------------------------------------------------------------------


def mark_touched(meeting_ids: Iterable[Any]) -> int:
    """Walk these meetings' participants first at the next run (for services, webhooks, walks)."""
    ids = [str(pk) for pk in meeting_ids if pk is not None]
    if not ids:
        return 0
    return _meetings().filter(pk__in=ids).update(participants_touched_at=now())


def move_to_front(meeting_ids: Iterable[Any]) -> None:
    """Walk these meetings' participants before any other at the next run (a session started).

    Kept in the lock cache (best effort: a cache outage loses the place in front, logged) until
    a walk that began after the start verified the meeting.
    """
    import logging

    ids = [str(pk) for pk in meeting_ids if pk is not None]
    if not ids:
        return
    try:
        cache = caches[get_settings().sync_lock_cache]
        key = FRONT_PREFIX + get_settings().app_id
        front = cache.get(key) or {}
        moment = time.time()
        for pk in ids:
            front.setdefault(pk, moment)
        if len(front) > FRONT_MAX:
            front = dict(sorted(front.items(), key=lambda item: item[1])[-FRONT_MAX:])
        cache.set(key, front, timeout=86_400)
    except Exception as err:
        logging.getLogger("realtimekit_django.sync").warning(
            "could not move meetings to the front of the walks (%s)", type(err).__name__
        )


def in_front(app_id: str) -> dict[str, float]:
    """The meetings in front (id -> when it was moved there), oldest first."""
    try:
        front = caches[get_settings().sync_lock_cache].get(FRONT_PREFIX + app_id) or {}
    except Exception:
        return {}
    return dict(sorted(front.items(), key=lambda item: item[1]))


def _leave_front(app_id: str, walked: Iterable[str]) -> None:
    walked = set(walked)
    if not walked:
        return
    try:
        cache = caches[get_settings().sync_lock_cache]
        key = FRONT_PREFIX + app_id
        front = cache.get(key) or {}
        left = {pk: at for pk, at in front.items() if pk not in walked}
        if len(left) != len(front):
            cache.set(key, left, timeout=86_400)
    except Exception:
        return


def mark_verified(meeting_id: Any, walk_started: datetime) -> None:
    """A complete participants walk that began at ``walk_started`` verified this meeting."""
    _meetings().filter(pk=meeting_id).update(participants_synced_at=walk_started)


# -- the whole meetings listing, a slice a run ------------------------------------------------


def listing_cursor(app_id: str) -> int:
    """The page of the whole meetings listing the next scheduled slice starts at (1 at first)."""
    page = caches[get_settings().sync_lock_cache].get(LISTING_CURSOR_PREFIX + app_id)
    return page if isinstance(page, int) and page >= 1 else 1


def set_listing_cursor(app_id: str, page: int) -> None:
    """Remember where the next slice starts (a lost cursor only starts the listing over)."""
    config = get_settings()
    caches[config.sync_lock_cache].set(
        LISTING_CURSOR_PREFIX + app_id, page, timeout=2 * config.full_sync_interval_seconds
    )


def listing_pages_per_run(app_id: str, *, interval: float, per_page: int) -> int:
    """Pages a run walks so that the whole listing is walked every ``FULL_SYNC_INTERVAL_SECONDS``.

    ``ceil((ceil(N / per_page) + 1) * interval / FULL_SYNC_INTERVAL_SECONDS)`` with ``N`` the
    meetings stored for the app (the ``+ 1``: the short page that ends the listing): 4 at
    100,000 meetings and the defaults.
    """
    meetings = _meetings().filter(app_id=app_id).count()
    pages = math.ceil(meetings / per_page) + 1
    return max(1, math.ceil(pages * interval / get_settings().full_sync_interval_seconds))


def recent_start() -> datetime:
    """The ``start_time`` of the recent-meetings walk: meetings created this recently."""
    return now() - timedelta(seconds=get_settings().recent_meetings_seconds)


# -- participants -------------------------------------------------------------------------------


@dataclass
class ParticipantPlan:
    """The participant walks a run sends, what they should cost, and whether ``MAX_AGE`` holds."""

    meeting_ids: list[str] = field(default_factory=list)
    planned_requests: int = 0
    allowance: int | None = None
    front: int = 0
    touched: int = 0
    #: Active meetings (see the module docstring) and how many of them this run walks.
    active: int = 0
    active_walked: int = 0
    overdue: int = 0
    oldest_verified: str | None = None
    max_age_kept: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("meeting_ids")
        return {f"participants_{key}": value for key, value in data.items()}


def allowance(interval: float, spent: int = 0) -> int | None:
    """Requests a run may plan for participant walks (``None``: no budget, no limit)."""
    config = get_settings()
    shared = budget_for(config)
    if shared is None:
        return None
    # The whole background share: the event reserve (targeted fetches) comes out of what
    # SYNC_BUDGET_SHARE leaves, as the sessions walk and the copies do.
    per_window = config.sync_budget_share * shared.limit(BACKGROUND, event=True)
    return max(0, math.floor(per_window * interval / config.rate_limit_window_seconds) - spent)


def _with_cost(queryset, per_page: int):
    from ..models import Participant

    counts = (
        Participant.objects.filter(meeting=OuterRef("pk"))
        .order_by()
        .values("meeting")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = queryset.annotate(n=Coalesce(Subquery(counts, output_field=IntegerField()), 0))
    return [(str(pk), max(1, math.ceil(n / per_page))) for pk, n in rows.values_list("pk", "n")]


class _Picker:
    def __init__(self, plan: ParticipantPlan, per_page: int) -> None:
        self.plan, self.per_page, self.chosen = plan, per_page, set()

    def take(self, queryset, *, requests: float, meetings: int | None = None) -> int:
        """Add meetings of ``queryset`` (ordered) while they fit in ``requests``; returns how many."""
        if requests <= 0 or meetings == 0:
            return 0
        limit = meetings if meetings is not None else math.ceil(requests)
        rows = queryset.exclude(pk__in=list(self.chosen))[: max(0, limit)]
        taken, spent = 0, 0
        for pk, cost in _with_cost(rows, self.per_page):
            if spent + cost > requests:
                break
            self.chosen.add(pk)
            self.plan.meeting_ids.append(pk)
            spent += cost
            taken += 1
        self.plan.planned_requests += spent
        return taken

    def take_ids(self, meeting_ids: list[str], *, requests: float) -> int:
        """Add these meetings (in this order) while they fit in ``requests``; returns how many."""
        from ..models import Meeting

        ids = [pk for pk in meeting_ids if pk not in self.chosen]
        if requests <= 0 or not ids:
            return 0
        costs = dict(_with_cost(Meeting.objects.filter(pk__in=ids), self.per_page))
        taken, spent = 0, 0
        for pk in ids:
            cost = costs.get(pk, 1)
            if spent + cost > requests:
                break
            self.chosen.add(pk)
            self.plan.meeting_ids.append(pk)
            spent += cost
            taken += 1
        self.plan.planned_requests += spent
        return taken


def plan_participant_walks(
    app_id: str, *, interval: float, spent: int = 0, per_page: int | None = None, everything: bool = False
) -> ParticipantPlan:
    """The meetings whose participants this run walks (see the module docstring).

    ``everything``: every meeting present remotely, whatever the allowance (a sync asked for by
    hand; the budget still paces its requests).
    """
    config = get_settings()
    per_page = per_page or config.page_size
    present = _meetings().filter(app_id=app_id).present_remotely()
    budget = allowance(interval, spent)
    plan = ParticipantPlan(allowance=budget)
    moment = now()
    _describe_age(plan, present, moment - timedelta(seconds=config.participants_max_age))
    if budget is None or everything:
        plan.meeting_ids = [
            str(pk) for pk in present.order_by("remote_created_at", "pk").values_list("pk", flat=True)
        ]
        plan.planned_requests = len(plan.meeting_ids)
        return plan
    total = present.count()
    quota = max(
        math.ceil(total * interval / config.participants_max_age),
        _due_by_next_run(present, moment + timedelta(seconds=interval - config.participants_max_age)),
    )
    picker = _Picker(plan, per_page)
    front = in_front(app_id)
    if front:
        ids = list(front)
        rows = dict(present.filter(pk__in=ids).values_list("pk", "participants_synced_at"))
        due_front = [
            pk
            for pk in ids
            if (found := rows.get(_as_pk(pk), False)) is not False
            and (found is None or found.timestamp() < front[pk])
        ]
        _leave_front(app_id, set(ids) - set(due_front))
        plan.front = picker.take_ids(due_front, requests=budget - quota)
    touched = present.filter(participants_touched_at__isnull=False).filter(
        Q(participants_synced_at__isnull=True) | Q(participants_touched_at__gt=F("participants_synced_at"))
    )
    plan.touched = picker.take(touched.order_by("participants_touched_at", "pk"), requests=budget - quota)
    by_age = present.order_by(
        F("participants_synced_at").asc(nulls_first=True), F("remote_created_at").desc(nulls_last=True), "pk"
    )
    active = active_meetings(
        present, moment - timedelta(seconds=config.recent_meetings_seconds + ACTIVE_GRACE_RUNS * interval)
    )
    plan.active = active.count()
    due = by_age.filter(pk__in=active.values("pk")).filter(
        Q(participants_synced_at__isnull=True)
        | Q(participants_synced_at__lt=moment - timedelta(seconds=health.rotation_seconds(interval)))
    )
    plan.active_walked = picker.take(due, requests=budget - quota - plan.planned_requests)
    picker.take(by_age, requests=budget - plan.planned_requests, meetings=quota)
    plan.active_walked += picker.take(due, requests=budget - plan.planned_requests)
    plan.max_age_kept = not plan.overdue and len(plan.meeting_ids) >= min(quota, total)
    return plan


def _as_pk(pk: str):
    import uuid

    try:
        return uuid.UUID(pk)
    except ValueError:
        return pk


def active_meetings(meetings, since: datetime):
    """Those of ``meetings`` created, touched or joined through the site since ``since``.

    A join writes its participant row (and makes no other write, to stay cheap), so a row of a
    site user written since ``since`` marks its meeting. A participant without a user, which only
    a walk writes, does not: a change found behind the site's back would otherwise keep its
    meeting active for another ``RECENT_MEETINGS_SECONDS``, and the set, with the time it takes
    to walk it, would grow through the day.
    """
    from ..models import Participant

    written = Participant.objects.filter(synced_at__gte=since, user__isnull=False).values("meeting_id")
    return meetings.filter(
        Q(remote_created_at__gte=since) | Q(participants_touched_at__gte=since) | Q(pk__in=written)
    )


def _due_by_next_run(present, deadline: datetime) -> int:
    """Meetings that will be past ``PARTICIPANTS_MAX_AGE`` by the next run unless walked now.

    The quota takes at least these, so a run that could not take its share (the day's full
    meetings walk spends that run's allowance) is made up by the next ones.
    """
    return present.filter(
        Q(participants_synced_at__lt=deadline)
        | Q(participants_synced_at__isnull=True, remote_created_at__lt=deadline)
    ).count()


def _describe_age(plan: ParticipantPlan, present, deadline: datetime) -> None:
    """Fill in the oldest verification and how many meetings are past ``PARTICIPANTS_MAX_AGE``."""
    oldest = (
        present.order_by(F("participants_synced_at").asc(nulls_first=True))
        .values_list("participants_synced_at", flat=True)
        .first()
    )
    plan.oldest_verified = oldest.isoformat() if oldest is not None else None
    plan.overdue = present.filter(
        Q(participants_synced_at__lt=deadline)
        | Q(participants_synced_at__isnull=True, remote_created_at__lt=deadline)
    ).count()


def verification_summary(app_id: str | None = None) -> dict[str, Any]:
    """The oldest participant verification and how many meetings are overdue (one query)."""
    from django.db.models import Min

    config = get_settings()
    deadline = now() - timedelta(seconds=config.participants_max_age)
    present = _meetings().filter(app_id=app_id or config.app_id).present_remotely()
    return present.aggregate(
        oldest=Min("participants_synced_at"),
        never=Count("pk", filter=Q(participants_synced_at__isnull=True)),
        overdue=Count(
            "pk",
            filter=Q(participants_synced_at__lt=deadline)
            | Q(participants_synced_at__isnull=True, remote_created_at__lt=deadline),
        ),
    )
