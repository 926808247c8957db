"""``reconcile`` and ``reconcile_noop``: a full meetings walk, against the floor and the naive way.

All three variants read the same emulator over loopback HTTP and start from empty tables; they
take turns within each round (the order rotates, so none always runs first on a warm cache) and
the figures are medians over the rounds.
"""

from __future__ import annotations

import gc
import time

import requests

from realtimekit_django.client import get_client
from realtimekit_django.models import Meeting
from realtimekit_django.sync.reconcile import reconcile_meetings

from .. import variants
from ..database import reset_tables
from ..emulator import seed_meetings, served
from ..measure import count_queries, median, peak_rss_mb, stopwatch
from ..report import Result, Target

PER_PAGE = 100


def _timed(fn):
    """Wall seconds, CPU seconds (this process, the emulator's thread included), queries, outcome."""
    reset_tables()
    gc.collect()
    cpu_started = time.process_time()
    with count_queries() as queries, stopwatch() as elapsed:
        outcome = fn()
    return elapsed(), time.process_time() - cpu_started, queries, outcome


def _check(size: int, what: str) -> None:
    stored = Meeting.objects.count()
    if stored != size:
        raise AssertionError(f"{what} stored {stored} meetings, expected {size}")


def run(database: str, size: int, rounds: int) -> Result:
    result = Result("reconcile", database, size, rounds)
    with served() as (emulator, server):
        seed_meetings(emulator, size)
        session = requests.Session()
        runs = {
            "project": lambda: reconcile_meetings(per_page=PER_PAGE, client=get_client()),
            "floor": lambda: variants.floor_sync(server.base_url, PER_PAGE, session),
            "naive": lambda: variants.naive_sync(PER_PAGE),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        details = {}
        order = list(runs)
        for round_no in range(rounds):
            for name in order[round_no % 3 :] + order[: round_no % 3]:
                seconds, cpu_seconds, queries, outcome = _timed(runs[name])
                _check(size, name)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
                details[name] = (queries, outcome)
        queries, report = details["project"]
        if not report.completed or report.created != size:
            raise AssertionError(f"the project's walk did not store everything: {report.summary()}")
        floor_queries, floor_cost = details["floor"]
        naive_queries, _ = details["naive"]
        project_s, floor_s, naive_s = (median(times[n]) for n in ("project", "floor", "naive"))
        result.figures = {
            "project_seconds": project_s,
            "floor_seconds": floor_s,
            "naive_seconds": naive_s,
            "ratio_to_floor": project_s / floor_s,
            "speedup_over_naive": naive_s / project_s,
            "floor_speedup_over_naive": naive_s / floor_s,
            "cpu_ratio_to_floor": median(cpu["project"]) / median(cpu["floor"]),
            "project_cpu_seconds": median(cpu["project"]),
            "floor_cpu_seconds": median(cpu["floor"]),
            "queries_per_page": queries.queries / report.pages,
            "floor_queries_per_page": floor_queries.queries / floor_cost.pages,
            "naive_queries_per_page": naive_queries.queries / floor_cost.pages,
            "pages": report.pages,
            "http_requests": report.http_requests,
            "floor_http_requests": floor_cost.http_requests,
            "peak_rss_mb": peak_rss_mb(),
        }
    # Issue 28's targets: 1.3x the floor on SQLite, 1.2x on PostgreSQL.
    floor_ratio = 1.2 if database == "postgres" else 1.3
    result.targets = [Target("ratio_to_floor", "<=", floor_ratio), Target("speedup_over_naive", ">=", 10)]
    result.floors = {
        "project_seconds": "floor_seconds",
        "naive_seconds": "floor_seconds",
        "project_cpu_seconds": "floor_cpu_seconds",
        "queries_per_page": "floor_queries_per_page",
        "http_requests": "floor_http_requests",
    }
    result.notes.append(
        f"per_page={PER_PAGE}; medians of {rounds} rounds, variants alternating; peak_rss_mb is the whole "
        "process's peak (ru_maxrss), the in-process emulator's seeded meetings included; cpu_* is this "
        "process's CPU time (emulator thread included), which the disk's commit latency does not blur; "
        "floor_speedup_over_naive is what the issue's floor (VALUES with one placeholder per value) reaches "
        "against the naive way; the project's page is the same VALUES statement with the guard, after one "
        "SELECT of what is stored; "
        "queries_per_page counts SQL statements other than BEGIN/SAVEPOINT/RELEASE (SQLite's backend "
        f"issues BEGIN as a statement; PostgreSQL's does not); project walk: {report.summary()}"
    )
    return result
