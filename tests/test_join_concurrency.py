"""Concurrent joins for one (meeting, user) make exactly one remote participant and one row."""

import json
import threading
import time

import pytest
from django.db import connection, transaction

from realtimekit_django import services, store
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
def test_a_first_join_that_loses_the_race_is_undone(realtimekit_emulator, django_user_model, monkeypatch):
    """Without advisory locks (SQLite), two first joins can both add remotely: the unique
    (meeting, user) constraint picks the winner, the loser deletes the remote participant it
    just made and joins as the winner's participant. Driven by hiding the winner's row from the
    loser's lookup, so it runs on any database."""
    meeting = services.create_meeting(title="Race")
    user = django_user_model.objects.create_user("loser")
    winner = services.issue_join_token(meeting, user)
    find_join = store.find_join
    blind = iter([True])

    def not_seeing_the_winner(*args, **kwargs):
        found_meeting, found = find_join(*args, **kwargs)
        return (found_meeting, None) if next(blind, False) else (found_meeting, found)

    monkeypatch.setattr(store, "find_join", not_seeing_the_winner)
    again = services.issue_join_token(meeting, user)

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
    """A join = the lock (a statement of its own), the meeting with the person's participant,
    and the upsert of what the API answered: for a first join and a rejoin alike."""
    from django.test.utils import CaptureQueriesContext

    meeting = services.create_meeting(title="Counted")
    services.known_preset_names()  # kept in the cache, as on a site that has served a join
    for given in (meeting.pk, meeting):
        user = django_user_model.objects.create_user(f"counted-{type(given).__name__}")
        with CaptureQueriesContext(connection) as first_join:
            first = services.issue_join_token(given, user)
        with CaptureQueriesContext(connection) as rejoin:
            again = services.issue_join_token(given, user)
        for sql in (_statements(first_join), _statements(rejoin)):
            assert len(sql) == 3, sql
            assert sql[0].startswith("SELECT pg_advisory_xact_lock")
            assert "LEFT OUTER JOIN" in sql[1] and sql[2].startswith("INSERT")
        assert again.participant.pk == first.participant.pk
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 2


def _other_connection():
    """A connection of its own to the test database, outside Django (another process's join)."""
    import psycopg

    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"],
        port=settings["PORT"],
    )


