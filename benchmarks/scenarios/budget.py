"""``budget``: an emulated day at Cloudflare's real limit, today's schedule beside the scheduler's.

The emulator enforces 1,200 requests per 5 minutes (``rate_limit=(1200, 300)``) on a
``ManualClock`` that the site's clocks (``time.time``, ``timezone.now``, the budget's) read too.
Nothing sleeps: the run drives the clock from one scheduled sync to the next, and each emulated
second in between serves one join (``services.issue_join_token``, on the interactive lane) at a
meeting created within ``LIVE_SECONDS``; the site creates meetings at the history's rate
(``services.create_meeting``), and once a minute a participant is added behind the site's back
at a meeting touched in the last day (created, or joined through the site). Staleness is the
emulated time from such a change until the local ``Participant`` row exists (its ``synced_at``,
looked for after every run). The site reaches the emulator in memory (``responses``), not over loopback HTTP.

Four variants, each on a fresh emulator and the same seeded state (meetings created over 100
days, the newest 1% within the last day, one participant each; the database seeded in bulk with
the mirror's own ``rows.meeting_row``/``participant_row``, verifications spread over the last day):

- ``today``: what ``reconcile_all`` did before the scheduler, every 5 minutes, with no budget: a
  full meetings walk and every meeting's participants. The emulated clock does not move inside
  a run, so once the API answers 429 every later request of that run is refused too; those are
  counted (one each) without being sent, which keeps a 100,000-meeting run tractable.
- ``scheduled``: ``realtimekit.reconcile_all`` every 5 minutes with the defaults (budget,
  reserve, ``SYNC_BUDGET_SHARE``, ``PARTICIPANTS_MAX_AGE`` 24 h), participant tasks run inline.
  The figures count the runs that skipped and the participant walks sent against those run.
- ``webhooks`` and ``webhooks_drop10``: ``scheduled`` with the emulator's sessions delivering
  their events to the site's receiver in memory (:class:`Sessions`; 2% duplicates, and 10% of
  deliveries dropped in the second). Every other remote change is announced by an event (the
  person added enters the room); staleness of those is ``announced_*`` (seconds), of the others
  ``staleness_*`` as before.

At 1,000,000 meetings (``HUGE``) only the webhooks variants run, with ``PARTICIPANTS_MAX_AGE``
a week, for the hours asked; ``verify_all_projected_h`` extrapolates the run's pace to the whole.

Every variant starts from empty caches: each one replays the same emulated hours, so a record
left by the previous variant (the last run, the last full walk, a fan-out counter, the budget)
would be dated in the new variant's future and, on a clock that went back, skip its runs.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db.models.functions import Coalesce
from django.utils import timezone

from realtimekit_django import rows, services, tasks
from realtimekit_django.client.budget import INTERACTIVE, get_budget, lane
from realtimekit_django.client.webhooks import WEBHOOK_EVENTS as ALL_WEBHOOK_EVENTS
from realtimekit_django.emulator import Emulator, ManualClock
from realtimekit_django.exceptions import RateLimited
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync import reconcile

from ..database import reset_tables
from ..emulator import API_TOKEN, APP_ID, realtimekit_settings
from ..measure import percentile
from ..report import Result, Target

LIMIT = (1200, 300)
INTERVAL = 300
HISTORY_DAYS = 100
RECENT_FRACTION = 0.01
#: A remote participant change every this many emulated seconds.
CHANGE_EVERY = 60
#: Joins go to meetings created within this many emulated seconds (a meeting is created shortly
#: before it takes place, and people join it then).
LIVE_SECONDS = 2 * 3600
USERS = 50
#: One site join in this many is followed by the person entering the room (a participantJoined).
ROOM_EVERY = 5
#: A session ends this long after it started.
SESSION_SECONDS = 3600
WEBHOOK_URL = "https://site.example/realtimekit/webhooks/"
#: The meeting events (the scenario makes no recordings or livestreams).
WEBHOOK_EVENTS = tuple(event for event in ALL_WEBHOOK_EVENTS if event.startswith("meeting."))
#: Sessions ended a day per meeting of the site (issue 27.7: about 5,000 a day at 100,000).
SESSIONS_PER_MEETING_DAY = 0.05
#: The share of the seeded meetings with each end-of-session setting (a meeting that is
#: summarised is transcribed too); about 0.85 artifacts a session.
ARTIFACT_SHARES = {"transcribe_on_end": 0.5, "persist_chat": 0.25, "summarize_on_end": 0.1}
#: A held session (one the pace adds: its owner enters, the host ends it) lasts this long.
HELD_SECONDS = (600, 3000)
#: The emulator's signed artifact links live on a host ``DOWNLOAD_HOSTS`` allows by default.
DOWNLOAD_BASE_URL = "https://downloads.realtime.cloudflare.com"
#: The storage the copies go to (``RECORDING_STORAGE``): in memory, the files are small.
STORAGE_ALIAS = "budget-copies"
#: The variants: (name, webhooks on, drop rate, duplicate rate).
VARIANTS = {
    "today": (False, 0.0, 0.0),
    "scheduled": (False, 0.0, 0.0),
    "webhooks": (True, 0.0, 0.02),
    "webhooks_drop10": (True, 0.10, 0.02),
}
#: At this size and above: one size only, the webhooks variants, ``HUGE_MAX_AGE``.
HUGE = 1_000_000
#: At ``HUGE`` meetings every meeting is verified within a week (a day would need 3,472 walks a
#: run against an allowance of 720).
HUGE_MAX_AGE = 7 * 86_400
SEED = 23
START = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
BATCH = 2_000


class Day:
    """Emulated time: a join every second, meetings created at the history's rate (through the
    site), a remote change every ``CHANGE_EVERY`` seconds."""

    def __init__(
        self, emulator: Emulator, meetings: list[str], recent: dict[str, float], users: list
    ) -> None:
        self.emulator, self.clock = emulator, emulator.clock
        self.meetings, self.users = meetings, users
        self.touched: dict[str, float] = dict(recent)  # meeting -> last touch (created, joined)
        self.created = sorted(((at, pk) for pk, at in recent.items()), reverse=True)  # newest first
        self.create_every = 86_400 / max(1, len(recent))
        self.next_creation = START + self.create_every
        self.rng = random.Random(SEED)
        self.joins = self.joins_served = self.created_during = self.creations_failed = 0
        self.failures: Counter[str] = Counter()  # failed joins and creations, by exception
        self.changes: dict[str, float] = {}  # remote participant id -> when it was added
        self.announced: dict[str, float] = {}  # the same, for changes an event announces
        self.seen: dict[str, float] = {}
        self.counting = False
        #: The webhooks variant (:class:`Sessions`); None: no events are delivered.
        self.sessions: Sessions | None = None

    def tick(self) -> None:
        self.clock.advance(1)
        now = self.clock.time()
        if self.counting:
            if now >= self.next_creation:
                self.create(now)
            self.join(now)
            if round(now - START) % CHANGE_EVERY == 0:
                self.change(now)
            if self.sessions is not None:
                self.sessions.tick(now)

    def sleep(self, seconds: float) -> None:
        for _ in range(max(1, round(seconds))):
            self.tick()

    def create(self, now: float) -> None:
        self.next_creation += self.create_every
        try:
            # A tick may run inside a background walk's wait for budget: people are interactive.
            with lane(INTERACTIVE):
                meeting = services.create_meeting(title=f"Created at {now:.0f}")
        except Exception as exc:
            self.creations_failed += 1
            self.failures[type(exc).__name__] += 1
            return
        pk = str(meeting.pk)
        self.created_during += 1
        self.meetings.append(pk)
        self.created.insert(0, (now, pk))
        self.touched[pk] = now

    def live(self, now: float) -> list[str]:
        """Meetings created within ``LIVE_SECONDS`` (at least the newest one)."""
        live = []
        for at, pk in self.created:
            if at < now - LIVE_SECONDS and live:
                break
            live.append(pk)
        return live

    def join(self, now: float) -> None:
        meeting = self.rng.choice(self.live(now))
        self.joins += 1
        try:
            with lane(INTERACTIVE):
                issued = services.issue_join_token(meeting, self.rng.choice(self.users))
        except Exception as exc:
            self.failures[type(exc).__name__] += 1
            return
        self.joins_served += 1
        self.touched[meeting] = now
        if self.sessions is not None and self.joins % ROOM_EVERY == 0:
            self.sessions.enter(meeting, issued.participant.custom_participant_id, now)

    def change(self, now: float) -> None:
        day_ago = now - 86_400
        candidates = [pk for pk, at in self.touched.items() if at >= day_ago]
        meeting = self.rng.choice(candidates)
        custom_id = f"behind-{now:.0f}"
        added = self.emulator.add_participant(
            meeting, app_id=APP_ID, custom_participant_id=custom_id, preset_name="group_call_participant"
        )
        # With webhooks, every other change is announced: the person added joins the room.
        announced = self.sessions is not None and (round(now - START) // CHANGE_EVERY) % 2 == 0
        if announced:
            self.announced[added["id"]] = now
            self.sessions.enter(meeting, custom_id, now)
        else:
            self.changes[added["id"]] = now

    def look(self) -> None:
        """Note the changes whose rows now exist locally, and when each was written.

        A row's ``synced_at`` is the emulated moment the walk wrote it (the site's clocks read
        the emulated one), so a change is seen then, not when the run that wrote it ended: a run
        can last a while when its walks wait for budget.
        """
        waiting = [pk for pk in (*self.changes, *self.announced) if pk not in self.seen]
        for start in range(0, len(waiting), 900):
            chunk = waiting[start : start + 900]
            found = Participant.objects.filter(pk__in=chunk).values_list("pk", "synced_at")
            for pk, written in found:
                self.seen[str(pk)] = written.timestamp()


class Sessions:
    """The webhooks variant: the emulator's sessions deliver their events to the site's receiver.

    A meeting's session starts when someone first enters its room (``meeting.started``) and ends
    ``SESSION_SECONDS`` later (``meeting.ended``); each entry is a ``meeting.participantJoined``.
    Deliveries reach the receiver view in memory (the Django test client, no socket), signed by
    the emulator; each is dropped (never reaches the site) with probability ``drop`` and sent
    twice (the same ``rtk-uuid``) with probability ``duplicate``. The targeted fetches the events
    ask for are run at once, on the emulated second they were queued (the background lane still
    paces them), never inside one another.

    Two workers, as a site with a worker pool has (Celery's prefork pool runs one task a process,
    as many as the host's cores by default): one runs the targeted fetches, the other the copy
    tasks the webhooks send. A copy waiting for the budget therefore does not hold up a fetch
    queued meanwhile (it runs during the copy's wait, as the other worker would run it), and a
    copy never starts inside a fetch's wait (its wait would otherwise be added to the fetch's on
    this single-threaded clock). ``targeted_queue_max_s`` is the longest a fetch waited for its
    worker, ``targeted_fetch_max_s`` the longest one took (its own budget waits).

    Sessions and artifacts (issue 27.7): beside those sessions (about 40 starts an hour at any
    size, an hour long), held sessions start at ``sessions_per_day``: at a random seeded meeting
    its owner enters, and the host ends it after ``HELD_SECONDS``; at the start, as many are
    live as that pace holds (:meth:`warm`). When a session ends, its meeting's settings (``ARTIFACT_SHARES``)
    make the emulator's files, whose webhooks follow ``meeting.ended``; the site's handler
    announces each and sends ``realtimekit.copy_artifact``, queued here and run like the
    targeted fetches (it asks the API for a fresh link, then downloads the signed one). The
    sessions walk and ``realtimekit.copy_artifacts`` run on ``tasks.sessions_beat_schedule()``
    (:meth:`beat`), all inside the same budget.
    """

    def __init__(
        self,
        emulator: Emulator,
        *,
        drop: float,
        duplicate: float,
        owners: list[str] | None = None,
        sessions_per_day: float = 0.0,
    ) -> None:
        from realtimekit_django.emulator.pytest_plugin import test_client_transport
        from realtimekit_django.sync import targeted

        self.emulator, self.rng = emulator, random.Random(SEED + 1)
        self.drop, self.duplicate = drop, duplicate
        self.live: dict[str, tuple[str, float, float]] = {}  # meeting -> (session id, started, ends)
        self.delivered = self.dropped = self.duplicated = 0
        self.fetches: list[tuple[str, str, float]] = []  # (kind, meeting, queued at)
        self.fetched: Counter[str] = Counter()
        self.fetching = self.copying = False
        self.fetch_queued: list[float] = []  # emulated seconds each fetch waited for its worker
        self.fetch_seconds: list[float] = []  # emulated seconds each fetch took
        self.owners = owners or []  # the seeded meetings: the owner of owners[i] is owner-{i}
        self.per_second = sessions_per_day / 86_400
        self.pick = random.Random(SEED + 3)  # held sessions: their own draws, whatever is dropped
        self.started = self.held = self.warmed = 0
        self.ended: dict[str, float] = {}  # session id -> when it ended
        self.meeting_of: dict[str, str] = {}  # session id -> meeting
        self.copies: list[int] = []
        self.copied: Counter[str] = Counter()
        beat = tasks.sessions_beat_schedule()
        self.walk_every = float(beat[tasks.SESSIONS_SCHEDULE_NAME]["schedule"])
        self.copy_every = float(beat[tasks.ARTIFACTS_SCHEDULE_NAME]["schedule"])
        self.next_walk, self.next_copy = START + self.walk_every, START + self.copy_every
        self.walks = self.walks_incomplete = self.copy_runs = 0
        self.walk_errors: Counter[str] = Counter()
        self.walk_seconds: list[float] = []  # emulated seconds each walk took (budget waits)
        emulator.download_base_url = DOWNLOAD_BASE_URL
        inner = test_client_transport()

        def transport(url: str, body: bytes, headers: dict[str, str]) -> int:
            if self.rng.random() < self.drop:
                self.dropped += 1
                return 200  # lost on the way: the platform believes it was delivered
            status = inner(url, body, headers)
            self.delivered += 1
            if self.rng.random() < self.duplicate:
                self.duplicated += 1
                inner(url, body, headers)
            return status

        emulator.webhooks.transport = transport
        emulator.webhooks.retries = 0
        emulator.webhooks.create(
            APP_ID, {"name": "site", "url": WEBHOOK_URL, "events": list(WEBHOOK_EVENTS), "enabled": True}
        )
        targeted.SEND = lambda kind, meeting_id: self.fetches.append(
            (kind, meeting_id, emulator.clock.time())
        )
        # The handler sends the copy task once its event is stored: queued, run in run_fetches.
        self.real_delay = tasks.copy_artifact.delay
        tasks.copy_artifact.delay = lambda pk: self.copies.append(pk)

    def close(self) -> None:
        from realtimekit_django.sync import targeted

        targeted.SEND = None
        tasks.copy_artifact.delay = self.real_delay

    def _start(self, meeting: str, now: float, ends: float) -> str:
        session_id = self.emulator.sessions.start(meeting, APP_ID)
        self.live[meeting] = (session_id, now, ends)
        self.meeting_of[session_id] = meeting
        self.started += 1
        return session_id

    def enter(self, meeting: str, custom_id: str, now: float) -> None:
        live = self.live.get(meeting)
        session_id = live[0] if live is not None else self._start(meeting, now, now + SESSION_SECONDS)
        self.emulator.sessions.join(session_id, custom_id)
        self.run_fetches()

    def hold(self, now: float, ends: float | None = None) -> None:
        """A held session at a random seeded meeting not live now: its owner enters."""
        for _ in range(10):
            index = self.pick.randrange(len(self.owners))
            if self.owners[index] not in self.live:
                break
        else:
            return
        ends = ends if ends is not None else now + self.pick.uniform(*HELD_SECONDS)
        session_id = self._start(self.owners[index], now, ends)
        self.held += 1
        self.emulator.sessions.join(session_id, f"owner-{index}")

    def warm(self, now: float) -> None:
        """As many held sessions live as the pace holds (its rate times the mean length), each
        with the time it has left in a steady state (a renewal process's residual life: density
        proportional to the chance a session lasts longer), so that sessions end at the pace's
        rate from the first minute, not only once the first held ones reach their end."""
        if not self.owners:
            return
        low, high = HELD_SECONDS
        for _ in range(round(self.per_second * (low + high) / 2)):
            while True:
                left = self.pick.uniform(0, high)
                if left < low or self.pick.random() < (high - left) / (high - low):
                    break
            self.hold(now, ends=now + left)
        self.warmed = self.held
        self.run_fetches()

    def tick(self, now: float) -> None:
        if round(now - START) % 60 == 0:
            for meeting, (session_id, _started, ends) in list(self.live.items()):
                if now >= ends:
                    del self.live[meeting]
                    self.emulator.sessions.end(session_id)
                    self.ended[session_id] = now
            if self.owners:
                due = self.warmed + self.per_second * (now - START)
                while self.held < due:
                    before = self.held
                    self.hold(now)
                    if self.held == before:
                        break
        self.run_fetches()

    def beat(self, now: float) -> None:
        """The sessions beat (``tasks.sessions_beat_schedule()``): the walk and the copy run."""
        if now >= self.next_walk:
            self.next_walk += self.walk_every
            began = now
            report = tasks.sync_sessions.apply().get()
            self.walk_seconds.append(self.emulator.clock.time() - began)
            self.walks += 1
            self.walks_incomplete += not report["completed"]
            if not report["completed"]:
                self.walk_errors[report["error"][:60]] += 1
            self.run_fetches()
        if now >= self.next_copy:
            self.next_copy += self.copy_every
            tasks.copy_artifacts.apply().get()
            self.copy_runs += 1

    def run_fetches(self) -> None:
        """The fetches' worker, then the copies' (see the class docstring)."""
        from realtimekit_django.sync import targeted

        clock = self.emulator.clock
        if not self.fetching:  # a fetch waiting for budget ticks the clock: its loop sends the rest
            self.fetching = True
            try:
                while self.fetches:
                    kind, meeting_id, queued = self.fetches.pop(0)
                    began = clock.time()
                    self.fetch_queued.append(began - queued)
                    outcome = targeted.fetch(kind, meeting_id)
                    self.fetch_seconds.append(clock.time() - began)
                    self.fetched["completed" if outcome["completed"] else "failed"] += 1
            finally:
                self.fetching = False
        if self.fetching or self.copying:
            return  # inside a fetch's wait, or the copies' worker is busy (waiting for budget)
        self.copying = True
        try:
            while self.copies:
                self.copied[tasks.copy_artifact.apply(args=[self.copies.pop(0)]).get()] += 1
        finally:
            self.copying = False

    def figures(self) -> dict[str, Any]:
        return {
            "events_delivered": self.delivered,
            "events_dropped": self.dropped,
            "events_duplicated": self.duplicated,
            "targeted_fetches": sum(self.fetched.values()),
            "targeted_failed": self.fetched["failed"],
            "targeted_queue_max_s": max(self.fetch_queued, default=0),
            "targeted_fetch_max_s": max(self.fetch_seconds, default=0),
        }


# -- seeding ------------------------------------------------------------------------------------


def _seed(emulator: Emulator, size: int, max_age: float = 86_400) -> tuple[list[str], dict[str, float]]:
    """Meetings (one participant each) in the emulator and, as a synced mirror, in the database."""
    clock, rng = emulator.clock, random.Random(SEED)
    flags_rng = random.Random(SEED + 2)  # its own draws: the ages stay those of earlier runs
    recent_count = max(1, round(size * RECENT_FRACTION))
    ages = sorted(
        [rng.uniform(86_400, HISTORY_DAYS * 86_400) for _ in range(size - recent_count)]
        + [rng.uniform(0, 86_400) for _ in range(recent_count)],
        reverse=True,
    )  # oldest first: the emulator's clock never goes back
    ids, meetings, participants = [], [], []
    for index, age in enumerate(ages):
        clock.set(START - age)
        remote = emulator.create_meeting(app_id=APP_ID, title=f"Meeting {index}", **_flags(flags_rng))
        person = emulator.add_participant(
            remote["id"], app_id=APP_ID, custom_participant_id=f"owner-{index}", preset_name="group_call_host"
        )
        ids.append(remote["id"])
        meetings.append((remote, age))
        participants.append(person)
    clock.set(START)
    now = datetime.fromtimestamp(START, tz=UTC)
    verified = [now - timedelta(seconds=rng.uniform(0, min(age, max_age - 400))) for _remote, age in meetings]
    # Each owner was added with the meeting (the row's last write).
    created_at = [now - timedelta(seconds=age) for _remote, age in meetings]
    Meeting.objects.bulk_create(
        [
            Meeting(
                **{
                    **rows.meeting_row(remote, app_id=APP_ID, now=now),
                    "participants_synced_at": at,
                    "participants_touched_at": created,
                }
            )
            for (remote, _age), at, created in zip(meetings, verified, created_at, strict=True)
        ],
        batch_size=BATCH,
    )
    Participant.objects.bulk_create(
        [
            Participant(**rows.participant_row(person, meeting_id=uuid.UUID(pk), now=created))
            for person, pk, created in zip(participants, ids, created_at, strict=True)
        ],
        batch_size=BATCH,
    )
    recent = {pk: START - age for pk, (_remote, age) in zip(ids, meetings, strict=True)}
    return ids, {pk: recent[pk] for pk in ids[size - recent_count :]}


def _flags(rng: random.Random) -> dict[str, bool]:
    """A meeting's end-of-session settings, drawn at ``ARTIFACT_SHARES``."""
    draw = rng.random()
    return {
        "transcribe_on_end": draw < ARTIFACT_SHARES["transcribe_on_end"],
        "summarize_on_end": draw < ARTIFACT_SHARES["summarize_on_end"],
        "persist_chat": rng.random() < ARTIFACT_SHARES["persist_chat"],
    }


def _users() -> list:
    User = get_user_model()
    User.objects.filter(username__startswith="budget-").delete()
    User.objects.bulk_create([User(username=f"budget-{i:03d}") for i in range(USERS)])
    return list(User.objects.filter(username__startswith="budget-").order_by("pk"))


# -- the two schedules --------------------------------------------------------------------------


def _today_run(meeting_ids: list[str]) -> int:
    """The pre-scheduler ``reconcile_all``: every meeting, every run; returns refused-unsent requests."""
    meetings_walk = reconcile.reconcile_meetings()
    if isinstance(meetings_walk.exception, RateLimited):
        return len(meeting_ids)
    for index, meeting_id in enumerate(meeting_ids):
        report = reconcile.reconcile_participants(meeting_id)
        if isinstance(report.exception, RateLimited):
            return len(meeting_ids) - index - 1
    return 0


class Runs:
    """What the scheduled runs reported (skips, participant walks sent) and the walks that ran."""

    def __init__(self) -> None:
        self.runs = self.skipped = self.sent = self.walked = 0
        self.active: list[int] = []
        self.active_walked: list[int] = []
        self.healthy = 0
        self.touched: list[int] = []
        self.front: list[int] = []

    def scheduled(self) -> int:
        result = tasks.reconcile_all.apply(kwargs={"interval": INTERVAL}).get()
        self.runs += 1
        self.skipped += bool(result["skipped"])
        self.sent += result["participant_tasks"]
        self.healthy += bool(result.get("webhooks_healthy"))
        if "participants_touched" in result:
            self.touched.append(result["participants_touched"])
            self.front.append(result.get("participants_front", 0))
        if "participants_active" in result:
            self.active.append(result["participants_active"])
            self.active_walked.append(result["participants_active_walked"])
        return 0

    def figures(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "runs_skipped": self.skipped,
            "walks_sent": self.sent,
            "walks_run": self.walked,
            "active_meetings_max": max(self.active, default=0),
            "active_walked_per_run_mean": sum(self.active_walked) / max(1, len(self.active_walked)),
            "runs_relying_on_webhooks": self.healthy,
            "touched_walked_per_run_mean": sum(self.touched) / max(1, len(self.touched)),
            "front_walked_per_run_mean": sum(self.front) / max(1, len(self.front)),
        }


def _walk_inline(walk, runs: Runs, args, kwargs):
    runs.walked += 1
    return walk.apply(args, kwargs)


@contextmanager
def _in_memory(emulator: Emulator):
    """The site's requests reach ``emulator`` without a socket (``responses``).

    This scenario's figures are counts on the emulated clock, not wall time, and loopback HTTP
    (a server thread sharing the GIL) made an emulated day at 100,000 meetings take hours.
    """
    from django.test import override_settings

    from realtimekit_django.emulator.responses_adapter import mock_requests

    base_url = "https://api.cloudflare.test/client/v4"
    routed = mock_requests(emulator, base_url=base_url)
    with override_settings(REALTIMEKIT=realtimekit_settings(base_url)), routed:
        yield emulator


@contextmanager
def _on_emulated_time(day: Day, budget_on: bool, runs: Runs, settings_extra: dict | None = None):
    from django.conf import settings
    from django.test import override_settings

    real_time, real_now = time.time, timezone.now
    walk = tasks.reconcile_participants
    real_apply_async = walk.apply_async
    extra = {"RATE_LIMIT_REQUESTS": None} if not budget_on else {}
    extra.update(settings_extra or {})
    time.time, timezone.now = day.clock.time, day.clock.now
    # Celery's eager expiry check reads the real wall clock, which this run does not drive.
    walk.apply_async = lambda args=None, kwargs=None, **options: _walk_inline(walk, runs, args, kwargs)
    loggers = [logging.getLogger(name) for name in ("realtimekit_django", "celery")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with override_settings(REALTIMEKIT={**settings.REALTIMEKIT, "MAX_RETRIES": 0, **extra}):
            budget = get_budget()
            if budget is not None:
                budget.clear()
                budget.clock, budget.sleep = day.clock.time, day.sleep
            yield
    finally:
        time.time, timezone.now = real_time, real_now
        walk.apply_async = real_apply_async
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _variant(
    size: int, hours: float, users: list, *, name: str, sessions_per_day: float | None = None
) -> dict[str, Any]:
    webhooks, drop, duplicate = VARIANTS[name]
    scheduled = name != "today"
    max_age = HUGE_MAX_AGE if size >= HUGE else 86_400
    reset_tables()
    for cache in caches.all():
        cache.clear()
    clock = ManualClock(START - HISTORY_DAYS * 86_400)
    emulator = Emulator(api_token=API_TOKEN, default_app_id=APP_ID, rate_limit=LIMIT, clock=clock)
    emulator.set_rate_limit(None)  # seeding is not the site's traffic
    meeting_ids, recent = _seed(emulator, size, max_age)
    emulator.set_rate_limit(LIMIT)
    day = Day(emulator, meeting_ids, recent, users)
    extra: dict[str, Any] = {"PARTICIPANTS_MAX_AGE": max_age}
    if webhooks:
        per_day = SESSIONS_PER_MEETING_DAY * size if sessions_per_day is None else sessions_per_day
        day.sessions = Sessions(
            emulator, drop=drop, duplicate=duplicate, owners=meeting_ids[:size], sessions_per_day=per_day
        )
        extra["WEBHOOK_PUBLIC_KEY"] = emulator.webhooks.public_key_pem
        extra["RECORDING_STORAGE"] = STORAGE_ALIAS
    end = START + hours * 3600
    refused_unsent, runs, walk_peak = 0, Runs(), None
    try:
        with (
            _in_memory(emulator),
            _copies_storage(),
            _on_emulated_time(day, budget_on=scheduled, runs=runs, settings_extra=extra),
        ):
            requests_before = len(emulator.requests)
            day.counting = True
            if day.sessions is not None:
                day.sessions.warm(day.clock.time())
            while day.clock.time() < end:
                next_run = day.clock.time() + INTERVAL
                if scheduled and walk_peak is None:
                    walk_peak = _peak_mb(runs.scheduled)
                else:
                    refused_unsent += runs.scheduled() if scheduled else _today_run(day.meetings)
                day.look()
                while day.clock.time() < min(next_run, end):
                    if day.sessions is not None:
                        day.sessions.beat(day.clock.time())
                    day.tick()
            day.look()
            sent = len(emulator.requests) - requests_before
    finally:
        if day.sessions is not None:
            day.sessions.close()
    figures = _figures(day, emulator, sent + refused_unsent, hours, end, max_age)
    if not scheduled:
        return figures
    figures = {**figures, **runs.figures(), "walk_peak_mb": walk_peak}
    if day.sessions is not None:
        figures.update(day.sessions.figures())
        figures.update(_sessions_figures(day.sessions, emulator, requests_before, hours))
    return figures


@contextmanager
def _copies_storage():
    """``STORAGE_ALIAS``, an in-memory storage, for the artifact copies (``RECORDING_STORAGE``)."""
    from django.conf import settings
    from django.test import override_settings

    backend = {"BACKEND": "django.core.files.storage.InMemoryStorage"}
    with override_settings(STORAGES={**settings.STORAGES, STORAGE_ALIAS: backend}):
        yield


def _request_kinds(records) -> Counter[str]:
    """The sessions routes' requests by what they ask (listing, participants, details, links)
    and the signed downloads (no token, no rate limit: not the budget's)."""
    kinds: Counter[str] = Counter()
    for record in records:
        path = record.path.split("?", 1)[0].rstrip("/")
        if "/_downloads/" in path:
            kinds["downloads"] += 1
            continue
        if "/sessions" not in path:
            continue
        tail = path.rsplit("/sessions", 1)[1]
        if not tail:
            kinds["listing"] += 1
        elif tail.endswith("/participants"):
            kinds["participants"] += 1
        elif tail.rsplit("/", 1)[-1] in ("chat", "transcript", "summary"):
            kinds["links"] += 1
        else:
            kinds["details"] += 1
    return kinds


def _chunks(values: list, size: int = 900):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _sessions_figures(sessions: Sessions, emulator: Emulator, first: int, hours: float) -> dict[str, Any]:
    """Sessions ended and confirmed, artifacts made / announced / stored / failed, the API's
    requests per ended session (the walk's and the copies'), and the lag to a stored copy.

    ``requests_per_ended_session_steady`` puts the listing's steady share in place of the run's
    (and counts the participants pages per session the walk confirmed, the ones it has read):
    a run starts with no sessions in the listing's window (``DEFAULT_WINDOW``, two days), so its
    pages cost less than they will once the window is full: each session is then on the listing
    of ``window / walk interval`` walks, a ``MAX_PER_PAGE``-th of a page each.
    """
    from realtimekit_django.models import ArtifactState, SessionArtifact
    from realtimekit_django.models import Session as SessionRow
    from realtimekit_django.schema import MAX_PER_PAGE
    from realtimekit_django.sync.sessions import DEFAULT_WINDOW

    kinds = _request_kinds(emulator.requests[first:])
    ended = list(sessions.ended)
    confirmed = sum(
        SessionRow.objects.filter(pk__in=chunk, api_confirmed_end_at__isnull=False).count()
        for chunk in _chunks(ended)
    )
    flags: dict[str, tuple[bool, bool, bool]] = {}
    for chunk in _chunks(sorted({sessions.meeting_of[pk] for pk in ended})):
        found = Meeting.objects.filter(pk__in=chunk).values_list(
            "pk", "persist_chat", "transcribe_on_end", "summarize_on_end"
        )
        flags.update({str(pk): (chat, tr, summ) for pk, chat, tr, summ in found})
    made = 0
    for pk in ended:
        chat, transcribe, summarize = flags.get(sessions.meeting_of[pk], (False, False, False))
        made += chat + (transcribe or summarize) + summarize
    states: Counter[str] = Counter()
    lags = []
    rows = SessionArtifact.objects.values_list("session_id", "state", "stored_at")
    for session_id, state, stored_at in rows:
        states[state] += 1
        if state == ArtifactState.STORED and stored_at is not None and session_id in sessions.ended:
            lags.append(stored_at.timestamp() - sessions.ended[session_id])
    api = kinds["listing"] + kinds["participants"] + kinds["details"] + kinds["links"]
    listing_steady = DEFAULT_WINDOW.total_seconds() / sessions.walk_every / MAX_PER_PAGE
    # A session's participants are read once, when the walk confirms its end: per confirmed one.
    per_session = (
        listing_steady
        + kinds["participants"] / max(1, confirmed)
        + (kinds["details"] + kinds["links"]) / len(ended)
        if ended
        else None
    )
    return {
        "sessions_started": sessions.started,
        "sessions_held": sessions.held,
        "sessions_ended": len(ended),
        "sessions_ended_per_day": len(ended) * 24 / hours,
        "sessions_confirmed": confirmed,
        "sessions_walks": sessions.walks,
        "sessions_walks_incomplete": sessions.walks_incomplete,
        "sessions_walk_max_s": max(sessions.walk_seconds, default=0),
        "sessions_walk_errors": "; ".join(f"{e} ({n})" for e, n in sessions.walk_errors.most_common())
        or "none",
        "artifacts_made": made,
        "artifacts_announced": sum(states.values()),
        "artifacts_stored": states[ArtifactState.STORED],
        "artifacts_failed": states[ArtifactState.FAILED] + states[ArtifactState.GIVEN_UP],
        "artifacts_waiting": states[ArtifactState.ANNOUNCED] + states[ArtifactState.COPYING],
        "copy_tasks": sum(sessions.copied.values()),
        "copy_runs": sessions.copy_runs,
        "session_requests": api,
        "session_requests_by_kind": ", ".join(
            f"{kind} {kinds[kind]}" for kind in ("listing", "participants", "details", "links", "downloads")
        ),
        "link_requests": kinds["links"],
        "downloads": kinds["downloads"],
        "requests_per_ended_session": api / len(ended) if ended else None,
        "requests_per_ended_session_steady": per_session,
        "artifact_lag_p50_s": percentile(lags, 0.5) if lags else None,
        "artifact_lag_p99_s": percentile(lags, 0.99) if lags else None,
    }


def _peak_mb(run) -> float:
    """The peak of Python memory allocated during one scheduled run (tracemalloc), in MB."""
    import tracemalloc

    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1_000_000
    finally:
        tracemalloc.stop()


def _figures(
    day: Day, emulator: Emulator, requests: int, hours: float, end: float, max_age: float = 86_400
) -> dict[str, Any]:
    staleness = [day.seen.get(pk, end) - at for pk, at in day.changes.items()]
    announced = [day.seen.get(pk, end) - at for pk, at in day.announced.items()]
    start = datetime.fromtimestamp(START, tz=UTC)
    present = Meeting.objects.present_remotely()
    walked = present.filter(participants_synced_at__gte=start).count()
    total = present.count()
    # A meeting created during the run and not walked yet counts from its creation.
    oldest = (
        Meeting.objects.present_remotely()
        .annotate(verified=Coalesce("participants_synced_at", "remote_created_at"))
        .order_by("verified")
        .values_list("verified", flat=True)
        .first()
    )
    return {
        "requests_per_hour": requests / hours,
        "lockouts": emulator.rate_limit.lockouts,
        "refused": emulator.rate_limit.refused,
        "joins": day.joins,
        "joins_served_pct": 100 * day.joins_served / max(1, day.joins),
        "meetings_created": day.created_during,
        "creations_failed": day.creations_failed,
        "failures": ", ".join(f"{name} {count}" for name, count in day.failures.most_common()) or "none",
        "changes": len(staleness),
        "changes_unseen": sum(pk not in day.seen for pk in day.changes),
        "staleness_p50_min": percentile(staleness, 0.5) / 60 if staleness else None,
        "staleness_p99_min": percentile(staleness, 0.99) / 60 if staleness else None,
        "staleness_max_min": max(staleness) / 60 if staleness else None,
        "oldest_verification_h": (end - oldest.timestamp()) / 3600 if oldest else None,
        # The day (or week) extrapolated from the hours run: every meeting is verified once in
        # total / (meetings verified per hour) hours, if the pace of the run holds.
        "verify_all_projected_h": total / (walked / hours) if walked else None,
        **(
            {
                "announced_changes": len(announced),
                "announced_unseen": sum(pk not in day.seen for pk in day.announced),
                "announced_p50_s": percentile(announced, 0.5) if announced else None,
                "announced_p99_s": percentile(announced, 0.99) if announced else None,
                "announced_max_s": max(announced) if announced else None,
            }
            if day.sessions is not None
            else {}
        ),
    }


def sizes_for(size: int) -> list[int]:
    """The issue's pair (10,000 and 100,000 at the default size); one size when it is small or huge."""
    return [size // 10, size] if 10_000 <= size < HUGE else [size]


def run(
    database: str,
    size: int,
    rounds: int,
    hours: float = 24,
    variants: list[str] | None = None,
    sessions_per_day: float | None = None,
) -> list[Result]:
    users = _users()
    results = []
    for meetings in [size] if variants else sizes_for(size):  # chosen variants: the one size asked for
        chosen = variants or (["webhooks", "webhooks_drop10"] if meetings >= HUGE else list(VARIANTS))
        unknown = sorted(set(chosen) - set(VARIANTS))
        if unknown:
            raise ValueError(f"unknown budget variants {unknown} (known: {', '.join(VARIANTS)})")
        result = Result("budget", database, meetings, 1)
        result.figures = {"hours": hours}
        for name in chosen:
            figures = _variant(meetings, hours, users, name=name, sessions_per_day=sessions_per_day)
            result.figures.update({f"{name}_{key}": value for key, value in figures.items()})
        result.targets = _targets(meetings, chosen)
        max_age = HUGE_MAX_AGE if meetings >= HUGE else 86_400
        result.notes.append(
            f"{meetings:,} meetings over {hours:g} emulated hours at {LIMIT[0]:,} requests / {LIMIT[1]} s, "
            "1% of them created a day through the site, a join every emulated second at a meeting created "
            f"within {LIVE_SECONDS // 3600} h, a remote participant change every {CHANGE_EVERY} s at a "
            "meeting created or joined in the last day; staleness: emulated minutes from the change until "
            "its local row is written (a change never seen counts until the end); today: requests refused "
            "at the instant of a lockout are counted unsent"
        )
        result.notes.append(
            "webhooks variants: the emulator's sessions deliver their events (signed) to the site's receiver "
            f"in memory; a session starts at a room's first entry and lasts {SESSION_SECONDS // 60} min; one "
            f"site join in {ROOM_EVERY} enters the room; every other remote change is announced (the person "
            "added enters the room: a participantJoined naming someone the mirror lacks), the rest are not "
            "(unannounced staleness is staleness_*); drops never reach the site, duplicates carry the same "
            "rtk-uuid; webhooks_drop10 drops 10% of deliveries"
        )
        result.notes.append(
            f"PARTICIPANTS_MAX_AGE {max_age / 86_400:g} days; verify_all_projected_h extrapolates the whole "
            "verification from the hours run: meetings present / (meetings whose participants were walked "
            "during the run / hours), i.e. the run's pace held for a day (or a week); walk_peak_mb: the "
            "Python memory peak (tracemalloc) of the first scheduled run (meetings walk, listing slice, "
            "plan, fan-out and its participant walks)"
        )
        per_day = SESSIONS_PER_MEETING_DAY * meetings if sessions_per_day is None else sessions_per_day
        result.notes.append(
            f"sessions and artifacts (webhooks variants): session starts kept at {per_day:,.0f} a day "
            f"(--sessions-per-day; default {SESSIONS_PER_MEETING_DAY:g} a meeting a day), held sessions "
            f"({HELD_SECONDS[0] // 60}-{HELD_SECONDS[1] // 60} min, at random seeded meetings) added to the "
            "ones above; seeded meetings' settings: "
            + ", ".join(f"{name} {share:.0%}" for name, share in ARTIFACT_SHARES.items())
            + "; the sessions walk and realtimekit.copy_artifacts on tasks.sessions_beat_schedule(), each "
            "webhook's copy task run at once; requests_per_ended_session: the sessions routes' requests "
            "(listing, participants, details, fresh links; downloads are signed links outside the limit) "
            "/ sessions ended; _steady: the same with the listing's share of a full two-day window; "
            "artifact lag: emulated seconds from the session's end to its copy stored"
        )
        results.append(result)
    return results


def _targets(meetings: int, chosen: list[str]) -> list[Target]:
    targets: list[Target] = []
    if meetings >= HUGE:
        for name in chosen:
            targets += [
                Target(f"{name}_lockouts", "==", 0),
                Target(f"{name}_joins_served_pct", ">=", 100),
                Target(f"{name}_verify_all_projected_h", "<=", 7 * 24),
            ]
        if "webhooks" in chosen:
            targets.append(Target("webhooks_announced_p99_s", "<=", 15 * 60))
        return targets
    if "scheduled" in chosen:
        targets += [
            Target("scheduled_lockouts", "==", 0),
            Target("scheduled_joins_served_pct", ">=", 100),
            Target("scheduled_staleness_p99_min", "<=", 15),
            Target("scheduled_oldest_verification_h", "<=", 24),
        ]
    if "webhooks" in chosen:
        targets += [
            Target("webhooks_announced_p99_s", "<=", 60),
            Target("webhooks_staleness_p99_min", "<=", 10),
            Target("webhooks_lockouts", "==", 0),
            Target("webhooks_joins_served_pct", ">=", 100),
            Target("webhooks_oldest_verification_h", "<=", 24),
            Target("webhooks_requests_per_ended_session", "<=", 4),
            Target("webhooks_requests_per_ended_session_steady", "<=", 4),
        ]
    return targets
