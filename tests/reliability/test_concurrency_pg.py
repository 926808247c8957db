"""Races on the real PostgreSQL server: simultaneous joins through the API, a reconcile page
racing an admin edit of the same meeting, and two reconcile tasks at once.

Run with ``pytest -m postgres --ds=tests.settings_postgres tests/reliability``. The emulator is
served on loopback, so the threads really overlap in their HTTP calls as well as in the database.
"""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client

from realtimekit_django import services, tasks
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync.reconcile import reconcile_meetings
from tests.reliability.conftest import meeting_diff, participant_diff

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT = 60  # seconds: a bound for a deadlock, not a timing goal


def run_threads(*targets) -> list[BaseException]:
    """Run the targets at once (a barrier releases them together); returns their exceptions."""
    start = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrap(target):
        def run():
            try:
                start.wait()
                target()
            except BaseException as exc:  # collected and asserted by the caller
                errors.append(exc)
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    stuck = [t for t in threads if t.is_alive()]
    if stuck:
        errors.append(AssertionError(f"{len(stuck)} thread(s) still running after {WAIT}s: deadlock?"))
    return errors


def test_twenty_simultaneous_joins_through_the_api_make_one_participant(
    served_emulator, settings, reliability, django_user_model
):
    assert connection.vendor == "postgresql"
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"realtimekit_join": "1000/min"}}
    cache.clear()
    meeting = services.create_meeting(title="Rush hour")
    user = django_user_model.objects.create_user("rusher", password="pw")
    served_emulator.faults.latency = 0.05  # widen the window in which the joins overlap
    answers: list[tuple[int, str | None]] = []

    def join():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        response = client.post(f"/realtimekit/meetings/{meeting.pk}/join/")
        answers.append(
            (response.status_code, response.json().get("token") if response.status_code == 200 else None)
        )

    errors = run_threads(*[join] * 20)
    diff = participant_diff(served_emulator, str(meeting.pk))
    adds = [r for r in served_emulator.requests if r.method == "POST" and r.path.endswith("/participants")]
    reliability(
        "concurrency",
        "20 simultaneous joins of one user to one meeting through the join API",
        f"{sum(1 for s, _ in answers if s == 200)} answers 200, {len(adds)} remote participant added",
        runs=len(answers),
        requests=len(served_emulator.requests),
        duplicates=len(served_emulator.participants(str(meeting.pk))) - 1 + diff["duplicates"],
        server_errors=sum(1 for s, _ in answers if s >= 500),
        lost=diff["lost"],
    )
    assert errors == []
    assert [s for s, _ in answers] == [200] * 20
    assert len({token for _, token in answers}) == 20
    assert len(adds) == 1 and Participant.objects.filter(meeting=meeting).count() == 1
    assert diff == {"lost": 0, "wrong": 0, "extra": 0, "duplicates": 0}


@pytest.mark.parametrize(
    "order",
    [
        "page fetched before the edit, stored after it",
        "page stored and holding its row lock while the edit commits",
    ],
)
def test_a_reconcile_page_racing_an_admin_edit_keeps_the_newest_state(
    served_emulator, monkeypatch, reliability, order
):
    for n in range(12):
        served_emulator.create_meeting(title=f"Race {n:02d}")
    reconcile_meetings(per_page=5)
    target = Meeting.objects.order_by("remote_created_at").first()  # on the walk's first page
    page_fetched, edit_done, edit_started = threading.Event(), threading.Event(), threading.Event()
    original = services.upsert_meetings

    def slow_upsert(payloads, **kwargs):
        payloads = list(payloads)
        if any(p["id"] == str(target.pk) for p in payloads) and not page_fetched.is_set():
            page_fetched.set()
            if order.startswith("page fetched"):
                edit_done.wait(WAIT)  # the edit commits first; this page is now older than the row
                return original(payloads, **kwargs)
            with transaction.atomic():
                result = original(payloads, **kwargs)  # row lock held until this block ends
                edit_started.wait(WAIT)
                threading.Event().wait(0.3)  # let the edit reach the locked row and block on it
                return result
        return original(payloads, **kwargs)

    monkeypatch.setattr(services, "upsert_meetings", slow_upsert)
    reports = []

    def walk():
        reports.append(reconcile_meetings(per_page=5))

    def edit():
        page_fetched.wait(WAIT)
        edit_started.set()
        services.update_meeting(Meeting.objects.get(pk=target.pk), title="edited by the admin")
        edit_done.set()

    errors = run_threads(walk, edit)
    row = Meeting.objects.get(pk=target.pk)
    remote = served_emulator.get_meeting(str(target.pk))
    diff = meeting_diff(served_emulator)
    lost_edit = int(row.title != "edited by the admin")
    reliability(
        "concurrency",
        f"reconcile vs admin edit of the same meeting: {order}",
        "the newest remote state won (remote_updated_at guard); no deadlock, no lost edit",
        runs=2,
        lost=lost_edit + diff["lost"] + diff["wrong"],
    )
    assert errors == []
    assert reports and reports[0].completed
    assert row.title == remote["title"] == "edited by the admin"
    assert row.remote_data == remote
    assert diff == {"lost": 0, "wrong": 0, "extra": 0}


def test_two_reconcile_tasks_at_once_one_skips(served_emulator, reliability):
    cache.clear()
    for n in range(30):
        served_emulator.create_meeting(title=f"Twice {n:02d}")
    served_emulator.faults.latency = 0.05  # each page takes a while: the two runs overlap
    results = []

    def run_task():
        results.append(tasks.reconcile_meetings.apply(kwargs={"per_page": 5}).get())

    errors = run_threads(run_task, run_task)
    skipped = [r for r in results if r["skipped"]]
    ran = [r for r in results if not r["skipped"]]
    diff = meeting_diff(served_emulator)
    reliability(
        "concurrency",
        "two reconcile_meetings tasks at once (cache lock)",
        "one walked, the other skipped; the table equals the remote",
        runs=len(results),
        lost=diff["lost"] + diff["wrong"],
        duplicates=diff["extra"],
    )
    assert errors == []
    assert len(skipped) == 1 and len(ran) == 1 and ran[0]["completed"]
    assert skipped[0]["http_requests"] == 0
    assert diff == {"lost": 0, "wrong": 0, "extra": 0}
    assert cache.get(tasks.LOCK_PREFIX + "meetings:test-app") is None, "the lock was not released"
