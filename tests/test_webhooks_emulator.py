"""The emulator's webhooks: the SDK's resource against the CLI, signed deliveries from the session
simulator reaching the receiver (in memory and over loopback), and the fault knobs."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid

import pytest
from cloudflare import Cloudflare
from django.core.management import call_command
from django.core.management.base import CommandError

from realtimekit_django.emulator import Emulator, serve
from realtimekit_django.models import Meeting, Participant, Session, SessionParticipant, WebhookEvent
from realtimekit_django.webhooks.verify import signature_matches

from . import webhook_helpers as wh
from .emulator_cli import running_emulator_cli

pytestmark = pytest.mark.usefixtures("empty_cache")

TOKEN = "sdk-test-token"
IDS = {"account_id": "sdk-account", "app_id": "sdk-app"}
SITE = "https://site.test/realtimekit/webhooks/"


@pytest.fixture
def cli_base_url():
    with running_emulator_cli(TOKEN) as base_url:
        yield base_url


def test_the_sdks_webhook_operations_complete_against_the_emulator_cli(cli_base_url):
    with Cloudflare(api_token=TOKEN, base_url=cli_base_url, max_retries=0) as sdk:
        hooks = sdk.realtime_kit.webhooks
        created = hooks.create_webhook(
            IDS["app_id"], account_id=IDS["account_id"], name="site", url=SITE, events=["meeting.started"]
        ).data
        assert created.enabled is True and created.events == ["meeting.started"] and created.url == SITE
        assert [w.id for w in hooks.get_webhooks(**IDS).data] == [created.id]
        assert hooks.get_webhook_by_id(created.id, **IDS).data.name == "site"
        edited = hooks.edit_webhook(created.id, enabled=False, **IDS).data
        assert edited.enabled is False and edited.name == "site" and edited.updated_at > created.updated_at
        replaced = hooks.replace_webhook(
            created.id, name="again", url=SITE, events=["meeting.ended", "meeting.started"], **IDS
        ).data
        assert replaced.name == "again" and replaced.enabled is True and len(replaced.events) == 2
        assert hooks.delete_webhook(created.id, **IDS).data.id == created.id
        assert hooks.get_webhooks(**IDS).data == []
    key_url = cli_base_url.split("/client/v4")[0] + "/.well-known/webhooks.json"
    with urllib.request.urlopen(key_url) as answer:  # noqa: S310 - loopback
        published = json.load(answer)
    assert published["success"] is True and "BEGIN PUBLIC KEY" in published["data"]["publicKey"]


@pytest.fixture
def site(realtimekit_emulator):
    """The emulator with the test site's receiver registered for every event."""
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    call_command("realtimekit_webhooks", "register", SITE, stdout=io.StringIO())
    return realtimekit_emulator


@pytest.mark.django_db(transaction=True)
def test_simulated_people_move_the_live_state(site):
    meeting = site.create_meeting(title="Standup")
    Meeting.objects.create(id=meeting["id"], app_id="test-app", title="Standup")
    alice = Participant.objects.create(
        id=uuid.UUID("22222222-2222-4222-8222-222222222222"),
        meeting_id=meeting["id"],
        custom_participant_id="alice",
        preset_name="group_call_participant",
    )
    for person in ("alice", "bob"):
        site.add_participant(
            meeting["id"], custom_participant_id=person, preset_name="group_call_participant"
        )
    session_id = site.sessions.start(meeting["id"])
    assert Session.objects.get().status == "LIVE"
    peer = site.sessions.join(session_id, "alice", "Alice")
    site.sessions.join(session_id, "bob")
    attendance = SessionParticipant.objects.get(peer_id=peer)
    assert attendance.participant_id == alice.pk and attendance.left_at is None
    site.sessions.leave(session_id, peer)
    assert SessionParticipant.objects.get(peer_id=peer).left_at is not None
    site.sessions.end(session_id, reason="HOST_ENDED_MEETING")
    session = Session.objects.get()
    assert (session.status, session.end_reason) == ("ENDED", "HOST_ENDED_MEETING")
    assert SessionParticipant.objects.filter(left_at__isnull=True).count() == 0  # bob was let out
    assert WebhookEvent.objects.filter(processed_at__isnull=True).count() == 0
    assert {d.status for d in site.webhooks.deliveries} == {200}


