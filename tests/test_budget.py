"""The shared rate budget: atomic counts, lanes and the reserve, corrections, the cooldown, a
cache that is down, and what the client, the walks, the join view and the checks make of it."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings
from rest_framework.test import APIClient

from realtimekit_django import services
from realtimekit_django.client import budget as budget_module
from realtimekit_django.client.budget import (
    BACKGROUND,
    Budget,
    BudgetExhausted,
    BudgetUnavailable,
    event_driven,
    get_budget,
    lane,
    parse_remaining,
)
from realtimekit_django.emulator import ManualClock
from realtimekit_django.exceptions import RateLimited
from realtimekit_django.models import Meeting
from realtimekit_django.sync import reconcile


class FakeResponse:
    def __init__(self, status_code=200, headers=None):
        self.status_code = status_code
        self.headers = headers or {}


def make_budget(
    cache=None, *, requests=100, window=300, reserve=0.25, wait_max=0.0, clock=None, event_reserve=0.0
):
    clock = clock or ManualClock(start=1_000_000)
    return Budget(
        cache if cache is not None else LocMemCache(f"budget-{uuid.uuid4()}", {}),
        requests=requests, window=window, reserve=reserve, wait_max=wait_max, event_reserve=event_reserve,
        prefix=f"test-budget-{uuid.uuid4()}:", clock=clock.time, sleep=clock.advance,
    )


def spend_until_refused(budget, limit=10_000) -> int:
    for spent in range(limit):
        try:
            budget.before_attempt("GET", "/x")
        except BudgetExhausted:
            return spent
    return limit


def concurrent_passes(budget, threads=8, attempts=40) -> int:
    passed, start = [], threading.Barrier(threads)

    def run():
        start.wait()
        count = 0
        for _ in range(attempts):
            try:
                budget.before_attempt("GET", "/x")
                count += 1
            except BudgetExhausted:
                pass
        passed.append(count)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(passed)


# -- the count ----------------------------------------------------------------------------------


def test_concurrent_attempts_in_one_process_spend_exactly_the_budget():
    budget = make_budget(requests=100)
    assert concurrent_passes(budget) == 100
    assert budget.spent() == 100


@pytest.mark.redis
def test_concurrent_attempts_from_two_budgets_on_redis_spend_exactly_the_budget(settings):
    settings.CACHES = {
        **settings.CACHES,
        "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                  "LOCATION": "redis://127.0.0.1:6379/7"},
    }
    clock = ManualClock(start=1_000_000)
    first = make_budget(caches["redis"], requests=150, clock=clock)
    second = make_budget(caches["redis"], requests=150, clock=clock)
    second.prefix = first.prefix  # two processes, one shared count
    try:
        passed = [0, 0]

        def run(index, budget):
            passed[index] = concurrent_passes(budget, threads=4, attempts=50)

        threads = [threading.Thread(target=run, args=(i, b)) for i, b in enumerate((first, second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(passed) == 150
        assert first.spent() == second.spent() == 150
    finally:
        first.clear()


class CountingCache(LocMemCache):
    """A LocMemCache that counts the keys each ``get_many`` reads."""

    def __init__(self):
        super().__init__(f"counting-{uuid.uuid4()}", {})
        self.keys_read: list[int] = []
        self.single_gets = 0

    def get_many(self, keys, version=None):
        keys = list(keys)
        self.keys_read.append(len(keys))
        self.inside_many = True
        try:
            return super().get_many(keys, version)  # LocMemCache reads them one by one
        finally:
            self.inside_many = False

    def get(self, key, default=None, version=None):
        if not getattr(self, "inside_many", False):
            self.single_gets += 1
        return super().get(key, default, version)


def test_an_attempt_reads_the_closed_slots_once_a_slot_and_then_only_the_open_ones():
    clock = ManualClock(start=1_000_000)
    cache = CountingCache()
    budget = make_budget(cache, requests=1000, clock=clock, event_reserve=0.01)
    with lane(BACKGROUND):
        budget.before_attempt("GET", "/x")
        first = sum(cache.keys_read)
        cache.keys_read.clear()
        cache.single_gets = 0
        for _ in range(10):
            budget.before_attempt("GET", "/x")
    assert first > 80  # the closed slots of the three counts, once
    # One read an attempt (one round trip on Redis): the cooldown, the marker and the two open
    # slots of each count.
    assert cache.keys_read == [7] * 10 and cache.single_gets == 0
    clock.advance(budget.slot_seconds)  # a new slot: one more slot is closed, read again
    cache.keys_read.clear()
    with lane(BACKGROUND):
        budget.before_attempt("GET", "/x")
    assert max(cache.keys_read) > 80
    assert budget.spent() == 12


def test_what_another_process_counts_in_the_slot_before_is_still_seen():
    """The slot before the current one stays open: a process whose clock is a little behind
    still counts into it after this one read the closed slots."""
    clock = ManualClock(start=1_000_000)
    cache = LocMemCache(f"budget-{uuid.uuid4()}", {})
    here = make_budget(cache, requests=20, reserve=0, clock=clock)
    behind_clock = ManualClock(start=1_000_000 - here.slot_seconds)
    behind = make_budget(cache, requests=20, reserve=0, clock=behind_clock)
    behind.prefix = here.prefix
    here.before_attempt("GET", "/x")  # reads (and keeps) the closed slots
    for _ in range(5):
        behind.before_attempt("GET", "/x")
    assert here.spent() == 6
    assert spend_until_refused(here) == 14


def test_a_cache_emptied_behind_the_budgets_back_is_read_again():
    clock = ManualClock(start=1_000_000)
    cache = LocMemCache(f"budget-{uuid.uuid4()}", {})
    budget = make_budget(cache, requests=10, reserve=0, clock=clock)
    assert spend_until_refused(budget) == 10
    clock.advance(2 * budget.slot_seconds)  # the ten are in a closed slot now
    assert budget.spent() == 10
    cache.clear()  # a restarted cache server
    assert budget.spent() == 0
    assert spend_until_refused(budget) == 10


def test_old_slots_leave_the_count_as_the_window_moves():
    clock = ManualClock(start=1_000_000)
    budget = make_budget(requests=10, reserve=0, clock=clock)
    assert spend_until_refused(budget) == 10
    clock.advance(300 + budget.slot_seconds)  # every counted slot is now older than the window
    assert budget.spent() == 0
    assert spend_until_refused(budget) == 10


def test_the_count_covers_every_sliding_window_ending_now():
    """A request is counted until no window ending later can hold it: never less than the API's log."""
    clock = ManualClock(start=1_000_000)
    budget = make_budget(requests=10, reserve=0, clock=clock)
    assert spend_until_refused(budget) == 10
    clock.advance(299)  # the API's sliding log still holds all ten
    with pytest.raises(BudgetExhausted):
        budget.before_attempt("GET", "/x")


