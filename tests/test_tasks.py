"""The Celery tasks, run eagerly (``tests.settings``): locking, retries, time limits, fan-out and
the beat schedule. ``test_celery_worker.py`` runs the same tasks in a real worker."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from celery.result import allow_join_result
from django.core.cache import caches
from django.test.utils import override_settings
from django.utils import timezone

from realtimekit_django import schema, signals, tasks
from realtimekit_django.exceptions import ValidationError
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync.reconcile import StopWalk
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


def test_a_lock_taken_over_mid_walk_stops_the_walk_and_stays_with_its_new_owner(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=4, participants=0)
    ghost = Meeting.objects.create(id=uuid.uuid4(), app_id=REALTIMEKIT["APP_ID"])

    def lock_expires_and_is_taken_by_another_run(record):
        caches["default"].set(MEETINGS_LOCK, "the-next-owner", 60)

    realtimekit_emulator.add_hook(lock_expires_and_is_taken_by_another_run)
    result = tasks.reconcile_meetings.delay(per_page=2).get()

    assert result["completed"] is False and "lock lost" in result["error"]
    assert result["pages"] == 1 and len(realtimekit_emulator.requests) == 1  # stopped after one request
    assert Meeting.objects.get(pk=ghost.pk).missing_since is None  # an incomplete walk flags nothing
    assert caches["default"].get(MEETINGS_LOCK) == "the-next-owner"


def test_a_lock_that_vanished_mid_walk_is_taken_again_and_the_walk_goes_on(realtimekit_emulator, caplog):
    _seed(realtimekit_emulator, meetings=4, participants=0)
    held_during_the_walk = []

    def the_lock_cache_is_flushed(record):
        held_during_the_walk.append(caches["default"].get(MEETINGS_LOCK))
        caches["default"].clear()

    realtimekit_emulator.add_hook(the_lock_cache_is_flushed)
    with caplog.at_level("WARNING", logger="realtimekit_django.tasks"):
        result = tasks.reconcile_meetings.delay(per_page=2).get()

    assert result["completed"] is True and result["created"] == 4
    assert "taken again" in caplog.text
    assert len(set(held_during_the_walk)) == 1 and None not in held_during_the_walk  # one owner throughout
    assert caches["default"].get(MEETINGS_LOCK) is None  # released at the end


def test_a_lock_cache_error_mid_walk_still_reports_and_signals_the_walk(realtimekit_emulator, monkeypatch):
    _seed(realtimekit_emulator, meetings=4, participants=0)
    finished = []

    def the_cache_goes_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to the lock cache. Connection refused.")

    def record(sender, report, **kwargs):
        finished.append(report)

    monkeypatch.setattr(caches["default"], "touch", the_cache_goes_down)
    signals.reconcile_finished.connect(record)
    try:
        with pytest.raises(ConnectionError):
            tasks.reconcile_meetings.delay(per_page=2).get()
    finally:
        signals.reconcile_finished.disconnect(record)

    assert len(finished) == 1 and finished[0].completed is False
    assert finished[0].pages == 1 and "ConnectionError" in finished[0].error


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


def test_beat_schedule_defaults_to_the_sync_interval_and_expires_before_the_next_run():
    assert tasks.beat_schedule() == {
        "realtimekit-reconcile-all": {
            "task": "realtimekit.reconcile_all",
            "schedule": 300.0,
            "kwargs": {"interval": 300.0},
            "options": {"expires": 270.0},
        }
    }
    assert tasks.beat_schedule(60)["realtimekit-reconcile-all"]["schedule"] == 60.0
    with override_settings(REALTIMEKIT={**REALTIMEKIT, "SYNC_INTERVAL_SECONDS": 900}):
        assert tasks.beat_schedule()["realtimekit-reconcile-all"]["options"]["expires"] == 810.0
    assert tasks.beat_schedule()["realtimekit-reconcile-all"]["task"] in app.tasks
    with pytest.raises(ValidationError, match="interval"):
        tasks.beat_schedule(0)


# -- bad arguments ------------------------------------------------------------------------------

BAD_PAGE_SIZES = [0, -5, schema.MAX_PER_PAGE + 1, 1000, 2.5, "10"]


@pytest.mark.parametrize("per_page", BAD_PAGE_SIZES)
def test_reconcile_all_refuses_a_bad_page_size_before_sending_anything(realtimekit_emulator, per_page):
    _seed(realtimekit_emulator, meetings=2, participants=0)
    stored = Meeting.objects.create(id=uuid.uuid4(), app_id=REALTIMEKIT["APP_ID"])

    with pytest.raises(ValidationError, match="per_page"):
        tasks.reconcile_all.delay(per_page=per_page).get()

    assert realtimekit_emulator.requests == []
    assert Meeting.objects.get(pk=stored.pk).missing_since is None  # nothing flagged
    assert caches["default"].get(MEETINGS_LOCK) is None


@pytest.mark.parametrize("task", ["reconcile_meetings", "reconcile_participants"])
def test_the_other_tasks_refuse_a_bad_page_size_too(realtimekit_emulator, task):
    args = (str(uuid.uuid4()),) if task == "reconcile_participants" else ()

    with pytest.raises(ValidationError, match="per_page: must be at most"):
        getattr(tasks, task).delay(*args, per_page=schema.MAX_PER_PAGE + 1).get()

    assert realtimekit_emulator.requests == []


def test_an_unknown_filter_is_refused_by_name(realtimekit_emulator):
    with pytest.raises(ValidationError, match="stauts: is not a filter of the meetings listing"):
        tasks.reconcile_meetings.delay(stauts="ACTIVE").get()
    with pytest.raises(ValidationError, match="status"):
        tasks.reconcile_meetings.delay(status="SLEEPING").get()
    assert realtimekit_emulator.requests == []
    assert tasks.reconcile_meetings.delay(status="ACTIVE").get()["completed"] is True


def test_a_bad_interval_is_refused(realtimekit_emulator):
    with pytest.raises(ValidationError, match="interval: must be a positive number"):
        tasks.reconcile_all.delay(interval=-1).get()
    assert realtimekit_emulator.requests == []


# -- the fan-out --------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch) -> list[dict]:
    """Participant tasks the fan-out sends, recorded instead of run (as if no worker were free)."""
    sent: list[dict] = []

    def record(args, kwargs, **options):
        sent.append({"args": args, "kwargs": kwargs, **options})

    monkeypatch.setattr(tasks.reconcile_participants, "apply_async", record)
    return sent


def _run_queued(sent: list[dict]) -> None:
    """What a worker does with the recorded participant tasks."""
    for message in sent:
        tasks.reconcile_participants.apply(message["args"], message["kwargs"]).get()


def test_fanned_out_tasks_expire_before_the_next_run_and_store_no_result(realtimekit_emulator, queued):
    _seed(realtimekit_emulator, meetings=3, participants=0)

    result = tasks.reconcile_all.delay(interval=60).get()

    assert result["participant_tasks"] == 3 and result["fanout_complete"] is True
    assert [(m["expires"], m["ignore_result"]) for m in queued] == [(54.0, True)] * 3
    assert {m["kwargs"]["fanout_id"] for m in queued} == {result["fanout_id"]}
    with_default_interval = tasks.reconcile_all.delay()  # the previous fan-out is unfinished
    assert with_default_interval.get()["participant_tasks"] == 0


def test_no_fan_out_while_the_previous_one_is_unfinished(realtimekit_emulator, queued):
    _seed(realtimekit_emulator, meetings=3, participants=1)
    first = tasks.reconcile_all.delay().get()
    assert first["participant_tasks"] == 3 and tasks.pending_fanout() == 3

    second = tasks.reconcile_all.delay().get()

    assert second["completed"] is True and second["participant_tasks"] == 0
    assert second["fanout_complete"] is False
    assert "previous fan-out still has 3 participant walks" in second["fanout_reason"]
    assert len(queued) == 3

    _run_queued(queued[:2])
    assert tasks.pending_fanout() == 1
    _run_queued(queued[2:])
    assert tasks.pending_fanout() == 0
    assert Participant.objects.count() == 3

    third = tasks.reconcile_all.delay().get()
    assert third["participant_tasks"] == 3 and third["fanout_id"] != first["fanout_id"]


def test_a_soft_time_limit_during_the_fan_out_returns_the_report_with_what_was_sent(
    realtimekit_emulator, monkeypatch
):
    _seed(realtimekit_emulator, meetings=5, participants=0)
    sent: list[tuple] = []

    def time_runs_out_at_the_third(args, kwargs, **options):
        if len(sent) == 2:
            raise SoftTimeLimitExceeded()
        sent.append(args)

    monkeypatch.setattr(tasks.reconcile_participants, "apply_async", time_runs_out_at_the_third)

    result = tasks.reconcile_all.delay().get()

    assert result["completed"] is True and result["created"] == 5  # the meetings walk itself
    assert result["participant_tasks"] == 2 and result["fanout_complete"] is False
    assert "soft time limit exceeded after sending 2 of 5" in result["fanout_reason"]
    assert tasks.pending_fanout() == 2  # only what was sent is waited for
    assert caches["default"].get(MEETINGS_LOCK) is None


def test_an_incomplete_meetings_walk_says_why_nothing_was_fanned_out(realtimekit_emulator):
    caches["default"].add(MEETINGS_LOCK, "another-run", 60)

    result = tasks.reconcile_all.delay().get()

    assert result["skipped"] is True and result["participant_tasks"] == 0
    assert "holds the lock" in result["fanout_reason"]


# -- two beats ----------------------------------------------------------------------------------


def test_a_scheduled_run_skips_when_a_run_completed_recently(realtimekit_emulator, caplog):
    _seed(realtimekit_emulator, meetings=2, participants=1)
    assert tasks.reconcile_all.delay(interval=300).get()["completed"] is True
    requests = len(realtimekit_emulator.requests)

    with caplog.at_level("INFO", logger="realtimekit_django.tasks"):
        second_beat = tasks.reconcile_all.delay(interval=300).get()

    assert second_beat["skipped"] is True and second_beat["participant_tasks"] == 0
    assert "within 0.6 of the 300s interval" in second_beat["error"]
    assert "second beat" in caplog.text
    assert len(realtimekit_emulator.requests) == requests  # nothing walked twice
    by_hand = tasks.reconcile_all.delay().get()  # not a scheduled run: always walks
    assert by_hand["skipped"] is False and by_hand["completed"] is True


def test_a_last_run_dated_in_the_future_does_not_stop_scheduled_runs(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=2, participants=0)
    # Another host, its clock an hour ahead, completed a run "later than now".
    caches["default"].set(tasks.LAST_RUN_PREFIX + "test-app", time.time() + 3600, timeout=600)
    assert tasks.reconcile_all.delay(interval=300).get()["skipped"] is False


def test_an_incomplete_scheduled_run_is_not_remembered(realtimekit_emulator):
    _seed(realtimekit_emulator, meetings=2, participants=0)
    with override_settings(REALTIMEKIT=NO_CLIENT_RETRIES):
        realtimekit_emulator.faults.fail_next(1, status=502)
        assert tasks.reconcile_all.delay(interval=300).get()["completed"] is False

    assert tasks.reconcile_all.delay(interval=300).get()["completed"] is True


def _count_touches(monkeypatch) -> list[tuple[str, int]]:
    touched: list[tuple[str, int]] = []
    cache = caches["default"]
    real_touch = cache.touch
    monkeypatch.setattr(
        cache, "touch", lambda key, timeout=None: touched.append((key, timeout)) or real_touch(key, timeout)
    )
    return touched


def test_the_lock_is_renewed_after_every_page(realtimekit_emulator, monkeypatch):
    """A long walk keeps its lock; a dead one loses it SYNC_LOCK_SECONDS after its last page."""
    _seed(realtimekit_emulator, meetings=5, participants=0)
    touched = _count_touches(monkeypatch)

    result = tasks.reconcile_meetings.delay(per_page=2).get()

    assert result["pages"] == 3
    assert touched == [(MEETINGS_LOCK, 300)] * 3


def test_the_lock_is_renewed_after_every_participant_lookup_too(realtimekit_emulator, monkeypatch):
    """A walk with many participants gone remotely makes one lookup each: each renews the lock."""
    (meeting,) = _seed(realtimekit_emulator, meetings=1, participants=3)
    tasks.reconcile_participants.delay(meeting["id"]).get()
    for participant in realtimekit_emulator.participants(meeting["id"])[:2]:
        realtimekit_emulator.delete_participant(meeting["id"], participant["id"])
    Participant.objects.update(synced_at=timezone.now() - timedelta(minutes=5))
    touched = _count_touches(monkeypatch)

    result = tasks.reconcile_participants.delay(meeting["id"], per_page=2).get()

    assert result["completed"] is True and result["removed"] == 2
    assert result["http_requests"] == 3  # one page, two lookups (404)
    assert touched == [(tasks.LOCK_PREFIX + f"participants:{meeting['id']}", 300)] * 3


def test_a_lock_taken_over_is_not_renewed(realtimekit_emulator, caplog):
    with tasks.overlap_lock("meetings:x") as lock:
        lock.renew()
        caches["default"].set(tasks.LOCK_PREFIX + "meetings:x", "the-next-owner", 60)
        with caplog.at_level("WARNING", logger="realtimekit_django.tasks"):
            with pytest.raises(StopWalk, match="lock lost"):
                lock.renew()
    assert "another run holds it" in caplog.text
    assert caches["default"].get(tasks.LOCK_PREFIX + "meetings:x") == "the-next-owner"


def test_break_lock_frees_a_dead_runs_lock(realtimekit_emulator):
    caches["default"].add(MEETINGS_LOCK, "a-dead-worker", 60)
    assert tasks.reconcile_meetings.delay().get()["skipped"] is True
    assert tasks.break_lock("meetings:" + REALTIMEKIT["APP_ID"]) is True
    assert tasks.reconcile_meetings.delay().get()["skipped"] is False
