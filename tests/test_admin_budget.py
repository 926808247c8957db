"""The meeting list shows the rate budget's current window, any cooldown and the oldest
participant verification, for one aggregate query, and survives a budget cache that is down."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.urls import reverse

from realtimekit_django.client.budget import get_budget
from realtimekit_django.models import Meeting
from realtimekit_django.sync import schedule

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:realtimekit_meeting_changelist"


class DownCache(LocMemCache):
    """A cache backend every call of which fails, as a Redis that is down does."""

    def _down(self, *args, **kwargs):
        raise ConnectionError("the budget cache is down")

    get = get_many = add = incr = decr = set = delete_many = _down


class Answer:
    def __init__(self, status_code: int, headers: dict):
        self.status_code, self.headers = status_code, headers


def _block(response) -> str:
    """The summary block's text, whitespace collapsed."""
    html = response.content.decode()
    found = re.search(r'<div class="realtimekit-budget module".*?</div>', html, re.S)
    assert found, "the meeting list shows no rate budget block"
    return " ".join(re.sub(r"<[^>]+>", " ", found[0]).split())


def _meeting(synced_at: datetime | None, created: datetime) -> Meeting:
    return Meeting.objects.create(
        id=uuid.uuid4(),
        app_id="test-app",
        title="m",
        remote_created_at=created,
        participants_synced_at=synced_at,
    )


def test_the_list_shows_the_budget_spent_in_the_current_window(admin_client):
    budget = get_budget()
    for _ in range(7):
        budget.before_attempt("GET", "/meetings")
    text = _block(admin_client.get(reverse(CHANGELIST)))
    assert "Rate budget: 7 of 1200 requests used in the last 300 s" in text
    # The 7 interactive requests came out of the reserve, so background may count to 907; routine
    # background work stops 12 short of that (the event reserve, RATE_LIMIT_EVENT_RESERVE 0.01).
    assert "background work stops at 895" in text
    assert "Cooling down" not in text


def test_the_list_shows_a_cooldown_after_a_429(admin_client):
    get_budget().after_attempt("GET", "/meetings", Answer(429, {"retry-after": "42"}))
    text = _block(admin_client.get(reverse(CHANGELIST)))
    match = re.search(r"every call waits (\d+) s more", text)
    assert match and 40 <= int(match[1]) <= 42


def test_a_budget_cache_that_is_down_shows_unknown_and_the_list_still_works(admin_client, settings):
    settings.CACHES = {
        **settings.CACHES,
        "budget-down": {"BACKEND": "tests.test_admin_budget.DownCache"},
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_CACHE": "budget-down"}
    _meeting(None, datetime.now(UTC))
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1
    text = _block(response)
    assert "Rate budget and cooldown: unknown" in text
    assert "Cooling down" not in text


def test_the_list_says_when_the_budget_is_off(admin_client, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": None}
    assert "Rate budget: off" in _block(admin_client.get(reverse(CHANGELIST)))


def test_the_list_shows_the_oldest_verification_and_what_is_overdue(admin_client):
    now = datetime.now(UTC)
    oldest = datetime(2024, 3, 5, 6, 7, tzinfo=UTC)
    _meeting(oldest, now - timedelta(days=100))
    _meeting(now - timedelta(minutes=5), now - timedelta(days=100))
    _meeting(None, now - timedelta(days=3))  # never verified, and older than PARTICIPANTS_MAX_AGE
    _meeting(None, now)  # never verified, but new
    gone = _meeting(datetime(2020, 1, 1, tzinfo=UTC), now - timedelta(days=900))
    Meeting.objects.filter(pk=gone.pk).update(missing_since=now)  # not counted: no longer remote
    text = _block(admin_client.get(reverse(CHANGELIST)))
    # Its age beside it (and no "a.m.." where the sentence ends).
    oldest_text = r"Oldest participant verification: March 5, 2024, 6:07 a\.m\. \(\d+ years?, .+ ago\)\."
    assert re.search(oldest_text, text), text
    assert "2 meetings never verified." in text
    assert "2 meetings past PARTICIPANTS_MAX_AGE." in text


def test_with_no_meetings_there_is_nothing_to_verify(admin_client):
    text = _block(admin_client.get(reverse(CHANGELIST)))
    assert "no meetings to verify" in text
    assert "never verified" not in text
    assert "past PARTICIPANTS_MAX_AGE" not in text


def test_the_verification_summary_is_one_query(django_assert_num_queries):
    _meeting(None, datetime.now(UTC))
    with django_assert_num_queries(1):
        summary = schedule.verification_summary()
    assert summary["never"] == 1
