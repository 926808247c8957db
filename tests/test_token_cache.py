"""Kept join tokens (``JOIN_TOKEN_CACHE``): encrypted, dropped on removal and on a preset change,
never needed (a cache that fails costs one request, not an error), and off by default."""

import json
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings

from realtimekit_django import conf, services, signals, token_cache
from realtimekit_django.emulator import ManualClock
from realtimekit_django.exceptions import MeetingInactive

pytestmark = pytest.mark.django_db

TOKENS = "tokens"


class RecordingCache(LocMemCache):
    """LocMemCache that remembers every value written to it, to look for secrets in them."""

    written: list = []

    def set(self, key, value, timeout=None, version=None):
        RecordingCache.written.append((key, value, timeout))
        return super().set(key, value, timeout, version)


class BrokenCache(BaseCache):
    """A cache whose server is down: every call raises, as a Redis client does."""

    def __init__(self, location, params):
        super().__init__(params)

    def _down(self, *args, **kwargs):
        raise ConnectionError("cache server at 127.0.0.1:6399 refused the connection")

    get = set = add = delete = touch = incr = clear = has_key = _down


def _caches(backend: str) -> dict:
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        TOKENS: {"BACKEND": backend, "LOCATION": "join-tokens"},
    }


@pytest.fixture
def kept_tokens(settings):
    """The token cache on, in a recording LocMemCache of its own."""
    RecordingCache.written = []
    # Through pytest-django's ``settings`` (not a context of our own), so that tests changing
    # settings.REALTIMEKIT on top of it are undone in the right order.
    settings.CACHES = _caches("tests.test_token_cache.RecordingCache")
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": TOKENS}
    caches[TOKENS].clear()
    return caches[TOKENS]


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="Lecture")


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("ada", first_name="Ada")


def requests_made(emulator) -> int:
    return len(emulator.requests)


def test_a_prepared_rejoin_costs_no_request_and_hands_out_the_kept_token(
    realtimekit_emulator, kept_tokens, meeting, user
):
    first = services.issue_join_token(meeting, user)
    before = requests_made(realtimekit_emulator)
    issued = []
    signals.token_issued.connect(receiver := lambda **kw: issued.append(kw["participant"].pk), weak=False)
    try:
        again = services.issue_join_token(meeting, user)
    finally:
        signals.token_issued.disconnect(receiver)

    assert requests_made(realtimekit_emulator) == before
    assert again.token == first.token and again.participant.pk == first.participant.pk
    assert again.preset_name == first.preset_name == "group_call_participant"
    assert again.expires_at == first.expires_at
    assert issued == [first.participant.pk]  # a join hands out a token, kept or not


def test_the_kept_token_is_encrypted_in_the_cache(realtimekit_emulator, kept_tokens, meeting, user):
    issued = services.issue_join_token(meeting, user)

    assert RecordingCache.written, "the token was not kept"
    token_parts = issued.token.split(".")
    for _key, value, _timeout in RecordingCache.written:
        stored = pickle.dumps(value)
        assert issued.token.encode() not in stored
        assert all(part.encode() not in stored for part in token_parts)
    ((_key, value, _timeout),) = RecordingCache.written
    assert json.loads(token_cache._fernet().decrypt(value))["t"] == issued.token


def test_a_kept_token_expires_from_the_cache_well_before_the_token(
    realtimekit_emulator, kept_tokens, meeting, user
):
    issued = services.issue_join_token(meeting, user)
    ((_key, _value, timeout),) = RecordingCache.written
    life = (issued.expires_at - datetime.now(UTC)).total_seconds()
    assert 0 < timeout <= life * token_cache.KEEP_FRACTION + 1
    assert timeout < life - 40 * 24 * 3600  # weeks of life left whenever it is handed out


def test_a_token_near_its_end_is_not_kept(realtimekit_emulator, kept_tokens, meeting, user):
    # The emulator issues tokens that expire 100 days after its clock: put the clock 100 days
    # less 30 minutes back, so the token has half an hour left.
    realtimekit_emulator.clock = ManualClock(datetime.now(UTC) - timedelta(days=100) + timedelta(minutes=30))
    services.issue_join_token(meeting, user)
    before = requests_made(realtimekit_emulator)

    services.issue_join_token(meeting, user)

    assert RecordingCache.written == []
    assert requests_made(realtimekit_emulator) == before + 1