def test_a_refusal_says_when_there_is_room_again():
    clock = ManualClock(start=1_000_000)
    budget = make_budget(requests=10, reserve=0, clock=clock)
    spend_until_refused(budget)
    with pytest.raises(BudgetExhausted) as refused:
        budget.before_attempt("GET", "/x")
    assert isinstance(refused.value, RateLimited) and "rate budget" in str(refused.value)
    clock.advance(refused.value.retry_after)
    budget.before_attempt("GET", "/x")


# -- lanes ----------------------------------------------------------------------------------------


def test_background_never_spends_the_reserve_and_interactive_may():
    budget = make_budget(requests=100, reserve=0.25)
    with lane(BACKGROUND):
        assert spend_until_refused(budget) == 75
    assert spend_until_refused(budget) == 25  # interactive: the reserve is still there


def test_interactive_spending_within_half_the_reserve_leaves_the_background_share_whole():
    budget = make_budget(requests=100, reserve=0.24)  # a reserve of 24, half of it 12
    assert spend_until_refused(budget, limit=12) == 12
    with lane(BACKGROUND):
        assert spend_until_refused(budget) == 76  # the background's share is untouched
    assert budget.state()["background_limit"] == 88
    assert spend_until_refused(budget) == 12  # what is left of the reserve is still there


def test_background_always_leaves_half_the_reserve_free_for_a_burst():
    budget = make_budget(requests=100, reserve=0.24)
    assert spend_until_refused(budget, limit=24) == 24  # people spent the whole reserve
    with lane(BACKGROUND):
        assert spend_until_refused(budget) == 64
    assert budget.state()["background_limit"] == 88
    assert spend_until_refused(budget) == 12  # half the reserve is still free


def test_interactive_spending_beyond_the_reserve_comes_out_of_the_background_share():
    budget = make_budget(requests=100, reserve=0.24)
    assert spend_until_refused(budget, limit=40) == 40
    with lane(BACKGROUND):
        assert spend_until_refused(budget) == 48
    assert spend_until_refused(budget) == 12


