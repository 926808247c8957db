"""Livestreams (service, admin, webhook), the attendance endpoint and the streamed CSV."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from realtimekit_django import signals
from realtimekit_django.admin.webhooks import CSV_CHUNK_SIZE, attendance_rows
from realtimekit_django.models import Livestream, Meeting, Session, SessionParticipant, WebhookEvent
from realtimekit_django.services import livestreams
from realtimekit_django.webhooks.handlers import process_event

pytestmark = pytest.mark.django_db

KEY, INGEST = "sk-secret-stream-key", "rtmps://ingest.example/live"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class FakeLivestreams:
    def __init__(self):
        self.calls = []

    def start_livestreaming_a_meeting(self, meeting_id, **kwargs):
        self.calls.append(("start", meeting_id))
        return {"success": True, "data": {"id": "ls-1", "status": "INVOKED", "playback_url": "https://play.example/1",
                                          "stream_key": KEY, "ingest_server": INGEST}}

    def stop_livestreaming_a_meeting(self, meeting_id):
        self.calls.append(("stop", meeting_id))
        return {"success": True}


class FakeClient:
    def __init__(self):
        self.livestreams = FakeLivestreams()


@pytest.fixture
def meeting():
    return Meeting.objects.create(id=uuid.uuid4(), app_id="test-app", title="Town hall")


def test_start_and_stop_keep_no_secret(meeting, caplog):
    caplog.set_level(logging.DEBUG)
    sent = []
    signals.livestream_updated.connect(lambda sender, **kw: sent.append(kw), weak=False, dispatch_uid="ls")
    try:
        started = livestreams.start_livestream(meeting, client=FakeClient())
        stopped = livestreams.stop_livestream(meeting, client=FakeClient())
    finally:
        signals.livestream_updated.disconnect(dispatch_uid="ls")
    assert (started.stream_key, started.ingest_server) == (KEY, INGEST)
    assert KEY not in repr(started)
    row = Livestream.objects.get()
    assert row.meeting_id == meeting.pk and row.playback_url == "https://play.example/1"
    assert [s.status for s in stopped] == ["OFFLINE"] and Livestream.objects.get().ended_at is not None
    assert [kw["created"] for kw in sent] == [True, False]
    assert KEY not in str(sent) and KEY not in caplog.text
    values = " ".join(str(v) for v in Livestream.objects.values_list())
    assert KEY not in values and INGEST not in values


def test_admin_start_shows_the_key_once_on_the_response_only(meeting, admin_client, monkeypatch):
    monkeypatch.setattr(livestreams, "get_client", lambda: FakeClient())
    response = admin_client.post(
        reverse("admin:realtimekit_meeting_changelist"),
        {"action": "start_livestream", "_selected_action": [str(meeting.pk)]},
    )
    text = response.content.decode()
    assert response.status_code == 200 and KEY in text and INGEST in text
    assert "no-cache" in response["Cache-Control"]
    follow = admin_client.get(reverse("admin:realtimekit_livestream_changelist")).content.decode()
    assert "ls-1" in follow and KEY not in follow


def test_status_webhook_keeps_the_row_current_and_never_reopens(meeting):
    def push(status):
        payload = {"event": "livestreaming.statusUpdate", "streamId": "ls-9", "status": status,
                   "playbackUrl": "https://play.example/9", "streamKey": "********",
                   "meeting": {"id": str(meeting.pk)}}
        event = WebhookEvent.objects.create(uuid=str(uuid.uuid4()), event=payload["event"], payload=payload,
                                            meeting_id=meeting.pk, received_at=timezone.now())
        assert process_event(event.pk) == "processed"

    push("LIVE")
    assert Livestream.objects.get(pk="ls-9").status == "LIVE"
    push("OFFLINE")
    push("LIVE")  # late, older push
    row = Livestream.objects.get(pk="ls-9")
    assert row.status == "OFFLINE" and row.ended_at is not None and row.meeting_id == meeting.pk


def _attendance(meeting):
    session = Session.objects.create(id="s1", meeting=meeting, status="ENDED", started_at=T0,
                                     ended_at=T0 + timedelta(hours=1), api_confirmed_end_at=T0)
    for i, (start, end) in enumerate([(0, 10), (5, 20), (30, 40)]):
        SessionParticipant.objects.create(session=session, peer_id=f"p{i}", custom_participant_id="alice",
                                          joined_at=T0 + timedelta(minutes=start), left_at=T0 + timedelta(minutes=end))


def test_attendance_endpoint_behind_a_permission(meeting, client):
    _attendance(meeting)
    url = reverse("realtimekit:meeting-attendance", args=[meeting.pk])
    user = get_user_model().objects.create_user("viewer", password="pw")
    client.force_login(user)
    assert client.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_sessionparticipant"))
    user = get_user_model().objects.get(pk=user.pk)
    client.force_login(user)
    body = client.get(url).json()
    assert body["final"] is True
    assert [(a["custom_participant_id"], a["minutes"], a["joins"]) for a in body["attendees"]] == [("alice", 30.0, 3)]
    assert client.get(reverse("realtimekit:meeting-attendance", args=[uuid.uuid4()])).status_code == 404


def test_csv_streams_in_chunks_with_constant_queries(meeting):
    """100,000 rows: the export is a generator over ``iterator(chunk_size=...)``, so the
    queries grow with the chunks (server-side cursor on PostgreSQL: one), never with rows held."""
    session = Session.objects.create(id="big", meeting=meeting, started_at=T0, ended_at=T0 + timedelta(hours=1))
    rows = 100_000
    SessionParticipant.objects.bulk_create(
        [SessionParticipant(session=session, peer_id=f"p{i}", joined_at=T0, left_at=T0 + timedelta(seconds=i % 3600))
         for i in range(rows)],
        batch_size=5000,
    )
    lines = attendance_rows(SessionParticipant.objects.filter(session=session))
    with CaptureQueriesContext(connection) as queries:
        assert next(lines).startswith("meeting_id,")
        count = sum(1 for _ in lines)
    assert count == rows
    chunks = -(-rows // CSV_CHUNK_SIZE)
    print(f"\nCSV: {rows} rows in {len(queries)} queries ({chunks} chunks of {CSV_CHUNK_SIZE})")
    assert len(queries) <= chunks + 2