@pytest.mark.django_db(transaction=True)
def test_duplicates_and_reversed_order_converge(site):
    meeting = site.create_meeting(title="Shuffled")
    site.webhooks.faults.duplicate = True
    site.webhooks.faults.out_of_order = True
    site.add_participant(meeting["id"], custom_participant_id="carol", preset_name="group_call_participant")
    session_id = site.sessions.start(meeting["id"])
    peer = site.sessions.join(session_id, "carol")
    site.sessions.leave(session_id, peer)  # the last one out ends the session
    assert site.webhooks.flush() == 8
    assert WebhookEvent.objects.count() == 4  # each duplicate was dropped by its rtk-uuid
    session = Session.objects.get()
    assert session.status == "ENDED" and session.end_reason == "ALL_PARTICIPANTS_LEFT"
    attendance = SessionParticipant.objects.get()
    assert attendance.joined_at < attendance.left_at <= session.ended_at


@pytest.mark.django_db(transaction=True)
def test_a_recording_update_is_stored_without_its_download_urls(site, caplog):
    meeting = site.create_meeting()
    session_id = site.sessions.start(meeting["id"])
    site.sessions.recording(session_id, "UPLOADED")
    event = WebhookEvent.objects.get(event="recording.statusUpdate")
    assert event.processed_at is not None
    recording = event.payload["recording"]
    # the emulator sent both links (https://recordings.emulator.invalid/<id>.mp4?token=...)
    assert recording["downloadUrl"] == recording["audioDownloadUrl"] == "[redacted]"
    assert recording["status"] == "UPLOADED" and recording["downloadUrlExpiry"]  # the rest is kept
    stored = json.dumps(event.payload)
    assert "recordings.emulator.invalid" not in stored and "token=" not in stored
    assert "token=" not in caplog.text and "token=" not in repr(event)


def test_5xx_and_network_errors_are_retried_and_4xx_is_not():
    emulator = Emulator()
    emulator.webhooks.use_key(wh.private_key())
    answers = iter([500, OSError("reset"), 200, 404])

    def flaky(url, body, headers):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        assert signature_matches(
            wh.public_pem(), body, __import__("base64").b64decode(headers["rtk-signature"])
        )
        return answer

    emulator.webhooks.transport = flaky
    emulator.webhooks._webhooks["app"] = {}  # noqa: SLF001 - seeding the registry directly
    emulator.webhooks.create("app", {"name": "n", "url": SITE, "events": ["meeting.started"]})
    meeting = emulator.create_meeting("app")
    emulator.sessions.start(meeting["id"])
    first = [(d.attempt, d.status, d.error) for d in emulator.webhooks.deliveries]
    assert first == [(1, 500, None), (2, None, "OSError"), (3, 200, None)]
    assert len({d.uuid for d in emulator.webhooks.deliveries}) == 1  # a retry keeps its rtk-uuid
    emulator.sessions.start(emulator.create_meeting("app")["id"])
    assert [d.status for d in emulator.webhooks.deliveries[3:]] == [404]


def test_a_webhook_gets_only_its_events_and_a_disabled_one_gets_none():
    emulator = Emulator()
    emulator.webhooks.use_key(wh.private_key())
    sent = []
    emulator.webhooks.transport = lambda url, body, headers: (
        sent.append((url, json.loads(body)["event"])) or 200
    )
    emulator.webhooks.create("app", {"name": "a", "url": "https://a.test/", "events": ["meeting.ended"]})
    off = emulator.webhooks.create(
        "app", {"name": "b", "url": "https://b.test/", "events": ["meeting.started"]}
    )
    emulator.webhooks.update("app", off["id"], {"enabled": False}, replace=False)
    session_id = emulator.sessions.start(emulator.create_meeting("app")["id"])
    emulator.sessions.end(session_id)
    assert sent == [("https://a.test/", "meeting.ended")]