def _wait_until_someone_waits_for_an_advisory_lock(other, waiter: threading.Thread) -> None:
    """Until another backend of this database is blocked on an advisory lock (ours)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        waiting = other.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND pid <> pg_backend_pid()"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0]
        if waiting:
            assert waiter.is_alive()
            return
        assert waiter.is_alive(), "the lookup did not wait for the lock"
        time.sleep(0.01)
    raise AssertionError("the lookup never waited for the advisory lock")


def _commit_a_participant_while_holding_the_join_lock(emulator, meeting, user, lookup):
    """Another connection takes the join's lock and adds (meeting, user)'s participant, remote
    and local, as a concurrent first join would; ``lookup`` runs in a thread meanwhile and must
    block on the lock; the other connection commits. Returns (``lookup``'s result, row id)."""
    from realtimekit_django.conf import get_settings

    config = get_settings()
    custom_id = config.participant_id_function(user)
    remote = emulator.add_participant(
        str(meeting.pk),
        custom_participant_id=custom_id,
        preset_name=config.preset_policy(user, meeting),
        name=config.display_name_function(user),
    )
    remote = {key: value for key, value in remote.items() if key != "token"}
    results, errors = [], []

    def run():
        try:
            results.append(lookup())
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connection.close()

    with _other_connection() as other:  # psycopg: a transaction begins with the first statement
        other.execute("SELECT pg_advisory_xact_lock(%s)", [store.join_lock_key(meeting.pk, custom_id)])
        other.execute(
            "INSERT INTO realtimekit_participant (id, meeting_id, custom_participant_id, preset_name, name,"
            " picture, user_id, remote_created_at, remote_updated_at, synced_at, remote_data)"
            " VALUES (%s, %s, %s, %s, %s, NULL, %s, %s, %s, now(), %s::jsonb)",
            [
                remote["id"],
                meeting.pk,
                custom_id,
                remote["preset_name"],
                remote["name"],
                user.pk,
                remote["created_at"],
                remote["updated_at"],
                json.dumps(remote),
            ],
        )
        thread = threading.Thread(target=run)
        thread.start()
        try:
            _wait_until_someone_waits_for_an_advisory_lock(other, thread)
        finally:
            other.commit()
            thread.join(timeout=30)
    assert errors == [] and len(results) == 1
    return results[0], remote["id"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("given", ["id", "meeting", "queryset"])
def test_a_join_that_waited_for_the_lock_sees_the_participant_committed_meanwhile(
    realtimekit_emulator, django_user_model, given
):
    """The join reads its participant only once it holds the lock, in a statement of its own: a
    participant committed by the lock's previous holder is found, not added a second time.

    This is why the lock is a statement before the lookup: one plain SELECT that locked and
    read would read from the snapshot taken before it waited (see the next test), miss that
    participant and add another."""
    from realtimekit_django.models import Meeting

    meeting = services.create_meeting(title="Waited")
    user = django_user_model.objects.create_user("waiter")
    target = {"id": meeting.pk, "meeting": meeting, "queryset": str(meeting.pk)}[given]
    meetings = Meeting.objects.all() if given == "queryset" else None
    before = len(realtimekit_emulator.requests)

    def join():
        return services.issue_join_token(target, user, meetings=meetings)

    joined, committed_id = _commit_a_participant_while_holding_the_join_lock(
        realtimekit_emulator, meeting, user, join
    )
    assert str(joined.participant.pk) == committed_id
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in realtimekit_emulator.requests[before:]] == [
        ("PATCH", committed_id)
    ]
    assert [p["id"] for p in realtimekit_emulator.participants(str(meeting.pk))] == [committed_id]
    assert Participant.objects.filter(meeting=meeting).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_plain_select_that_locks_and_reads_misses_what_it_waited_for(
    realtimekit_emulator, django_user_model
):
    """The trap a separate lock statement avoids (and proof that the test above can fail): in
    READ COMMITTED one statement reads from the snapshot taken when it started, before its wait."""
    meeting = services.create_meeting(title="Trap")
    user = django_user_model.objects.create_user("trapped")

    def plain_select():
        from realtimekit_django.conf import get_settings

        custom_id = get_settings().participant_id_function(user)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT p.id FROM (SELECT pg_advisory_xact_lock(%s)) AS locked"
                " LEFT JOIN realtimekit_participant p ON p.meeting_id = %s AND p.custom_participant_id = %s",
                [store.join_lock_key(meeting.pk, custom_id), meeting.pk, custom_id],
            )
            return cursor.fetchall()

    rows, committed_id = _commit_a_participant_while_holding_the_join_lock(
        realtimekit_emulator, meeting, user, lambda: _in_transaction(plain_select)
    )
    assert rows == [(None,)]  # the committed participant was not seen
    assert Participant.objects.filter(pk=committed_id).exists()  # though it is there


def _in_transaction(work):
    with transaction.atomic():
        return work()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_first_joins_and_preparations_with_kept_tokens_make_one_participant(
    realtimekit_emulator, django_user_model, settings
):
    """With the token cache on, first joins racing provisioning of the same person still add
    one remote participant, and every join hands out a token the emulator accepts."""
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "default"}
    meeting = services.create_meeting(title="Crowded, prepared")
    user = django_user_model.objects.create_user("racer-prepared")
    realtimekit_emulator.faults.latency = 0.05
    start = threading.Barrier(20)
    tokens, errors = [], []

    def join(index: int):
        try:
            start.wait()
            if index % 2:
                services.provision_participants(meeting, [user])
            else:
                tokens.append(services.issue_join_token(meeting, user).token)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=join, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(tokens) == 10 and all(realtimekit_emulator.token_is_valid(t) for t in tokens)
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 1
    assert Participant.objects.filter(meeting=meeting).count() == 1
    adds = [
        r for r in realtimekit_emulator.requests if r.method == "POST" and r.path.endswith("/participants")
    ]
    assert len(adds) == 1
