"""Targeted fetches (issue 28.1): a processed webhook event that names what the mirror lacks
fetches that one object at once, once per object while pending, at most
``TARGETED_FETCHES_PER_MINUTE`` a minute; a ``meeting.started`` moves its meeting to the front.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.utils import timezone

from realtimekit_django import services
from realtimekit_django.models import Meeting, Participant, WebhookEvent
from realtimekit_django.sync import health, schedule, targeted
from realtimekit_django.webhooks.handlers import process_event
from tests import webhook_helpers as wh

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(autouse=True)
def sent(settings):
    """Collect the fetches instead of queueing Celery tasks; fresh caches."""
    caches["default"].clear()
    calls: list[tuple[str, str]] = []
    targeted.SEND = lambda kind, meeting_id: calls.append((kind, meeting_id))
    yield calls
    targeted.SEND = None
    caches["default"].clear()


def _settings(**extra):
    from django.conf import settings

    return override_settings(REALTIMEKIT={**settings.REALTIMEKIT, **extra})


def deliver(payload: dict, *, webhook_id: str = "wh-1", received_at=None) -> WebhookEvent:
    """Store an event as the receiver would and process it (on_commit callbacks run)."""
    meeting = payload.get("meeting", {})
    event = WebhookEvent.objects.create(
        uuid=str(uuid.uuid4()),
        event=payload["event"],
        webhook_id=webhook_id,
        meeting_id=meeting.get("id"),
        received_at=received_at or timezone.now(),
        payload=payload,
    )
    assert process_event(event.pk) == "processed"
    return event


def test_an_unknown_meeting_is_fetched_once(sent, django_capture_on_commit_callbacks):
    meeting_id = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wh.started(meeting_id, "s-1"))
        deliver(wh.started(meeting_id, "s-2"))  # still pending: deduplicated
    assert sent == [(targeted.MEETING, meeting_id)]


def test_a_participant_the_mirror_lacks_walks_its_meeting(realtimekit_emulator, sent, django_capture_on_commit_callbacks):
    meeting = services.create_meeting(title="Standup")
    Meeting.objects.filter(pk=meeting.pk).update(participants_synced_at=timezone.now() - timedelta(hours=1))
    now = timezone.now().isoformat().replace("+00:00", "Z")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wh.joined(meeting.pk, "s-1", "peer-1", "alice", now))
    assert sent == [(targeted.PARTICIPANTS, str(meeting.pk))]


def test_a_participant_the_mirror_has_is_not_fetched(realtimekit_emulator, sent, django_capture_on_commit_callbacks):
    meeting = services.create_meeting(title="Standup")
    services.add_participant(meeting, custom_participant_id="alice", preset_name="group_call_host")
    now = timezone.now().isoformat().replace("+00:00", "Z")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wh.joined(meeting.pk, "s-1", "peer-1", "alice", now))
    assert sent == []


def test_a_meeting_row_older_than_the_event_is_fetched(realtimekit_emulator, sent, django_capture_on_commit_callbacks):
    meeting = services.create_meeting(title="Standup")
    later = (meeting.remote_updated_at + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    same = meeting.remote_updated_at.isoformat().replace("+00:00", "Z")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wh.started(meeting.pk, "s-1", updatedAt=same))
    assert sent == []
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wh.started(meeting.pk, "s-2", updatedAt=later))
    assert sent == [(targeted.MEETING, str(meeting.pk))]


def test_dedupe_ends_when_the_fetch_starts(realtimekit_emulator, sent):
    meeting = services.create_meeting(title="Standup")
    assert targeted.request(targeted.MEETING, meeting.pk) == "queued"
    assert targeted.request(targeted.MEETING, meeting.pk) == "pending"
    assert targeted.request(targeted.PARTICIPANTS, meeting.pk) == "queued"  # another object
    result = targeted.fetch(targeted.MEETING, str(meeting.pk))
    assert result["completed"] is True
    assert targeted.request(targeted.MEETING, meeting.pk) == "queued"


def test_the_bound_per_minute(sent):
    with _settings(TARGETED_FETCHES_PER_MINUTE=3):
        at = 1_800_000_000.0
        outcomes = [targeted.request(targeted.MEETING, uuid.uuid4(), now=at + i) for i in range(5)]
        assert outcomes == ["queued", "queued", "queued", "over", "over"]
        assert targeted.request(targeted.MEETING, uuid.uuid4(), now=at + 60) == "queued"  # next minute


def test_over_the_bound_the_object_may_come_back_later(sent):
    with _settings(TARGETED_FETCHES_PER_MINUTE=1):
        at, meeting_id = 1_800_000_000.0, uuid.uuid4()
        assert targeted.request(targeted.MEETING, uuid.uuid4(), now=at) == "queued"
        assert targeted.request(targeted.MEETING, meeting_id, now=at) == "over"
        assert targeted.request(targeted.MEETING, meeting_id, now=at + 60) == "queued"


def test_zero_turns_them_off(sent):
    with _settings(TARGETED_FETCHES_PER_MINUTE=0):
        assert targeted.request(targeted.MEETING, uuid.uuid4()) == "off"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown targeted fetch"):
        targeted.request("recording", uuid.uuid4())


def test_a_fetch_imports_the_meeting_and_its_participants(realtimekit_emulator, sent):
    remote = realtimekit_emulator.create_meeting(app_id="test-app", title="Elsewhere")
    realtimekit_emulator.add_participant(
        remote["id"], app_id="test-app", custom_participant_id="bob", preset_name="group_call_host"
    )
    result = targeted.fetch(targeted.PARTICIPANTS, remote["id"])
    assert result["completed"] is True
    assert Meeting.objects.filter(pk=remote["id"]).exists()
    assert Participant.objects.filter(meeting_id=remote["id"], custom_participant_id="bob").exists()


def test_a_started_meeting_goes_to_the_front(realtimekit_emulator, sent, django_capture_on_commit_callbacks):
    meetings = [services.create_meeting(title=f"M{i}") for i in range(3)]
    long_ago = timezone.now() - timedelta(days=2)
    Meeting.objects.update(participants_synced_at=long_ago, participants_touched_at=long_ago)
    Meeting.objects.filter(pk=meetings[0].pk).update(participants_touched_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wh.started(meetings[2].pk, "s-1"))
    plan = schedule.plan_participant_walks("test-app", interval=300)
    assert plan.front == 1
    assert plan.meeting_ids[0] == str(meetings[2].pk)  # before the touched one
    assert plan.meeting_ids[1] == str(meetings[0].pk)
    # Walked since it started: it leaves the front.
    schedule.mark_verified(meetings[2].pk, timezone.now() + timedelta(seconds=1))
    assert schedule.plan_participant_walks("test-app", interval=300).front == 0
    assert str(meetings[2].pk) not in schedule.in_front("test-app")


def test_a_processed_event_notes_the_delivery(sent, django_capture_on_commit_callbacks):
    assert health.last_delivery() is None
    with django_capture_on_commit_callbacks(execute=True):
        event = deliver(wh.started(str(uuid.uuid4()), "s-1"))
    assert health.last_delivery() == pytest.approx(event.received_at.timestamp())


def test_by_default_the_celery_task_runs_the_fetch(realtimekit_emulator, django_capture_on_commit_callbacks):
    targeted.SEND = None
    remote = realtimekit_emulator.create_meeting(app_id="test-app", title="Announced")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wh.started(remote["id"], "s-1"))
    assert Meeting.objects.filter(pk=remote["id"], title="Announced").exists()


def test_a_fetch_spends_the_event_reserve_the_routine_walks_leave(realtimekit_emulator, sent):
    """With the background lane full for routine work (the rotation spent its share), a targeted
    fetch still finds room at once; a routine participants walk does not."""
    from realtimekit_django.client.budget import BACKGROUND, BudgetExhausted, get_budget, lane
    from realtimekit_django.sync import reconcile

    remote = realtimekit_emulator.create_meeting(app_id="test-app", title="Elsewhere")
    realtimekit_emulator.add_participant(
        remote["id"], app_id="test-app", custom_participant_id="bob", preset_name="group_call_host"
    )
    with _settings(
        RATE_LIMIT_REQUESTS=100, RATE_LIMIT_RESERVE=0, RATE_LIMIT_EVENT_RESERVE=0.05, RETRY_AFTER_MAX=0
    ):
        budget = get_budget()
        budget.clear()
        with lane(BACKGROUND), pytest.raises(BudgetExhausted):
            for _ in range(100):
                budget.before_attempt("GET", "/rotation")
        assert budget.spent() == 95
        walk = reconcile.reconcile_participants(remote["id"])
        assert walk.completed is False and "rate budget" in walk.error
        result = targeted.fetch(targeted.PARTICIPANTS, remote["id"])
        assert result["completed"] is True, result
        assert Participant.objects.filter(meeting_id=remote["id"], custom_participant_id="bob").exists()
        assert budget.events_spent() >= 1
        budget.clear()