def test_the_reserve_is_kept_again_once_interactive_spending_leaves_the_window():
    clock = ManualClock(start=1_000_000)
    budget = make_budget(requests=100, reserve=0.24, clock=clock)
    assert spend_until_refused(budget, limit=24) == 24
    clock.advance(budget.window + 2 * budget.slot_seconds)
    with lane(BACKGROUND):
        assert spend_until_refused(budget) == 76
    assert spend_until_refused(budget) == 24


def test_a_background_attempt_waits_for_room_when_it_is_close():
    clock = ManualClock(start=1_000_000)
    budget = make_budget(requests=10, reserve=0, wait_max=60, clock=clock)
    with lane(BACKGROUND):
        budget.before_attempt("GET", "/x")
        clock.advance(290)  # the first request's slot leaves the count within a slot or two
        for _ in range(9):
            budget.before_attempt("GET", "/x")
        before = clock.time()
        budget.before_attempt("GET", "/x")  # waits (the budget's sleep advances the clock)
    assert 0 < clock.time() - before <= 2 * budget.slot_seconds
    assert budget.spent() == 10


def test_an_interactive_attempt_never_waits():
    clock = ManualClock(start=1_000_000)
    budget = make_budget(requests=10, reserve=0, wait_max=600, clock=clock)
    spend_until_refused(budget)
    before = clock.time()
    with pytest.raises(BudgetExhausted):
        budget.before_attempt("POST", "/x")
    assert clock.time() == before


# -- the event reserve ------------------------------------------------------------------------------


def test_routine_background_leaves_the_event_reserve_and_event_driven_work_may_spend_it():
    budget = make_budget(requests=100, reserve=0.2, event_reserve=0.05)
    with lane(BACKGROUND):
        assert spend_until_refused(budget) == 75  # the rotation, the walks: 5 short of 80
        with event_driven():
            assert spend_until_refused(budget) == 5  # a targeted fetch finds room at once
            assert spend_until_refused(budget) == 0  # never the people's reserve
    assert spend_until_refused(budget) == 20


def test_event_driven_spending_uses_up_the_event_reserve_first():
    budget = make_budget(requests=100, reserve=0.2, event_reserve=0.05)
    with lane(BACKGROUND):
        with event_driven():
            assert spend_until_refused(budget, limit=3) == 3
        assert budget.state()["background_limit"] == 78  # 2 of the 5 still kept
        assert spend_until_refused(budget) == 75
        with event_driven():
            assert spend_until_refused(budget) == 2
        with event_driven():
            budget.clear()
            assert spend_until_refused(budget, limit=7) == 7  # beyond the reserve: shared alike
        assert spend_until_refused(budget) == 73


def test_event_driven_marks_only_background_attempts():
    budget = make_budget(requests=10, reserve=0, event_reserve=0.2)
    with event_driven():
        assert spend_until_refused(budget) == 10  # interactive: the whole quota, as ever
    assert budget.events_spent() == 0


