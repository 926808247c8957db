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
def test_without_advisory_locks_a_lost_race_is_undone(realtimekit_emulator, django_user_model):
    """Databases without advisory locks (SQLite, MySQL): when two first joins both add
    remotely, the unique (meeting, user) constraint picks the winner and the loser deletes the
    remote participant it just made. Driven directly, so it runs on any database."""
    from realtimekit_django.client import get_client
    from realtimekit_django.conf import get_settings

    meeting = services.create_meeting(title="Race")
    user = django_user_model.objects.create_user("loser")
    winner = services.issue_join_token(meeting, user)
    custom_id = get_settings().participant_id_function(user)
    wanted = {"preset_name": winner.preset_name, "name": "loser", "picture": None}
    # The loser reaches the add as if it had not seen the winner's row (a concurrent join).
    again = services._add_for_join(
        meeting, user, custom_id, wanted, get_client(), alias=connection.alias, guard_race=True
    )
    remote = realtimekit_emulator.participants(str(meeting.pk))
    assert [p["id"] for p in remote] == [str(winner.participant.pk)]
    assert again.participant.pk == winner.participant.pk
    assert Participant.objects.count() == 1


def _statements(captured) -> list[str]:
    """The statements run, without transaction control (BEGIN/COMMIT/SAVEPOINT/RELEASE)."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(control)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_join_query_bounds_hold_on_postgresql_with_the_lock(realtimekit_emulator, django_user_model):
    """First join = lock, meeting and participant in one SELECT, INSERT; a rejoin = lock, SELECT."""
    from django.test.utils import CaptureQueriesContext

    meeting = services.create_meeting(title="Counted")
    user = django_user_model.objects.create_user("counted")
    with CaptureQueriesContext(connection) as first_join:
        first = services.issue_join_token(meeting.pk, user)
    with CaptureQueriesContext(connection) as rejoin:
        again = services.issue_join_token(meeting.pk, user)
    first_sql, rejoin_sql = _statements(first_join), _statements(rejoin)
    assert (
        len(first_sql) == 3 and "pg_advisory_xact_lock" in first_sql[0] and first_sql[2].startswith("INSERT")
    )
    assert len(rejoin_sql) == 2 and "pg_advisory_xact_lock" in rejoin_sql[0]
    assert again.participant.pk == first.participant.pk
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 1
