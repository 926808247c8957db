"""The reconcile tasks in a real Celery worker process: Redis broker and results, PostgreSQL, and
the emulator served on loopback by this test process.

Run with ``pytest -m celery_worker --ds=tests.settings_postgres tests/test_celery_worker.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult
from django.core.cache import caches
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from realtimekit_django import tasks
from realtimekit_django.emulator import Emulator, serve
from realtimekit_django.models import Meeting, Participant
from tests.settings import REALTIMEKIT

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres]

REDIS_URL = os.environ.get("REALTIMEKIT_WORKER_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
REPO = Path(__file__).resolve().parent.parent
WAIT = 60  # seconds: a bound for a stuck worker, not a timing goal


@pytest.fixture
def emulator():
    emulator = Emulator(api_token=REALTIMEKIT["API_TOKEN"], default_app_id=REALTIMEKIT["APP_ID"])
    server, _ = serve(emulator)
    emulator.base_url = server.base_url
    yield emulator
    server.shutdown()
    server.server_close()


@contextmanager
def _celery(emulator: Emulator) -> Iterator[tuple[Processes, Celery]]:
    """A queue and lock-cache prefix of the test's own (this process reads that cache too), the
    processes started on it, and a client app that sends to it."""
    queue = f"realtimekit-test-{uuid.uuid4().hex[:12]}"
    lock_cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": queue,
    }
    client = Celery("realtimekit-test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    client.conf.task_default_queue = queue
    with override_settings(CACHES={"default": lock_cache}):
        started = Processes(queue, emulator)
        try:
            yield started, client
        finally:
            started.close()
            client.close()


class Processes:
    """Starts ``celery worker`` and ``celery beat`` subprocesses for one test; stops them all."""

    def __init__(self, queue: str, emulator: Emulator) -> None:
        self.queue = queue
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.celery_settings_postgres",
            "REALTIMEKIT_WORKER_DB_NAME": connection.settings_dict["NAME"],
            "REALTIMEKIT_WORKER_BASE_URL": emulator.base_url,
            "REALTIMEKIT_WORKER_QUEUE": queue,
            "REALTIMEKIT_WORKER_REDIS_URL": REDIS_URL,
            "PYTHONPATH": str(REPO),
        }
        self.running: list[tuple[subprocess.Popen, Any]] = []
        self.workdir = tempfile.mkdtemp(prefix="celery-test-")

    def worker(self, *, pool: str = "threads", concurrency: int = 2, **env: str) -> Path:
        """Start a worker; returns its log file once it is ready."""
        log = self._start(
            [
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                "--loglevel=INFO",
                "-Q",
                self.queue,
                "-n",
                f"{self.queue}-{len(self.running)}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env,
        )
        _wait_for(log, " ready.")
        return log

    def pool_children(self, log: Path) -> list[int]:
        """The pids of a prefork worker's pool processes (Linux ``/proc``)."""
        (process,) = [p for p, handle in self.running if handle.name == str(log)]
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def beat(self, interval: float) -> Path:
        n = len(self.running)
        schedule = os.path.join(self.workdir, f"beat-{n}")
        log = self._start(
            ["beat", "--loglevel=INFO", f"--schedule={schedule}", "--pidfile=", "--max-interval=1"],
            {"REALTIMEKIT_WORKER_BEAT_INTERVAL": str(interval)},
        )
        _wait_for(log, "beat: Starting")
        return log

    def stop(self, log: Path) -> None:
        for process, handle in self.running:
            if handle.name == str(log):
                _stop(process)

    def _start(self, args: list[str], env: dict[str, str]) -> Path:
        handle = tempfile.NamedTemporaryFile(
            "w+", prefix="celery-", suffix=".log", delete=False, dir=self.workdir
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", *args],
            cwd=REPO,
            env={**self.env, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        self.running.append((process, handle))
        return Path(handle.name)

    def close(self) -> None:
        for process, handle in self.running:
            _stop(process)
            handle.seek(0)
            sys.stdout.write(f"--- {handle.name} ---\n{handle.read()[-6000:]}\n")
            handle.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _wait_for(log: Path, text: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not show in {log} within {WAIT}s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def celery(transactional_db, emulator):
    """``(processes, client)``: start workers and beats with ``processes``; send with ``client``."""
    with _celery(emulator) as started:
        yield started


@pytest.fixture
def worker(transactional_db, emulator):
    """A threads-pool worker on a queue of its own; yields a client app that sends to it."""
    with _celery(emulator) as (processes, client):
        processes.worker()
        yield client


def _wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _received(log: Path, task: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if f"{task}[" in line and line.endswith("received"))


def _meetings_walks(emulator: Emulator) -> int:
    """Scheduled runs that walked: each walks the recent meetings (``start_time``) once.

    (Each also walks its slice of the whole listing, pages without ``start_time``.)
    """
    return sum(
        1
        for r in emulator.requests
        if r.path.endswith("/meetings") and r.method == "GET" and "start_time" in r.query
    )


def _seed(emulator: Emulator) -> list[dict]:
    meetings = []
    for n in range(8):
        meeting = emulator.create_meeting(title=f"Worker meeting {n}")
        for k in range(n % 4):
            emulator.add_participant(meeting["id"], custom_participant_id=f"user-{n}-{k}", preset_name="p")
        meetings.append(meeting)
    return meetings


def test_reconcile_all_in_a_real_worker_leaves_the_tables_equal_to_the_emulator(worker, emulator):
    meetings = _seed(emulator)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    # Local rows the remote side no longer has: committed now, so the worker sees them.
    ghost = Meeting.objects.create(id=uuid.uuid4(), app_id=REALTIMEKIT["APP_ID"], synced_at=an_hour_ago)
    Meeting.objects.create(id=meetings[1]["id"], app_id=REALTIMEKIT["APP_ID"], synced_at=an_hour_ago)
    departed = Participant.objects.create(
        id=uuid.uuid4(),
        meeting_id=meetings[1]["id"],
        custom_participant_id="left",
        preset_name="p",
        synced_at=an_hour_ago,
    )

    result = worker.send_task("realtimekit.reconcile_all", kwargs={"per_page": 3}).get(timeout=WAIT)

    assert result["completed"] is True and result["skipped"] is False
    # Three pages, then the lookup of the one stored meeting the walk missed (404: flagged).
    assert (result["pages"], result["http_requests"], result["flagged"]) == (3, 4, 1)
    assert result["participant_tasks"] == len(meetings) and result["fanout_complete"] is True
    _wait_until(lambda: tasks.pending_fanout() == 0, "the fan-out to finish")

    assert {str(m.pk): m.remote_data for m in Meeting.objects.present_remotely()} == {
        m["id"]: m for m in emulator.meetings()
    }
    assert Meeting.objects.get(pk=ghost.pk).missing_since is not None
    for meeting in meetings:
        remote = {p["id"]: p for p in emulator.participants(meeting["id"])}
        local = {str(p.pk): p.remote_data for p in Participant.objects.filter(meeting_id=meeting["id"])}
        assert local == remote
    assert not Participant.objects.filter(pk=departed.pk).exists()


def test_two_runs_started_at_once_one_works_and_the_other_skips(worker, emulator):
    _seed(emulator)
    emulator.faults.latency = 0.25  # each page takes a while: the two runs overlap

    first = worker.send_task("realtimekit.reconcile_meetings", kwargs={"per_page": 2})
    second = worker.send_task("realtimekit.reconcile_meetings", kwargs={"per_page": 2})
    results = [AsyncResult(r.id, app=worker).get(timeout=WAIT) for r in (first, second)]

    worked = [r for r in results if not r["skipped"]]
    skipped = [r for r in results if r["skipped"]]
    assert len(worked) == 1 and len(skipped) == 1, results
    assert worked[0]["completed"] is True and worked[0]["created"] == 8 and worked[0]["pages"] == 4
    assert skipped[0]["pages"] == 0 and "lock" in skipped[0]["error"]
    assert Meeting.objects.count() == 8

    emulator.faults.latency = 0
    again = worker.send_task("realtimekit.reconcile_meetings").get(timeout=WAIT)
    assert again["skipped"] is False and again["unchanged"] == 8  # the lock was released


def _lock_key() -> str:
    return tasks.LOCK_PREFIX + tasks.meetings_lock_name(REALTIMEKIT["APP_ID"])


def test_prefork_soft_time_limit_returns_a_clean_incomplete_report_and_frees_the_lock(celery, emulator):
    processes, client = celery
    _seed(emulator)
    stored = Meeting.objects.create(id=uuid.uuid4(), app_id=REALTIMEKIT["APP_ID"])
    processes.worker(
        pool="prefork",
        concurrency=1,
        REALTIMEKIT_WORKER_SOFT_TIME_LIMIT="1",
        REALTIMEKIT_WORKER_TIME_LIMIT="5",
        REALTIMEKIT_WORKER_LOCK_SECONDS="60",
    )
    emulator.faults.latency = 0.4  # 8 pages: the walk outlives the soft limit

    result = client.send_task("realtimekit.reconcile_all", kwargs={"per_page": 1}).get(timeout=WAIT)

    assert result["completed"] is False and result["error"] == "stopped: soft time limit exceeded"
    assert 1 <= result["pages"] < 8 and result["participant_tasks"] == 0
    assert Meeting.objects.get(pk=stored.pk).missing_since is None
    assert caches["default"].get(_lock_key()) is None  # released by the walk, not expired (60 s)


def test_prefork_child_terminated_mid_walk_releases_the_lock_at_once(celery, emulator):
    processes, client = celery
    """What billiard does at the hard time limit: SIGTERM to the pool child (SIGKILL 0.1 s later
    if it is still alive). The child's ``finally`` blocks run: the walk is logged as incomplete
    and its lock is released at once, not after ``SYNC_LOCK_SECONDS``."""
    _seed(emulator)
    log = processes.worker(pool="prefork", concurrency=1, REALTIMEKIT_WORKER_LOCK_SECONDS="300")
    emulator.faults.latency = 0.2
    children = processes.pool_children(log)
    assert len(children) == 1

    def the_hard_limit_strikes(record):
        if record.query.get("page_no") == "3":
            os.kill(children[0], signal.SIGTERM)

    emulator.add_hook(the_hard_limit_strikes)
    client.send_task("realtimekit.reconcile_meetings", kwargs={"per_page": 1})

    # Well before its 300 s expiry (WAIT is 60 s): the walk's own ``finally`` released it.
    _wait_until(lambda: "reconcile meetings: INCOMPLETE" in log.read_text(), "the walk's summary")
    _wait_until(lambda: caches["default"].get(_lock_key()) is None, "the lock to be released")
    assert "stopped by SystemExit" in log.read_text()


def test_a_lock_deleted_mid_walk_never_lets_two_walks_run_at_once(worker, emulator):
    _seed(emulator)
    emulator.faults.latency = 0.2
    second: list[Any] = []

    def the_lock_is_flushed_and_a_second_run_starts(record):
        if record.query.get("page_no") == "2" and not second:
            caches["default"].delete(_lock_key())
            second.append(worker.send_task("realtimekit.reconcile_meetings", kwargs={"per_page": 2}))

    emulator.add_hook(the_lock_is_flushed_and_a_second_run_starts)
    first = worker.send_task("realtimekit.reconcile_meetings", kwargs={"per_page": 2}).get(timeout=WAIT)
    other = AsyncResult(second[0].id, app=worker).get(timeout=WAIT)

    # Either the first run took its lock again (and the second skipped), or the second took it
    # first and the first stopped at its next request: never both walking to the end.
    assert [first["completed"], other["completed"]].count(True) == 1, (first, other)
    loser = other if first["completed"] else first
    assert loser["skipped"] or "lock lost" in loser["error"], loser
    assert Meeting.objects.count() == 8


def test_a_participant_walk_longer_than_the_lock_keeps_it_through_many_lookups(celery, emulator):
    processes, client = celery
    (meeting,) = [emulator.create_meeting(title="Long walk")]
    emulator.add_participant(meeting["id"], custom_participant_id="stays", preset_name="p")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Meeting.objects.create(id=meeting["id"], app_id=REALTIMEKIT["APP_ID"], synced_at=an_hour_ago)
    for n in range(12):  # gone remotely: one lookup each
        Participant.objects.create(
            id=uuid.uuid4(),
            meeting_id=meeting["id"],
            custom_participant_id=f"left-{n}",
            preset_name="p",
            synced_at=an_hour_ago,
        )
    processes.worker(REALTIMEKIT_WORKER_LOCK_SECONDS="1")
    emulator.faults.latency = 0.3  # 13 requests: about 4 s, four times the lock's expiry
    lookups: list[Any] = []

    def a_second_walk_starts_late_in_the_first(record):
        if "/participants/" in record.path:
            lookups.append(record)
            if len(lookups) == 8:
                lookups.append(client.send_task("realtimekit.reconcile_participants", args=(meeting["id"],)))

    emulator.add_hook(a_second_walk_starts_late_in_the_first)
    first = client.send_task("realtimekit.reconcile_participants", args=(meeting["id"],)).get(timeout=WAIT)
    second = AsyncResult(lookups[8].id, app=client).get(timeout=WAIT)

    assert first["completed"] is True and first["removed"] == 12 and first["duration_seconds"] > 1
    assert second["skipped"] is True, second
    assert Participant.objects.filter(meeting_id=meeting["id"]).count() == 1


def test_beat_with_no_worker_leaves_no_backlog_for_the_worker(celery, emulator):
    processes, client = celery
    _seed(emulator)
    beat = processes.beat(interval=1)
    _wait_for(beat, "Sending due task")
    redis = client.connection_for_write().channel().client
    _wait_until(lambda: redis.llen(processes.queue) >= 5, "beat to queue five runs")  # no worker yet
    processes.stop(beat)
    queued = redis.llen(processes.queue)

    log = processes.worker()
    _wait_until(lambda: redis.llen(processes.queue) == 0, "the worker to drain the queue")
    _wait_until(
        lambda: "expired" in log.read_text().lower() or "revoked" in log.read_text().lower(), "expiry"
    )
    _wait_until(lambda: tasks.pending_fanout() == 0, "any fan-out to finish")

    walks = _meetings_walks(emulator)
    assert queued >= 5 and walks <= 1, (queued, walks)  # every queued run had expired but the last
    participant_walks = sum(1 for r in emulator.requests if r.path.endswith("/participants"))
    assert participant_walks <= 8


def test_two_beats_do_not_double_the_walks(celery, emulator):
    processes, client = celery
    _seed(emulator)
    log = processes.worker()

    processes.beat(interval=2)
    processes.beat(interval=2)

    _wait_until(lambda: _received(log, "realtimekit.reconcile_all") >= 10, "five runs from each beat")
    runs, walks = _received(log, "realtimekit.reconcile_all"), _meetings_walks(emulator)

    assert walks <= runs // 2 + 1, (walks, runs)
    assert "is a second beat running?" in log.read_text() or walks < runs


def test_rabbitmq_as_the_broker_for_one_fan_out(celery, emulator):
    processes, client = celery
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=5).close()
    except OSError as exc:
        raise AssertionError(f"RabbitMQ is not reachable on 127.0.0.1:5672: {exc}") from None
    meetings = _seed(emulator)
    processes.worker(REALTIMEKIT_WORKER_BROKER_URL=RABBITMQ_URL)
    app = Celery("realtimekit-test-amqp", broker=RABBITMQ_URL, backend=REDIS_URL, set_as_current=False)
    app.conf.task_default_queue = processes.queue
    try:
        result = app.send_task("realtimekit.reconcile_all").get(timeout=WAIT)
    finally:
        app.close()

    assert result["completed"] is True and result["participant_tasks"] == len(meetings)
    _wait_until(lambda: tasks.pending_fanout() == 0, "the fan-out to finish")
    for meeting in meetings:
        remote = {p["id"] for p in emulator.participants(meeting["id"])}
        assert set(Participant.objects.filter(meeting_id=meeting["id"]).values_list("pk", flat=True)) == {
            uuid.UUID(pk) for pk in remote
        }
