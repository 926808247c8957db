"""Retry-After is clamped to the API's documented lockout (5 minutes), an unusable value is read
as the whole window, and the shared cooldown reads the same for processes whose clocks differ
(issue 29.16)."""

from __future__ import annotations

import email.utils
import time
import uuid

import pytest
from django.core.cache.backends.locmem import LocMemCache

from realtimekit_django.client.budget import Budget, BudgetExhausted
from realtimekit_django.client.http import LOCKOUT_SECONDS, RealtimeKitClient, parse_retry_after
from realtimekit_django.emulator import ManualClock
from realtimekit_django.exceptions import RateLimited


class FakeResponse:
    def __init__(self, status_code=429, headers=None):
        self.status_code = status_code
        self.headers = headers or {}


def _budget(cache, clock, prefix, window=300):
    return Budget(
        cache,
        requests=100,
        window=window,
        reserve=0.25,
        wait_max=0.0,
        prefix=prefix,
        clock=clock.time,
        sleep=clock.advance,
    )


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def test_the_documented_lockout_is_five_minutes():
    assert LOCKOUT_SECONDS == 300


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0.25", 0.25),
        ("0", 0.0),
        ("86400", 300.0),  # a day: the lockout is 5 minutes
        ("1e300", 300.0),
        (_http_date(10 * 365 * 86400), 300.0),  # ten years ahead
        ("-5", None),  # negative: unusable
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("", None),
        (None, None),
        (_http_date(-3600), None),  # a date already past, under a 429: unusable (clock skew)
    ],
)
def test_parse_retry_after_clamps_and_refuses(value, expected):
    seconds = parse_retry_after(value)
    if expected is None:
        assert seconds is None
    else:
        assert seconds == pytest.approx(expected, abs=2)


@pytest.mark.parametrize("header", [_http_date(10 * 365 * 86400), "31536000"])
def test_a_far_retry_after_sets_a_five_minute_cooldown(header):
    clock = ManualClock(start=1_000_000)
    budget = _budget(LocMemCache(f"c-{uuid.uuid4()}", {}), clock, f"p-{uuid.uuid4()}:")
    budget.after_attempt("GET", "/x", FakeResponse(headers={"retry-after": header}))
    assert budget.cooldown_left() == pytest.approx(300, abs=2)
    clock.advance(301)
    budget.before_attempt("GET", "/x")  # over: joins go on


@pytest.mark.parametrize("header", ["-5", "soon", _http_date(-60)])
def test_an_unusable_retry_after_cools_down_for_the_whole_window(header):
    clock = ManualClock(start=1_000_000)
    budget = _budget(LocMemCache(f"c-{uuid.uuid4()}", {}), clock, f"p-{uuid.uuid4()}:", window=240)
    budget.after_attempt("GET", "/x", FakeResponse(headers={"retry-after": header}))
    assert budget.cooldown_left() == pytest.approx(240)
    with pytest.raises(BudgetExhausted):
        budget.before_attempt("GET", "/x")


def test_a_window_longer_than_the_lockout_cools_down_for_the_lockout():
    clock = ManualClock(start=1_000_000)
    budget = _budget(LocMemCache(f"c-{uuid.uuid4()}", {}), clock, f"p-{uuid.uuid4()}:", window=3600)
    budget.after_attempt("GET", "/x", FakeResponse())
    assert budget.cooldown_left() == pytest.approx(300)


def test_processes_whose_clocks_differ_see_the_same_remaining_time():
    cache, prefix = LocMemCache(f"c-{uuid.uuid4()}", {}), f"p-{uuid.uuid4()}:"
    setter = ManualClock(start=1_000_000)
    behind = ManualClock(start=1_000_000 - 3600)  # an hour behind
    _budget(cache, setter, prefix).after_attempt("GET", "/x", FakeResponse(headers={"retry-after": "120"}))
    lagging = _budget(cache, behind, prefix)
    assert lagging.cooldown_left() == pytest.approx(120)
    with pytest.raises(BudgetExhausted) as refused:
        lagging.before_attempt("GET", "/x")
    assert refused.value.retry_after == pytest.approx(120)


def test_a_process_ahead_still_honours_a_cooldown_the_cache_keeps():
    cache, prefix = LocMemCache(f"c-{uuid.uuid4()}", {}), f"p-{uuid.uuid4()}:"
    real = Budget(cache, requests=100, window=300, reserve=0.25, wait_max=0.0, prefix=prefix)
    ahead = Budget(
        cache,
        requests=100,
        window=300,
        reserve=0.25,
        wait_max=0.0,
        prefix=prefix,
        clock=lambda: time.time() + 3600,
    )
    ahead.cache_expiry_decides = True  # as on its own wall clock, which runs an hour ahead
    real.after_attempt("GET", "/x", FakeResponse(headers={"retry-after": "120"}))
    with pytest.raises(BudgetExhausted) as refused:
        ahead.before_attempt("GET", "/x")
    assert 0 < refused.value.retry_after <= 120


def test_the_cooldown_key_lives_no_longer_than_the_cooldown():
    cache, prefix = LocMemCache(f"c-{uuid.uuid4()}", {}), f"p-{uuid.uuid4()}:"
    budget = Budget(cache, requests=100, window=300, reserve=0.25, wait_max=0.0, prefix=prefix)
    budget.after_attempt("GET", "/x", FakeResponse(headers={"retry-after": "0.5"}))
    time.sleep(1.1)
    assert cache.get(budget.cooldown_key) is None
    budget.before_attempt("GET", "/x")


def test_a_rate_limited_error_carries_the_clamped_retry_after():
    import responses

    with responses.RequestsMock() as mocked:
        mocked.add(
            responses.GET,
            "https://rtk.test/client/v4/accounts/a/realtime/kit/app/meetings",
            json={"success": False, "error": {"code": 429, "message": "slow down"}},
            status=429,
            headers={"retry-after": "999999"},
        )
        client = RealtimeKitClient(
            account_id="a", app_id="app", api_token="t", base_url="https://rtk.test/client/v4", max_retries=0
        )
        with pytest.raises(RateLimited) as caught:
            client.meetings.get()
    assert caught.value.retry_after == 300
