"""What the receiver keeps of a delivery: secrets redacted before the row is written (and
scrubbed from rows stored before), a replayed body stored once whatever its ``rtk-uuid``, an
over-long ``rtk-uuid`` kept whole as a digest, a hostile nesting refused with 400, and a
payload with unstorable values kept (replaced and marked) and processed."""

from __future__ import annotations

import importlib
import io
import json
import logging
import pkgutil
import uuid
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from realtimekit_django import services
from realtimekit_django.models import Recording, RecordingStatus, Session, SessionParticipant, WebhookEvent
from realtimekit_django.webhooks import payloads, redact

from . import webhook_helpers as wh
from .test_recordings import digest_of, expected_digest, live, uploaded  # noqa: F401 - the ``live`` fixture

MEETING = uuid.UUID("44444444-4444-4444-8444-444444444444")
STREAM_KEY = "sk_live_0123456789abcdef"
INGEST = "rtmps://ingest.example.com:443/live/"
LINKS = {
    "downloadUrl": "https://bucket.example/rec.mp4?X-Amz-Signature=one",
    "audioDownloadUrl": "https://bucket.example/rec.mp3?X-Amz-Signature=two",
    "chatDownloadUrl": "https://bucket.example/chat.csv?X-Amz-Signature=three",
    "transcriptDownloadUrl": "https://bucket.example/t.vtt?X-Amz-Signature=four",
    "summaryDownloadUrl": "https://bucket.example/s.txt?X-Amz-Signature=five",
}
SNAKE = {
    "stream_key": "sk_snake_secret",
    "ingest_server": "rtmps://snake.example.com/live",
    "chat_download_url": "https://bucket.example/snake?sig=six",
    "SUMMARYDOWNLOADURL": "https://bucket.example/upper?sig=seven",
}
SECRETS = [STREAM_KEY, INGEST, *LINKS.values(), *SNAKE.values()]


@pytest.fixture(autouse=True)
def _pem(settings):
    cache.clear()
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY": wh.public_pem()}
    yield
    cache.clear()


def _with_secrets() -> dict:
    return {
        "event": "livestreaming.statusUpdate",
        "meetingId": str(MEETING),
        "status": "LIVE",
        "playbackUrl": "https://play.example/ok.m3u8",
        "ingestServer": INGEST,
        "streamKey": STREAM_KEY,
        "recording": {**LINKS, "downloadUrlExpiry": "2030-01-01T00:00:00.000Z", "status": "UPLOADED"},
        "artifacts": [{"kind": "chat", **SNAKE}, {"kind": "none", "downloadUrl": None, "streamKey": ""}],
    }


# -- 1. secrets never rest ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_secrets_are_redacted_before_the_row_is_written_and_never_reach_the_sql_log(client, caplog):
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    body = wh.body_of(_with_secrets())
    with CaptureQueriesContext(connection) as queries:  # also turns the SQL debug log on
        response = wh.post(client, body)  # signed over the raw body, secrets and all
    assert response.status_code == 200 and response.json()["duplicate"] is False
    event = WebhookEvent.objects.get()
    stored = event.payload
    assert stored["streamKey"] == stored["ingestServer"] == redact.REDACTED
    assert all(stored["recording"][key] == redact.REDACTED for key in LINKS)
    assert all(stored["artifacts"][0][key] == redact.REDACTED for key in SNAKE)
    # what is not a secret is kept, and an empty value stays empty (the marker means "was there")
    assert stored["recording"]["downloadUrlExpiry"] == "2030-01-01T00:00:00.000Z"
    assert stored["playbackUrl"] == "https://play.example/ok.m3u8" and stored["status"] == "LIVE"
    assert stored["artifacts"][1] == {"kind": "none", "downloadUrl": None, "streamKey": ""}
    sql = "\n".join(str(query) for query in queries.captured_queries)
    dump = io.StringIO()
    call_command("dumpdata", "realtimekit.webhookevent", stdout=dump)
    assert "INSERT" in sql.upper() and "webhookevent" in caplog.text.lower()  # the log was on
    for secret in SECRETS:
        assert secret not in json.dumps(stored) and secret not in dump.getvalue()
        assert secret not in sql and secret not in caplog.text


