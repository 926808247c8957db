"""Issue 27 items 4 and 8: session artifacts (chat, transcript, summary) announced by webhook,
copied into the site's storage with a fresh URL from the API, checked (cap, content type,
host), retried later when the storage fails, and served to staff only."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid

import pytest
import responses
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from realtimekit_django import signals
from realtimekit_django.exceptions import CopyError, DownloadRefused, DownloadTooLarge
from realtimekit_django.models import (
    ArtifactKind,
    ArtifactState,
    Meeting,
    Session,
    SessionArtifact,
    WebhookEvent,
)
from realtimekit_django.services import artifacts

from . import webhook_helpers as wh

pytestmark = pytest.mark.django_db(transaction=True)

API = "https://api.cloudflare.com/client/v4/accounts/test-account/realtime/kit/test-app"
SESSION = "sess-0001"
MEETING = uuid.UUID("55555555-5555-4555-8555-555555555555")
FILE_URL = "https://bucket.s3.amazonaws.com/t.csv?X-Amz-Signature=artifact-secret"
CSV = b"speaker,time,text\nAda,00:00:01,Hello there\nBob,00:00:04,Hi Ada\n"


class FailingStorage(FileSystemStorage):
    """A storage whose disk fills up during the write."""

    def _save(self, name, content):
        raise OSError(28, "No space left on device")


@pytest.fixture(autouse=True)
def setup(settings, tmp_path):
    cache.clear()
    settings.STORAGES = {
        **settings.STORAGES,
        "kept": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "k")},
        },
        "failing": {"BACKEND": f"{__name__}.FailingStorage", "OPTIONS": {"location": str(tmp_path / "f")}},
    }
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT,
        "BASE_URL": "https://api.cloudflare.com/client/v4",
        "RECORDING_STORAGE": "kept",
        "WEBHOOK_PUBLIC_KEY": wh.public_pem(),
        "COPY_MAX_BYTES": 1000,
    }
    yield
    cache.clear()


@pytest.fixture
def session(db):
    meeting = Meeting.objects.create(pk=MEETING, title="Standup")
    return Session.objects.create(pk=SESSION, meeting=meeting)


def answer(mock, kind="transcript", url=FILE_URL, expiry=None):
    path, key, expiry_key = {
        "transcript": ("transcript", "transcript_download_url", "transcript_download_url_expiry"),
        "chat": ("chat", "chat_download_url", "chat_download_url_expiry"),
        "summary": ("summary", "summaryDownloadUrl", "summaryDownloadUrlExpiry"),
    }[kind]
    data = {"sessionId": SESSION, key: url, expiry_key: expiry or "2099-01-01T00:00:00Z"}
    mock.add(responses.GET, f"{API}/sessions/{SESSION}/{path}", json={"success": True, "data": data})


def files(tmp_path):
    root = tmp_path / "k"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_transcript_webhook_announces_the_artifact_and_keeps_no_url(client, caplog):
    caplog.set_level(logging.DEBUG)
    body = wh.body_of(
        {
            "event": "meeting.transcript",
            "meeting": wh.meeting_part(MEETING, SESSION),
            "transcriptDownloadUrl": FILE_URL,
            "transcriptDownloadUrlExpiry": "2099-01-01T00:00:00Z",
        }
    )
    with responses.RequestsMock() as mock:
        answer(mock)
        mock.add(responses.GET, FILE_URL.split("?")[0], body=CSV, content_type="text/csv")
        assert wh.post(client, body).status_code in (200, 202, 204)
    artifact = SessionArtifact.objects.get()
    assert artifact.kind == ArtifactKind.TRANSCRIPT and artifact.session_id == SESSION
    assert artifact.state == ArtifactState.STORED
    stored = json.dumps(list(WebhookEvent.objects.values_list("payload", flat=True)))
    row = json.dumps(list(SessionArtifact.objects.values()), default=str)
    for text in (stored, row, caplog.text):
        assert "artifact-secret" not in text and "amazonaws" not in text


def test_chat_synced_flat_payload_announces_a_chat_artifact(client):
    body = wh.body_of(
        {
            "event": "meeting.chatSynced",
            "sessionId": SESSION,
            "meetingId": str(MEETING),
            "chatDownloadUrl": FILE_URL,
        }
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        answer(mock, "chat")
        mock.add(responses.GET, FILE_URL.split("?")[0], body=b"a,b\n", content_type="text/csv")
        wh.post(client, body)
    assert SessionArtifact.objects.get().kind == ArtifactKind.CHAT


def test_a_copy_is_stored_with_size_and_sha_and_signals(session, tmp_path):
    seen = []
    signals.artifact_stored.connect(
        lambda **kw: seen.append(kw["artifact"].pk), weak=False, dispatch_uid="t-art"
    )
    try:
        artifact = artifacts.announce_artifact(session, "transcript")
        with responses.RequestsMock() as mock:
            answer(mock)
            mock.add(responses.GET, FILE_URL.split("?")[0], body=CSV, content_type="text/csv")
            artifacts.copy_artifact(artifact)
    finally:
        signals.artifact_stored.disconnect(dispatch_uid="t-art")
    assert artifact.state == ArtifactState.STORED
    assert artifact.stored_size == len(CSV) and artifact.stored_sha256 == hashlib.sha256(CSV).hexdigest()
    assert artifact.content_type == "text/csv"
    with storages["kept"].open(artifact.stored_name) as handle:
        assert handle.read() == CSV
    assert seen == [artifact.pk]
    # A second copy does nothing (no request is made: the mock is gone).
    assert artifacts.copy_artifact(artifact).state == ArtifactState.STORED


def test_over_the_cap_is_given_up_with_nothing_in_storage(session, tmp_path):
    artifact = artifacts.announce_artifact(session, "transcript")
    with responses.RequestsMock() as mock:
        answer(mock)
        mock.add(responses.GET, FILE_URL.split("?")[0], body=b"x" * 5000, content_type="text/csv")
        with pytest.raises(DownloadTooLarge):
            artifacts.copy_artifact(artifact)
    assert artifact.state == ArtifactState.GIVEN_UP and artifact.stored_name == ""
    assert files(tmp_path) == []


def test_the_wrong_content_type_is_refused(session, tmp_path):
    artifact = artifacts.announce_artifact(session, "summary")
    with responses.RequestsMock() as mock:
        answer(mock, "summary")
        mock.add(responses.GET, FILE_URL.split("?")[0], body=b"<html>", content_type="text/html")
        with pytest.raises(DownloadRefused, match="content type"):
            artifacts.copy_artifact(artifact)
    assert artifact.state == ArtifactState.GIVEN_UP and "content type" in artifact.failure_reason
    assert files(tmp_path) == []


def test_a_url_on_a_foreign_host_is_refused_before_any_download(session, tmp_path):
    artifact = artifacts.announce_artifact(session, "chat")
    with responses.RequestsMock() as mock:
        answer(mock, "chat", url="https://evil.example/chat.csv?sig=artifact-secret")
        with pytest.raises(DownloadRefused):
            artifacts.copy_artifact(artifact)
        assert len(mock.calls) == 1  # the API only
    assert artifact.state == ArtifactState.GIVEN_UP
    assert "artifact-secret" not in artifact.failure_reason and "DOWNLOAD_HOSTS" in artifact.failure_reason


def test_storage_failing_mid_copy_is_tried_again_later(session, tmp_path):
    artifact = artifacts.announce_artifact(session, "transcript")
    with responses.RequestsMock() as mock:
        answer(mock)
        mock.add(responses.GET, FILE_URL.split("?")[0], body=CSV, content_type="text/csv")
        with pytest.raises(CopyError):
            artifacts.copy_artifact(artifact, storage_alias="failing")
    assert artifact.state == ArtifactState.FAILED and artifact.tries == 1
    assert artifact.next_attempt_at is not None and artifact.next_attempt_at > timezone.now()
    assert not list((tmp_path / "f").rglob("*.csv")) if (tmp_path / "f").exists() else True
    assert list(artifacts.artifacts_to_copy()) == []  # not due yet
    SessionArtifact.objects.filter(pk=artifact.pk).update(next_attempt_at=timezone.now())
    assert list(artifacts.artifacts_to_copy()) == [artifact]
    with responses.RequestsMock() as mock:
        answer(mock)
        mock.add(responses.GET, FILE_URL.split("?")[0], body=CSV, content_type="text/csv")
        assert artifacts.copy_due_artifacts() == {"copied": 1, "failed": 0, "skipped": None}
    artifact.refresh_from_db()
    assert artifact.state == ArtifactState.STORED and artifact.tries == 1


def test_an_expired_url_is_renewed_through_the_api_once(session, tmp_path):
    artifact = artifacts.announce_artifact(session, "transcript")
    with responses.RequestsMock() as mock:
        answer(mock)
        mock.add(responses.GET, FILE_URL.split("?")[0], status=403)
        mock.add(responses.GET, FILE_URL.split("?")[0], body=CSV, content_type="text/csv")
        artifacts.copy_artifact(artifact)
        api_calls = [c for c in mock.calls if "/sessions/" in c.request.url]
        assert len(api_calls) == 2
    assert artifact.state == ArtifactState.STORED and artifact.tries == 0


def test_the_stored_file_is_served_to_staff_with_the_view_permission(session, client, django_user_model):
    from django.contrib.auth.models import Permission

    artifact = artifacts.announce_artifact(session, "transcript")
    with responses.RequestsMock() as mock:
        answer(mock)
        mock.add(responses.GET, FILE_URL.split("?")[0], body=CSV, content_type="text/csv")
        artifacts.copy_artifact(artifact)
    url = f"/admin/realtimekit/sessionartifact/{artifact.pk}/file/"
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_sessionartifact"))
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CSV
    text = client.get(f"/admin/realtimekit/sessionartifact/{artifact.pk}/text/")
    assert text.status_code == 200 and b"Hello there" in text.content and b"Ada" in text.content


def test_generate_summary_asks_the_api_and_announces(session):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{API}/sessions/{SESSION}/summary", json={"success": True, "data": {}})
        artifact = artifacts.generate_summary(session)
    assert artifact.kind == ArtifactKind.SUMMARY and artifact.state == ArtifactState.ANNOUNCED


def test_admin_generate_summary_action_and_artifact_pages(session, admin_client):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{API}/sessions/{SESSION}/summary", json={"success": True, "data": {}})
        response = admin_client.post(
            "/admin/realtimekit/session/",
            {"action": "generate_summary_action", "_selected_action": [SESSION]},
            follow=True,
        )
        assert len(mock.calls) == 1
    assert response.status_code == 200
    artifact = SessionArtifact.objects.get(kind=ArtifactKind.SUMMARY)
    assert admin_client.get("/admin/realtimekit/sessionartifact/").status_code == 200
    page = admin_client.get(f"/admin/realtimekit/session/{SESSION}/change/")
    assert page.status_code == 200 and b"Announced" in page.content
    assert admin_client.get(f"/admin/realtimekit/sessionartifact/{artifact.pk}/file/").status_code == 404


def test_a_transcript_not_in_the_csv_shape_is_not_shown_as_text():
    from realtimekit_django.admin.artifacts import transcript_lines

    assert transcript_lines(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n") is None
    assert transcript_lines(b"\xff\xfe\x00") is None
    assert transcript_lines(b"Speaker,Start,Text\nAda,1.0,Hi\n") == [("Ada", "1.0", "Hi")]


def test_an_api_link_already_expired_counts_a_try_and_the_task_reports(session, settings):
    from realtimekit_django import tasks
    from realtimekit_django.exceptions import DownloadUnavailable

    artifact = artifacts.announce_artifact(session, "chat")
    with responses.RequestsMock() as mock:
        answer(mock, "chat", expiry="2000-01-01T00:00:00Z")
        with pytest.raises(DownloadUnavailable, match="expired"):
            artifacts.copy_artifact(artifact)
        assert len(mock.calls) == 1  # no download of an expired link
    assert artifact.state == ArtifactState.FAILED and artifact.tries == 1
    SessionArtifact.objects.filter(pk=artifact.pk).update(next_attempt_at=None)
    with responses.RequestsMock() as mock:
        answer(mock, "chat")
        mock.add(responses.GET, FILE_URL.split("?")[0], body=b"a,b\n", content_type="text/csv")
        assert tasks.copy_artifact.apply(args=[artifact.pk]).get() == ArtifactState.STORED
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RECORDING_STORAGE": None}
    assert tasks.copy_artifacts.apply().get()["skipped"] == "RECORDING_STORAGE is not set"


@pytest.mark.parametrize("task_name", ["copy_artifact", "copy_artifacts", "copy_recordings"])
def test_copy_tasks_spend_from_the_background_lane(task_name, monkeypatch):
    """A copy is background work: on the default (interactive) lane it could spend the part of
    the budget's reserve kept for joins (found by the budget benchmark's sessions, issue 27.7)."""
    from realtimekit_django import tasks
    from realtimekit_django.client.budget import BACKGROUND, current_lane
    from realtimekit_django.services import recordings

    seen = []

    def record(*args, **kwargs):
        seen.append(current_lane())
        return {}

    monkeypatch.setattr(artifacts, "copy_artifact_by_id", record)
    monkeypatch.setattr(artifacts, "copy_due_artifacts", record)
    monkeypatch.setattr(recordings, "copy_uploaded_recordings", record)
    task = getattr(tasks, task_name)
    task.apply(args=[1] if task_name == "copy_artifact" else []).get()

    assert seen == [BACKGROUND]
