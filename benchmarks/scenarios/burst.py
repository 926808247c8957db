"""``burst``: N users of one meeting press Join within 2 emulated minutes, at the API's real limit.

The emulator enforces Cloudflare's 1,200 requests per 5 minutes (``rate_limit=(1200, 300)``) on
a ``ManualClock``: the run moves the clock to each press, so two emulated minutes (and the
lockouts after them) pass in seconds, and every figure is a count or an emulated time, not a
property of this machine. Every join goes through the real endpoint (DRF view, service,
database, loopback HTTP to the emulator). A join answered 503 is retried as the demo's join page
retries: after its ``Retry-After`` plus a jitter of up to 30 s.

Two variants, side by side, each on a fresh emulator and meeting:

- ``today``: no preparation, no token cache: every join costs one request;
- ``prepared``: the users are provisioned ahead (``services.provision_participants`` in the
  task's chunks, ``PROVISION_BATCH`` every ``PROVISION_INTERVAL`` emulated seconds) and
  ``JOIN_TOKEN_CACHE`` is on, so a join costs none.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from realtimekit_django import services, tasks
from realtimekit_django.emulator import Emulator, ManualClock

from ..emulator import API_TOKEN, APP_ID, served
from ..measure import median, percentile
from ..report import Result, Target

LIMIT = (1200, 300)
WINDOW_SECONDS = 120
#: How long (emulated) the run waits for the last joins; later ones count as never served.
HORIZON_SECONDS = 3600
JITTER_MAX = 30
SEED = 17


def _users(size: int) -> list:
    User = get_user_model()
    User.objects.filter(username__startswith="burst-").delete()
    User.objects.bulk_create([User(username=f"burst-{i:05d}") for i in range(size)])
    return list(User.objects.filter(username__startswith="burst-").order_by("pk"))


def _provision(emulator: Emulator, meeting, users: list) -> dict:
    """Prepare every user in the task's chunks and pace, the clock moving as a worker's would."""
    clock, started, before = emulator.clock, emulator.clock.time(), len(emulator.requests)
    left = list(users)
    while left:
        chunk, left = left[: tasks.PROVISION_BATCH], left[tasks.PROVISION_BATCH :]
        report = services.provision_participants(meeting, chunk)
        if report.stopped:
            by_pk = {user.pk: user for user in chunk}
            left = [by_pk[pk] for pk in report.left] + left
            clock.advance(report.retry_after)
        elif left:
            clock.advance(tasks.PROVISION_INTERVAL)
    return {
        "provision_requests": len(emulator.requests) - before,
        "provision_minutes": (clock.time() - started) / 60,
        "provision_lockouts": emulator.rate_limit.lockouts,
    }


def _burst(emulator: Emulator, meeting, users: list) -> dict:
    """Every user presses Join once within the window; 503s retry after Retry-After + jitter."""
    clock, rng, client = emulator.clock, random.Random(SEED), APIClient()
    url = reverse("realtimekit:meeting-join", kwargs={"meeting_id": meeting.pk})
    start, requests_before = clock.time(), len(emulator.requests)
    lockouts_before = emulator.rate_limit.lockouts
    pressed = [start + index * WINDOW_SECONDS / len(users) for index in range(len(users))]
    pending = [(at, index, index) for index, at in enumerate(pressed)]  # (when, order, user)
    waits, serve_ms, served_in_window, answered_503, sequence = [], [], 0, 0, len(users)
    while pending:
        at, _order, index = heapq.heappop(pending)
        if at > start + HORIZON_SECONDS:
            break
        clock.set(max(at, clock.time()))
        client.force_authenticate(users[index])
        began = time.perf_counter()
        response = client.post(url)
        elapsed_ms = (time.perf_counter() - began) * 1000
        if response.status_code == 200:
            waits.append(clock.time() - pressed[index])
            serve_ms.append(elapsed_ms)
            served_in_window += clock.time() <= start + WINDOW_SECONDS
        elif response.status_code == 503 and response.has_header("Retry-After"):
            answered_503 += 1
            wait = float(response["Retry-After"])
            sequence += 1
            retry_at = clock.time() + wait + rng.uniform(0, min(wait, JITTER_MAX))
            heapq.heappush(pending, (retry_at, sequence, index))
        else:
            raise AssertionError(f"join answered {response.status_code}: {response.content[:200]!r}")
    return {
        "requests": len(emulator.requests) - requests_before,
        "lockouts": emulator.rate_limit.lockouts - lockouts_before,
        "answered_503": answered_503,
        "served_in_window_pct": 100 * served_in_window / len(users),
        "served_pct": 100 * len(waits) / len(users),
        "join_wait_p50_s": percentile(waits, 0.5) if waits else None,
        "join_wait_p99_s": percentile(waits, 0.99) if waits else None,
        "serve_p50_ms": median(serve_ms) if serve_ms else None,
        "serve_p99_ms": percentile(serve_ms, 0.99) if serve_ms else None,
    }


@contextmanager
def _quiet():
    """Thousands of refused joins log a warning each (client and endpoint): not the report."""
    loggers = [logging.getLogger(name) for name in ("realtimekit_django.client", "realtimekit_django.api")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _variant(users: list, *, prepared: bool) -> dict:
    emulator = Emulator(api_token=API_TOKEN, default_app_id=APP_ID, rate_limit=LIMIT, clock=ManualClock())
    with served(emulator), _quiet():
        from django.conf import settings

        cache = "join-tokens" if prepared else None
        with override_settings(REALTIMEKIT={**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": cache}):
            meeting = services.create_meeting(title="Lecture at 9:00")
            figures = _provision(emulator, meeting, users) if prepared else {}
            emulator.clock.advance(LIMIT[1])  # the event starts a window after the preparation
            figures.update(_burst(emulator, meeting, users))
    return figures


def run(database: str, size: int, rounds: int) -> Result:
    result = Result("burst", database, size, 1)
    users = _users(size)
    today = _variant(users, prepared=False)
    prepared = _variant(users, prepared=True)
    result.figures = {
        **{f"today_{key}": value for key, value in today.items()},
        **{f"prepared_{key}": value for key, value in prepared.items()},
        "prepared_requests_per_join": prepared["requests"] / size,
    }
    result.targets = [
        Target("prepared_lockouts", "==", 0),
        Target("prepared_served_in_window_pct", ">=", 100),
        Target("prepared_requests_per_join", "==", 0),
        Target("prepared_provision_lockouts", "==", 0),
    ]
    result.notes.append(
        f"{size:,} users of one meeting press Join evenly within {WINDOW_SECONDS} emulated seconds, "
        f"against the emulator's limit of {LIMIT[0]:,} requests per {LIMIT[1]} s on a ManualClock; a 503 is "
        f"retried after its Retry-After plus up to {JITTER_MAX} s of jitter, for at most "
        f"{HORIZON_SECONDS} emulated seconds"
    )
    result.notes.append(
        "requests counts every request the emulator received during the burst, refused ones (429) "
        "included; join_wait is emulated seconds from the press to the answer that served it; "
        "serve_ms is the real time of that answer"
    )
    result.notes.append(
        f"prepared: provisioned ahead in chunks of {tasks.PROVISION_BATCH} every "
        f"{tasks.PROVISION_INTERVAL} emulated seconds (the task's defaults), then JOIN_TOKEN_CACHE on"
    )
    return result