def test_redacted_is_one_rule_for_every_spelling_and_depth():
    assert redact.is_secret_key("streamKey") and redact.is_secret_key("STREAM_KEY")
    assert redact.is_secret_key("ingest-server") and redact.is_secret_key("transcript_download_url")
    assert redact.is_secret_key("someNewDownloadUrl") and redact.is_secret_key("rtmpUrl")
    for kept in ("downloadUrlExpiry", "chat_download_url_expiry", "playbackUrl", "key", 3, None):
        assert not redact.is_secret_key(kept)
    value = {"a": [{"b": {"streamKey": {"nested": "x"}}}], "downloadUrl": 0}
    assert redact.redacted(value) == {
        "a": [{"b": {"streamKey": redact.REDACTED}}],
        "downloadUrl": redact.REDACTED,
    }
    assert redact.secret_paths(value) == ["a[0].b.streamKey", "downloadUrl"]
    assert redact.secret_paths(redact.redacted(value)) == []
    assert value["a"][0]["b"]["streamKey"] == {"nested": "x"}  # a copy: the input is untouched
    assert payloads.masked({"streamKey": "s"}) == {"streamKey": payloads.MASK}


def _scrub_migration():
    """The data migration, found by what it does (the lead renumbers migrations at merge)."""
    package = importlib.import_module("realtimekit_django.migrations")
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "scrub_stored_secrets"):
            return module.scrub_stored_secrets
    raise AssertionError("no migration scrubs stored secrets")


@pytest.mark.django_db
def test_the_data_migration_scrubs_rows_stored_before():
    raw = [
        WebhookEvent.objects.create(
            uuid=f"old-{i}",
            event="livestreaming.statusUpdate",
            received_at=timezone.now(),
            payload=_with_secrets(),
        )
        for i in range(3)
    ]
    clean = WebhookEvent.objects.create(
        uuid="clean", event="meeting.started", received_at=timezone.now(), payload=wh.started(MEETING, "s")
    )
    _scrub_migration()(apps, SimpleNamespace(connection=connection))
    for row in raw:
        row.refresh_from_db()
        assert row.payload == redact.redacted(_with_secrets())
        assert not any(secret in json.dumps(row.payload) for secret in SECRETS)
    clean.refresh_from_db()
    assert clean.payload == wh.started(MEETING, "s")


@pytest.mark.django_db(transaction=True)
def test_no_handler_needs_a_download_url_the_copy_asks_the_api(client, live, tmp_path):  # noqa: F811
    recording = uploaded(live, 4096)
    trap = "https://trap.invalid/not-the-recording.mp4"
    payload = {
        "event": "recording.statusUpdate",
        "meeting": wh.meeting_part(recording.meeting_id, "s-rec"),
        "recording": {
            "id": str(recording.pk),
            "recordingId": str(recording.pk),
            "status": "UPLOADED",
            "downloadUrl": trap,
            "audioDownloadUrl": trap,
            "downloadUrlExpiry": "2099-01-01T00:00:00.000Z",
            "meetingId": str(recording.meeting_id),
        },
    }
    assert wh.post(client, wh.body_of(payload)).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.processed_at is not None and event.error == "" and trap not in json.dumps(event.payload)
    before = len(live.requests)
    services.copy_recording(Recording.objects.get(pk=recording.pk))
    copied = Recording.objects.get(pk=recording.pk)
    assert copied.status == RecordingStatus.UPLOADED and copied.stored_size == 4096
    assert digest_of(tmp_path / "kept" / copied.stored_name) == expected_digest(str(recording.pk), 4096)
    asked = [r.path for r in live.requests[before:]]
    assert any(path.endswith(f"/recordings/{recording.pk}") for path in asked)  # a fresh link
    assert not any("trap.invalid" in path for path in asked)


