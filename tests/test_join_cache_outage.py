"""A cache outage is not a meeting outage: every cache read and write on the join path degrades
(one more request or one more query), never fails the join (issue 29.15).

The site's cache (``SYNC_LOCK_CACHE``, which also holds the kept preset names and the rate
budget), the token cache and the throttle's cache are all one backend here that raises on every
operation, as a Redis that went away does.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache.backends.locmem import LocMemCache
from django.urls import reverse
from rest_framework.test import APIClient

from realtimekit_django import services
from realtimekit_django.exceptions import ValidationError
from realtimekit_django.models import Preset
from realtimekit_django.services import presets as preset_service

pytestmark = pytest.mark.django_db


class DownCache(LocMemCache):
    """Every operation fails, as on a cache server that is unreachable."""

    def __init__(self, name, params):
        super().__init__(name, params)

    def _down(self, *args, **kwargs):
        raise ConnectionError("cache server unreachable")

    get = set = add = delete = incr = decr = get_many = set_many = delete_many = has_key = touch = _down
    clear = get_or_set = _down


def _cache_down(settings, *, token_cache: bool, throttle_too: bool = True) -> None:
    caches = {**settings.CACHES, "down": {"BACKEND": f"{__name__}.DownCache"}}
    if throttle_too:
        caches["default"] = {"BACKEND": f"{__name__}.DownCache"}
    settings.CACHES = caches
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT,
        "SYNC_LOCK_CACHE": "down",
        "RATE_LIMIT_CACHE": "down",
        **({"JOIN_TOKEN_CACHE": "down"} if token_cache else {}),
    }


@pytest.fixture
def mirrored_presets(realtimekit_emulator):
    for name in ("group_call_host", "group_call_participant"):
        Preset.objects.create(
            id=realtimekit_emulator.preset_id(name), app_id="test-app", name=name, remote_data={"name": name}
        )


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="Outage")


@pytest.fixture
def user():
    return get_user_model().objects.create_user("olga", password="pw")


@pytest.mark.parametrize("token_cache", [False, True], ids=["no-token-cache", "token-cache"])
def test_a_join_and_a_rejoin_succeed_with_every_cache_down(
    settings, realtimekit_emulator, mirrored_presets, meeting, user, token_cache
):
    _cache_down(settings, token_cache=token_cache)
    before = len(realtimekit_emulator.requests)
    first = services.issue_join_token(meeting, user)
    again = services.issue_join_token(meeting, user)
    assert first.token and again.token
    assert first.preset_name == again.preset_name == "group_call_participant"
    assert len(realtimekit_emulator.requests) - before == 2  # one each: nothing kept, nothing lost


def test_the_preset_check_still_refuses_with_the_cache_down(settings, mirrored_presets):
    _cache_down(settings, token_cache=False)
    assert preset_service.require_known_preset("group_call_host") == "group_call_host"
    with pytest.raises(ValidationError, match="not a preset"):
        preset_service.require_known_preset("no_such_preset")


def test_preset_writes_do_not_fail_with_the_cache_down(settings, mirrored_presets):
    _cache_down(settings, token_cache=False)
    preset_service.forget_known_preset_names()  # the walk's writes call this


@pytest.mark.parametrize("token_cache", [False, True], ids=["no-token-cache", "token-cache"])
def test_the_join_endpoint_answers_200_with_every_cache_down(
    settings, realtimekit_emulator, mirrored_presets, meeting, user, token_cache
):
    _cache_down(settings, token_cache=token_cache)
    api = APIClient()
    api.force_authenticate(user)
    url = reverse("realtimekit:meeting-join", args=[meeting.pk])
    for _ in range(2):
        response = api.post(url)
        assert response.status_code == 200, response.content
        assert response.json()["token"]