def test_the_settings_give_the_event_reserve(settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": 1200}
    assert get_budget().events_reserved == 12  # RATE_LIMIT_EVENT_RESERVE 0.01 by default
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_EVENT_RESERVE": 0}
    assert get_budget().events_reserved == 0 and get_budget().limit(BACKGROUND) == 900


def test_an_unknown_lane_is_refused():
    with pytest.raises(ValueError, match="lane must be one of"):
        with lane("urgent"):
            pass


# -- what the API says ------------------------------------------------------------------------------


def test_the_remaining_count_is_read_from_cloudflares_header():
    assert parse_remaining('"default";r=17;t=300') == 17
    assert parse_remaining('"default";r=50;t=30, "burst";r=3;t=1') == 3
    assert parse_remaining(None) is None and parse_remaining("garbage") is None


def test_a_lower_remaining_from_the_api_corrects_the_shared_count():
    budget = make_budget(requests=100, reserve=0)
    budget.before_attempt("GET", "/x")
    budget.after_attempt("GET", "/x", FakeResponse(headers={"ratelimit": '"default";r=40;t=300'}))
    assert budget.spent() == 60  # other tools spent 59 of the same quota
    assert spend_until_refused(budget) == 40


def test_a_higher_remaining_never_loosens_the_count():
    budget = make_budget(requests=100, reserve=0)
    for _ in range(30):
        budget.before_attempt("GET", "/x")
    budget.after_attempt("GET", "/x", FakeResponse(headers={"ratelimit": '"default";r=99;t=300'}))
    assert budget.spent() == 30


def test_a_429_sets_a_cooldown_every_process_honours():
    clock = ManualClock(start=1_000_000)
    cache = LocMemCache(f"budget-{uuid.uuid4()}", {})
    web, worker = make_budget(cache, clock=clock), make_budget(cache, clock=clock)
    worker.prefix = web.prefix
    web.after_attempt("GET", "/x", FakeResponse(429, {"retry-after": "120"}))
    with pytest.raises(BudgetExhausted, match="cooling down") as refused:
        worker.before_attempt("GET", "/x")
    assert refused.value.retry_after == pytest.approx(120)
    with lane(BACKGROUND), pytest.raises(BudgetExhausted):
        worker.before_attempt("GET", "/x")  # wait_max 0: a background walk stops too
    clock.advance(120)
    worker.before_attempt("GET", "/x")


def test_a_429_without_retry_after_cools_down_for_the_whole_window():
    budget = make_budget(window=300)
    budget.after_attempt("GET", "/x", FakeResponse(429))
    assert budget.cooldown_left() == pytest.approx(300)


# -- a cache that is down -----------------------------------------------------------------------------


class DownCache(LocMemCache):
    def __init__(self):
        super().__init__(f"down-{uuid.uuid4()}", {})

    def _down(self, *args, **kwargs):
        raise ConnectionError("the budget cache is down")

    get = get_many = add = incr = decr = set = delete_many = _down


def test_with_its_cache_down_interactive_attempts_go_on_and_are_logged(caplog):
    budget = make_budget(DownCache())
    budget.before_attempt("POST", "/meetings/m/participants")
    budget.after_attempt("POST", "/x", FakeResponse(429))  # nothing raised either
    assert "sent unbudgeted" in caplog.text
    assert budget.state()["spent"] is None


def test_with_its_cache_down_background_attempts_wait():
    budget = make_budget(DownCache())
    with lane(BACKGROUND), pytest.raises(BudgetUnavailable, match="rate budget") as refused:
        budget.before_attempt("GET", "/meetings")
    assert refused.value.retry_after == budget.slot_seconds


# -- the default client, walks, joins ------------------------------------------------------------------


def small_budget(settings, requests):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": requests}


@pytest.mark.django_db
def test_the_default_client_spends_and_the_site_is_never_locked_out(realtimekit_emulator, settings):
    small_budget(settings, 5)
    realtimekit_emulator.set_rate_limit((5, 300))
    meeting = services.create_meeting(title="Standup")
    for _ in range(4):
        services.refresh_meeting(meeting)
    sent = len(realtimekit_emulator.requests)
    with pytest.raises(BudgetExhausted):
        services.refresh_meeting(meeting)
    assert len(realtimekit_emulator.requests) == sent  # refused before sending
    assert realtimekit_emulator.rate_limit.lockouts == 0


@pytest.mark.django_db
def test_other_tools_spending_the_quota_are_learnt_from_the_header(realtimekit_emulator, settings):
    realtimekit_emulator.set_rate_limit((20, 300))
    meeting = services.create_meeting(title="Standup")
    for _ in range(15):  # another tool of the same API user, which this site does not count
        limit, clock = realtimekit_emulator.rate_limit, realtimekit_emulator.clock
        limit.check(settings.REALTIMEKIT["API_TOKEN"], clock.time())
    services.refresh_meeting(meeting)
    assert get_budget().spent() >= 17
    with pytest.raises(BudgetExhausted):
        for _ in range(10):
            services.refresh_meeting(meeting)
    assert realtimekit_emulator.rate_limit.lockouts == 0


@pytest.mark.django_db
def test_a_walk_out_of_budget_stops_cleanly_and_flags_nothing(realtimekit_emulator, settings):
    small_budget(settings, 40)
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RETRY_AFTER_MAX": 0}
    app = settings.REALTIMEKIT["APP_ID"]
    for index in range(5):
        services.create_meeting(title=f"m{index}")
    ghost = Meeting.objects.create(id=uuid.uuid4(), app_id=app, title="not remote")
    budget = get_budget()
    with lane(BACKGROUND):
        while True:  # spend the background share down to the last request
            try:
                budget.before_attempt("GET", "/x")
            except BudgetExhausted:
                break
    report = reconcile.reconcile_meetings(per_page=1)
    assert not report.completed and "rate budget" in report.error
    assert report.lane == BACKGROUND and report.flagged == 0
    ghost.refresh_from_db()
    assert ghost.missing_since is None


@pytest.mark.django_db
def test_a_join_refused_by_the_budget_answers_503_with_retry_after(realtimekit_emulator, settings):
    small_budget(settings, 1)
    meeting = services.create_meeting(title="Standup")  # spends the one request
    user = get_user_model().objects.create_user("ada", password="x")
    api = APIClient()
    api.force_authenticate(user)
    response = api.post(f"/realtimekit/meetings/{meeting.pk}/join/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1


# -- settings and checks ------------------------------------------------------------------------------


def budget_messages():
    return [m for m in checks.run_checks(tags=["realtimekit"]) if m.id != "realtimekit.W001"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("RATE_LIMIT_RESERVE", 1.5), ("RATE_LIMIT_WINDOW_SECONDS", -300), ("RATE_LIMIT_CACHE", "nope"),
     ("RATE_LIMIT_REQUESTS", 0), ("SYNC_BUDGET_SHARE", 0), ("PARTICIPANTS_MAX_AGE", -1),
     ("RATE_LIMIT_EVENT_RESERVE", 0.6), ("RATE_LIMIT_EVENT_RESERVE", -0.1)],
)
def test_bad_budget_settings_are_check_errors_naming_the_key(settings, key, value):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, key: value}
    messages = budget_messages()
    assert [(m.id, f"['{key}']" in m.msg) for m in messages] == [("realtimekit.E002", True)]


