"""The join endpoint and the meeting endpoints, against the in-memory emulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from realtimekit_django import services
from realtimekit_django.exceptions import Timeout
from realtimekit_django.models import Participant

# The empty cache: throttle history lives in the cache, and user pks repeat between tests.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

API_TOKEN = "test-api-token-s3cr3t-value"


def refuse_private_policy(user, meeting):
    """A test policy that depends on the meeting: titles starting "Private" are closed."""
    if (meeting.title or "").startswith("Private"):
        return None
    return "group_call_participant"


def refuse_everyone_policy(user, meeting):
    return None


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("sam", password="pw", is_staff=True)


@pytest.fixture
def client_for():
    def make(user=None):
        api = APIClient()
        if user is not None:
            api.force_authenticate(user)
        return api

    return make


def join_url(meeting_id) -> str:
    return reverse("realtimekit:meeting-join", args=[meeting_id])


class Calls:
    """How many HTTP requests the emulator received inside the block."""

    def __init__(self, emulator):
        self.emulator = emulator

    def __enter__(self):
        self.before = len(self.emulator.requests)
        return self

    def __exit__(self, *exc):
        self.count = len(self.emulator.requests) - self.before


# -- join ------------------------------------------------------------------------------------


def test_allowed_join_returns_a_token_with_one_http_call(realtimekit_emulator, meeting, user, client_for):
    with Calls(realtimekit_emulator) as calls:
        response = client_for(user).post(join_url(meeting.pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "participant_id", "meeting_id", "preset_name", "expires_at"}
    assert calls.count == 1
    assert body["token"] == realtimekit_emulator.issued_tokens[-1]
    assert realtimekit_emulator.token_is_valid(body["token"])
    assert body["meeting_id"] == str(meeting.pk)
    assert body["preset_name"] == "group_call_participant"
    participant = Participant.objects.get(pk=body["participant_id"])
    assert participant.user == user
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires > datetime.now(UTC) + timedelta(days=90)
    assert "no-store" in response["Cache-Control"]


def test_join_costs_four_queries_and_the_lock(realtimekit_emulator, meeting, user):
    """Session, user, the one lookup of the meeting with the person's participant, and the
    INSERT ... ON CONFLICT of what the API answered (an add, or a rejoin's edit); PostgreSQL
    takes the join lock first. The policy's preset is checked against the preset names kept
    in the cache (no query). Transaction control (BEGIN, SAVEPOINT, ...) is not counted."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    api = APIClient()
    api.force_login(user)  # real session authentication: its queries count
    services.known_preset_names()  # kept, as on a site that has served a join since the last walk
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = api.post(join_url(meeting.pk))
        assert response.status_code == 200, response.content
        counts.append(len([q for q in queries.captured_queries if not q["sql"].upper().startswith(control)]))
    lock = 1 if connection.vendor == "postgresql" else 0
    assert counts == [4 + lock, 4 + lock]


def test_staff_join_as_hosts(realtimekit_emulator, meeting, staff, client_for):
    response = client_for(staff).post(join_url(meeting.pk))
    assert response.status_code == 200
    assert response.json()["preset_name"] == "group_call_host"


def test_returning_user_gets_a_new_token_with_one_call(realtimekit_emulator, meeting, user, client_for):
    api = client_for(user)
    first = api.post(join_url(meeting.pk)).json()
    with Calls(realtimekit_emulator) as calls:
        second = api.post(join_url(meeting.pk))
    assert second.status_code == 200
    assert calls.count == 1
    assert second.json()["token"] != first["token"]
    assert second.json()["participant_id"] == first["participant_id"]
    assert Participant.objects.filter(meeting=meeting).count() == 1
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 1


def test_preset_name_in_the_body_is_ignored(realtimekit_emulator, meeting, user, client_for):
    response = client_for(user).post(join_url(meeting.pk), {"preset_name": "group_call_host"}, format="json")
    assert response.status_code == 200
    assert response.json()["preset_name"] == "group_call_participant"
    (remote,) = realtimekit_emulator.participants(str(meeting.pk))
    assert remote["preset_name"] == "group_call_participant"


def test_anonymous_join_is_refused_without_http(realtimekit_emulator, meeting, client_for):
    with Calls(realtimekit_emulator) as calls:
        response = client_for().post(join_url(meeting.pk))
    assert response.status_code in (401, 403)
    assert calls.count == 0
    assert not Participant.objects.exists()


def test_policy_refusal_is_403_without_http(realtimekit_emulator, meeting, user, client_for, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": refuse_everyone_policy}
    with Calls(realtimekit_emulator) as calls:
        response = client_for(user).post(join_url(meeting.pk))
    assert response.status_code == 403
    assert response.json()["detail"] == "You may not join this meeting."
    assert calls.count == 0


def test_inactive_meeting_is_409_without_http(realtimekit_emulator, meeting, user, client_for):
    meeting = services.set_meeting_status(meeting, "INACTIVE")
    with Calls(realtimekit_emulator) as calls:
        response = client_for(user).post(join_url(meeting.pk))
    assert response.status_code == 409
    assert "inactive" in response.json()["detail"]
    assert calls.count == 0


def test_unknown_meeting_is_404_without_http(realtimekit_emulator, meeting, user, client_for):
    with Calls(realtimekit_emulator) as calls:
        response = client_for(user).post(join_url(uuid.uuid4()))
    assert response.status_code == 404
    assert calls.count == 0


def test_another_apps_meeting_is_404_without_http(realtimekit_emulator, meeting, user, client_for):
    stamp = "2025-01-01T00:00:00Z"
    other = {"id": str(uuid.uuid4()), "title": "Elsewhere", "created_at": stamp, "updated_at": stamp}
    services.upsert_meetings([other], app_id="another-app")
    with Calls(realtimekit_emulator) as calls:
        response = client_for(user).post(join_url(other["id"]))
    assert response.status_code == 404
    assert calls.count == 0


def test_get_is_not_a_join(realtimekit_emulator, meeting, user, client_for):
    with Calls(realtimekit_emulator) as calls:
        response = client_for(user).get(join_url(meeting.pk))
    assert response.status_code == 405
    assert calls.count == 0


def test_upstream_error_is_502_with_a_safe_message(realtimekit_emulator, meeting, user, client_for, caplog):
    secret_body = {"success": False, "error": {"code": 500, "message": "internal detail do-not-show"}}
    realtimekit_emulator.faults.fail_next(10, status=500, body=secret_body)
    response = client_for(user).post(join_url(meeting.pk))
    assert response.status_code == 502
    text = response.content.decode()
    assert "do-not-show" not in text and API_TOKEN not in text
    assert "try again" in response.json()["detail"]
    assert API_TOKEN not in caplog.text
    assert "no-store" in response["Cache-Control"]
    assert not Participant.objects.exists()


def test_rate_limited_upstream_is_503_with_retry_after(realtimekit_emulator, meeting, user, client_for):
    # A retry-after beyond RETRY_AFTER_MAX (60 s) is not waited for: the client raises at once.
    realtimekit_emulator.faults.retry_after = 120
    realtimekit_emulator.faults.fail_next(1, status=429)
    response = client_for(user).post(join_url(meeting.pk))
    assert response.status_code == 503
    assert response["Retry-After"] == "120"


def test_dropped_connection_is_503(realtimekit_emulator, meeting, user, client_for):
    realtimekit_emulator.faults.fail_next(10, drop=True)
    response = client_for(user).post(join_url(meeting.pk))
    assert response.status_code == 503
    assert "unavailable" in response.json()["detail"]


def test_timeout_is_504(realtimekit_emulator, meeting, user, client_for, monkeypatch):
    def slow(meeting, user, **kwargs):
        raise Timeout("read timed out", method="POST", path="/accounts/x/realtime/kit/y/meetings")

    monkeypatch.setattr(services, "issue_join_token", slow)
    response = client_for(user).post(join_url(meeting.pk))
    assert response.status_code == 504


def test_the_token_is_not_logged(realtimekit_emulator, meeting, user, client_for, caplog):
    caplog.set_level("DEBUG")
    token = client_for(user).post(join_url(meeting.pk)).json()["token"]
    assert token not in caplog.text
    assert API_TOKEN not in caplog.text


def test_join_throttle_uses_the_configured_rate(realtimekit_emulator, meeting, user, client_for, settings):
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"realtimekit_join": "2/min"}}
    api = client_for(user)
    statuses = [api.post(join_url(meeting.pk)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    joins = [r for r in realtimekit_emulator.requests if "/participants" in r.path]
    assert len(joins) == 2  # the third was refused before any request


def test_join_throttle_has_a_default_when_the_site_set_none(realtimekit_emulator, meeting, user, client_for):
    from realtimekit_django.api.throttling import JoinRateThrottle

    api = client_for(user)
    limit = int(JoinRateThrottle.default_rate.split("/")[0])
    statuses = [api.post(join_url(meeting.pk)).status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [200] * limit
    assert statuses[limit] == 429


def test_a_throttled_join_says_when_the_window_ends(
    realtimekit_emulator, meeting, user, client_for, settings, monkeypatch
):
    from realtimekit_django.api.throttling import JoinRateThrottle

    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"realtimekit_join": "1/min"}}
    monkeypatch.setattr(JoinRateThrottle, "timer", lambda self: 6000 + 15.0)  # 15 s into a minute
    api = client_for(user)
    assert api.post(join_url(meeting.pk)).status_code == 200
    refused = api.post(join_url(meeting.pk))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"


# -- meeting list and detail -----------------------------------------------------------------


def _seed(count: int, *, private_every: int = 0) -> None:
    """``count`` meetings stored straight from payloads (no HTTP needed for read tests)."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    payloads = []
    for n in range(count):
        stamp = (base + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")
        private = private_every and n % private_every == 0
        payloads.append(
            {
                "id": str(uuid.uuid4()),
                "title": f"{'Private' if private else 'Open'} meeting {n}",
                "status": "ACTIVE",
                "created_at": stamp,
                "updated_at": stamp,
                "recording_config": {"storage_config": {"type": "aws", "bucket": "b-secret-bucket"}},
            }
        )
    services.upsert_meetings(payloads)


def test_list_shows_public_fields_only(user, client_for):
    _seed(3)
    response = client_for(user).get(reverse("realtimekit:meeting-list"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    for item in body["results"]:
        assert "recording_config" not in item and "remote_data" not in item
    assert "b-secret-bucket" not in response.content.decode()


def test_list_hides_meetings_the_policy_refuses(user, client_for, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": refuse_private_policy}
    _seed(6, private_every=3)  # meetings 0 and 3 are private
    body = client_for(user).get(reverse("realtimekit:meeting-list")).json()
    titles = {item["title"] for item in body["results"]}
    assert body["count"] == 4
    assert not any(title.startswith("Private") for title in titles)


def test_list_is_empty_when_the_default_policy_refuses_the_user(client_for):
    inactive = get_user_model().objects.create_user("gone", password="pw", is_active=False)
    _seed(2)
    body = client_for(inactive).get(reverse("realtimekit:meeting-list")).json()
    assert body["count"] == 0


def test_list_is_paginated(user, client_for, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": refuse_private_policy}
    _seed(60, private_every=10)  # 6 private
    body = client_for(user).get(reverse("realtimekit:meeting-list")).json()
    assert body["count"] == 54
    assert len(body["results"]) == 50
    assert body["next"] is not None


def test_anonymous_list_is_refused(client_for):
    _seed(1)
    assert client_for().get(reverse("realtimekit:meeting-list")).status_code in (401, 403)


@pytest.mark.parametrize("policy", [None, refuse_private_policy], ids=["default", "per-meeting"])
def test_list_query_count_does_not_grow_with_meetings(user, client_for, settings, policy):
    if policy is not None:
        settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": policy}
    api = client_for(user)
    counts = []
    for total in (5, 50):
        _seed(total - (counts and 5 or 0), private_every=4)
        with CaptureQueriesContext(connection) as queries:
            response = api.get(reverse("realtimekit:meeting-list"))
        assert response.status_code == 200
        assert response.json()["count"] > 0
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_detail_of_a_visible_meeting(user, client_for, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": refuse_private_policy}
    _seed(2, private_every=2)  # meeting 0 private, meeting 1 open
    from realtimekit_django.models import Meeting

    private = Meeting.objects.get(title__startswith="Private")
    public = Meeting.objects.get(title__startswith="Open")
    api = client_for(user)
    ok = api.get(reverse("realtimekit:meeting-detail", args=[public.pk]))
    assert ok.status_code == 200
    assert ok.json()["id"] == str(public.pk)
    assert "recording_config" not in ok.json() and "remote_data" not in ok.json()
    assert api.get(reverse("realtimekit:meeting-detail", args=[private.pk])).status_code == 404
    assert api.get(reverse("realtimekit:meeting-detail", args=[uuid.uuid4()])).status_code == 404


# -- the browsable API reads as plain text -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method", "wanted"),
    [
        ("realtimekit:meeting-list", "get", "The meetings you may join"),
        ("realtimekit:meeting-join", "get", "Join this meeting: POST"),
    ],
)
@pytest.mark.django_db
def test_the_browsable_api_shows_readable_descriptions(admin_client, name, method, wanted):
    from realtimekit_django.models import Meeting

    meeting = Meeting.objects.create(id=uuid.uuid4(), app_id="test-app", title="Docs")
    url = reverse(name) if name.endswith("list") else reverse(name, args=[meeting.pk])
    page = getattr(admin_client, method)(url, HTTP_ACCEPT="text/html").content.decode()
    description = page.split('<div class="pull-left">', 1)[1].split("</div>", 1)[0]
    assert wanted in description
    assert "``" not in description and ":func:" not in description
    assert "<br" not in description  # paragraphs, not the docstring's line breaks
