"""The overlap lock, the fan-out's counters and a run's bookkeeping, called directly: no Celery
task, no queue, no worker (``sync/locks.py``, ``sync/fanout.py``, ``sync/runs.py``)."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from realtimekit_django.exceptions import ValidationError
from realtimekit_django.sync import fanout, locks, runs
from realtimekit_django.sync.reconcile import StopWalk
from tests.settings import REALTIMEKIT

pytestmark = pytest.mark.django_db

APP = REALTIMEKIT["APP_ID"]


@pytest.fixture(autouse=True)
def _empty_lock_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


def test_one_holder_at_a_time_and_only_the_owner_releases():
    with locks.overlap_lock("x") as first:
        assert first
        with locks.overlap_lock("x") as second:
            assert not second
        assert caches["default"].get(locks.LOCK_PREFIX + "x") == first.token  # second released nothing
    assert caches["default"].get(locks.LOCK_PREFIX + "x") is None
    with locks.overlap_lock("x") as again:
        assert again


def test_a_lock_taken_over_stops_the_walk_at_the_next_renewal():
    lock = locks.OverlapLock("y")
    caches["default"].set(locks.LOCK_PREFIX + "y", "someone-else")
    with pytest.raises(StopWalk):
        lock.renew()
    assert not lock
    lock.release()
    assert caches["default"].get(locks.LOCK_PREFIX + "y") == "someone-else"
    assert locks.break_lock("y") and caches["default"].get(locks.LOCK_PREFIX + "y") is None


def test_locked_walk_skips_while_another_run_holds_the_lock():
    walked = []
    with locks.overlap_lock("z"):
        report = locks.locked_walk("z", lambda progress: walked.append(progress), kind="meetings")
    assert report.skipped and walked == []
    assert locks.meetings_lock_name(APP) == f"meetings:{APP}"
    assert locks.participants_lock_name("m") == "participants:m"


def test_fan_out_sends_one_walk_a_meeting_and_counts_them_until_done():
    sent = []

    def send(meeting_id, **kwargs):
        sent.append((meeting_id, kwargs))

    outcome = fanout.fan_out(["a", "b", "c"], send=send, per_page=10, expires=30, app_id=APP)
    fanout_id = outcome["fanout_id"]
    assert outcome["participant_tasks"] == 3 and outcome["fanout_complete"] is True
    assert sent == [
        (meeting_id, {"per_page": 10, "fanout_id": fanout_id, "expires": 30}) for meeting_id in "abc"
    ]
    assert fanout.pending_fanout(APP) == 3

    refused = fanout.fan_out(["d"], send=send, per_page=10, expires=30, app_id=APP)
    assert refused["participant_tasks"] == 0 and refused["fanout_complete"] is False
    assert "3 participant walks" in refused["fanout_reason"] and len(sent) == 3

    for _ in range(3):
        fanout._fanout_walk_finished(fanout_id)
    assert fanout.pending_fanout(APP) == 0
    assert fanout.fan_out(["d"], send=send, per_page=10, expires=30, app_id=APP)["participant_tasks"] == 1


def test_nothing_to_send_is_a_complete_fan_out_that_counts_nothing():
    outcome = fanout.fan_out([], send=pytest.fail, per_page=None, expires=30, app_id=APP)
    assert outcome["participant_tasks"] == 0 and outcome["fanout_complete"] is True
    assert fanout.pending_fanout(APP) == 0


def test_a_recent_completed_run_is_remembered_for_a_share_of_the_interval():
    runs._record_run(APP, 1000.0, 100)
    assert runs._recent_run(APP, 100, 1000.0 + 0.5 * 100) == 1000.0
    assert runs._recent_run(APP, 100, 1000.0 + runs.RECENT_RUN_FRACTION * 100) is None
    assert runs._recent_run(APP, 100, 999.0) is None  # dated in the future: no reason to skip


def test_run_arguments_are_checked_before_anything_is_sent():
    with pytest.raises(ValidationError):
        runs.check_walk_arguments(per_page=0)
    with pytest.raises(ValidationError):
        runs.check_walk_arguments(filters={"colour": "red"})
    with pytest.raises(ValidationError):
        runs.run_all(None, -1, send=pytest.fail)


def test_run_all_walks_and_fans_out_through_the_callable_it_is_given(realtimekit_emulator):
    meetings = [realtimekit_emulator.create_meeting(title=f"M{n}") for n in range(2)]
    sent = []
    report, result = runs.run_all(None, None, send=lambda meeting_id, **kw: sent.append(meeting_id))
    assert report.completed and result["completed"] is True
    assert sorted(sent) == sorted(m["id"] for m in meetings)
    assert result["participant_tasks"] == 2 and fanout.pending_fanout(APP) == 2
