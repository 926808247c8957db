"""The sessions walk with the real client (``realtimekit_django.client``) against ``responses``
mocks on the SDK's paths (``/accounts/{account}/realtime/kit/{app}/sessions...``), answers in
the shapes of the SDK's ``cloudflare.types.realtime_kit`` models; requests counted per session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import responses

from realtimekit_django.client import DEFAULT_BASE_URL, RealtimeKitClient
from realtimekit_django.models import ArtifactKind, Meeting, Session, SessionArtifact, SessionStatus
from realtimekit_django.sync.sessions import sync_sessions

pytestmark = pytest.mark.django_db

ACCOUNT, APP = "acct-1", "app-1"
APP_URL = f"{DEFAULT_BASE_URL}/accounts/{ACCOUNT}/realtime/kit/{APP}"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=5)


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def session_row(session_id, meeting_id, status="ENDED", **extra):
    """A ``SessionGetSessionsResponse.Data.sessions`` item."""
    row = {
        "id": session_id, "associated_id": str(meeting_id), "created_at": iso(T0), "live_participants": 0,
        "max_concurrent_participants": 4, "meeting_display_name": "Standup", "minutes_consumed": 61.5,
        "organization_id": "org", "started_at": iso(T0), "status": status, "type": "meeting",
        "updated_at": iso(T0 + timedelta(hours=1)),
    }
    if status == "ENDED":
        row["ended_at"] = iso(T0 + timedelta(hours=1))
    row.update(extra)
    return row


def person(peer_id, minutes):
    return {"id": peer_id, "custom_participant_id": f"c-{peer_id}", "display_name": peer_id,
            "joined_at": iso(T0), "left_at": iso(T0 + timedelta(minutes=minutes)), "duration": minutes * 60.0}


def listing(rows, start=0, total=None):
    return {"success": True, "data": {"sessions": rows},
            "paging": {"start_offset": start, "end_offset": start + len(rows),
                       "total_count": len(rows) if total is None else total}}


def client():
    return RealtimeKitClient(ACCOUNT, APP, "token", max_retries=0)


@pytest.fixture
def meeting():
    return Meeting.objects.create(id=uuid.uuid4(), app_id=APP, title="Standup", persist_chat=True,
                                  transcribe_on_end=True)


def test_walk_fills_rows_from_the_sdk_paths_and_announces_artifacts(meeting):
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}/sessions", json=listing([session_row("s1", meeting.pk)]))
        mock.get(f"{APP_URL}/sessions/s1/participants",
                 json={"success": True, "data": {"participants": [person("p1", 30), person("p2", 45)]}})
        report = sync_sessions(client=client(), now=NOW)
        calls = len(mock.calls)
    assert report.completed and report.finalized == 1, report.error
    assert calls == 2  # one listing page, one participants page for the ended session
    session = Session.objects.get(pk="s1")
    figures = (session.status, session.minutes_consumed, session.max_concurrent_participants)
    assert figures == ("ENDED", 61.5, 4)
    assert session.ended_at == T0 + timedelta(hours=1)
    figures = sorted(
        session.attendees.values_list("peer_id", "api_joined_at", "api_left_at", "api_duration_seconds")
    )
    assert figures == [
        ("p1", T0, T0 + timedelta(minutes=30), 1800.0),
        ("p2", T0, T0 + timedelta(minutes=45), 2700.0),
    ]
    kinds = set(SessionArtifact.objects.filter(session=session).values_list("kind", flat=True))
    assert kinds == {ArtifactKind.CHAT, ArtifactKind.TRANSCRIPT}  # summarize_on_end is off
    assert report.artifacts_announced == 2


def test_page_that_repeats_is_rejected_and_final_state_is_not_claimed(meeting):
    page = [session_row("s1", meeting.pk, status="LIVE"), session_row("s2", meeting.pk, status="LIVE")]
    with responses.RequestsMock() as mock:
        # The second page repeats the first (a cache that ignores page_no).
        mock.get(f"{APP_URL}/sessions", json=listing(page, total=5))
        mock.get(f"{APP_URL}/sessions", json=listing(page, start=2, total=5))
        report = sync_sessions(client=client(), now=NOW, per_page=2)
    assert not report.completed and "repeats" in report.error
    assert report.duplicates == 2 and Session.objects.count() == 2


@pytest.mark.parametrize(
    "lie", [{"associated_id": "abcdef-ghijkl"}, {"id": "x" * 101}, {"minutes_consumed": "a lot"}]
)
def test_value_no_column_takes_is_refused_and_nothing_of_it_written(meeting, lie):
    rows = [session_row("good", meeting.pk, status="LIVE"), session_row("bad", meeting.pk, **lie)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{APP_URL}/sessions", json=listing(rows))
        report = sync_sessions(client=client(), now=NOW)
    assert not report.completed and report.error
    assert not Session.objects.exclude(pk="good").exists()
    assert not SessionArtifact.objects.exists()


def test_participants_listing_that_repeats_leaves_the_session_as_it_was(meeting):
    people = [person("p1", 5), person("p2", 6)]
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}/sessions", json=listing([session_row("s1", meeting.pk)]))
        for _ in range(2):
            answer = {"success": True, "data": {"participants": people}}
            mock.get(f"{APP_URL}/sessions/s1/participants", json=answer)
        report = sync_sessions(client=client(), now=NOW, per_page=2)
    assert not report.completed and "participants listing of session s1 is incomplete" in report.error
    assert not Session.objects.filter(pk="s1").exists()
    assert not SessionArtifact.objects.exists()


def test_requests_bounded_per_ended_session(meeting):
    count, per_page = 12, 5
    rows = [session_row(f"s{i}", meeting.pk) for i in range(count)]
    with responses.RequestsMock() as mock:
        for start in range(0, count, per_page):
            page = rows[start : start + per_page]
            mock.get(f"{APP_URL}/sessions", json=listing(page, start=start, total=count))
        for i in range(count):
            mock.get(f"{APP_URL}/sessions/s{i}/participants",
                     json={"success": True, "data": {"participants": [person(f"p{i}", 3)]}})
        report = sync_sessions(client=client(), now=NOW, per_page=per_page)
        calls = len(mock.calls)
    assert report.completed and report.finalized == count
    assert calls == 3 + count  # listing pages + one participants page each
    assert calls / count <= 1 + 1


def test_stale_live_session_closed_and_unknown_one_marked(meeting):
    Session.objects.create(id="stale", meeting=meeting, status=SessionStatus.LIVE, started_at=T0)
    Session.objects.create(id="gone", meeting=meeting, status=SessionStatus.LIVE, started_at=T0)
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}/sessions", json=listing([]))
        details = {"success": True, "data": session_row("stale", meeting.pk)}
        mock.get(f"{APP_URL}/sessions/stale", json=details)
        nobody = {"success": True, "data": {"participants": []}}
        mock.get(f"{APP_URL}/sessions/stale/participants", json=nobody)
        unknown = {"success": False, "errors": [{"message": "nope"}]}
        mock.get(f"{APP_URL}/sessions/gone", status=404, json=unknown)
        report = sync_sessions(client=client(), now=NOW)
    assert (report.stale_checked, report.stale_closed, report.marked_unknown) == (2, 1, 1)
    assert Session.objects.get(pk="stale").status == SessionStatus.ENDED
    gone = Session.objects.get(pk="gone")
    assert gone.unknown_to_api_since is not None and gone.status == SessionStatus.LIVE


def test_beat_schedule_runs_the_walk_and_the_artifact_copies():
    from realtimekit_django.tasks import sessions_beat_schedule

    schedule = sessions_beat_schedule(900, copy_seconds=120)
    tasks = {entry["task"]: entry for entry in schedule.values()}
    assert set(tasks) == {"realtimekit.sync_sessions", "realtimekit.copy_artifacts"}
    assert tasks["realtimekit.copy_artifacts"]["schedule"] == 120.0
    assert tasks["realtimekit.copy_artifacts"]["options"]["expires"] < 120.0


def test_a_session_started_during_the_walk_leaves_the_listing_complete():
    """Found by the budget benchmark (issue 27.7): at 100,000 meetings a walk waits for budget
    between pages while sessions start. Newest first (the API's default order), each new
    session pushed the others a page down: the next page repeated one, came short of
    ``total_count``, and every walk ended incomplete. Oldest first, a new one joins the end."""
    from realtimekit_django.emulator import Emulator
    from realtimekit_django.emulator.responses_adapter import mock_requests

    emulator = Emulator(api_token="token", default_app_id=APP)
    remote = emulator.create_meeting(app_id=APP, title="Standup")
    emulator.add_participant(remote["id"], app_id=APP, custom_participant_id="host", preset_name="host")
    Meeting.objects.create(id=uuid.UUID(remote["id"]), app_id=APP, title="Standup")

    def held() -> None:
        session_id = emulator.sessions.start(remote["id"], APP)
        emulator.sessions.join(session_id, "host")
        emulator.sessions.end(session_id)

    for _ in range(150):
        held()
    started = []

    def start_one_before_page_two(record) -> None:
        if record.path.endswith("/sessions") and record.query.get("page_no") == "2" and not started:
            started.append(True)
            held()

    emulator.add_hook(start_one_before_page_two)
    with mock_requests(emulator, base_url=DEFAULT_BASE_URL):
        report = sync_sessions(client=client(), per_page=100)

    assert started and report.error == "" and report.completed
    assert report.sessions_seen == report.finalized == 151
