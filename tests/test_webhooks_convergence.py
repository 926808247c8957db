"""Events in any order, any number of times, give the same sessions and attendance.

The scenario: many meetings, each with sessions one after another; people join and leave, some
never leave (their session ends first), some sessions never end. Delivered once in order, and
again with 10% duplicates and shuffled, the rows must be equal. Events are stored and processed
as the receiver and the task would (``process_event``), without HTTP or signatures, which the
receiver tests cover.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtimekit_django.models import Meeting, Participant, Session, SessionParticipant, WebhookEvent
from realtimekit_django.webhooks.handlers import process_event
from realtimekit_django.webhooks.payloads import meeting_id_of

from . import webhook_helpers as wh

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def scenario(rng: random.Random, meetings: int, events_per_meeting: int) -> list[dict]:
    """In-order payloads for ``meetings`` meetings, about ``events_per_meeting`` each."""
    events: list[dict] = []
    for m in range(meetings):
        meeting_id = uuid.UUID(int=m + 1)
        clock = T0 + timedelta(minutes=m)
        budget = events_per_meeting
        while budget > 0:
            session_id = f"s-{m}-{len(events)}"
            start = clock
            session = [wh.started(meeting_id, session_id, started_at=_iso(start))]
            people = max(1, min(rng.randint(1, 12), (budget - 2) // 2))
            for p in range(people):
                peer = f"peer-{session_id}-{p}"
                custom = f"person-{rng.randint(0, 30)}"
                joined_at = start + timedelta(seconds=rng.randint(1, 600))
                session.append(wh.joined(meeting_id, session_id, peer, custom, _iso(joined_at)))
                if rng.random() < 0.85:
                    left_at = joined_at + timedelta(seconds=rng.randint(1, 3600))
                    session.append(
                        wh.left(meeting_id, session_id, peer, custom, _iso(joined_at), _iso(left_at))
                    )
            for payload in session[1:]:
                payload["meeting"]["startedAt"] = _iso(start)
            if rng.random() < 0.9:
                end = start + timedelta(hours=2)
                reason = rng.choice(["HOST_ENDED_MEETING", "ALL_PARTICIPANTS_LEFT"])
                session.append(wh.ended(meeting_id, session_id, _iso(end), reason))
            session[1:] = sorted(session[1:], key=_happened_at)
            events.extend(session)
            budget -= len(session)
            clock = start + timedelta(hours=3)
    return events


def _happened_at(payload: dict) -> str:
    person = payload.get("participant", {})
    return person.get("leftAt") or person.get("joinedAt") or payload["meeting"].get("endedAt") or ""


def deliver(payloads: list[tuple[str, dict]]) -> None:
    now = timezone.now()
    rows = WebhookEvent.objects.bulk_create(
        WebhookEvent(
            uuid=delivery_id,
            event=payload["event"],
            meeting_id=meeting_id_of(payload),
            received_at=now,
            payload=payload,
        )
        for delivery_id, payload in _first_of_each(payloads)
    )
    for row in rows:
        assert process_event(row.pk) == "processed"
    # A duplicate that slipped past the receiver (a replay, a second task) changes nothing.
    for row in rows[: len(rows) // 10]:
        assert process_event(row.pk) == "already"


def _first_of_each(payloads):
    """The receiver keeps the first delivery of each ``rtk-uuid`` (its unique constraint)."""
    seen = set()
    for delivery_id, payload in payloads:
        if delivery_id not in seen:
            seen.add(delivery_id)
            yield delivery_id, payload


def snapshot() -> tuple[list, list]:
    sessions = list(
        Session.objects.order_by("pk").values_list(
            "pk", "meeting_id", "status", "started_at", "ended_at", "end_reason"
        )
    )
    people = list(
        SessionParticipant.objects.order_by("session_id", "peer_id").values_list(
            "session_id",
            "peer_id",
            "participant_id",
            "custom_participant_id",
            "display_name",
            "joined_at",
            "left_at",
        )
    )
    return sessions, people


def clear() -> None:
    SessionParticipant.objects.all().delete()
    Session.objects.all().delete()
    WebhookEvent.objects.all().delete()


def seed_mirror(meetings: int) -> None:
    """Half the meetings are mirrored, with people 0-14 as participants: attendance links to
    them, and the rest stay unlinked, whatever the order."""
    Meeting.objects.bulk_create(
        Meeting(id=uuid.UUID(int=m + 1), app_id="test-app") for m in range(0, meetings, 2)
    )
    Participant.objects.bulk_create(
        Participant(
            id=uuid.uuid4(),
            meeting_id=uuid.UUID(int=m + 1),
            custom_participant_id=f"person-{p}",
            preset_name="p",
        )
        for m in range(0, meetings, 2)
        for p in range(15)
    )


def shuffled_with_duplicates(events: list[dict], rng: random.Random) -> list[tuple[str, dict]]:
    deliveries = [(f"d-{i}", payload) for i, payload in enumerate(events)]
    deliveries += rng.sample(deliveries, len(deliveries) // 10)
    rng.shuffle(deliveries)
    return deliveries


def check_convergence(seed: int, meetings: int, events_per_meeting: int) -> int:
    rng = random.Random(seed)
    events = scenario(rng, meetings, events_per_meeting)
    deliver([(f"d-{i}", payload) for i, payload in enumerate(events)])
    in_order = snapshot()
    clear()
    deliver(shuffled_with_duplicates(events, rng))
    assert snapshot() == in_order
    clear()
    return len(events)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), meetings=st.integers(1, 8), per_meeting=st.integers(3, 40))
def test_any_order_and_duplicates_converge(seed, meetings, per_meeting):
    Participant.objects.all().delete()
    Meeting.objects.all().delete()
    seed_mirror(meetings)
    check_convergence(seed, meetings, per_meeting)


#: The issue asks for 10,000 events for 200 meetings: about 50 s on SQLite, too slow for the
#: default run, which takes 2,000 for 40 (50 a meeting either way). Set
#: REALTIMEKIT_WEBHOOK_EVENTS=10000 to run the full size.
TOTAL_EVENTS = int(os.environ.get("REALTIMEKIT_WEBHOOK_EVENTS", "2000"))


@pytest.mark.django_db
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_thousands_of_events_for_many_meetings_converge(seed):
    Participant.objects.all().delete()
    Meeting.objects.all().delete()
    meetings = max(TOTAL_EVENTS // 50, 1)
    seed_mirror(meetings)
    assert check_convergence(seed, meetings, 50) >= TOTAL_EVENTS