def test_removing_the_participant_drops_the_kept_token(realtimekit_emulator, kept_tokens, meeting, user):
    first = services.issue_join_token(meeting, user)
    services.remove_participant(first.participant)

    assert token_cache.kept(first.participant.pk) is None
    assert kept_tokens.get(token_cache.KEY_PREFIX + str(first.participant.pk)) is None
    again = services.issue_join_token(meeting, user)  # a new participant, with a new token
    assert again.participant.pk != first.participant.pk and again.token != first.token


def test_a_policy_preset_change_drops_the_kept_token(
    realtimekit_emulator, kept_tokens, meeting, user, settings
):
    first = services.issue_join_token(meeting, user)
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": lambda user, meeting: "webinar_viewer"}
    before = requests_made(realtimekit_emulator)

    changed = services.issue_join_token(meeting, user)

    assert requests_made(realtimekit_emulator) == before + 1  # an edit to the new preset
    assert changed.preset_name == "webinar_viewer" and changed.token != first.token
    assert token_cache.kept(first.participant.pk).token == changed.token
    assert token_cache.kept(first.participant.pk).preset_name == "webinar_viewer"
    remote = realtimekit_emulator.participants(str(meeting.pk))
    assert [p["preset_name"] for p in remote] == ["webinar_viewer"]


def test_a_kept_token_for_another_preset_is_dropped_and_not_handed_out(
    realtimekit_emulator, kept_tokens, meeting, user, settings
):
    first = services.issue_join_token(meeting, user)
    token_cache.keep(first.participant.pk, first.token, "group_call_host")  # kept for another preset
    before = requests_made(realtimekit_emulator)

    again = services.issue_join_token(meeting, user)

    assert requests_made(realtimekit_emulator) == before + 1
    assert again.token != first.token
    assert token_cache.kept(first.participant.pk).preset_name == "group_call_participant"


def test_a_preset_edited_by_staff_is_not_served_from_the_kept_token(
    realtimekit_emulator, kept_tokens, meeting, user
):
    first = services.issue_join_token(meeting, user)
    services.edit_participant(first.participant, preset_name="group_call_host")
    before = requests_made(realtimekit_emulator)

    again = services.issue_join_token(meeting, user)

    assert requests_made(realtimekit_emulator) == before + 1  # edited back to the policy's preset
    assert again.preset_name == "group_call_participant" and again.token != first.token


def test_a_changed_display_name_is_edited_not_served_from_the_kept_token(
    realtimekit_emulator, kept_tokens, meeting, user
):
    services.issue_join_token(meeting, user)
    user.first_name = "Augusta"
    user.save()
    before = requests_made(realtimekit_emulator)

    again = services.issue_join_token(meeting, user)

    assert requests_made(realtimekit_emulator) == before + 1
    assert again.participant.name == "Augusta"


def test_an_inactive_meeting_is_refused_even_with_a_kept_token(
    realtimekit_emulator, kept_tokens, meeting, user
):
    services.issue_join_token(meeting, user)
    stale = type(meeting).objects.get(pk=meeting.pk)
    services.set_meeting_status(meeting, "INACTIVE")
    before = requests_made(realtimekit_emulator)

    with pytest.raises(MeetingInactive):
        services.issue_join_token(stale, user)
    assert requests_made(realtimekit_emulator) == before


def test_a_value_moved_to_another_participants_key_is_not_handed_out(
    realtimekit_emulator, kept_tokens, meeting, user, django_user_model
):
    other = django_user_model.objects.create_user("mallory")
    mine = services.issue_join_token(meeting, user)
    theirs = services.issue_join_token(meeting, other)
    stolen = kept_tokens.get(token_cache.KEY_PREFIX + str(mine.participant.pk))
    kept_tokens.set(token_cache.KEY_PREFIX + str(theirs.participant.pk), stolen)

    again = services.issue_join_token(meeting, other)

    assert again.token != mine.token


