"""A kept join token is not served for a participant RealtimeKit has changed or removed
(issue 29.11): its verification has a bounded age (``JOIN_TOKEN_VERIFIED_MAX_AGE``), the
participant walk drops the kept tokens of participants it finds moved to another preset or
gone, and the join endpoint's ``{"refresh": true}`` drops the kept token and issues a new one."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.urls import reverse
from rest_framework.test import APIClient

from realtimekit_django import services, token_cache
from realtimekit_django.client import get_client
from realtimekit_django.sync import reconcile

pytestmark = pytest.mark.django_db

TOKENS = "tokens"


@pytest.fixture
def kept_tokens(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        TOKENS: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "revocation"},
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": TOKENS}
    caches[TOKENS].clear()
    caches["default"].clear()
    return caches[TOKENS]


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="Seminar")


@pytest.fixture
def users(django_user_model):
    return [django_user_model.objects.create_user(name) for name in ("ann", "bob", "cy")]


def _prepared(meeting, users) -> dict:
    """Each user prepared (a kept token each): participant id -> kept token."""
    for user in users:
        services.prepare_join(meeting, user)
    return {
        participant.pk: token_cache.kept(participant.pk).token
        for participant in meeting.participants.order_by("pk")
    }


# -- the age of the verification ------------------------------------------------------------


def test_a_kept_token_older_than_the_bound_costs_a_request(
    settings, monkeypatch, realtimekit_emulator, kept_tokens, meeting, users
):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_VERIFIED_MAX_AGE": 600}
    user = users[0]
    services.prepare_join(meeting, user)
    before = len(realtimekit_emulator.requests)
    kept = services.issue_join_token(meeting, user)
    assert len(realtimekit_emulator.requests) == before  # fresh: served from the cache

    now = time.time()
    monkeypatch.setattr(token_cache, "time", SimpleNamespace(time=lambda: now + 601))
    again = services.issue_join_token(meeting, user)
    assert len(realtimekit_emulator.requests) == before + 1  # re-verified by an edit
    assert again.token != kept.token
    assert token_cache.kept(again.participant.pk).token == again.token  # the new one is kept


def test_a_walk_that_saw_the_participant_unchanged_renews_the_verification(
    settings, monkeypatch, realtimekit_emulator, kept_tokens, meeting, users
):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_VERIFIED_MAX_AGE": 600}
    user = users[0]
    services.prepare_join(meeting, user)
    issued_at = time.time()
    monkeypatch.setattr(token_cache, "time", SimpleNamespace(time=lambda: issued_at + 601))
    from django.utils import timezone

    later = timezone.now() + timezone.timedelta(seconds=601)
    monkeypatch.setattr(timezone, "now", lambda: later)
    report = reconcile.reconcile_participants(meeting)  # a complete walk: the meeting verified at `later`
    assert report.completed and report.unchanged == 1
    before = len(realtimekit_emulator.requests)
    services.issue_join_token(meeting, user)
    assert len(realtimekit_emulator.requests) == before


def test_the_bound_is_a_setting_checked_like_the_others(settings):
    from realtimekit_django import conf

    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_VERIFIED_MAX_AGE": 0}
    conf.clear_cache()
    assert any(key == "JOIN_TOKEN_VERIFIED_MAX_AGE" for key, _ in conf.find_problems())
    settings.REALTIMEKIT = {
        k: v for k, v in settings.REALTIMEKIT.items() if k != "JOIN_TOKEN_VERIFIED_MAX_AGE"
    }
    conf.clear_cache()
    assert conf.get_settings().join_token_verified_max_age == 21_600


# -- the participant walk ---------------------------------------------------------------------


def test_the_walk_drops_kept_tokens_of_participants_moved_or_removed_outside_the_site(
    realtimekit_emulator, kept_tokens, meeting, users, django_capture_on_commit_callbacks
):
    kept = _prepared(meeting, users)
    moved, removed, untouched = list(kept)
    api = get_client()
    api.meetings.edit_participant(str(moved), meeting_id=str(meeting.pk), preset_name="group_call_host")
    api.meetings.delete_meeting_participant(str(removed), meeting_id=str(meeting.pk))

    with django_capture_on_commit_callbacks(execute=True):  # the walk's commit, in a test transaction
        report = reconcile.reconcile_participants(meeting)
    assert report.completed and report.removed == 1
    assert token_cache.kept(moved) is None
    assert token_cache.kept(removed) is None
    assert token_cache.kept(untouched).token == kept[untouched]


def test_a_dry_run_walk_drops_nothing(
    realtimekit_emulator, kept_tokens, meeting, users, django_capture_on_commit_callbacks
):
    kept = _prepared(meeting, users)
    moved = next(iter(kept))
    get_client().meetings.edit_participant(
        str(moved), meeting_id=str(meeting.pk), preset_name="group_call_host"
    )
    with django_capture_on_commit_callbacks(execute=True):
        reconcile.reconcile_participants(meeting, dry_run=True)
    assert token_cache.kept(moved).token == kept[moved]


def test_the_walk_costs_one_more_query_per_page_with_the_token_cache_only(
    realtimekit_emulator, settings, kept_tokens, meeting, users
):
    _prepared(meeting, users)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as with_cache:
        reconcile.reconcile_participants(meeting, per_page=1)
    settings.REALTIMEKIT = {k: v for k, v in settings.REALTIMEKIT.items() if k != "JOIN_TOKEN_CACHE"}
    with CaptureQueriesContext(connection) as without:
        reconcile.reconcile_participants(meeting, per_page=1)
    assert len(with_cache.captured_queries) - len(without.captured_queries) == 3  # three pages


# -- the join endpoint's refresh ---------------------------------------------------------------


def _join(api, meeting, body=None):
    url = reverse("realtimekit:meeting-join", args=[meeting.pk])
    return api.post(url, body, format="json") if body is not None else api.post(url)


def test_refresh_true_drops_the_kept_token_and_issues_a_new_one(
    realtimekit_emulator, kept_tokens, meeting, users
):
    user = users[0]
    services.prepare_join(meeting, user)
    api = APIClient()
    api.force_authenticate(user)
    before = len(realtimekit_emulator.requests)
    served = _join(api, meeting).json()["token"]
    assert len(realtimekit_emulator.requests) == before  # the kept token

    refreshed = _join(api, meeting, {"refresh": True})
    assert refreshed.status_code == 200
    assert len(realtimekit_emulator.requests) == before + 1
    fresh = refreshed.json()["token"]
    assert fresh != served
    assert token_cache.kept(refreshed.json()["participant_id"]).token == fresh
    assert _join(api, meeting, {"refresh": False}).json()["token"] == fresh  # kept again: no request
    assert len(realtimekit_emulator.requests) == before + 1


def test_refresh_drops_the_kept_token_even_when_the_new_one_fails(
    realtimekit_emulator, kept_tokens, meeting, users
):
    user = users[0]
    services.prepare_join(meeting, user)
    participant = meeting.participants.get()
    realtimekit_emulator.faults.fail_next(3, status=502)
    api = APIClient()
    api.force_authenticate(user)
    assert _join(api, meeting, {"refresh": True}).status_code == 502
    assert token_cache.kept(participant.pk) is None


@pytest.mark.parametrize("body", [{"refresh": "maybe"}, {"refresh": [1]}, ["refresh"]])
def test_an_unusable_refresh_is_400_without_a_request(
    realtimekit_emulator, kept_tokens, meeting, users, body
):
    api = APIClient()
    api.force_authenticate(users[0])
    before = len(realtimekit_emulator.requests)
    response = _join(api, meeting, body)
    assert response.status_code == 400
    assert len(realtimekit_emulator.requests) == before
