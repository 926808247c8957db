"""Concurrent joins for one (meeting, user) make exactly one remote participant and one row."""

import threading

import pytest
from django.db import connection

from realtimekit_django import services
from realtimekit_django.models import Participant


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_joins_make_one_participant(realtimekit_emulator, django_user_model):
    assert connection.vendor == "postgresql"
    meeting = services.create_meeting(title="Crowded")
    user = django_user_model.objects.create_user("racer")
    realtimekit_emulator.faults.latency = 0.05  # widen the window in which joins can overlap
    start = threading.Barrier(20)
    tokens, errors = [], []

    def join():
        try:
            start.wait()
            tokens.append(services.issue_join_token(meeting, user).token)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=join) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(tokens) == 20 and len(set(tokens)) == 20
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 1
    assert Participant.objects.filter(meeting=meeting).count() == 1
    adds = [
        r for r in realtimekit_emulator.requests if r.method == "POST" and r.path.endswith("/participants")
    ]
    assert len(adds) == 1


@pytest.mark.django_db
def test_without_advisory_locks_a_lost_race_is_undone(realtimekit_emulator, django_user_model, monkeypatch):
    """SQLite has no advisory lock: when two first joins both add remotely, the unique
    (meeting, user) constraint picks the winner and the loser deletes its remote duplicate."""
    meeting = services.create_meeting(title="Race")
    user = django_user_model.objects.create_user("loser")
    winner = services.issue_join_token(meeting, user)
    # Make the next join believe it is the first (as a concurrent one would).
    monkeypatch.setattr(services, "_find_join_participant", lambda meeting, custom_id: None)
    again = services.issue_join_token(meeting, user)
    remote = realtimekit_emulator.participants(str(meeting.pk))
    assert [p["id"] for p in remote] == [str(winner.participant.pk)]
    assert again.participant.pk == winner.participant.pk
    assert Participant.objects.count() == 1
