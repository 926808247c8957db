"""Retention, replay, the client's webhooks resource, settings, the sync seam, the meetings API's
live fields."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from realtimekit_django import conf, tasks
from realtimekit_django.client import get_client
from realtimekit_django.exceptions import NotFound, ValidationError
from realtimekit_django.models import Meeting, Session, SessionParticipant, WebhookEvent
from realtimekit_django.webhooks import handlers
from realtimekit_django.webhooks.payloads import meeting_id_of

from . import webhook_helpers as wh

MEETING = uuid.UUID("44444444-4444-4444-8444-444444444444")


def _stored(payload: dict, **fields) -> WebhookEvent:
    return WebhookEvent.objects.create(
        uuid=str(uuid.uuid4()),
        event=payload["event"],
        meeting_id=meeting_id_of(payload),
        received_at=fields.pop("received_at", timezone.now()),
        payload=payload,
        **fields,
    )


@pytest.mark.django_db
def test_cleanup_deletes_only_events_older_than_the_retention(settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_RETENTION_DAYS": 7}
    old = _stored(wh.started(MEETING, "s-old"), received_at=timezone.now() - timedelta(days=8))
    fresh = _stored(wh.started(MEETING, "s-new"), received_at=timezone.now() - timedelta(days=6))
    assert tasks.cleanup_webhook_events.delay().get() == 1
    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert old.pk != fresh.pk
    with pytest.raises(ValidationError):
        tasks.cleanup_webhook_events(days=0)


@pytest.mark.django_db
def test_replay_command_processes_unprocessed_and_filters(realtimekit_emulator):
    joined = _stored(wh.joined(MEETING, "s-1", "p-1", "c-1", "2026-01-05T10:00:00Z"))
    broken = _stored({"event": "meeting.started", "meeting": {}}, error="UnusableEvent: x", attempts=1)
    out = io.StringIO()
    call_command("realtimekit_webhooks", "replay", "--event", "meeting.participantJoined", stdout=out)
    assert "1 processed" in out.getvalue()
    assert SessionParticipant.objects.get().peer_id == "p-1"
    joined.refresh_from_db()
    assert joined.processed_at is not None
    with pytest.raises(CommandError, match="1 events failed again"):
        call_command("realtimekit_webhooks", "replay", "--failed", stdout=out)
    broken.refresh_from_db()
    assert broken.attempts == 2 and broken.processed_at is None
    with pytest.raises(CommandError, match="--since"):
        call_command("realtimekit_webhooks", "replay", "--since", "yesterday", stdout=out)


@pytest.mark.django_db
def test_an_event_naming_what_the_mirror_lacks_touches_the_meeting():
    cache.clear()
    assert handlers.last_touched(MEETING) is None
    handlers.process_event(_stored(wh.started(MEETING, "s-1")).pk)
    assert handlers.last_touched(MEETING) is not None  # the meeting is not mirrored
    known = uuid.UUID(int=7)
    Meeting.objects.create(id=known, app_id="test-app")
    handlers.process_event(_stored(wh.started(known, "s-2")).pk)
    assert handlers.last_touched(known) is None  # mirrored, and the payload was enough
    handlers.process_event(_stored(wh.joined(known, "s-2", "p-1", "stranger", "2026-01-05T10:00:00Z")).pk)
    assert handlers.last_touched(known) is not None  # a participant the sync has not seen


def test_the_clients_webhooks_resource_validates_before_sending(realtimekit_emulator):
    hooks = get_client().webhooks
    with pytest.raises(ValidationError):
        hooks.create_webhook(events=["meeting.nope"], name="n", url="https://x.test/")
    with pytest.raises(ValidationError):
        hooks.create_webhook(events="meeting.started", name="n", url="https://x.test/")
    assert realtimekit_emulator.requests == []
    created = hooks.create_webhook(events=["meeting.started"], name="n", url="https://x.test/")["data"]
    assert hooks.get_webhook_by_id(created["id"])["data"]["url"] == "https://x.test/"
    edited = hooks.edit_webhook(created["id"], enabled=False)["data"]
    assert edited["enabled"] is False and edited["name"] == "n"
    assert realtimekit_emulator.requests[-1].json == {"enabled": False}
    hooks.replace_webhook(created["id"], events=["meeting.ended"], name="m", url="https://y.test/")
    assert [w["name"] for w in hooks.get_webhooks()["data"]] == ["m"]
    hooks.delete_webhook(created["id"])
    with pytest.raises(NotFound):
        hooks.get_webhook_by_id(created["id"])


@pytest.mark.parametrize(
    "key, value",
    [
        ("WEBHOOK_PUBLIC_KEY", "not a pem"),
        ("WEBHOOK_PUBLIC_KEY_URL", "ftp://x"),
        ("WEBHOOK_MAX_BODY_BYTES", 0),
        ("WEBHOOK_RETENTION_DAYS", "30"),
    ],
)
def test_bad_webhook_settings_are_refused_naming_the_key(settings, key, value):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, key: value}
    with pytest.raises(ImproperlyConfigured, match=key):
        conf.get_settings()


@pytest.mark.django_db
def test_the_meetings_api_says_live_and_how_many_are_in(client, django_user_model, realtimekit_emulator):
    from realtimekit_django import services

    meeting = services.create_meeting(title="Live one")
    services.create_meeting(title="Quiet one")
    session = Session.objects.create(id="s-live", meeting=meeting)
    for i in range(3):
        SessionParticipant.objects.create(
            session=session, peer_id=f"p{i}", left_at=timezone.now() if i else None
        )
    client.force_login(django_user_model.objects.create_user("viewer"))
    shown = {
        m["title"]: (m["live"], m["people_in"])
        for m in client.get("/realtimekit/meetings/").json()["results"]
    }
    assert shown == {"Live one": (True, 1), "Quiet one": (False, 0)}


def test_a_pinned_key_that_cannot_be_read_fails_the_check(settings):
    from realtimekit_django.checks import check_webhook_key

    broken = "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n"
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY": broken}
    assert [m.id for m in check_webhook_key()] == ["realtimekit.E030"]
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY": wh.public_pem()}
    assert check_webhook_key() == []


@pytest.mark.django_db
def test_a_meeting_a_webhook_names_is_first_in_the_next_participant_walks(realtimekit_emulator):
    from realtimekit_django import services
    from realtimekit_django.models import Meeting
    from realtimekit_django.webhooks.handlers import meeting_touched

    meeting = services.create_meeting(title="Touched")
    Meeting.objects.update(participants_touched_at=None)
    meeting_touched(meeting.pk)
    assert Meeting.objects.get().participants_touched_at is not None
