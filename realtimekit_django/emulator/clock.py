"""The emulator's sense of time: one clock object read by everything that asks what time it is.

Timestamps (``created_at`` / ``updated_at``), token lifetimes and the rate limit all read
``emulator.clock``, so a test or a benchmark that drives the clock drives all of them:

* :class:`SystemClock` (the default): the wall clock.
* :class:`ManualClock`: stands still until told to move (``advance(seconds)``, ``set(moment)``);
  for tests that must not depend on how fast the machine is.
* :class:`ScaledClock`: runs ``scale`` emulated seconds per real second, so a simulated day
  passes in minutes (the CLI's ``--time-scale``).

Every clock can ``advance(seconds)``: jump ahead, never back. Time never runs backwards,
because timestamps must keep increasing and a rate-limit window must not reopen early.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


def _forward_seconds(seconds: float, what: str) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a finite number of seconds, at least 0 (clocks never go back)")
    return float(seconds)


def _epoch(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a clock's moment must be an aware datetime (for example with tzinfo=UTC)")
        return moment.timestamp()
    return float(moment)


class Clock:
    """Emulated time in seconds since the epoch: a source of time plus what ``advance`` added."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def _source(self) -> float:
        raise NotImplementedError

    def time(self) -> float:
        """Seconds since the epoch, emulated (what ``time.time()`` is to the real world)."""
        return self._source() + self._offset

    def now(self) -> datetime:
        """The emulated moment as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` ahead at once (0 or more)."""
        step = _forward_seconds(seconds, "advance()")
        with self._lock:
            self._offset += step

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.now().isoformat()}>"


class SystemClock(Clock):
    """The wall clock (plus any ``advance``)."""

    def _source(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that stands still until moved. ``start``: an aware datetime or epoch seconds
    (default: the real time when the clock is made)."""

    def __init__(self, start: datetime | float | None = None) -> None:
        super().__init__()
        self._start = time.time() if start is None else _epoch(start)

    def _source(self) -> float:
        return self._start

    def set(self, moment: datetime | float) -> None:
        """Move to ``moment`` (an aware datetime or epoch seconds), which must not be earlier."""
        target = _epoch(moment)
        if not math.isfinite(target):
            raise ValueError("set() needs a finite moment")
        with self._lock:
            if target < self._start + self._offset:
                raise ValueError("set() cannot move a clock back (clocks never go back)")
            self._offset = target - self._start


class ScaledClock(Clock):
    """``scale`` emulated seconds pass per real second, from ``start`` (an aware datetime or epoch
    seconds; default: the real time when the clock is made)."""

    def __init__(self, scale: float, start: datetime | float | None = None) -> None:
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise TypeError(f"scale must be a number, not {type(scale).__name__}")
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError("scale must be a finite number above 0 (emulated seconds per real second)")
        self.scale = float(scale)
        self._start = time.time() if start is None else _epoch(start)
        self._real_start = time.monotonic()

    def _source(self) -> float:
        return self._start + (time.monotonic() - self._real_start) * self.scale
