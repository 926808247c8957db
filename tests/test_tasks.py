"""The Celery tasks, run eagerly (``tests.settings``): locking, retries, time limits, fan-out and
the beat schedule. ``test_celery_worker.py`` runs the same tasks in a real worker."""

from __future__ import annotations

import json

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from celery.result import allow_join_result
from django.core.cache import caches
from django.test.utils import override_settings

from realtimekit_django import tasks
from realtimekit_django.models import Meeting, Participant
from tests.celery_app import app
from tests.settings import REALTIMEKIT

pytestmark = pytest.mark.django_db

NO_CLIENT_RETRIES = {**REALTIMEKIT, "MAX_RETRIES": 0}
MEETINGS_LOCK = tasks.LOCK_PREFIX + "meetings:" + REALTIMEKIT["APP_ID"]


@pytest.fixture(autouse=True)
def _empty_lock_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


def _seed(emulator, meetings: int = 3, participants: int = 2) -> list[dict]:
    seeded = []
    for n in range(meetings):
        meeting = emulator.create_meeting(title=f"Meeting {n}")
        for k in range(participants):
            emulator.add_participant(meeting["id"], custom_participant_id=f"user-{n}-{k}", preset_name="p")
        seeded.append(meeting)
    return seeded


def test_the_tasks_are_registered_under_their_public_names():
    for name in ("meetings", "participants", "all"):
        name = f"realtimekit.reconcile_{name}"
        assert name in app.tasks


def test_reconcile_meetings_returns_a_json_report(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=5, participants=0)

    result = tasks.reconcile_meetings.delay(per_page=2).get()

    assert json.loads(json.dumps(result)) == result
    assert result["completed"] is True and result["skipped"] is False
    assert (result["pages"], result["http_requests"], result["created"]) == (3, 3, 5)
    assert Meeting.objects.count() == 5
    assert caches["default"].get(MEETINGS_LOCK) is None  # released


def test_a_second_run_started_while_the_first_holds_the_lock_skips(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=4, participants=0)
    overlapping: list[dict] = []

    def start_another_run(record):
        if record.query.get("page_no") == "1" and not overlapping:
            with allow_join_result():  # eager mode: the "other run" starts inside this one
                overlapping.append(tasks.reconcile_meetings.delay(per_page=2).get())

    realtimekit_emulator.add_hook(start_another_run)
    first = tasks.reconcile_meetings.delay(per_page=2).get()

    assert first["completed"] is True and first["skipped"] is False and first["created"] == 4
    assert overlapping[0]["skipped"] is True and overlapping[0]["pages"] == 0
    assert "lock" in overlapping[0]["error"]
    realtimekit_emulator.remove_hook(start_another_run)
    assert tasks.reconcile_meetings.delay().get()["skipped"] is False  # the lock was released


def test_a_skipped_run_says_so_in_the_log(realtimekit_emulator, caplog):
    caches["default"].add(MEETINGS_LOCK, "someone-else", 60)

    with caplog.at_level("INFO", logger="realtimekit_django.tasks"):
        result = tasks.reconcile_meetings.delay().get()

    assert result["skipped"] is True
    assert realtimekit_emulator.requests == []
    assert "skipped" in caplog.text
    assert caches["default"].get(MEETINGS_LOCK) == "someone-else"  # not ours to release


def test_the_lock_is_only_released_by_its_owner(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=1, participants=0)

    def lock_expires_and_is_taken_by_another_run(record):
        caches["default"].set(MEETINGS_LOCK, "the-next-owner", 60)

    realtimekit_emulator.add_hook(lock_expires_and_is_taken_by_another_run)
    result = tasks.reconcile_meetings.delay().get()

    assert result["completed"] is True
    assert caches["default"].get(MEETINGS_LOCK) == "the-next-owner"


def test_participant_walks_of_different_meetings_do_not_block_each_other(realtimekit_emulator):
    first, second = _seed(realtimekit_emulator, meetings=2, participants=1)
    nested: list[dict] = []

    def walk_the_other_meeting(record):
        if first["id"] in record.path and not nested:
            with allow_join_result():
                nested.append(tasks.reconcile_participants.delay(second["id"]).get())
                nested.append(tasks.reconcile_participants.delay(first["id"]).get())

    realtimekit_emulator.add_hook(walk_the_other_meeting)
    result = tasks.reconcile_participants.delay(first["id"]).get()

    assert result["completed"] is True and result["meeting_id"] == first["id"]
    assert nested[0]["skipped"] is False and nested[0]["created"] == 1
    assert nested[1]["skipped"] is True
    assert Participant.objects.count() == 2


@pytest.fixture
def eager_retries():
    """Let eager tasks retry inline, as a worker would after the backoff (Celery only does so
    when eager exceptions do not propagate)."""
    saved = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = saved


@override_settings(REALTIMEKIT=NO_CLIENT_RETRIES)
@pytest.mark.usefixtures("eager_retries")
def test_a_walk_failing_on_server_errors_is_retried_by_the_task(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=3, participants=0)
    realtimekit_emulator.faults.fail_next(2, status=503)

    result = tasks.reconcile_meetings.delay().get()

    assert result["completed"] is True and result["created"] == 3
    assert len(realtimekit_emulator.requests) == 3  # two failed attempts, then the walk


@override_settings(REALTIMEKIT=NO_CLIENT_RETRIES)
@pytest.mark.usefixtures("eager_retries")
def test_when_retries_are_exhausted_the_task_returns_the_incomplete_report(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=3, participants=0)
    realtimekit_emulator.faults.fail_next(50, status=500)

    result = tasks.reconcile_meetings.delay().get()

    assert result["completed"] is False and "500" in result["error"]
    assert len(realtimekit_emulator.requests) == tasks.reconcile_meetings.max_retries + 1
    assert Meeting.objects.count() == 0
    assert caches["default"].get(MEETINGS_LOCK) is None


