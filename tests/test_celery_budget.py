"""Two real Celery worker processes spend from one rate budget (Redis) and honour one cooldown.

Run with ``pytest -m celery_worker --ds=tests.settings_postgres -k budget``. The workers get a
budget of 40 requests per 10 s (``REALTIMEKIT_WORKER_RATE_LIMIT``), the emulator enforces the
same limit on the real clock, and every request the emulator sees is timestamped here.
"""

from __future__ import annotations

import time
import uuid

import pytest

from realtimekit_django.models import Meeting, Participant
from tests.settings import REALTIMEKIT
from tests.test_celery_worker import _wait_until, celery, emulator  # noqa: F401 - fixtures

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres]

LIMIT, WINDOW = 40, 10
MEETINGS = 80  # one request each: twice the limit, and the background lane has 30 per window
LOCKOUT = 4  # seconds announced by the injected 429
GRACE = 0.5  # seconds: requests already past the budget when the 429 arrived may still land


def _max_in_any_window(stamps: list[float], window: float) -> int:
    stamps, most, first = sorted(stamps), 0, 0
    for last, at in enumerate(stamps):
        while at - stamps[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_two_workers_share_the_budget_and_wait_out_a_lockout_together(celery, emulator):  # noqa: F811
    processes, client = celery
    ids = []
    for n in range(MEETINGS):
        meeting = emulator.create_meeting(title=f"Budget meeting {n}")
        emulator.add_participant(meeting["id"], custom_participant_id=f"owner-{n}", preset_name="p")
        Meeting.objects.create(id=meeting["id"], app_id=REALTIMEKIT["APP_ID"])
        ids.append(meeting["id"])
    emulator.set_rate_limit((LIMIT, WINDOW))
    emulator.faults.retry_after = LOCKOUT
    stamps: list[float] = []
    lockout: list[float] = []

    def stamp_and_lock_out_once(record):
        stamps.append(time.monotonic())
        if len(stamps) == 10:  # this request is answered 429, retry-after LOCKOUT
            emulator.faults.fail_next(1, 429)
            lockout.append(stamps[-1])

    emulator.add_hook(stamp_and_lock_out_once)
    budget = {"REALTIMEKIT_WORKER_RATE_LIMIT": f"{LIMIT}/{WINDOW}"}
    processes.worker(**budget)
    processes.worker(**budget)

    for meeting_id in ids:
        client.send_task("realtimekit.reconcile_participants", args=(meeting_id,), ignore_result=True)
    mirrored = lambda: Participant.objects.filter(meeting_id__in=ids).count() == MEETINGS  # noqa: E731
    _wait_until(mirrored, "every meeting's participants to be mirrored")

    assert len(stamps) > 2 * LIMIT  # more than two windows' worth: the budget had to pace them
    assert _max_in_any_window(stamps, WINDOW) <= LIMIT, stamps
    assert emulator.rate_limit.refused == 0 and emulator.rate_limit.lockouts == 0
    (locked_at,) = lockout
    during = [at for at in stamps if locked_at + GRACE < at < locked_at + LOCKOUT]
    assert during == [], f"{len(during)} requests during the lockout"
    assert len(stamps) > MEETINGS and stamps[-1] > locked_at + LOCKOUT  # the walks went on after it
    assert {str(m) for m in Participant.objects.values_list("meeting_id", flat=True)} == {
        str(uuid.UUID(pk)) for pk in ids
    }