def test_the_two_reserves_together_must_leave_background_something(settings):
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT, "RATE_LIMIT_RESERVE": 0.9, "RATE_LIMIT_EVENT_RESERVE": 0.1
    }
    messages = budget_messages()
    assert [m.id for m in messages] == ["realtimekit.E002"]
    assert "['RATE_LIMIT_EVENT_RESERVE']" in messages[0].msg and "below 1" in messages[0].msg


def test_a_per_process_budget_cache_is_a_warning(settings):
    messages = budget_messages()
    assert [m.id for m in messages] == ["realtimekit.W021"]
    assert "SYNC_LOCK_CACHE" in messages[0].hint


def test_no_warning_without_a_budget_or_with_a_shared_cache(settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": None}
    assert budget_messages() == []
    settings.CACHES = {
        **settings.CACHES,
        "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1"},
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": 1200, "RATE_LIMIT_CACHE": "shared"}
    assert budget_messages() == []


@override_settings()
def test_turning_the_budget_off_installs_nothing(settings):
    from realtimekit_django.client import get_client

    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": None}
    client = get_client()
    assert client.budget is None and client.before_attempt == []
    assert budget_module.get_budget() is None


# -- the scheduler --------------------------------------------------------------------------------


class Scheduled:
    """A scheduler setting: ``allowance`` requests a 300 s run (``RATE_LIMIT_RESERVE`` 0, a share
    of 0.5), ``PARTICIPANTS_MAX_AGE`` of ``max_age`` seconds, and meetings made to measure."""

    def __init__(self, settings, *, allowance: int, max_age: int) -> None:
        from datetime import timedelta

        from django.utils import timezone

        settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": 2 * allowance,
                                "RATE_LIMIT_RESERVE": 0, "SYNC_BUDGET_SHARE": 0.5,
                                "PARTICIPANTS_MAX_AGE": max_age}
        self.app, self.now = settings.REALTIMEKIT["APP_ID"], timezone.now()
        self.old = self.now - timedelta(days=30)

    def meeting(self, *, verified_seconds_ago: float, created=None) -> Meeting:
        from datetime import timedelta

        return Meeting.objects.create(
            id=uuid.uuid4(), app_id=self.app, remote_created_at=created or self.old,
            participants_synced_at=self.now - timedelta(seconds=verified_seconds_ago),
        )

    def plan(self):
        from realtimekit_django.sync import schedule

        return schedule.plan_participant_walks(self.app, interval=300)