@override_settings(REALTIMEKIT=NO_CLIENT_RETRIES)
def test_eager_tasks_that_propagate_return_the_incomplete_report_instead_of_raising_retry(
    realtimekit_emulator,
):
    assert app.conf.task_eager_propagates is True
    realtimekit_emulator.faults.fail_next(5, status=503)

    result = tasks.reconcile_meetings.delay().get()

    assert result["completed"] is False and "503" in result["error"]
    assert len(realtimekit_emulator.requests) == 1


@override_settings(REALTIMEKIT=NO_CLIENT_RETRIES)
@pytest.mark.usefixtures("eager_retries")
def test_a_client_error_is_not_retried(realtimekit_emulator):
    realtimekit_emulator.faults.fail_next(5, status=403)

    result = tasks.reconcile_meetings.delay().get()

    assert result["completed"] is False
    assert len(realtimekit_emulator.requests) == 1


def test_a_soft_time_limit_ends_the_walk_with_an_incomplete_report_and_frees_the_lock(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=5, participants=0)

    def time_is_up(record):
        if record.query.get("page_no") == "2":
            raise SoftTimeLimitExceeded()

    realtimekit_emulator.add_hook(time_is_up)
    result = tasks.reconcile_meetings.delay(per_page=2).get()

    assert result["completed"] is False and "soft time limit" in result["error"]
    assert result["pages"] == 1 and result["created"] == 2
    assert caches["default"].get(MEETINGS_LOCK) is None


def test_time_limits_come_from_settings():
    task = app.tasks["realtimekit.reconcile_all"]
    assert (task.soft_time_limit, task.time_limit) == (1500, 1800)
    with override_settings(REALTIMEKIT={**REALTIMEKIT, "TASK_SOFT_TIME_LIMIT": 50, "TASK_TIME_LIMIT": 60}):
        assert (task.soft_time_limit, task.time_limit) == (50, 60)


def test_reconcile_all_walks_meetings_then_every_meetings_participants(realtimekit_emulator):
    seeded = _seed(realtimekit_emulator, meetings=4, participants=3)
    gone = realtimekit_emulator.participants(seeded[0]["id"])[0]
    tasks.reconcile_all.delay().get()
    realtimekit_emulator.delete_participant(seeded[0]["id"], gone["id"])
    realtimekit_emulator.add_participant(seeded[1]["id"], custom_participant_id="late", preset_name="p")

    result = tasks.reconcile_all.delay().get()

    assert result["completed"] is True and result["participant_tasks"] == 4
    assert Participant.objects.count() == 12
    for meeting in seeded:
        remote = {p["id"]: p for p in realtimekit_emulator.participants(meeting["id"])}
        local = {str(p.pk): p.remote_data for p in Participant.objects.filter(meeting_id=meeting["id"])}
        assert local == remote


@override_settings(REALTIMEKIT=NO_CLIENT_RETRIES)
def test_reconcile_all_fans_out_nothing_after_an_incomplete_meetings_walk(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=2, participants=1)
    realtimekit_emulator.faults.fail_next(50, status=502)

    result = tasks.reconcile_all.delay().get()

    assert result["completed"] is False and result["participant_tasks"] == 0
    assert Participant.objects.count() == 0


def test_beat_schedule_defaults_to_the_sync_interval():
    assert tasks.beat_schedule() == {
        "realtimekit-reconcile-all": {"task": "realtimekit.reconcile_all", "schedule": 300.0}
    }
    assert tasks.beat_schedule(60)["realtimekit-reconcile-all"]["schedule"] == 60.0
    with override_settings(REALTIMEKIT={**REALTIMEKIT, "SYNC_INTERVAL_SECONDS": 900}):
        assert tasks.beat_schedule()["realtimekit-reconcile-all"]["schedule"] == 900.0
    assert tasks.beat_schedule()["realtimekit-reconcile-all"]["task"] in app.tasks


def test_the_lock_is_renewed_after_every_page(realtimekit_emulator, monkeypatch):
    """A long walk keeps its lock; a dead one loses it SYNC_LOCK_SECONDS after its last page."""
    _seed(realtimekit_emulator, meetings=5, participants=0)
    touched: list[tuple[str, int]] = []
    cache = caches["default"]
    real_touch = cache.touch
    monkeypatch.setattr(
        cache, "touch", lambda key, timeout=None: touched.append((key, timeout)) or real_touch(key, timeout)
    )

    result = tasks.reconcile_meetings.delay(per_page=2).get()

    assert result["pages"] == 3
    assert touched == [(MEETINGS_LOCK, 300)] * 3


def test_a_lock_taken_over_is_not_renewed(realtimekit_emulator, caplog):
    with tasks.overlap_lock("meetings:x") as lock:
        assert lock and lock.renew() is True
        caches["default"].set(tasks.LOCK_PREFIX + "meetings:x", "the-next-owner", 60)
        with caplog.at_level("WARNING", logger="realtimekit_django.tasks"):
            assert lock.renew() is False
    assert "taken over" in caplog.text
    assert caches["default"].get(tasks.LOCK_PREFIX + "meetings:x") == "the-next-owner"


def test_break_lock_frees_a_dead_runs_lock(realtimekit_emulator):
    caches["default"].add(MEETINGS_LOCK, "a-dead-worker", 60)
    assert tasks.reconcile_meetings.delay().get()["skipped"] is True
    assert tasks.break_lock("meetings:" + REALTIMEKIT["APP_ID"]) is True
    assert tasks.reconcile_meetings.delay().get()["skipped"] is False
