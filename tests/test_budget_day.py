"""An emulated stretch of a site's life inside Cloudflare's real limit (1,200 requests / 5 min).

The emulator enforces the limit on a ``ManualClock``; the site's clocks (``time.time``,
``timezone.now``, the budget's) read the same clock, and whatever waits (the budget's background
lane) advances it, serving a join for every emulated second that passes. The default schedule
(``reconcile_all`` every 300 s, eager Celery) runs throughout, while participants are added
behind the site's back. Scaled down to stay fast: 200 meetings and 2 emulated hours with
``PARTICIPANTS_MAX_AGE`` at one hour (the bound checked is the documented one for that age).
"""

from __future__ import annotations

import random
import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from realtimekit_django import services, tasks
from realtimekit_django.client.budget import INTERACTIVE, get_budget, lane
from realtimekit_django.emulator import ManualClock
from realtimekit_django.models import Meeting, Participant

pytestmark = pytest.mark.django_db

MEETINGS = 200
HOURS = 2
INTERVAL = 300
MAX_AGE = 3600
#: docs/operations.md: a change behind the site's back is mirrored within
#: PARTICIPANTS_MAX_AGE + 2 * interval while the budget keeps the age.
BOUND = MAX_AGE + 2 * INTERVAL
#: ... and within ceil(active / (A - Q)) * interval at an active meeting (one run here).
ACTIVE_BOUND = 2 * INTERVAL


class World:
    """Emulated time, with a join every second and a remote change every ``change_every`` s."""

    def __init__(self, emulator, clock, meetings, users, change_every=120):
        self.emulator, self.clock, self.meetings, self.users = emulator, clock, meetings, users
        self.change_every = change_every
        self.rng = random.Random(7)
        self.joins = self.failed_joins = 0
        self.changes: list[tuple[float, str]] = []  # (when, remote participant id)
        self.second = 0

    def tick(self) -> None:
        self.clock.advance(1)
        self.second += 1
        self.join()
        if self.second % self.change_every == 0:
            meeting = self.rng.choice(self.meetings)
            added = self.emulator.add_participant(
                meeting, custom_participant_id=f"behind-{self.second}", preset_name="group_call_participant"
            )
            self.changes.append((self.clock.time(), added["id"]))

    def sleep(self, seconds: float) -> None:
        for _ in range(max(1, round(seconds))):
            self.tick()

    def join(self) -> None:
        self.joins += 1
        try:
            # A tick may run inside a background walk's wait for budget: people are interactive.
            with lane(INTERACTIVE):
                services.issue_join_token(self.rng.choice(self.meetings), self.rng.choice(self.users))
        except Exception:
            self.failed_joins += 1


def test_an_emulated_stretch_inside_the_limit(realtimekit_emulator, settings, monkeypatch):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PARTICIPANTS_MAX_AGE": MAX_AGE}
    clock = ManualClock()
    realtimekit_emulator.clock = clock
    realtimekit_emulator.set_rate_limit((1200, 300))
    monkeypatch.setattr(time, "time", clock.time)
    monkeypatch.setattr(timezone, "now", clock.now)
    # Celery's eager expiry check reads the real wall clock, which this test does not drive.
    walk = tasks.reconcile_participants
    monkeypatch.setattr(walk, "apply_async", lambda args, kwargs, **options: walk.apply(args, kwargs))
    ids = []
    for n in range(MEETINGS):
        meeting = realtimekit_emulator.create_meeting(title=f"Meeting {n}")
        for k in range(3):
            realtimekit_emulator.add_participant(
                meeting["id"], custom_participant_id=f"u-{n}-{k}", preset_name="p"
            )
        ids.append(meeting["id"])
    users = [get_user_model().objects.create_user(f"user{n}") for n in range(20)]
    world = World(realtimekit_emulator, clock, ids, users)
    budget = get_budget()
    budget.clock, budget.sleep = clock.time, world.sleep

    end = clock.time() + HOURS * 3600
    seen_at: dict[str, float] = {}
    results = []
    while clock.time() < end:
        results.append(tasks.reconcile_all.apply(kwargs={"interval": INTERVAL}).get())
        if world.second == 0:  # the first run's joins need the meetings it stored
            world.joins = world.failed_joins = 0
        present = set(Participant.objects.values_list("pk", flat=True))
        for _when, pk in world.changes:
            if pk not in seen_at and any(str(p) == pk for p in present):
                seen_at[pk] = clock.time()
        next_run = clock.time() + INTERVAL
        while clock.time() < min(next_run, end):
            world.tick()

    assert realtimekit_emulator.rate_limit.refused == 0
    assert realtimekit_emulator.rate_limit.lockouts == 0
    assert world.failed_joins == 0 and world.joins >= HOURS * 3600 - INTERVAL
    assert Meeting.objects.count() == MEETINGS
    checked = [(when, pk) for when, pk in world.changes if when <= end - BOUND]
    assert checked, "the stretch is long enough to check the bound"
    staleness = [seen_at.get(pk, end) - when for when, pk in checked]
    assert max(staleness) <= BOUND, sorted(staleness)[-5:]
    # Every meeting here is active (created within the last day, and joined): the documented
    # bound is ceil(active / (A - Q)) * I, one run here (200 meetings, ~700 walks a run left),
    # and a change is looked for after the run that found it, so within two intervals.
    assert max(staleness) <= ACTIVE_BOUND, sorted(staleness)[-5:]
    assert all(r["completed"] for r in results if not r["skipped"])
