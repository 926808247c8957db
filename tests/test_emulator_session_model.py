"""The emulator's one session model: the webhook simulator, the active-session routes and the
Python helpers all act on the same sessions, so what the webhooks say and what the API answers
agree about who is in; and only a participant of the meeting can join."""

from __future__ import annotations

import json

import pytest

from realtimekit_django.emulator import Emulator
from realtimekit_django.emulator.clock import ManualClock

APP = "app"
T0 = 1_767_607_200.0  # 2026-01-05T10:00:00Z
AUTH = {"Authorization": "Bearer t"}


@pytest.fixture
def emulator():
    emulator = Emulator(api_token="t", default_app_id=APP, clock=ManualClock(T0))
    sent: list[dict] = []

    def transport(url, body, headers):
        sent.append(json.loads(body))
        return 200

    emulator.webhooks.transport = transport
    emulator.webhooks.retries = 0
    emulator.webhooks.create(
        APP,
        {
            "name": "site",
            "url": "https://site.test/hooks/",
            "events": [
                "meeting.started",
                "meeting.participantJoined",
                "meeting.participantLeft",
                "meeting.ended",
            ],
            "enabled": True,
        },
    )
    emulator.sent = sent
    return emulator


def events(emulator) -> list[str]:
    return [payload["event"] for payload in emulator.sent]


def meeting_with(emulator, *custom_ids):
    meeting = emulator.create_meeting(title="Standup")
    people = {
        custom: emulator.add_participant(
            meeting["id"], custom_participant_id=custom, preset_name="group_call_host"
        )
        for custom in custom_ids
    }
    return meeting, people


def active(emulator, meeting_id):
    answer = emulator.handle(
        "GET", f"/accounts/a/realtime/kit/{APP}/meetings/{meeting_id}/active-session", headers=AUTH
    )
    return answer.status, json.loads(answer.body)


def test_a_join_by_someone_who_is_no_participant_is_refused_and_changes_nothing(emulator):
    meeting, _people = meeting_with(emulator, "alice")
    session_id = emulator.sessions.start(meeting["id"])
    emulator.sent.clear()
    with pytest.raises(LookupError, match="custom_participant_id 'mallory'"):
        emulator.sessions.join(session_id, "mallory")
    answer = emulator.handle(
        "POST",
        f"/accounts/a/realtime/kit/{APP}/emulator/sessions/{session_id}/participants",
        body=json.dumps({"custom_participant_id": "mallory"}),
        headers=AUTH,
    )
    assert answer.status == 404 and "mallory" in json.loads(answer.body)["error"]["message"]
    assert emulator.sent == []  # no webhook says they came in
    assert emulator.live_participants(meeting["id"]) == []
    assert emulator.sessions.sessions()[0]["peers"] == {}


def test_a_simulated_join_is_in_the_active_session_and_a_helper_join_sends_its_webhooks(emulator):
    meeting, people = meeting_with(emulator, "alice", "bob")
    session_id = emulator.sessions.start(meeting["id"])
    peer = emulator.sessions.join(session_id, "alice", "Alice")
    assert emulator.live_participants(meeting["id"]) == [people["alice"]["id"]]
    status, body = active(emulator, meeting["id"])
    assert status == 200 and body["data"]["id"] == session_id and body["data"]["live_participants"] == 1

    emulator.join_session(meeting["id"], people["bob"]["id"])  # the Python helper, same model
    assert emulator.session(meeting["id"])["id"] == session_id
    seen = emulator.sessions.sessions()
    assert len(seen) == 1 and {p["customParticipantId"] for p in seen[0]["peers"].values()} == {
        "alice",
        "bob",
    }
    assert events(emulator) == ["meeting.started", "meeting.participantJoined", "meeting.participantJoined"]
    assert emulator.sent[1]["participant"]["peerId"] == peer
    assert {p["meeting"]["sessionId"] for p in emulator.sent} == {session_id}


def test_one_live_session_a_meeting(emulator):
    meeting, _people = meeting_with(emulator)
    first = emulator.sessions.start(meeting["id"])
    assert emulator.sessions.start(meeting["id"]) == first
    assert emulator.start_session(meeting["id"])["id"] == first
    assert events(emulator) == ["meeting.started"]


