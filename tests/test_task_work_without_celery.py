"""The work behind the provisioning, recording-copy and webhook-cleanup tasks, called directly:
the tasks only add Celery's part (sending the next chunk, retries), so this is where the work is
tested without a queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from realtimekit_django import services
from realtimekit_django.exceptions import ValidationError
from realtimekit_django.models import Participant, WebhookEvent
from realtimekit_django.services import provisioning
from realtimekit_django.services import recordings as recording_services
from realtimekit_django.webhooks import retention

pytestmark = pytest.mark.django_db


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="All-hands")


@pytest.fixture
def invited(django_user_model):
    return [django_user_model.objects.create_user(f"person-{i}") for i in range(3)]


def chunk(meeting, users, **overrides):
    options = dict(run_id=None, batch_size=2, interval=60, stalls=0, max_stalls=3, eager=False)
    return provisioning.provision_chunk(str(meeting.pk), [u.pk for u in users], **{**options, **overrides})


def test_a_chunk_prepares_its_share_and_says_what_comes_next(realtimekit_emulator, meeting, invited):
    result, follow_up = chunk(meeting, invited)
    assert result["finished"] is False and result["left"] == 1
    assert Participant.objects.filter(meeting=meeting).count() == 2
    assert follow_up == {
        "meeting_id": str(meeting.pk),
        "user_ids": [invited[2].pk],
        "run_id": result["run_id"],
        "stalls": 0,
        "countdown": 60,
    }
    last, after = chunk(meeting, invited[2:], run_id=follow_up["run_id"])
    assert last["finished"] is True and after is None
    assert provisioning.progress_of(meeting.pk)["finished"] is True


def test_a_superseded_run_stops_and_sends_nothing(realtimekit_emulator, meeting, invited):
    first, _ = chunk(meeting, invited)
    chunk(meeting, invited)  # a newer run for the same meeting
    result, follow_up = chunk(meeting, invited, run_id=first["run_id"])
    assert result["superseded"] is True and follow_up is None


def test_a_chunk_for_a_meeting_that_cannot_be_joined_finishes_at_once(realtimekit_emulator, invited):
    import uuid

    result, follow_up = provisioning.provision_chunk(
        str(uuid.uuid4()),
        [u.pk for u in invited],
        run_id=None,
        batch_size=2,
        interval=60,
        stalls=0,
        max_stalls=3,
    )
    assert (
        result["finished"] is True and result["stopped"] == "no such joinable meeting" and follow_up is None
    )


def test_copying_recordings_is_off_without_a_storage(settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RECORDING_STORAGE": None}
    assert recording_services.copy_uploaded_recordings() == {
        "copied": 0,
        "failed": 0,
        "skipped": "RECORDING_STORAGE is not set",
    }


def test_retention_deletes_only_events_older_than_the_days_given():
    def stored(days_ago, key):
        return WebhookEvent.objects.create(
            uuid=key,
            event="meeting.started",
            payload={"event": "meeting.started"},
            received_at=timezone.now() - timedelta(days=days_ago),
        )

    stored(10, "00000000-0000-4000-8000-000000000001")
    fresh = stored(2, "00000000-0000-4000-8000-000000000002")
    assert retention.delete_old_events(5) == 1
    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [fresh.pk]
    with pytest.raises(ValidationError):
        retention.delete_old_events(0)
