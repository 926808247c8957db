"""``reconcile_noop``: the same walk again with nothing changed remotely.

It still has to fetch every page (that is how it learns nothing changed), but it must write no
row: the page's one SELECT shows every payload equal to the stored one. Each round empties the
tables, runs a first walk (everything created), then the walk again; figures are medians.
"""

from __future__ import annotations

import gc

from realtimekit_django.client import get_client
from realtimekit_django.sync.reconcile import reconcile_meetings

from ..database import reset_tables
from ..emulator import seed_meetings, served
from ..measure import count_queries, median, stopwatch
from ..report import Result, Target
from .reconcile import PER_PAGE


def run(database: str, size: int, rounds: int) -> Result:
    result = Result("reconcile_noop", database, size, rounds)
    first_times, noop_times = [], []
    with served() as (emulator, _server):
        seed_meetings(emulator, size)
        for _ in range(rounds):
            reset_tables()
            gc.collect()
            with stopwatch() as elapsed:
                first = reconcile_meetings(per_page=PER_PAGE, client=get_client())
            first_times.append(elapsed())
            gc.collect()
            with count_queries() as queries, stopwatch() as elapsed:
                again = reconcile_meetings(per_page=PER_PAGE, client=get_client())
            noop_times.append(elapsed())
            if not (first.completed and again.completed) or first.created != size:
                raise AssertionError(f"walks did not complete: {first.summary()} / {again.summary()}")
    rows_reported = again.created + again.updated + again.flagged
    first_s, noop_s = median(first_times), median(noop_times)
    result.figures = {
        "first_run_seconds": first_s,
        "noop_seconds": noop_s,
        "rows_written": rows_reported,
        "write_statements": queries.writes,
        "ratio_to_first_run": noop_s / first_s,
        "queries_per_page": queries.queries / again.pages,
        "http_requests": again.http_requests,
    }
    result.targets = [
        Target("rows_written", "==", 0),
        Target("write_statements", "==", 0),
        Target("ratio_to_first_run", "<=", 0.6),
    ]
    result.notes.append(
        "rows_written = created + updated + flagged in the second walk's report; write_statements counts "
        f"INSERT/UPDATE/DELETE statements it executed; second walk: {again.summary()}"
    )
    return result
