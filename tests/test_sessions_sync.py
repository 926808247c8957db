"""The sessions walk (sync/sessions.py) and attendance (SessionParticipant.objects.attendance_for).

The client is a fake with the Sessions resource's names (``walk_sessions``,
``walk_session_participants``, ``get_session_details``) that counts every request it would
send: the budget test reads those counts per ended session.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from realtimekit_django import signals
from realtimekit_django.client.paging import PageWalk
from realtimekit_django.exceptions import InvalidResponse, NotFound
from realtimekit_django.models import (
    Meeting,
    Participant,
    Session,
    SessionParticipant,
    SessionStatus,
    WebhookEvent,
)
from realtimekit_django.sync.sessions import sync_sessions
from realtimekit_django.webhooks.handlers import process_event

from . import webhook_helpers as wh

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=5)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def api_session(session_id, meeting_id, status="ENDED", start=T0, end=T0 + timedelta(hours=1), **extra):
    item = {
        "id": session_id,
        "associated_id": str(meeting_id),
        "status": status,
        "started_at": iso(start),
        "ended_at": iso(end) if status == "ENDED" else None,
        "minutes_consumed": 42.5,
        "max_concurrent_participants": 3,
        "type": "meeting",
    }
    item.update(extra)
    return item


def api_person(peer_id, joined, left, *, custom="", user_id="", name=""):
    return {
        "id": peer_id,
        "custom_participant_id": custom,
        "user_id": user_id,
        "display_name": name,
        "joined_at": iso(joined),
        "left_at": iso(left) if left else None,
        "duration": (left - joined).total_seconds() if left else None,
    }


class FakeSessions:
    """What the walk calls on ``client.sessions``; ``requests`` counts pages and GETs."""

    def __init__(self, sessions, participants=None, per_page=100, details=None):
        self.sessions = sessions
        self.participants = participants or {}
        self.details = details or {}
        self.per_page = per_page
        self.requests: list[tuple[str, str]] = []

    def _pages(self, kind, key, items, per_page):
        """A real :class:`PageWalk` (what the client's walks return) over ``items``."""
        size = per_page or self.per_page

        def fetch(page_no, per_page):
            self.requests.append((kind, key))
            start = (page_no - 1) * per_page
            page = items[start : start + per_page]
            # The sessions listing has the SDK's paging; a session's participants have none.
            paging = (
                {"start_offset": start, "end_offset": start + len(page), "total_count": len(items)}
                if kind == "sessions"
                else {}
            )
            return {"data": page, "paging": paging}

        return PageWalk(fetch=fetch, per_page=size, max_pages=10_000)

    def walk_sessions(self, **filters):
        return self._pages("sessions", "", self.sessions, filters.get("per_page"))

    def walk_session_participants(self, session_id, **kwargs):
        return self._pages(
            "participants", session_id, self.participants.get(session_id, []), kwargs.get("per_page")
        )

    def get_session_details(self, session_id):
        self.requests.append(("details", session_id))
        if session_id not in self.details:
            raise NotFound("no such session", method="GET", path=f"/sessions/{session_id}", status=404)
        return {"success": True, "data": self.details[session_id]}


class FakeClient:
    def __init__(self, sessions: FakeSessions):
        self.sessions = sessions


@pytest.fixture
def meeting():
    return Meeting.objects.create(id=uuid.uuid4(), app_id="app", title="Standup")


def deliver(payload):
    event = WebhookEvent.objects.create(
        uuid=str(uuid.uuid4()),
        event=payload["event"],
        payload=payload,
        meeting_id=payload["meeting"]["id"],
        received_at=NOW,
    )
    assert process_event(event.pk) == "processed"


def test_ended_session_gets_api_figures_and_attendees(meeting):
    sessions = FakeSessions(
        [api_session("s1", meeting.pk)],
        {"s1": [api_person("p1", T0, T0 + timedelta(minutes=30), custom="alice", name="Alice")]},
    )
    finals = []
    signals.session_attendance_final.connect(
        lambda sender, session, **kw: finals.append(session.pk), weak=False, dispatch_uid="t1"
    )
    try:
        report = sync_sessions(client=FakeClient(sessions), now=NOW)
    finally:
        signals.session_attendance_final.disconnect(dispatch_uid="t1")
    assert report.completed and report.finalized == 1
    session = Session.objects.get(pk="s1")
    assert session.status == SessionStatus.ENDED
    assert session.minutes_consumed == 42.5 and session.max_concurrent_participants == 3
    assert session.api_confirmed_end_at is not None
    row = session.attendees.get()
    assert (row.peer_id, row.custom_participant_id, row.api_duration_seconds) == ("p1", "alice", 1800.0)
    assert finals == ["s1"]
    # Final: a second walk reads the listing only and sends no second signal.
    again = sync_sessions(client=FakeClient(sessions), now=NOW)
    assert again.finalized == 0
    assert [kind for kind, _ in sessions.requests].count("participants") == 1


def test_webhooks_before_or_after_the_walk_converge_and_api_wins(meeting):
    def run(order):
        Session.objects.all().delete()
        api_end = T0 + timedelta(hours=1)
        for step in order:
            if step == "walk":
                sync_sessions(
                    client=FakeClient(
                        FakeSessions(
                            [api_session("s1", meeting.pk, end=api_end)],
                            {"s1": [api_person("p1", T0, T0 + timedelta(minutes=20), custom="alice")]},
                        )
                    ),
                    now=NOW,
                )
            else:
                deliver(wh.joined(meeting.pk, "s1", "p1", "alice", iso(T0 + timedelta(minutes=1))))
                deliver(wh.ended(meeting.pk, "s1", iso(T0 + timedelta(hours=3))))
        session = Session.objects.get(pk="s1")
        row = session.attendees.get()
        return (session.status, session.ended_at, session.minutes_consumed, row.joined_at, row.api_joined_at)

    first = run(["walk", "hooks"])
    second = run(["hooks", "walk"])
    assert first == second
    assert first[1] == T0 + timedelta(hours=1)  # the API's end, not the webhook's


def test_listing_that_repeats_is_read_once(meeting):
    item = api_session("s1", meeting.pk)
    sessions = FakeSessions([item, dict(item), api_session("s2", meeting.pk)], {"s1": [], "s2": []})
    report = sync_sessions(client=FakeClient(sessions), now=NOW)
    # Each session is stored once; 2 distinct of a total_count of 3: the listing is not complete.
    assert not report.completed and "incomplete" in report.error
    assert (report.sessions_seen, report.duplicates) == (2, 1)
    assert Session.objects.count() == 2


@pytest.mark.parametrize(
    "lie",
    [
        {"status": "MAYBE"},
        {"ended_at": iso(T0 - timedelta(hours=1))},
        {"minutes_consumed": -3},
        {"started_at": "yesterday"},
    ],
)
def test_a_session_that_lies_is_refused_alone_with_a_clear_error(meeting, lie):
    listed = [
        api_session("good", meeting.pk),
        api_session("bad", meeting.pk, **lie),
        api_session("after", meeting.pk),
    ]
    sessions = FakeSessions(listed, {"good": [], "after": []})
    report = sync_sessions(client=FakeClient(sessions), now=NOW)
    assert not report.completed and report.refused == 1
    assert "session bad" in report.error and "unusable" in report.error
    # Nothing of the liar is written; the session after it is not blocked by it.
    assert sorted(Session.objects.values_list("pk", flat=True)) == ["after", "good"]


def test_participant_listing_that_lies_leaves_the_session_as_it_was(meeting):
    deliver(wh.started(meeting.pk, "s1"))
    sessions = FakeSessions(
        [api_session("s1", meeting.pk)],
        {"s1": [api_person("p1", T0 + timedelta(hours=1), T0)]},  # left before it joined
    )
    report = sync_sessions(client=FakeClient(sessions), now=NOW)
    assert not report.completed and "left before it joined" in report.error
    session = Session.objects.get(pk="s1")
    assert session.status == SessionStatus.LIVE and session.minutes_consumed is None
    assert not session.attendees.exists()
    with pytest.raises(InvalidResponse):
        from realtimekit_django.services.sessions import parse_participants

        parse_participants([{"id": ""}], "s1")


def test_stale_live_session_is_closed_when_the_api_says_it_ended(meeting):
    deliver(wh.started(meeting.pk, "s1", started_at=iso(T0)))
    deliver(wh.left(meeting.pk, "s1", "p1", "alice", iso(T0), iso(T0 + timedelta(minutes=5))))
    # A session whose last event is recent is not asked about.
    deliver(wh.started(meeting.pk, "fresh", started_at=iso(NOW - timedelta(seconds=10))))
    sessions = FakeSessions([], {"s1": []}, details={"s1": api_session("s1", meeting.pk)})
    report = sync_sessions(client=FakeClient(sessions), now=NOW)
    assert (report.stale_checked, report.stale_closed) == (1, 1)
    assert Session.objects.get(pk="s1").status == SessionStatus.ENDED
    assert Session.objects.get(pk="fresh").status == SessionStatus.LIVE
    assert ("details", "fresh") not in sessions.requests


def test_session_the_api_no_longer_knows_is_marked_never_deleted(meeting):
    deliver(wh.started(meeting.pk, "gone", started_at=iso(T0)))
    sessions = FakeSessions([])
    report = sync_sessions(client=FakeClient(sessions), now=NOW)
    assert report.marked_unknown == 1
    session = Session.objects.get(pk="gone")
    assert session.unknown_to_api_since is not None and session.status == SessionStatus.LIVE
    # Marked sessions are not asked about again.
    again = FakeSessions([])
    sync_sessions(client=FakeClient(again), now=NOW)
    assert ("details", "gone") not in again.requests


def test_someone_still_in_keeps_a_live_session_from_being_checked(meeting):
    deliver(wh.joined(meeting.pk, "s1", "p1", "alice", iso(T0)))
    sessions = FakeSessions([])
    report = sync_sessions(client=FakeClient(sessions), now=NOW)
    assert report.stale_checked == 0


def test_requests_per_ended_session_are_bounded(meeting):
    """Budget: 40 ended sessions of 7 attendees each, pages of 5: each ended session costs
    its participant pages (2) once; the listing is shared; a second run costs the listing only."""
    count, people, per_page = 40, 7, 5
    items = [api_session(f"s{i}", meeting.pk) for i in range(count)]
    participants = {
        f"s{i}": [api_person(f"p{i}-{j}", T0, T0 + timedelta(minutes=j + 1)) for j in range(people)]
        for i in range(count)
    }
    sessions = FakeSessions(items, participants, per_page=per_page)
    report = sync_sessions(client=FakeClient(sessions), now=NOW, per_page=per_page)
    assert report.finalized == count
    listing_pages = -(-count // per_page)
    per_session = -(-people // per_page)
    print(
        f"\nrequests: {len(sessions.requests)} for {count} ended sessions "
        f"({len(sessions.requests) / count:.2f} per session)"
    )
    assert len(sessions.requests) == listing_pages + count * per_session
    assert len(sessions.requests) / count <= per_session + 1
    sessions.requests.clear()
    sync_sessions(client=FakeClient(sessions), now=NOW, per_page=per_page)
    assert len(sessions.requests) == listing_pages


def test_attendance_merges_rejoins_and_overlaps_and_links_users(meeting):
    user = get_user_model().objects.create(username="alice")
    participant = Participant.objects.create(
        id=uuid.uuid4(), meeting=meeting, user=user, custom_participant_id="alice", preset_name="p"
    )
    one = Session.objects.create(
        id="s1", meeting=meeting, status=SessionStatus.ENDED, started_at=T0, ended_at=T0 + timedelta(hours=2)
    )
    minute = timedelta(minutes=1)
    rows = [
        # Alice: 0-10, rejoin 20-30, and a second tab 25-40 (overlap): 10 + 20 = 30 minutes, 3 joins.
        ("a1", participant, "alice", T0, T0 + 10 * minute),
        ("a2", participant, "alice", T0 + 20 * minute, T0 + 30 * minute),
        ("a3", participant, "alice", T0 + 25 * minute, T0 + 40 * minute),
        # Bob, not linked, never left: until the session's end.
        ("b1", None, "bob", T0 + 60 * minute, None),
    ]
    for peer, who, custom, joined, left in rows:
        SessionParticipant.objects.create(
            session=one,
            peer_id=peer,
            participant=who,
            custom_participant_id=custom,
            joined_at=joined,
            left_at=left,
        )
    result = SessionParticipant.objects.attendance_for(one)
    assert [(a.custom_participant_id, a.minutes, a.joins) for a in result] == [
        ("alice", 30.0, 3),
        ("bob", 60.0, 1),
    ]
    alice = result[0]
    assert alice.user_id == user.pk and alice.first_join == T0 and alice.last_leave == T0 + 40 * minute
    # The API's times win over the webhook's when the walk read them.
    SessionParticipant.objects.filter(peer_id="b1").update(
        api_joined_at=T0 + 90 * minute, api_left_at=T0 + 100 * minute
    )
    two = Session.objects.create(
        id="s2", meeting=meeting, status=SessionStatus.ENDED, started_at=T0 + timedelta(days=1)
    )
    SessionParticipant.objects.create(
        session=two,
        peer_id="a4",
        participant=participant,
        custom_participant_id="alice",
        joined_at=T0 + timedelta(days=1),
        left_at=T0 + timedelta(days=1, minutes=5),
    )
    by_meeting = {a.custom_participant_id: a for a in SessionParticipant.objects.attendance_for(meeting)}
    assert (by_meeting["alice"].minutes, by_meeting["alice"].joins) == (35.0, 4)
    assert by_meeting["bob"].minutes == 10.0