def test_the_last_one_out_ends_the_session_in_every_view(emulator):
    meeting, people = meeting_with(emulator, "alice")
    session_id = emulator.sessions.start(meeting["id"])
    peer = emulator.sessions.join(session_id, "alice")
    recording = emulator.handle(
        "POST",
        f"/accounts/a/realtime/kit/{APP}/recordings",
        body=json.dumps({"meeting_id": meeting["id"]}),
        headers=AUTH,
    )
    assert recording.status in (200, 201), recording.body
    emulator.sessions.leave(session_id, peer)
    assert events(emulator)[-2:] == ["meeting.participantLeft", "meeting.ended"]
    assert emulator.sent[-1]["reason"] == "ALL_PARTICIPANTS_LEFT"
    assert active(emulator, meeting["id"])[0] == 404
    assert (
        emulator.sessions.sessions()[0]["live"] is False
        and emulator.sessions.live_session(meeting["id"]) is None
    )
    ended = emulator.session(meeting["id"])
    assert (ended["status"], ended["end_reason"]) == ("ENDED", "ALL_PARTICIPANTS_LEFT")
    stopped = json.loads(recording.body)["data"]["id"]
    shown = emulator.handle("GET", f"/accounts/a/realtime/kit/{APP}/recordings/{stopped}", headers=AUTH)
    assert json.loads(shown.body)["data"]["status"] != "RECORDING"
    with pytest.raises(LookupError, match="ended"):
        emulator.sessions.join(session_id, "alice")
    assert emulator.sessions.start(meeting["id"]) != session_id  # the next one is a new session


def test_a_kick_through_the_api_is_seen_leaving_by_the_simulator(emulator):
    meeting, people = meeting_with(emulator, "stays", "goes")
    session_id = emulator.sessions.start(meeting["id"])
    emulator.sessions.join(session_id, "stays")
    emulator.sessions.join(session_id, "goes")
    emulator.sessions.join(session_id, "goes")  # a second device of the same participant
    answer = emulator.handle(
        "POST",
        f"/accounts/a/realtime/kit/{APP}/meetings/{meeting['id']}/active-session/kick",
        body=json.dumps({"custom_participant_ids": ["goes"]}),
        headers=AUTH,
    )
    assert answer.status == 200, answer.body
    assert [p["id"] for p in json.loads(answer.body)["data"]["participants"]] == [people["goes"]["id"]]
    left = [
        p["participant"]["customParticipantId"]
        for p in emulator.sent
        if p["event"] == "meeting.participantLeft"
    ]
    assert left == ["goes", "goes"]
    peers = emulator.sessions.sessions()[0]["peers"]
    assert [p["customParticipantId"] for p in peers.values()] == ["stays"]
    assert emulator.live_participants(meeting["id"]) == [people["stays"]["id"]]


def test_kick_all_ends_the_session_for_everyone(emulator):
    meeting, people = meeting_with(emulator, "a", "b")
    for person in people.values():
        emulator.join_session(meeting["id"], person["id"])
    answer = emulator.handle(
        "POST",
        f"/accounts/a/realtime/kit/{APP}/meetings/{meeting['id']}/active-session/kick-all",
        headers=AUTH,
    )
    assert json.loads(answer.body)["data"]["kicked_participants_count"] == 2
    assert events(emulator).count("meeting.participantLeft") == 2
    assert (
        emulator.sent[-1]["event"] == "meeting.ended" and emulator.sent[-1]["reason"] == "HOST_ENDED_MEETING"
    )
    assert emulator.sessions.sessions()[0]["live"] is False


def test_minutes_and_attendance_merge_rejoins(emulator):
    meeting, people = meeting_with(emulator, "alice", "bob")
    session_id = emulator.sessions.start(meeting["id"])
    alice = emulator.sessions.join(session_id, "alice")
    emulator.sessions.join(session_id, "bob")
    emulator.clock.advance(120)
    emulator.sessions.leave(session_id, alice)
    emulator.clock.advance(60)
    emulator.sessions.join(session_id, "alice")
    emulator.clock.advance(60)
    emulator.sessions.end(session_id)
    book = emulator._session_book
    session = book.get(session_id)
    rows = {row["custom_participant_id"]: row for row in book.attendees(session, peer_events=True)}
    assert rows["alice"]["duration"] == pytest.approx(3.0, abs=0.01)  # 2 + 1 minutes
    assert rows["bob"]["duration"] == pytest.approx(4.0, abs=0.01)
    assert [e["event_name"] for e in rows["alice"]["peer_events"]] == ["PEER_JOINING", "PEER_LEAVING"] * 2
    assert rows["alice"]["left_at"] is not None and rows["alice"]["left_at"] <= session["ended_at"]
    assert rows["alice"]["joined_at"] < rows["bob"]["joined_at"]
    assert book.public(session, "Standup")["minutes_consumed"] == pytest.approx(7.0, abs=0.01)
    assert session["max_concurrent_participants"] == 2