# -- 13. a replayed body is one event -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_captured_body_replayed_under_new_uuids_is_stored_and_announced_once(client, received):
    body = wh.body_of(wh.started(MEETING, "s-replayed"))
    answers = [wh.post(client, body, delivery_id=str(uuid.uuid4())).json() for _ in range(6)]
    assert [a["duplicate"] for a in answers] == [False] + [True] * 5
    assert WebhookEvent.objects.count() == 1 and len(received) == 1
    other = wh.body_of(wh.started(MEETING, "s-other"))
    assert wh.post(client, other).json()["duplicate"] is False
    assert WebhookEvent.objects.count() == 2


# -- 14. hostile shapes are refused, long ids are kept whole --------------------------------------


@pytest.mark.django_db
def test_a_signed_body_nested_960_deep_is_400_not_500(client):
    for depth in (960, 5000, 65):
        body = b'{"event": "meeting.started", "x": ' + b"[" * depth + b"]" * depth + b"}"
        response = wh.post(client, body)
        assert response.status_code == 400 and response.json()["error"] == "not_json"
    assert WebhookEvent.objects.count() == 0
    shallow = b'{"event": "meeting.started", "x": ' + b"[" * 60 + b"]" * 60 + b"}"
    assert wh.post(client, shallow).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_long_uuids_sharing_their_first_100_characters_are_two_events(client):
    prefix = "u" * 100
    first, second = wh.body_of(wh.started(MEETING, "s-a")), wh.body_of(wh.started(MEETING, "s-b"))
    assert wh.post(client, first, delivery_id=prefix + "-one").json()["duplicate"] is False
    assert wh.post(client, second, delivery_id=prefix + "-two").json()["duplicate"] is False
    assert wh.post(client, first, delivery_id=prefix + "-one").json()["duplicate"] is True
    stored = sorted(WebhookEvent.objects.values_list("uuid", flat=True))
    assert len(stored) == 2 and len(set(stored)) == 2 and all(len(uid) <= 100 for uid in stored)
    assert set(Session.objects.values_list("pk", flat=True)) == {"s-a", "s-b"}
    assert wh.post(client, wh.body_of(wh.started(MEETING, "s-c")), delivery_id="short-id").status_code == 200
    assert WebhookEvent.objects.filter(uuid="short-id").exists()  # a usual id is kept as it is


# -- 18. one unstorable value loses nothing else --------------------------------------------------


def _poisoned_join() -> bytes:
    payload = wh.joined(MEETING, "s-poison", "peer-1", "mallory", "2026-01-05T10:01:00.000Z")
    payload["participant"]["userDisplayName"] = "Mal\u0000lory"
    payload["meeting"]["title"] = "Stand\ud800up"
    payload["participant"]["fileName\u0000"] = "x"
    return json.dumps(payload).encode()  # \u0000 and \ud800 as JSON escapes, as a sender writes them


def joined_despite_poison() -> SessionParticipant:
    attendance = SessionParticipant.objects.get()
    assert attendance.session_id == "s-poison" and attendance.custom_participant_id == "mallory"
    assert attendance.display_name == "Mal\ufffdlory"
    event = WebhookEvent.objects.get()
    assert event.processed_at is not None and event.error == ""
    assert event.payload["meeting"]["title"] == "Stand\ufffdup"
    assert set(event.payload[payloads.UNSTORABLE_KEY]) >= {"meeting.title", "participant.userDisplayName"}
    assert event.payload["participant"]["fileName\ufffd"] == "x"  # a poisoned key, replaced too
    return attendance


@pytest.mark.django_db(transaction=True)
def test_a_nul_or_a_lone_surrogate_in_a_display_name_loses_no_attendance(client):
    assert wh.post(client, _poisoned_join()).status_code == 200
    joined_despite_poison()


def test_storable_replaces_numbers_no_column_takes():
    cleaned = payloads.storable({"event": "x", "a": float("nan"), "b": [float("inf"), 1e308, 10**400]})
    assert cleaned["a"] is None and cleaned["b"] == [None, 1e308, None]
    assert sorted(cleaned[payloads.UNSTORABLE_KEY]) == ["a", "b[0]", "b[2]"]
    clean = {"event": "x", "n": 1}
    assert payloads.storable(clean) is clean
