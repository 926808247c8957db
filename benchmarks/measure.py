"""Small measuring tools: query counters, medians, percentiles, resident memory.

Queries are counted with ``connection.execute_wrapper`` rather than ``CaptureQueriesContext``
where timing matters: the wrapper costs a function call, whereas capturing forces the debug
cursor, which formats and stores every statement inside the timed region.
"""

from __future__ import annotations

import math
import resource
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection

_WRITES = ("INSERT", "UPDATE", "DELETE")
_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")


@dataclass
class QueryCount:
    """Statements executed: ``total`` (what Django's ``CaptureQueriesContext`` would count on
    this backend), ``control`` (``BEGIN``/``SAVEPOINT``/``RELEASE``: SQLite's backend issues
    ``BEGIN`` as a statement, PostgreSQL's does not), ``queries`` (the rest), ``writes``."""

    total: int = 0
    control: int = 0
    writes: int = 0
    statements: list[str] = field(default_factory=list)
    keep: bool = False

    @property
    def queries(self) -> int:
        return self.total - self.control

    def __call__(self, execute, sql, params, many, context):
        self.total += 1
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if verb in _CONTROL:
            self.control += 1
        elif verb in _WRITES:
            self.writes += 1
        if self.keep:
            self.statements.append(sql[:120])
        return execute(sql, params, many, context)


@contextmanager
def count_queries(keep: bool = False):
    """Count every statement the default connection executes inside the block."""
    counter = QueryCount(keep=keep)
    with connection.execute_wrapper(counter):
        yield counter


@contextmanager
def stopwatch():
    """``with stopwatch() as elapsed: ...`` then ``elapsed()`` is the block's seconds."""
    started = time.perf_counter()
    box = [None]
    yield lambda: box[0] if box[0] is not None else time.perf_counter() - started
    box[0] = time.perf_counter() - started


def median(values) -> float:
    return statistics.median(values)


def percentile(values, fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.95 for p95): an observed value, never interpolated."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def peak_rss_mb() -> float:
    """The process's peak resident set size so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float:
    """The resident set size now (Linux ``/proc``; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()
    return pages * resource.getpagesize() / (1024 * 1024)


class RssSampler:
    """Samples the current RSS on a thread, so a peak is seen even where ``ru_maxrss`` cannot
    be reset (it is the whole process's peak since it started)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, current_rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_mb())
