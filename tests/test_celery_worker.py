"""The reconcile tasks in a real Celery worker process: Redis broker and results, PostgreSQL, and
the emulator served on loopback by this test process.

Run with ``pytest -m celery_worker --ds=tests.settings_postgres tests/test_celery_worker.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from celery.result import AsyncResult, GroupResult
from django.db import connection
from django.utils import timezone

from realtimekit_django.emulator import Emulator, serve
from realtimekit_django.models import Meeting, Participant
from tests.settings import REALTIMEKIT

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres]

REDIS_URL = "redis://127.0.0.1:6379/15"
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


@pytest.fixture
def worker(transactional_db, emulator):
    """A ``celery worker`` subprocess on a queue of its own; yields an app that sends to it."""
    queue = f"realtimekit-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.celery_settings_postgres",
        "REALTIMEKIT_WORKER_DB_NAME": connection.settings_dict["NAME"],
        "REALTIMEKIT_WORKER_BASE_URL": emulator.base_url,
        "REALTIMEKIT_WORKER_QUEUE": queue,
        "REALTIMEKIT_WORKER_REDIS_URL": REDIS_URL,
        "PYTHONPATH": str(REPO),
    }
    log = tempfile.NamedTemporaryFile("w+", prefix="celery-worker-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.celery_app",
            "worker",
            "--pool=threads",
            "--concurrency=2",
            "--loglevel=INFO",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = Celery("realtimekit-test-client", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    client.conf.task_default_queue = queue
    try:
        _wait_until_ready(process, Path(log.name))
        yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        client.close()
        log.seek(0)
        sys.stdout.write(f"--- worker log ({log.name}) ---\n{log.read()[-6000:]}\n")
        log.close()
        os.unlink(log.name)


def _wait_until_ready(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the worker exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        if " ready." in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker did not start within {WAIT}s:\n{log.read_text()[-4000:]}")


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
    assert (result["pages"], result["http_requests"], result["flagged"]) == (3, 3, 1)
    assert result["participant_tasks"] == len(meetings)
    fanned = GroupResult.restore(result["participants_group_id"], app=worker)
    reports = fanned.get(timeout=WAIT)
    assert len(reports) == len(meetings)
    assert all(r["completed"] and not r["skipped"] for r in reports)
    assert sum(r["removed"] for r in reports) == 1

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
