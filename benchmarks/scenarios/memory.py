"""``memory``: does a walk's memory stay flat however many meetings there are?

Measured in a child process (:mod:`benchmarks.memory_child`) that holds nothing but Django and
the walk, while this process serves the emulator: its RSS growth from just before the walk to
the walk's peak. The same walk over a tenth of the meetings runs first, so the table shows
whether growth follows the meeting count (it must not: a page at a time).
"""

from __future__ import annotations

import json
import subprocess
import sys

from ..emulator import seed_meetings, served
from ..report import Result, Target


def _walk_in_child(base_url: str, database: str) -> dict:
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory_child",
        "--base-url",
        base_url,
        "--database",
        database,
    ]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure(database: str, size: int) -> dict:
    with served() as (emulator, server):
        seed_meetings(emulator, size)
        measured = _walk_in_child(server.base_url, database)
    if not measured["completed"] or measured["created"] != size:
        raise AssertionError(f"the child's walk did not store {size} meetings: {measured}")
    return measured


def run(database: str, size: int, rounds: int) -> Result:
    result = Result("memory", database, size, 1)
    tenth = max(1, size // 10)
    small = _measure(database, tenth)
    big = _measure(database, size)
    result.figures = {
        "growth_mb": big["growth_mb"],
        f"growth_mb_at_{tenth}": small["growth_mb"],
        "baseline_rss_mb": big["baseline_rss_mb"],
        "peak_rss_mb": big["peak_rss_mb"],
        "seconds": big["seconds"],
        "pages": big["pages"],
    }
    result.targets = [Target("growth_mb", "<=", 50)]
    result.notes.append(
        "growth = the walk's peak RSS (sampled every 10 ms, and ru_maxrss when the walk raised it) minus "
        "the RSS just before it, in a child process that holds only Django and the walk; the emulator runs "
        f"in the parent. growth_mb_at_{tenth} is the same walk over a tenth of the meetings"
    )
    return result
