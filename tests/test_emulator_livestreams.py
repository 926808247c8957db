"""The emulator's livestreams: our client and services against it end to end (start, status,
stop), the ``livestreaming.statusUpdate`` it delivers to the site, its refusals, the listing's
paging and filters, session figures, analytics and a restart with a state file."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from django.core.management import call_command
from django.urls import reverse

from realtimekit_django.client import get_client
from realtimekit_django.emulator import Emulator, ManualClock
from realtimekit_django.exceptions import BadRequest, Conflict, NotFound, ValidationError
from realtimekit_django.models import Livestream, Meeting, WebhookEvent
from realtimekit_django.services import livestreams as service

from . import webhook_helpers as wh

pytestmark = pytest.mark.usefixtures("empty_cache")

SITE = "https://site.test/realtimekit/webhooks/"
T0 = 1_767_607_200.0  # 2026-01-05T10:00:00Z


@pytest.fixture
def site(realtimekit_emulator):
    """The fixture's emulator on a clock that stands still, the test site's receiver
    registered for every event."""
    realtimekit_emulator.clock = ManualClock(T0)
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    call_command("realtimekit_webhooks", "register", SITE, stdout=io.StringIO())
    return realtimekit_emulator


def _live_meeting(emulator: Emulator, title: str = "Town hall", *, row: bool = True) -> dict:
    """A meeting of the emulator with someone in its live session (and its row on the site)."""
    meeting = emulator.create_meeting(title=title)
    host = emulator.add_participant(
        meeting["id"], custom_participant_id="host", preset_name="group_call_host"
    )
    if row:
        Meeting.objects.create(id=meeting["id"], app_id="test-app", title=title)
    emulator.join_session(meeting["id"], host["id"])  # delivers meeting.started and the join
    return meeting


def _pushing_emulator() -> tuple[Emulator, list[str]]:
    """A bare emulator whose livestream pushes are recorded (their ``status``, in order)."""
    emulator = Emulator(default_app_id="app", clock=ManualClock(T0))
    sent: list[str] = []
    emulator.webhooks.transport = lambda url, body, headers: sent.append(json.loads(body)["status"]) or 200
    emulator.webhooks.use_key(wh.private_key())
    emulator.webhooks.create("app", {"name": "n", "url": SITE, "events": ["livestreaming.statusUpdate"]})
    return emulator, sent


def _posts(emulator: Emulator, suffix: str) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and r.path.endswith(suffix))


@pytest.mark.django_db(transaction=True)
def test_start_status_stop_through_our_client_and_services(site, caplog):
    caplog.set_level(logging.DEBUG)
    meeting = _live_meeting(site)
    row = Meeting.objects.get(pk=meeting["id"])

    started = service.start_livestream(row, name="Town hall live")

    assert _posts(site, f"/meetings/{meeting['id']}/livestreams") == 1
    [remote] = site.livestreams()
    assert (started.stream_key, started.ingest_server) == (remote["stream_key"], remote["ingest_server"])
    assert len(started.stream_key) == 64 and started.ingest_server.startswith("rtmps://")
    assert started.livestream.pk == remote["id"] and remote["name"] == "Town hall live"
    stream = Livestream.objects.get()
    # The answer said INVOKED; the platform's LIVE push (delivered after it) moved the row on.
    assert (stream.pk, stream.meeting_id, stream.status) == (remote["id"], row.pk, "LIVE")
    assert stream.playback_url == remote["playback_url"] and stream.playback_url.startswith("https://")

    site.clock.advance(120)
    api = get_client().livestreams
    active = api.get_meeting_active_livestreams(meeting["id"])["data"]
    assert (active["id"], active["status"], active["meeting_id"]) == (stream.pk, "LIVE", meeting["id"])
    details = api.get_livestream_session_for_livestream_id(stream.pk)["data"]
    assert details["livestream"]["id"] == stream.pk and details["session"]["ingest_seconds"] == 120
    running = api.get_active_livestreams_for_livestream_id(stream.pk)["data"]["session"]
    assert running["stopped_time"] is None and running["ingest_seconds"] == "120"

    stopped = service.stop_livestream(row)

    assert _posts(site, f"/meetings/{meeting['id']}/active-livestream/stop") == 1
    assert [s.pk for s in stopped] == [stream.pk]
    stream.refresh_from_db()
    assert stream.status == "OFFLINE" and stream.ended_at is not None
    assert site.livestreams()[0]["status"] == "IDLE"
    with pytest.raises(NotFound):
        api.get_meeting_active_livestreams(meeting["id"])
    session = api.get_livestream_session_details_for_session_id(details["session"]["id"])["data"]
    assert session["stopped_time"] is not None and session["ingest_seconds"] == 120

    events = WebhookEvent.objects.filter(event="livestreaming.statusUpdate").order_by("received_at", "id")
    assert [e.payload["status"] for e in events] == ["LIVE", "OFFLINE"]
    assert all(e.processed_at is not None for e in events)
    assert {e.meeting_id for e in events} == {row.pk}
    assert {d.status for d in site.webhooks.deliveries} == {200}
    # The key and the ingest server reached the caller once, and nothing kept them.
    for secret in (started.stream_key, started.ingest_server):
        assert secret not in json.dumps([e.payload for e in WebhookEvent.objects.all()])
        assert secret not in " ".join(str(v) for v in Livestream.objects.values_list())
        assert secret not in " ".join(str(v) for v in WebhookEvent.objects.values_list())
        assert secret not in caplog.text
    assert started.stream_key not in repr(started)


def test_the_status_update_has_the_documented_shape():
    emulator = Emulator(default_app_id="app", clock=ManualClock(T0))
    emulator.webhooks.use_key(wh.private_key())
    sent = []
    emulator.webhooks.transport = lambda url, body, headers: sent.append(json.loads(body)) or 200
    emulator.webhooks.create("app", {"name": "n", "url": SITE, "events": ["livestreaming.statusUpdate"]})
    meeting = _live_meeting(emulator, "Shape", row=False)
    started = emulator.handle(
        "POST",
        f"/client/v4/accounts/a/realtime/kit/app/meetings/{meeting['id']}/livestreams",
        body=b"{}",
        headers={"Authorization": "Bearer t"},
    )
    assert started.status == 201 and started.json()["data"]["status"] == "INVOKED"
    emulator.handle(
        "POST",
        f"/client/v4/accounts/a/realtime/kit/app/meetings/{meeting['id']}/active-livestream/stop",
        headers={"Authorization": "Bearer t"},
    )
    data = started.json()["data"]
    assert [p["status"] for p in sent] == ["LIVE", "OFFLINE"]
    for payload in sent:
        assert set(payload) == {
            "event",
            "streamId",
            "status",
            "playbackUrl",
            "ingestServer",
            "streamKey",
            "meeting",
        }
        assert payload["event"] == "livestreaming.statusUpdate" and payload["streamId"] == data["id"]
        assert (payload["streamKey"], payload["ingestServer"]) == (data["stream_key"], data["ingest_server"])
        assert payload["playbackUrl"] == data["playback_url"]
        assert payload["meeting"]["id"] == meeting["id"] and payload["meeting"]["title"] == "Shape"
        assert payload["meeting"]["sessionId"] == emulator.session(meeting["id"])["id"]


@pytest.mark.django_db
def test_refusals_come_in_the_apis_shape(site):
    api = get_client().livestreams
    idle = site.create_meeting(title="Nobody here")
    with pytest.raises(BadRequest, match="no live session"):
        api.start_livestreaming_a_meeting(idle["id"])
    with pytest.raises(NotFound):
        api.stop_livestreaming_a_meeting(idle["id"])
    with pytest.raises(NotFound):
        api.start_livestreaming_a_meeting(str(uuid.uuid4()))
    meeting = _live_meeting(site, row=False)
    api.start_livestreaming_a_meeting(meeting["id"])
    with pytest.raises(Conflict):
        api.start_livestreaming_a_meeting(meeting["id"])
    with pytest.raises(NotFound):
        api.get_livestream_session_for_livestream_id(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        api.get_livestream_session_details_for_session_id(str(uuid.uuid4()))
    requests_before = len(site.requests)
    with pytest.raises(ValidationError):  # our client refuses it before any request
        api.start_livestreaming_a_meeting(meeting["id"], video_config={"width": 0})
    assert len(site.requests) == requests_before
    # The emulator checks the body too, for callers that are not our client.
    path = f"/client/v4/accounts/a/realtime/kit/test-app/meetings/{meeting['id']}/livestreams"
    headers = {"Authorization": "Bearer test-api-token-s3cr3t-value"}
    refused = site.handle("POST", path, body=b'{"video_config": {"width": "wide"}}', headers=headers)
    assert refused.status == 400 and refused.json()["success"] is False
    assert len(site.livestreams()) == 1


def test_the_end_of_the_live_session_stops_the_stream():
    emulator, sent = _pushing_emulator()
    meeting = _live_meeting(emulator, row=False)
    base = "/client/v4/accounts/a/realtime/kit/app"
    auth = {"Authorization": "Bearer t"}
    start = f"{base}/meetings/{meeting['id']}/livestreams"
    stream = emulator.handle("POST", start, headers=auth).json()["data"]
    emulator.clock.advance(30)
    emulator.end_session(meeting["id"])
    emulator.clock.advance(30)
    active = f"{base}/livestreams/{stream['id']}/active-livestream-session"
    answer = emulator.handle("GET", active, headers=auth)
    assert answer.status == 404
    assert sent == ["LIVE", "OFFLINE"]  # delivered with the answer that found it stopped
    assert emulator.livestreams()[0]["status"] == "IDLE"
    # A new session streams again, under a new livestream.
    person = emulator.participants(meeting["id"])[0]
    emulator.join_session(meeting["id"], person["id"])
    again = emulator.handle("POST", start, headers=auth).json()["data"]
    assert again["id"] != stream["id"] and again["stream_key"] != stream["stream_key"]


@pytest.mark.django_db
def test_the_listing_pages_and_filters(site):
    api = get_client().livestreams
    meeting = _live_meeting(site, row=False)
    ids = []
    for _ in range(3):
        ids.append(api.start_livestreaming_a_meeting(meeting["id"])["data"]["id"])
        site.clock.advance(60)
        api.stop_livestreaming_a_meeting(meeting["id"])
        site.clock.advance(60)
    ids.append(api.start_livestreaming_a_meeting(meeting["id"])["data"]["id"])

    pages = [api.get_all_livestreams(per_page=1, page_no=n)["data"] for n in range(1, 6)]
    assert [p.get("id") for p in pages] == [*ids, None]
    assert [p["paging"] for p in pages[:2]] == [
        {"start_offset": 1, "end_offset": 1, "total_count": 4},
        {"start_offset": 2, "end_offset": 2, "total_count": 4},
    ]
    assert pages[4]["paging"]["total_count"] == 4 and set(pages[4]) == {"paging"}
    assert api.get_all_livestreams(per_page=1, sort_order="DSC")["data"]["id"] == ids[-1]
    live = api.get_all_livestreams(status="LIVE")["data"]
    assert (live["id"], live["paging"]["total_count"]) == (ids[-1], 1)
    assert api.get_all_livestreams(status="IDLE")["data"]["paging"]["total_count"] == 3
    assert api.get_all_livestreams(exclude_meetings=True)["data"] == {
        "paging": {"start_offset": 0, "end_offset": 0, "total_count": 0}
    }
    second = site.livestreams()[1]["created_at"]
    later = api.get_all_livestreams(start_time=second, per_page=1)["data"]
    assert (later["id"], later["paging"]["total_count"]) == (ids[1], 3)
    path = "/client/v4/accounts/a/realtime/kit/test-app/livestreams"
    headers = {"Authorization": "Bearer test-api-token-s3cr3t-value"}
    for query in ({"sort_order": "DESC"}, {"per_page": "0"}, {"status": "OFFLINE"}, {"start_time": "x"}):
        assert site.handle("GET", path, query=query, headers=headers).status == 400, query


def test_session_figures_and_analytics():
    emulator = Emulator(default_app_id="app", clock=ManualClock(T0))
    meeting = _live_meeting(emulator, row=False)
    base = "/client/v4/accounts/a/realtime/kit/app"
    auth = {"Authorization": "Bearer t"}

    def call(method, path, **query):
        answer = emulator.handle(method, base + path, query=query, headers=auth)
        assert answer.status < 300, answer.json()
        return answer.json()["data"]

    first = call("POST", f"/meetings/{meeting['id']}/livestreams")
    emulator.clock.advance(90)
    call("POST", f"/meetings/{meeting['id']}/active-livestream/stop")
    emulator.clock.advance(86_400)  # the next day
    call("POST", f"/meetings/{meeting['id']}/livestreams")
    emulator.clock.advance(30)

    session = call("GET", f"/livestreams/{first['id']}")["session"]
    assert session["ingest_seconds"] == 90 and session["viewer_seconds"] == 0
    assert call("GET", f"/livestreams/sessions/{session['id']}")["ingest_seconds"] == 90
    overall = call("GET", "/analytics/livestreams/overall")
    assert overall == {"count": 2, "total_ingest_seconds": 120, "total_viewer_seconds": 0}
    daywise = call("GET", "/analytics/livestreams/daywise")
    assert [(d["date"], d["count"], d["total_ingest_seconds"]) for d in daywise] == [
        ("2026-01-05", 1, 90),
        ("2026-01-06", 1, 30),
    ]
    second_day = int(T0) + 3_600
    assert call("GET", "/analytics/livestreams/overall", start_time=str(second_day))["count"] == 1
    assert call("GET", "/analytics/livestreams/overall", end_time=str(second_day))["count"] == 1
    overall_path = base + "/analytics/livestreams/overall"
    bad = emulator.handle("GET", overall_path, query={"start_time": "soon"}, headers=auth)
    assert bad.status == 400
    assert emulator.handle("GET", base + "/analytics/daywise", headers=auth).status == 404  # not served
    running = call("GET", f"/meetings/{meeting['id']}/active-livestream")
    emulator.fail_livestream(running["id"], message="encoder gone")
    failed = call("GET", f"/livestreams/{running['id']}")
    assert failed["livestream"]["status"] == "ERRORED" and failed["session"]["err_message"] == "encoder gone"
    with pytest.raises(LookupError):
        emulator.fail_livestream(str(uuid.uuid4()))


def test_a_restart_with_a_state_file_keeps_the_livestreams(tmp_path):
    state = tmp_path / "state.json"
    emulator = Emulator(default_app_id="app", state_file=state, clock=ManualClock(T0))
    meeting = _live_meeting(emulator, row=False)
    auth = {"Authorization": "Bearer t"}
    path = f"/client/v4/accounts/a/realtime/kit/app/meetings/{meeting['id']}/livestreams"
    started = emulator.handle("POST", path, headers=auth).json()["data"]
    again = Emulator(default_app_id="app", state_file=state, clock=ManualClock(T0 + 60))
    # The restart ended the live session (sessions live in memory), and the stream with it.
    [kept] = again.livestreams(app_id="app")
    assert (kept["id"], kept["stream_key"], kept["status"]) == (started["id"], started["stream_key"], "IDLE")


@pytest.mark.django_db(transaction=True)
def test_the_admins_actions_against_the_emulator(site, admin_client):
    meeting = _live_meeting(site)
    quiet = site.create_meeting(title="Nobody here")
    Meeting.objects.create(id=quiet["id"], app_id="test-app", title="Nobody here")
    changelist = reverse("admin:realtimekit_meeting_changelist")

    shown = admin_client.post(
        changelist, {"action": "start_livestream", "_selected_action": [meeting["id"], quiet["id"]]}
    )

    [remote] = site.livestreams()
    text = shown.content.decode()
    assert shown.status_code == 200 and "no-cache" in shown["Cache-Control"]
    assert remote["stream_key"] in text and remote["ingest_server"] in text
    assert Livestream.objects.get().status == "LIVE"
    listing = admin_client.get(reverse("admin:realtimekit_livestream_changelist"), follow=True)
    page = listing.content.decode()
    assert remote["id"] in page and remote["stream_key"] not in page
    assert f"{quiet['id']}: BadRequest" in page  # the quiet meeting's refusal, as a message

    admin_client.post(changelist, {"action": "stop_livestream", "_selected_action": [meeting["id"]]})

    assert site.livestreams()[0]["status"] == "IDLE"
    assert Livestream.objects.get().status == "OFFLINE"
    stored = json.dumps([e.payload for e in WebhookEvent.objects.all()])
    assert WebhookEvent.objects.filter(event="livestreaming.statusUpdate").count() == 2
    assert remote["stream_key"] not in stored and remote["ingest_server"] not in stored


def test_the_python_helper_starts_a_stream_and_pushes_it():
    emulator, sent = _pushing_emulator()
    with pytest.raises(ValueError, match="no live session"):
        emulator.start_livestream(emulator.create_meeting()["id"])
    with pytest.raises(LookupError):
        emulator.start_livestream(str(uuid.uuid4()))
    meeting = _live_meeting(emulator, row=False)
    answer = emulator.start_livestream(meeting["id"], name="On start")
    assert answer["status"] == "INVOKED" and sent == ["LIVE"]
    assert [(s["id"], s["name"], s["status"]) for s in emulator.livestreams()] == [
        (answer["id"], "On start", "LIVE")
    ]
    with pytest.raises(ValueError, match="already"):
        emulator.start_livestream(meeting["id"])