@pytest.mark.django_db(transaction=True)
def test_a_signed_event_reaches_the_receiver_over_loopback(live_server, settings):
    emulator = Emulator(api_token=TOKEN)
    emulator.webhooks.use_key(wh.private_key())
    server, thread = serve(emulator)
    try:
        settings.REALTIMEKIT = {
            **settings.REALTIMEKIT,
            "WEBHOOK_PUBLIC_KEY_URL": f"http://127.0.0.1:{server.port}/.well-known/webhooks.json",
        }
        emulator.webhooks.create(
            "app", {"name": "site", "url": live_server.url + wh.RECEIVER, "events": ["meeting.started"]}
        )
        emulator.sessions.start(emulator.create_meeting("app")["id"])
        assert [d.status for d in emulator.webhooks.deliveries] == [200]
        assert Session.objects.get().status == "LIVE"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.django_db
def test_register_twice_makes_one_webhook_then_list_and_delete(realtimekit_emulator):
    out = io.StringIO()
    call_command("realtimekit_webhooks", "register", SITE, "--events", "meeting.started", stdout=out)
    call_command("realtimekit_webhooks", "register", SITE, stdout=out)
    hooks = realtimekit_emulator.webhooks.list_webhooks("test-app")
    assert len(hooks) == 1 and len(hooks[0]["events"]) == 9
    assert "created" in out.getvalue() and "updated" in out.getvalue()
    listing = io.StringIO()
    call_command("realtimekit_webhooks", "list", stdout=listing)
    assert hooks[0]["id"] in listing.getvalue() and SITE in listing.getvalue()
    call_command("realtimekit_webhooks", "delete", hooks[0]["id"], stdout=out)
    assert realtimekit_emulator.webhooks.list_webhooks("test-app") == []
    with pytest.raises(CommandError, match="not found"):
        call_command("realtimekit_webhooks", "delete", hooks[0]["id"], stdout=out)


def test_the_simulator_over_http_delivers_from_the_cli_process(cli_base_url):
    base = cli_base_url + "/accounts/a/realtime/kit/app"

    def call(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:  # noqa: S310 - loopback
            return json.load(answer)["data"]

    meeting = call("POST", "/meetings", {"title": "HTTP"})
    call(
        "POST",
        f"/meetings/{meeting['id']}/participants",
        {"custom_participant_id": "dan", "preset_name": "p"},
    )
    session_id = call("POST", f"/emulator/meetings/{meeting['id']}/sessions")["session_id"]
    peer_id = call("POST", f"/emulator/sessions/{session_id}/participants", {"custom_participant_id": "dan"})[
        "peer_id"
    ]
    assert call("GET", "/emulator/sessions")[0]["peers"][peer_id]["customParticipantId"] == "dan"
    call("DELETE", f"/emulator/sessions/{session_id}/participants/{peer_id}")  # the last one out
    assert call("GET", "/emulator/sessions")[0]["live"] is False


@pytest.mark.django_db(transaction=True)
def test_a_recording_status_webhook_moves_the_recording_row_and_never_back(site):
    from realtimekit_django.models import Recording

    meeting = site.create_meeting(title="Recorded")
    Meeting.objects.create(id=meeting["id"], app_id="test-app", title="Recorded")
    session_id = site.sessions.start(meeting["id"])
    recording_id = site.sessions.recording(session_id, "UPLOADED")
    site.sessions.recording(session_id, "RECORDING", recording_id=recording_id)  # late, older news
    row = Recording.objects.get(pk=recording_id)
    assert row.status == "UPLOADED" and str(row.meeting_id) == meeting["id"] and row.file_size == 1024
    assert "recordings.emulator.invalid" not in json.dumps(row.remote_data)  # no bearer link kept


@pytest.mark.django_db(transaction=True)
def test_people_removed_from_the_live_meeting_are_seen_leaving(site):
    from realtimekit_django import services

    meeting = services.create_meeting(title="Removed")
    stays, _t = services.add_participant(
        meeting, custom_participant_id="stays", preset_name="group_call_host"
    )
    goes, _t = services.add_participant(meeting, custom_participant_id="goes", preset_name="group_call_host")
    session_id = site.sessions.start(str(meeting.pk))
    site.sessions.join(session_id, "stays")
    site.sessions.join(session_id, "goes")

    services.kick_participants(meeting, [goes])
    left = {a.custom_participant_id: a.left_at for a in SessionParticipant.objects.all()}
    assert left["goes"] is not None and left["stays"] is None

    services.end_meeting_for_everyone(meeting)
    assert Session.objects.get().status == "ENDED"
    assert SessionParticipant.objects.filter(left_at__isnull=True).count() == 0
