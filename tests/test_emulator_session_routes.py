"""The emulator's ``/sessions`` routes and the files a meeting leaves: through our own client,
the site's receiver and the copy task, as a site on the emulator lives the end of a meeting."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from django.core.cache import cache
from django.core.files.storage import storages

from realtimekit_django import services
from realtimekit_django.client import get_client
from realtimekit_django.emulator.clock import ManualClock
from realtimekit_django.models import ArtifactState, Session, SessionArtifact, WebhookEvent
from realtimekit_django.sync.sessions import sync_sessions

from . import webhook_helpers as wh

SITE = "https://site.test/realtimekit/webhooks/"
AUTH = {"Authorization": "Bearer test-api-token-s3cr3t-value"}  # tests/settings.py's API_TOKEN


@pytest.fixture
def site(realtimekit_emulator, settings, tmp_path):
    """The fixture's emulator, on a clock that stands still, delivering every event to the test
    site's receiver, whose copies go to a storage of their own."""
    cache.clear()
    settings.STORAGES = {
        **settings.STORAGES,
        "kept": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RECORDING_STORAGE": "kept"}
    # Now, so that the site (on the real clock) sees the emulator's links unexpired.
    realtimekit_emulator.clock = ManualClock(time.time())
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    from django.core.management import call_command

    call_command("realtimekit_webhooks", "register", SITE, stdout=io.StringIO())
    yield realtimekit_emulator
    cache.clear()


def _meeting_with_people(emulator, **settings):
    meeting = services.create_meeting(title="Retro", **settings)
    ann, _t = services.add_participant(
        meeting, custom_participant_id="ann", name="Ann", preset_name="group_call_host"
    )
    ben, _t = services.add_participant(
        meeting, custom_participant_id="ben", name="Ben", preset_name="group_call_host"
    )
    session_id = emulator.sessions.start(str(meeting.pk))
    peers = {custom: emulator.sessions.join(session_id, custom) for custom in ("ann", "ben")}
    return meeting, session_id, peers


@pytest.mark.django_db(transaction=True)
def test_a_meetings_files_reach_the_sites_storage_when_it_ends(site):
    meeting, session_id, peers = _meeting_with_people(
        site, persist_chat=True, transcribe_on_end=True, summarize_on_end=True
    )
    site.sessions.say(session_id, peers["ann"], "Shall we start?")
    site.sessions.say(session_id, peers["ben"], "Yes, the numbers first.")
    site.clock.advance(600)
    site.sessions.end(session_id)

    kinds = [
        e.event
        for e in WebhookEvent.objects.order_by("pk")
        if e.event.startswith("meeting.") and "articip" not in e.event
    ]
    assert kinds == [
        "meeting.started",
        "meeting.ended",
        "meeting.chatSynced",
        "meeting.transcript",
        "meeting.summary",
    ]
    for event in WebhookEvent.objects.filter(event__in=["meeting.chatSynced", "meeting.transcript"]):
        assert "emulator.invalid" not in json.dumps(event.payload)  # the bearer links were redacted
    artifacts = {a.kind: a for a in SessionArtifact.objects.filter(session_id=session_id)}
    assert set(artifacts) == {"chat", "transcript", "summary"}
    assert {a.state for a in artifacts.values()} == {ArtifactState.STORED}, [
        a.failure_reason for a in artifacts.values()
    ]
    with storages["kept"].open(artifacts["transcript"].stored_name) as handle:
        rows = list(csv.DictReader(io.TextIOWrapper(handle, "utf-8")))
    assert [(r["speaker"], r["text"]) for r in rows] == [
        ("Ann", "Shall we start?"),
        ("Ben", "Yes, the numbers first."),
    ]
    assert artifacts["transcript"].stored_size == storages["kept"].size(artifacts["transcript"].stored_name)
    with storages["kept"].open(artifacts["summary"].stored_name) as handle:
        assert "2 people (Ann, Ben)" in handle.read().decode()


@pytest.mark.django_db(transaction=True)
def test_no_file_is_made_when_the_meeting_does_not_ask_for_one(site):
    meeting, session_id, _peers = _meeting_with_people(site)
    site.sessions.end(session_id)
    assert not SessionArtifact.objects.exists()
    for kind in ("chat", "transcript", "summary"):
        answer = site.handle(
            "GET", f"/accounts/a/realtime/kit/test-app/sessions/{session_id}/{kind}", headers=AUTH
        )
        assert answer.status == 404, kind
    refused = site.handle(
        "POST", f"/accounts/a/realtime/kit/test-app/sessions/{session_id}/summary", headers=AUTH
    )
    assert refused.status == 400 and "no transcript" in json.loads(refused.body)["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_a_link_expires_and_the_api_hands_out_a_fresh_one(site):
    meeting, session_id, _peers = _meeting_with_people(site, transcribe_on_end=True)
    site.webhooks.delete(
        "test-app", site.webhooks.list_webhooks("test-app")[0]["id"]
    )  # nothing copies it now
    site.sessions.end(session_id)
    data = get_client().sessions.get_session_transcripts(session_id)["data"]
    url = data["transcript_download_url"]
    path, _, query = url.partition("?")
    args = dict(pair.split("=", 1) for pair in query.split("&"))
    assert site.handle("GET", path.split("emulator.invalid", 1)[1], args).status == 200
    forged = {**args, "signature": "0" * 64}
    assert site.handle("GET", path.split("emulator.invalid", 1)[1], forged).status == 403
    site.clock.advance(site.download_url_lifetime + 1)
    assert site.handle("GET", path.split("emulator.invalid", 1)[1], args).status == 403
    fresh = get_client().sessions.get_session_transcripts(session_id)["data"]["transcript_download_url"]
    path, _, query = fresh.partition("?")
    assert (
        site.handle(
            "GET", path.split("emulator.invalid", 1)[1], dict(p.split("=", 1) for p in query.split("&"))
        ).status
        == 200
    )


@pytest.mark.django_db(transaction=True)
def test_the_listing_details_and_attendance_answer_from_the_one_model(site):
    meeting, session_id, peers = _meeting_with_people(site)
    site.clock.advance(120)
    site.sessions.leave(session_id, peers["ben"])
    site.clock.advance(60)
    site.sessions.join(session_id, "ben")  # Ben rejoins
    site.clock.advance(60)
    sessions = get_client().sessions
    live = sessions.get_sessions(status="LIVE")
    assert [s["id"] for s in live["data"]["sessions"]] == [session_id]
    assert sessions.get_sessions(status="ENDED")["data"]["sessions"] == []
    site.sessions.end(session_id)
    detail = sessions.get_session_details(session_id)["data"]
    assert detail["status"] == "ENDED" and detail["max_concurrent_participants"] == 2
    assert detail["minutes_consumed"] == pytest.approx(4 + 3, abs=0.05)  # Ann 4, Ben 2 + 1
    raw = sessions.get_session_participants(session_id, view="raw")["data"]["participants"]
    assert sorted(r["custom_participant_id"] for r in raw) == ["ann", "ben", "ben"]
    merged = sessions.get_session_participants(session_id, view="consolidated", include_peer_events=True)
    ben = next(r for r in merged["data"]["participants"] if r["custom_participant_id"] == "ben")
    assert ben["duration"] == pytest.approx(3, abs=0.05) and len(ben["peer_events"]) == 4
    one = sessions.get_session_participant_details(ben["id"], session_id=session_id)["data"]["participant"]
    assert one["custom_participant_id"] == "ben" and "peer_events" not in one
    # The sessions walk (our client, the API's figures) agrees with what the webhooks built.
    report = sync_sessions()
    assert report.completed, report.error
    row = Session.objects.get(pk=session_id)
    assert row.status == "ENDED" and row.max_concurrent_participants == 2
    assert float(row.minutes_consumed) == pytest.approx(7, abs=0.05)


def test_a_session_of_another_app_is_not_found(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="Other", app_id="other-app")
    person = realtimekit_emulator.add_participant(
        meeting["id"], app_id="other-app", custom_participant_id="x", preset_name="group_call_host"
    )
    session = realtimekit_emulator.join_session(meeting["id"], person["id"], app_id="other-app")
    mine = realtimekit_emulator.handle(
        "GET", f"/accounts/a/realtime/kit/test-app/sessions/{session['id']}", headers=AUTH
    )
    theirs = realtimekit_emulator.handle(
        "GET", f"/accounts/a/realtime/kit/other-app/sessions/{session['id']}", headers=AUTH
    )
    assert (mine.status, theirs.status) == (404, 200)
    bad = realtimekit_emulator.handle(
        "GET", "/accounts/a/realtime/kit/test-app/sessions", {"status": "DONE"}, headers=AUTH
    )
    assert bad.status == 400 and "status" in json.loads(bad.body)["error"]["message"]