def test_a_join_token_key_encrypts_instead_of_the_secret_key(realtimekit_emulator, meeting, user, settings):
    key = Fernet.generate_key().decode()
    RecordingCache.written = []
    with override_settings(
        CACHES=_caches("tests.test_token_cache.RecordingCache"),
        REALTIMEKIT={**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": TOKENS, "JOIN_TOKEN_KEY": key},
    ):
        issued = services.issue_join_token(meeting, user)
        ((_key, value, _timeout),) = RecordingCache.written
        assert json.loads(Fernet(key).decrypt(value))["t"] == issued.token
        assert key not in repr(conf.get_settings())


def test_a_rotated_secret_key_forgets_kept_tokens_and_costs_one_request(
    realtimekit_emulator, kept_tokens, meeting, user, settings
):
    first = services.issue_join_token(meeting, user)
    settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY
    before = requests_made(realtimekit_emulator)

    again = services.issue_join_token(meeting, user)

    assert requests_made(realtimekit_emulator) == before + 1
    assert again.participant.pk == first.participant.pk and again.token != first.token


@pytest.mark.parametrize("broken", ["down from the start", "down after the first join"])
def test_a_cache_that_is_down_costs_one_request_not_an_error(
    realtimekit_emulator, meeting, user, settings, broken, caplog
):
    tokens_on = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": TOKENS}
    if broken == "down after the first join":
        with override_settings(
            CACHES=_caches("django.core.cache.backends.locmem.LocMemCache"), REALTIMEKIT=tokens_on
        ):
            first = services.issue_join_token(meeting, user)
    with override_settings(CACHES=_caches("tests.test_token_cache.BrokenCache"), REALTIMEKIT=tokens_on):
        before = requests_made(realtimekit_emulator)
        joined = services.issue_join_token(meeting, user)
        assert requests_made(realtimekit_emulator) == before + 1
        again = services.issue_join_token(meeting, user)
        assert requests_made(realtimekit_emulator) == before + 2
        services.remove_participant(again.participant)  # dropping fails quietly too
    assert joined.token and again.token and joined.token != again.token
    if broken == "down after the first join":
        assert joined.token != first.token
    assert "ConnectionError" in caplog.text and "6399" not in caplog.text
    assert joined.token not in caplog.text


def test_off_by_default_nothing_is_kept(realtimekit_emulator, meeting, user, settings):
    RecordingCache.written = []
    with override_settings(CACHES=_caches("tests.test_token_cache.RecordingCache")):
        services.issue_join_token(meeting, user)
        before = requests_made(realtimekit_emulator)
        services.issue_join_token(meeting, user)
    assert requests_made(realtimekit_emulator) == before + 1
    assert RecordingCache.written == []


# -- settings and checks -----------------------------------------------------------------------


def _problems(settings, **keys) -> dict:
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, **keys}
    return dict(conf.find_problems())


def test_an_unknown_cache_alias_and_a_malformed_key_are_named(settings):
    problems = _problems(settings, JOIN_TOKEN_CACHE="no-such-cache", JOIN_TOKEN_KEY="not a fernet key s3cr3t")
    assert "settings.CACHES" in problems["JOIN_TOKEN_CACHE"]
    assert "Fernet key" in problems["JOIN_TOKEN_KEY"] and "s3cr3t" not in problems["JOIN_TOKEN_KEY"]


def test_a_database_cache_is_refused_and_a_per_process_cache_warned(settings):
    from realtimekit_django import checks

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "db": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_table"},
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "db"}
    assert [m.id for m in checks.check_join_token_cache()] == ["realtimekit.E020"]
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "default"}
    assert [m.id for m in checks.check_join_token_cache()] == ["realtimekit.W020"]
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": None}
    assert checks.check_join_token_cache() == []


# -- the join endpoint when the budget is out --------------------------------------------------


def _join_url(meeting):
    from django.urls import reverse

    return reverse("realtimekit:meeting-join", kwargs={"meeting_id": meeting.pk})


def _client_for(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_join_the_budget_refuses_fast_is_503_with_retry_after(
    realtimekit_emulator, meeting, user, monkeypatch
):
    from realtimekit_django.exceptions import RateLimited

    def out_of_budget(*args, **kwargs):  # what the budget raises for an interactive call, no request
        raise RateLimited("the rate budget is spent", retry_after=7.2)

    monkeypatch.setattr(services, "issue_join_token", out_of_budget)
    response = _client_for(user).post(_join_url(meeting))
    assert response.status_code == 503 and response["Retry-After"] == "8"


def test_during_a_lockout_prepared_joins_are_served_and_others_told_when_to_retry(
    realtimekit_emulator, kept_tokens, meeting, user, django_user_model, settings
):
    services.provision_participants(meeting, [user])
    walk_in = django_user_model.objects.create_user("walk-in")
    realtimekit_emulator.clock = ManualClock()
    _site_budget_off(settings)  # the API's own lockout is what is tested
    realtimekit_emulator.set_rate_limit((1, 300))
    services.refresh_meeting(meeting)  # the one request of the window

    refused = _client_for(walk_in).post(_join_url(meeting))
    served = _client_for(user).post(_join_url(meeting))

    assert refused.status_code == 503 and refused["Retry-After"] == "300"
    assert served.status_code == 200 and realtimekit_emulator.token_is_valid(served.json()["token"])
    assert realtimekit_emulator.rate_limit.lockouts == 1


def _site_budget_off(settings):
    """Leave the site's own rate budget out: these tests are about the API locking it out."""
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": None}
