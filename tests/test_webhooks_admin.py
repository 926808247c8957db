"""The admin of webhook events, sessions and attendance: constant list costs, masked secrets,
live now, session history, CSV export and "process again"."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from realtimekit_django.models import Meeting, Session, SessionParticipant, WebhookEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
LINK = "https://recordings.example/abc.mp4?token=bearer-secret-123"
STREAM_KEY = "live_sk_very_secret"


def _meetings_with_sessions(count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        meeting = Meeting.objects.create(id=uuid.UUID(int=i + 1), app_id="test-app", title=f"M{i}")
        session = Session.objects.create(id=f"s-{i}", meeting=meeting, started_at=T0)
        for p in range(3):
            SessionParticipant.objects.create(
                session=session, peer_id=f"p-{i}-{p}", joined_at=T0, left_at=T0 if p == 0 else None
            )


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_meeting_list_shows_live_now_at_a_constant_cost(admin_client):
    url = reverse("admin:realtimekit_meeting_changelist")
    _meetings_with_sessions(3)
    few = _queries(admin_client, url)
    _meetings_with_sessions(60, start=3)
    assert _queries(admin_client, url) == few
    page = admin_client.get(url).content.decode()
    assert "live, 2 in" in page
    Session.objects.filter(pk="s-0").update(status="ENDED", ended_at=T0)
    live = admin_client.get(url + "?live=yes")
    assert len(live.context["cl"].result_list) == 62
    assert [m.title for m in admin_client.get(url + "?live=no").context["cl"].result_list] == ["M0"]


def test_meeting_page_shows_session_history_with_attendance(admin_client):
    _meetings_with_sessions(1)
    meeting = Meeting.objects.get()
    page = admin_client.get(reverse("admin:realtimekit_meeting_change", args=[meeting.pk])).content.decode()
    assert "p-0-1" in page and "LIVE" in page


def test_attendance_csv_export(admin_client):
    _meetings_with_sessions(2)
    SessionParticipant.objects.filter(peer_id="p-0-1").update(
        display_name="=HYPERLINK(evil)", left_at=T0 + timedelta(minutes=5)
    )
    response = admin_client.post(
        reverse("admin:realtimekit_meeting_changelist"),
        {"action": "export_attendance", "_selected_action": [str(uuid.UUID(int=1))]},
    )
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("meeting_id,session_id") and len(lines) == 4  # header + 3 peers of M0
    assert any("'=HYPERLINK(evil)" in line and line.endswith(",300") for line in lines)


def _event(**fields) -> WebhookEvent:
    payload = {
        "event": "recording.statusUpdate",
        "recording": {"id": str(uuid.uuid4()), "downloadUrl": LINK, "status": "UPLOADED"},
        "streamKey": STREAM_KEY,
    }
    return WebhookEvent.objects.create(
        uuid=str(uuid.uuid4()), event=payload["event"], received_at=timezone.now(), payload=payload, **fields
    )


def test_event_list_and_page_never_show_download_urls_or_stream_keys(admin_client):
    events = [_event() for _ in range(3)]
    listing = admin_client.get(reverse("admin:realtimekit_webhookevent_changelist"))
    page = admin_client.get(reverse("admin:realtimekit_webhookevent_change", args=[events[0].pk]))
    for response in (listing, page):
        text = response.content.decode()
        assert response.status_code == 200 and LINK not in text and STREAM_KEY not in text
    assert "UPLOADED" in page.content.decode()  # the rest of the payload is shown


def test_event_list_costs_the_same_with_few_and_many_rows(admin_client):
    url = reverse("admin:realtimekit_webhookevent_changelist")
    [_event() for _ in range(3)]
    few = _queries(admin_client, url)
    [_event() for _ in range(150)]
    assert _queries(admin_client, url) == few


def test_failed_filter_and_process_again(admin_client):
    ok = _event(processed_at=timezone.now(), attempts=1)
    broken = _event(error="UnusableEvent: the payload has no meeting.id", attempts=1)
    url = reverse("admin:realtimekit_webhookevent_changelist")
    failed = admin_client.get(url + "?failed=yes").context["cl"].result_list
    assert [e.pk for e in failed] == [broken.pk]
    admin_client.post(url, {"action": "process_again", "_selected_action": [broken.pk, ok.pk]})
    broken.refresh_from_db()
    ok.refresh_from_db()
    assert broken.processed_at is not None and broken.error == "" and broken.attempts == 2
    assert ok.attempts == 2
