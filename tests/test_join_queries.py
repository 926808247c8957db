"""Issue 28.4: a rejoin costs at most 4 queries (the session, the user, the one lookup, the
upsert) and keeps the mirror exact: the edit that issues its token moves the participant's
``updated_at`` remotely, so the row is written with it (skipping that write left the mirror
older than the API, which the PostgreSQL race test caught).

Queries are counted as the benchmarks count them: without transaction control (``BEGIN``,
``SAVEPOINT``, ``RELEASE``, ``COMMIT``). On PostgreSQL the join lock (``pg_advisory_xact_lock``,
taken before the participant is read) is a fourth: the lock is not yet skipped for a person
who already has a participant."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from realtimekit_django import services
from realtimekit_django.models import Participant

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")
ON_POSTGRES = "postgresql" in settings.DATABASES["default"]["ENGINE"]


@pytest.fixture
def client(django_user_model):
    user = django_user_model.objects.create_user("alice", password="pw", first_name="Alice")
    api = APIClient()
    api.force_login(user)
    return api


def _writes(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]


def _queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].lstrip().upper().startswith(CONTROL)]


def test_a_rejoin_with_no_change_makes_four_queries_and_keeps_the_mirror_exact(
    realtimekit_emulator, meeting, client
):
    url = reverse("realtimekit:meeting-join", kwargs={"meeting_id": meeting.pk})
    assert client.post(url).status_code == 200
    stored = Participant.objects.get()

    with CaptureQueriesContext(connection) as captured:
        response = client.post(url)

    assert len(_queries(captured)) <= (5 if ON_POSTGRES else 4), _queries(captured)

    assert response.status_code == 200
    assert response.json()["participant_id"] == str(stored.pk)
    assert len(_writes(captured)) == 1
    (remote,) = realtimekit_emulator.participants(str(meeting.pk))
    assert Participant.objects.get().remote_data == {k: v for k, v in remote.items() if k != "token"}


def test_a_rejoin_that_changes_the_participant_writes_it(
    realtimekit_emulator, meeting, client, django_user_model
):
    url = reverse("realtimekit:meeting-join", kwargs={"meeting_id": meeting.pk})
    assert client.post(url).status_code == 200
    django_user_model.objects.filter(username="alice").update(first_name="Alicia")

    with CaptureQueriesContext(connection) as captured:
        assert client.post(url).status_code == 200

    assert _writes(captured) != []
    assert Participant.objects.get().name == realtimekit_emulator.participants(str(meeting.pk))[0]["name"]
    assert Participant.objects.get().name != "Alice"


def test_a_service_rejoin_returns_the_participant_as_stored(realtimekit_emulator, meeting, django_user_model):
    user = django_user_model.objects.create_user("bob", password="pw", first_name="Bob")
    first = services.issue_join_token(meeting, user)

    again = services.issue_join_token(meeting, user)

    assert again.participant.pk == first.participant.pk
    assert again.participant.meeting == meeting
    assert again.participant.remote_data == Participant.objects.get().remote_data


def test_with_the_token_cache_a_rejoin_with_no_change_makes_three_queries_no_write_no_request(
    realtimekit_emulator, meeting, client, settings
):
    """A no-change rejoin that truly changes nothing: with ``JOIN_TOKEN_CACHE`` the kept token
    is handed out, so the session, the user and the one lookup are all (the join lock a fourth
    on PostgreSQL), nothing is written and RealtimeKit is not asked. Without the cache the
    rejoin edits (issue 12.3: the answer says what the token grants), which is the test above."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "join-tokens": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jq"},
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "join-tokens"}
    url = reverse("realtimekit:meeting-join", kwargs={"meeting_id": meeting.pk})
    first = client.post(url)
    assert first.status_code == 200
    requests_before = len(realtimekit_emulator.requests)

    with CaptureQueriesContext(connection) as captured:
        again = client.post(url)

    assert again.status_code == 200
    assert again.json()["token"] == first.json()["token"]
    assert len(_queries(captured)) <= (4 if ON_POSTGRES else 3), _queries(captured)
    assert _writes(captured) == []
    assert len(realtimekit_emulator.requests) == requests_before