@pytest.mark.django_db
def test_the_plan_walks_touched_meetings_first_then_the_longest_unverified(settings):
    from realtimekit_django.sync import schedule

    # A max age that asks for ceil(60 * 300 / 9000) = 2 meetings a run.
    world = Scheduled(settings, allowance=10, max_age=300 * 30)
    meetings = [world.meeting(verified_seconds_ago=120 * n) for n in range(60)]
    touched = meetings[5]
    schedule.mark_touched([touched.pk])
    plan = world.plan()
    assert plan.allowance == 10 and plan.planned_requests <= 10
    oldest = [str(m.pk) for m in sorted(meetings, key=lambda m: m.participants_synced_at)]
    assert plan.meeting_ids[0] == str(touched.pk) and plan.touched == 1
    assert plan.meeting_ids[1:3] == oldest[:2]  # the age quota
    assert len(plan.meeting_ids) == 3  # nothing else active: the rest of the allowance is not spent
    assert plan.max_age_kept


@pytest.mark.django_db
def test_the_plan_walks_active_meetings_in_turn_before_the_age_quota(settings):
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from realtimekit_django.models import Participant

    # A max age that asks for ceil(59 * 300 / 9000) = 2 meetings a run.
    world = Scheduled(settings, allowance=8, max_age=300 * 30)
    now = world.now
    idle = [world.meeting(verified_seconds_ago=60 * (60 + n)) for n in range(50)]  # the quota's
    created_today = [
        world.meeting(verified_seconds_ago=60 * (10 + n), created=now - timedelta(hours=3)) for n in range(5)
    ]
    person = get_user_model().objects.create(username="joined")
    joined_today = world.meeting(verified_seconds_ago=60 * 30)
    Participant.objects.create(id=uuid.uuid4(), meeting=joined_today, custom_participant_id="p",
                               preset_name="x", synced_at=now - timedelta(hours=1), user=person)
    # A participant a walk found (no site user) does not make its meeting active.
    found_today = world.meeting(verified_seconds_ago=60 * 35)
    Participant.objects.create(id=uuid.uuid4(), meeting=found_today, custom_participant_id="f",
                               preset_name="x", synced_at=now - timedelta(hours=1))
    # Verified within half an interval: not again.
    walked_just_now = world.meeting(verified_seconds_ago=60, created=now - timedelta(hours=1))
    joined_yesterday = world.meeting(verified_seconds_ago=60 * 40)
    Participant.objects.create(id=uuid.uuid4(), meeting=joined_yesterday, custom_participant_id="q",
                               preset_name="x", synced_at=now - timedelta(days=2))

    plan = world.plan()
    assert plan.allowance == 8 and plan.active == 7
    active_due = [joined_today, *reversed(created_today)]  # the longest unverified first
    assert plan.meeting_ids[:6] == [str(m.pk) for m in active_due]  # 8 less the quota of 2
    oldest_idle = sorted(idle, key=lambda m: m.participants_synced_at)[:2]
    assert plan.meeting_ids[6:] == [str(m.pk) for m in oldest_idle]
    assert plan.active_walked == 6
    assert str(walked_just_now.pk) not in plan.meeting_ids
    assert str(joined_yesterday.pk) not in plan.meeting_ids
    assert str(found_today.pk) not in plan.meeting_ids


@pytest.mark.django_db
def test_the_age_quota_makes_up_for_a_run_that_missed_its_share(settings):
    # A base quota of ceil(40 * 300 / 30000) = 1 meeting a run; 4 meetings are due by the next.
    world = Scheduled(settings, allowance=20, max_age=30_000)
    verified = [30_000 - 200 + n for n in range(4)] + [1_000 + n for n in range(36)]
    meetings = [world.meeting(verified_seconds_ago=age) for age in verified]
    plan = world.plan()
    assert sorted(plan.meeting_ids) == sorted(str(m.pk) for m in meetings[:4])
    assert plan.max_age_kept


def test_the_event_reserve_comes_out_of_what_the_sync_share_leaves(settings):
    """A run plans ``SYNC_BUDGET_SHARE`` of the whole background share; the event reserve is
    kept from routine spending, not from the plan (720 of 900 a run, as without it)."""
    from realtimekit_django.sync import schedule

    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": 1200, "RATE_LIMIT_RESERVE": 0.25,
                            "SYNC_BUDGET_SHARE": 0.8, "RATE_LIMIT_EVENT_RESERVE": 0.05}
    assert get_budget().limit(BACKGROUND) == 840  # routine work leaves 60 for events
    assert schedule.allowance(300) == 720
    assert schedule.allowance(300, spent=20) == 700
