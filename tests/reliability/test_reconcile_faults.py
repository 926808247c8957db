"""Reconcile walks under the API's bad days: 5xx, 429 bursts, read timeouts, dropped connections,
and a Celery worker SIGKILLed mid-walk.

The promise under test: a walk either completes with the exact remote state, or reports itself
incomplete and deletes or flags nothing; and running it again until it completes converges to
the exact remote state. Faults are seeded, so every run of this module sees the same faults.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from realtimekit_django import services
from realtimekit_django.client import RealtimeKitClient
from realtimekit_django.conf import get_settings
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync.reconcile import reconcile_meetings, reconcile_participants
from tests.reliability.conftest import APP_ID, local_rows_agree, meeting_diff, participant_diff

pytestmark = pytest.mark.django_db

MAX_RUNS = 40
PER_PAGE = 5


def client_from_settings(sleeps: list | None = None, **overrides) -> RealtimeKitClient:
    """A client like ``get_client()`` that records each backoff it would sleep for."""
    config = get_settings()
    options = {
        "connect_timeout": config.connect_timeout,
        "read_timeout": config.read_timeout,
        "max_retries": config.max_retries,
        "backoff_base": 0.0,
        "backoff_max": 0.0,
        "retry_after_max": config.retry_after_max,
        "page_size": config.page_size,
        "max_pages": config.max_pages,
        **overrides,
    }
    sleep = sleeps.append if sleeps is not None else (lambda seconds: None)
    return RealtimeKitClient(
        config.account_id, config.app_id, config.api_token, config.base_url, sleep=sleep, **options
    )


def seed_remote(remote, meetings: int = 55, participants: int = 33) -> str:
    """Remote meetings, and participants on the first one; returns that meeting's id."""
    created = [remote.create_meeting(title=f"Meeting {n:03d}") for n in range(meetings)]
    first = created[0]["id"]
    for n in range(participants):
        remote.add_participant(
            first, custom_participant_id=f"person-{n:03d}", preset_name="group_call_participant"
        )
    return first


def seed_local_ghosts(remote, meeting_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A local meeting and a local participant that the remote does not have: a complete walk
    must flag / delete them, an incomplete one must leave them alone."""
    stamp = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    ghost_meeting = uuid.uuid4()
    services.upsert_meetings(
        [
            {
                "id": str(ghost_meeting),
                "title": "ghost",
                "status": "ACTIVE",
                "created_at": stamp,
                "updated_at": stamp,
            }
        ],
        app_id=APP_ID,
    )
    services.upsert_meetings([remote.get_meeting(meeting_id)], app_id=APP_ID)  # no HTTP: faults may be on
    meeting = Meeting.objects.get(pk=meeting_id)
    ghost_participant = uuid.uuid4()
    services.upsert_participants(
        meeting,
        [
            {
                "id": str(ghost_participant),
                "custom_participant_id": "ghost",
                "preset_name": "group_call_participant",
                "created_at": stamp,
                "updated_at": stamp,
            }
        ],
    )
    return ghost_meeting, ghost_participant


def walk_until_complete(walk, ghost_is_untouched) -> tuple[list, int]:
    """Run ``walk`` until it completes; after each incomplete run check that it flagged or
    deleted nothing and that every row it wrote equals the remote one. Returns the reports and
    the number of incomplete runs whose promise held."""
    reports, honest_incomplete = [], 0
    for _ in range(MAX_RUNS):
        report = walk()
        reports.append(report)
        if report.completed:
            break
        assert report.error, "an incomplete walk must say why"
        assert (report.flagged, report.removed) == (0, 0)
        assert ghost_is_untouched()
        honest_incomplete += 1
    return reports, honest_incomplete


def converge_and_check(remote, reliability, scenario: str, client: RealtimeKitClient, *, faults_seen) -> None:
    """Walk meetings and one meeting's participants until complete; assert the exact mirror."""
    first = remote.meetings(app_id=APP_ID)[0]["id"]
    ghost_meeting, ghost_participant = seed_local_ghosts(remote, first)
    requests_before = len(remote.requests)

    meeting_reports, meetings_incomplete = walk_until_complete(
        lambda: reconcile_meetings(per_page=PER_PAGE, client=client),
        lambda: Meeting.objects.get(pk=ghost_meeting).missing_since is None and local_rows_agree(remote),
    )
    participant_reports, participants_incomplete = walk_until_complete(
        lambda: reconcile_participants(first, per_page=PER_PAGE, client=client),
        lambda: Participant.objects.filter(pk=ghost_participant).exists(),
    )

    meetings = meeting_diff(remote)
    people = participant_diff(remote, first)
    reports = meeting_reports + participant_reports
    reliability(
        "faults",
        scenario,
        "converged to the exact remote state; every incomplete walk deleted and flagged nothing",
        runs=len(reports),
        incomplete=meetings_incomplete + participants_incomplete,
        requests=len(remote.requests) - requests_before,
        faults=faults_seen(),
        lost=meetings["lost"] + meetings["wrong"] + people["lost"] + people["wrong"],
        duplicates=people["duplicates"] + people["extra"] + meetings["extra"],
    )
    assert meeting_reports[-1].completed and participant_reports[-1].completed
    assert meetings == {"lost": 0, "wrong": 0, "extra": 0}
    assert people == {"lost": 0, "wrong": 0, "extra": 0, "duplicates": 0}
    assert Meeting.objects.get(pk=ghost_meeting).missing_since is not None
    assert not Participant.objects.filter(pk=ghost_participant).exists()
    # Every page of the last, complete walks was stored: nothing was skipped to "complete".
    assert sum(r.items for r in [meeting_reports[-1]]) == len(remote.meetings(app_id=APP_ID))


def failed_requests(remote, pages_stored: callable) -> callable:
    return lambda: len(remote.requests) - pages_stored()


class FaultCounter:
    """Counts the answers the remote's fault injector replaced (wraps ``Faults.decide``)."""

    def __init__(self, remote) -> None:
        self.count = 0
        decide = remote.faults.decide

        def counting():
            try:
                answer = decide()
            except Exception:
                self.count += 1
                raise
            if answer is not None:
                self.count += 1
            return answer

        remote.faults.decide = counting

    def __call__(self) -> int:
        return self.count


@pytest.mark.parametrize("max_retries", [0, 2])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_twenty_percent_5xx_converges_to_the_exact_remote_state(
    realtimekit_emulator, rk_settings, reliability, seed, max_retries
):
    seed_remote(realtimekit_emulator)
    faults = FaultCounter(realtimekit_emulator)
    realtimekit_emulator.faults.seed = seed
    realtimekit_emulator.faults.error_rate = 0.2
    converge_and_check(
        realtimekit_emulator,
        reliability,
        f"20% 5xx (500 / HTML 502 / 503), MAX_RETRIES={max_retries}",
        client_from_settings(max_retries=max_retries),
        faults_seen=faults,
    )
    assert faults() > 0


def test_429_bursts_wait_the_announced_retry_after_and_converge(
    realtimekit_emulator, rk_settings, reliability
):
    seed_remote(realtimekit_emulator)
    faults = FaultCounter(realtimekit_emulator)
    realtimekit_emulator.faults.retry_after = 0.25
    rng = random.Random(7)

    @realtimekit_emulator.add_hook
    def burst(record):  # every request may start a burst of 1-3 429s (3 outlasts MAX_RETRIES=2)
        if realtimekit_emulator.faults.rate_limit_burst == 0 and rng.random() < 0.3:
            realtimekit_emulator.faults.rate_limit_burst = rng.randint(1, 3)

    sleeps: list[float] = []
    converge_and_check(
        realtimekit_emulator,
        reliability,
        "429 bursts of 1-3 with retry-after",
        client_from_settings(sleeps, max_retries=2),
        faults_seen=faults,
    )
    assert sleeps and set(sleeps) == {0.25}, "every retry waits exactly the announced retry-after"


def test_a_retry_after_longer_than_allowed_stops_the_walk_without_changes(
    realtimekit_emulator, rk_settings, reliability
):
    seed_remote(realtimekit_emulator)
    rk_settings(RETRY_AFTER_MAX=1.0)
    realtimekit_emulator.faults.retry_after = 120
    realtimekit_emulator.faults.rate_limit_burst = 1
    sleeps: list[float] = []
    faults = FaultCounter(realtimekit_emulator)
    converge_and_check(
        realtimekit_emulator,
        reliability,
        "429 with retry-after (120 s) above RETRY_AFTER_MAX",
        client_from_settings(sleeps),
        faults_seen=faults,
    )
    assert sleeps == [] and faults() == 1


@pytest.mark.parametrize("seed", [11, 12])
def test_read_timeouts_over_a_real_socket_converge(served_emulator, rk_settings, reliability, seed):
    """The loopback server really sleeps before answering, so the client's read timeout fires."""
    rk_settings(READ_TIMEOUT=0.2, MAX_RETRIES=1)
    seed_remote(served_emulator, meetings=35, participants=25)
    rng = random.Random(seed)
    slow = []

    @served_emulator.add_hook
    def latency(record):  # 20% of requests answer after 0.5 s, past the 0.2 s read timeout
        served_emulator.faults.latency = 0.5 if rng.random() < 0.2 else 0.0
        if served_emulator.faults.latency:
            slow.append(record)

    client = client_from_settings()
    assert client.timeout[1] == 0.2
    converge_and_check(
        served_emulator,
        reliability,
        "latency 0.5 s past a 0.2 s read timeout (loopback)",
        client,
        faults_seen=lambda: len(slow),
    )
    assert slow


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_dropped_connections_over_a_real_socket_converge(served_emulator, rk_settings, reliability, seed):
    seed_remote(served_emulator)
    faults = FaultCounter(served_emulator)
    served_emulator.faults.seed = seed
    served_emulator.faults.drop_rate = 0.2
    converge_and_check(
        served_emulator,
        reliability,
        "20% dropped connections (TCP reset, loopback)",
        client_from_settings(max_retries=1),
        faults_seen=faults,
    )
    assert faults() > 0


@pytest.mark.parametrize("seed", [9, 10])
def test_every_fault_at_once_converges(served_emulator, rk_settings, reliability, seed):
    rk_settings(READ_TIMEOUT=0.3, MAX_RETRIES=2)
    seed_remote(served_emulator, meetings=45, participants=30)
    faults = FaultCounter(served_emulator)
    served_emulator.faults.seed = seed
    served_emulator.faults.error_rate = 0.15
    served_emulator.faults.drop_rate = 0.1
    served_emulator.faults.retry_after = 0.05
    rng = random.Random(seed + 100)
    slow = []

    @served_emulator.add_hook
    def chaos(record):
        served_emulator.faults.latency = 0.6 if rng.random() < 0.1 else 0.0
        if served_emulator.faults.latency:
            slow.append(record)
        if rng.random() < 0.1:
            served_emulator.faults.rate_limit_burst = rng.randint(1, 2)

    converge_and_check(
        served_emulator,
        reliability,
        "5xx + drops + 429 + timeouts together (loopback)",
        client_from_settings(),
        faults_seen=lambda: faults() + len(slow),
    )


def test_the_in_process_fixture_cannot_fire_read_timeouts(realtimekit_emulator, rk_settings, reliability):
    """Why the timeout tests use the loopback server: the ``responses`` adapter sleeps for the
    latency but returns the answer anyway, whatever the client's read timeout."""
    rk_settings(READ_TIMEOUT=0.05, MAX_RETRIES=0)
    realtimekit_emulator.create_meeting(title="slow")
    realtimekit_emulator.faults.latency = 0.2
    report = reconcile_meetings(client=client_from_settings())
    reliability(
        "faults",
        "latency past the read timeout, in-process fixture (limitation check)",
        "the responses adapter answers anyway: timeouts need the loopback server",
        runs=1,
        requests=len(realtimekit_emulator.requests),
    )
    assert report.completed and report.http_requests == 1


# -- a real worker killed mid-walk ----------------------------------------------------------------

# The worker fixtures of tests/test_celery_worker.py: a ``celery worker`` subprocess (threads pool,
# Redis broker, the PostgreSQL test database) and the emulator it talks to over loopback.
from tests.test_celery_worker import WAIT, emulator, worker  # noqa: E402, F401  (fixtures)


def _worker_pid(app) -> int:
    stats = app.control.inspect(timeout=5).stats() or {}
    assert len(stats) == 1, f"expected one worker, saw {sorted(stats)}"
    return next(iter(stats.values()))["pid"]


def _listing_pages(remote) -> int:
    return sum(1 for r in remote.requests if r.method == "GET" and r.path.endswith("/meetings"))


@pytest.mark.celery_worker
@pytest.mark.postgres
def test_a_worker_killed_mid_walk_loses_and_duplicates_nothing(worker, emulator, settings, reliability):  # noqa: F811
    """SIGKILL the worker after its first pages; the dead run's lock stays behind until it expires
    (``SYNC_LOCK_SECONDS`` after the last page renewed it: 4 s in the worker's settings), so a run
    started at once skips; once it has expired, the next run goes ahead and converges exactly."""
    import os
    import signal
    import time

    from realtimekit_django import tasks

    queue = worker.conf.task_default_queue
    # This process shares the worker's lock cache (same Redis db and key prefix) and emulator.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
            "KEY_PREFIX": queue,
        }
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "BASE_URL": emulator.base_url, "SYNC_LOCK_SECONDS": 4}
    from django.core.cache import caches

    lock_key = tasks.LOCK_PREFIX + f"meetings:{APP_ID}"
    for n in range(40):
        emulator.create_meeting(title=f"Killed {n:02d}")
    first = emulator.meetings()[0]["id"]
    ghost_meeting, _ = seed_local_ghosts(emulator, first)
    pid = _worker_pid(worker)
    emulator.faults.latency = 0.3  # 8 pages of 5: the walk takes seconds

    worker.send_task("realtimekit.reconcile_meetings", kwargs={"per_page": 5})
    deadline = time.monotonic() + WAIT
    while _listing_pages(emulator) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    pages_before_kill = _listing_pages(emulator)
    time.sleep(0.5)
    emulator.faults.latency = 0.0

    after_kill = Meeting.objects.filter(app_id=APP_ID).count()
    ghost_untouched = Meeting.objects.get(pk=ghost_meeting).missing_since is None
    lock_left = caches["default"].get(lock_key) is not None
    skipped = tasks.reconcile_meetings.apply(kwargs={"per_page": 5}).get()
    expiry = time.monotonic() + 15
    while caches["default"].get(lock_key) is not None and time.monotonic() < expiry:
        time.sleep(0.2)  # nobody renews a dead run's lock: it expires by itself
    lock_expired = caches["default"].get(lock_key) is None
    rerun = tasks.reconcile_meetings.apply(kwargs={"per_page": 5}).get()
    diff = meeting_diff(emulator)
    reliability(
        "faults",
        "Celery worker SIGKILLed mid-walk (real worker, Redis, PostgreSQL)",
        f"killed after {pages_before_kill} of 9 pages: {after_kill - 2} rows stored, none flagged; "
        f"dead run's lock {'held' if lock_left else 'gone'} at once, "
        f"{'expired by itself' if lock_expired else 'still held'} within SYNC_LOCK_SECONDS; "
        "the next run completed exactly",
        runs=3,
        incomplete=1,
        requests=len(emulator.requests),
        faults=1,
        lost=diff["lost"] + diff["wrong"] + int(not ghost_untouched),
        duplicates=diff["extra"],
    )
    assert 3 <= pages_before_kill < 9 and ghost_untouched
    assert lock_left and skipped["skipped"] is True, "the killed run's lock should make the next run skip"
    assert lock_expired, "nobody renews a dead run's lock: it must expire after SYNC_LOCK_SECONDS"
    assert rerun["completed"] and rerun["flagged"] == 1
    assert diff == {"lost": 0, "wrong": 0, "extra": 0}
    assert Meeting.objects.get(pk=ghost_meeting).missing_since is not None
