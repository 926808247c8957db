"""Cloudflare's API rate limit, as the emulator enforces it: a quota per API token per window.

The window is a **sliding log**: a request is allowed when fewer than ``requests`` requests of
the same token were allowed in the last ``seconds`` seconds. Cloudflare documents "1,200
requests per 5 minutes" without saying how the window moves; a sliding log is the strictest
reading of that sentence (a fixed window would let 2 × 1,200 requests through in a few seconds
around a window boundary), so code that never trips the emulator's limit never trips the real
one either.

The request that goes over the quota starts a **lockout** of one window's length: it and every
request of that token until the lockout ends are refused (429), and refused requests do not
extend the lockout. When the lockout ends, every request counted before it has left the window
too, so the token starts again with its whole quota.

Headers: ``ratelimit: "default";r=<remaining>;t=<reset>`` and ``ratelimit-policy:
"default";q=<quota>;w=<window>`` on every answer to an authorised request, ``retry-after`` on a
refusal. ``t`` is the cautious reading of Cloudflare's "time the next window resets": the whole
seconds until the token's *full* quota is back, which under a sliding log is one window after its
newest counted request (so ``t = w`` on an allowed request, and the lockout's end on a refused
one). ``r`` is a floor until then: it grows as older requests leave the window, never shrinks
unless requests are made. A client that reads the pair as a fixed window is therefore never led
to overspend.

:meth:`RateLimit.check` takes the time as an argument: the emulator passes its clock's time, so
a test that advances the clock moves the windows with it.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["RateLimit", "RateDecision", "parse_rate_limit"]

_RATE_LIMIT_TEXT = re.compile(r"(\d+)\s*/\s*(\d+)", re.ASCII)


@dataclass(frozen=True)
class RateDecision:
    """One request's verdict. ``remaining``: requests the token may still make now;
    ``reset``: whole seconds until its full quota is back; ``retry_after``: for a refused
    request, whole seconds until the lockout ends (None when allowed)."""

    allowed: bool
    remaining: int
    reset: int
    retry_after: int | None
    quota: int
    window: int

    def headers(self) -> dict[str, str]:
        """Cloudflare's headers: ``ratelimit`` and ``ratelimit-policy`` always, ``retry-after``
        when refused (lower-case, as Cloudflare sends them; HTTP header names ignore case)."""
        found = {
            "ratelimit": f'"default";r={self.remaining};t={self.reset}',
            "ratelimit-policy": f'"default";q={self.quota};w={self.window}',
        }
        if self.retry_after is not None:
            found["retry-after"] = str(self.retry_after)
        return found


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"rate limit {what} must be a whole number above 0, not {value!r}")
    return value


def parse_rate_limit(text: str) -> tuple[int, int]:
    """``"1200/300"`` → ``(1200, 300)``; anything else is a ValueError saying what is expected."""
    expected = (
        f"rate limit must be REQUESTS/SECONDS, two whole numbers above 0 such as 1200/300, not {text!r}"
    )
    match = _RATE_LIMIT_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(expected)
    quota, window = int(match[1]), int(match[2])
    if quota < 1 or window < 1:
        raise ValueError(expected)
    return quota, window


class _Window:
    """One token's sliding log: the times of its allowed requests, oldest first."""

    __slots__ = ("allowed_at", "locked_until")

    def __init__(self) -> None:
        self.allowed_at: deque[float] = deque()
        self.locked_until = -math.inf


class RateLimit:
    """``requests`` allowed per ``seconds`` per API token, then a lockout of ``seconds``.

    ``lockouts`` counts the lockouts started and ``refused`` the requests answered 429, across
    all tokens, so that a benchmark can report them.
    """

    def __init__(self, requests: int, seconds: int) -> None:
        self.requests = _positive_int(requests, "requests")
        self.seconds = _positive_int(seconds, "seconds")
        self.lockouts = 0
        self.refused = 0
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows a token
        tokens, lockouts = len(self._windows), self.lockouts
        return f"<RateLimit {self.requests}/{self.seconds}s tokens={tokens} lockouts={lockouts}>"

    def check(self, token: str, now: float) -> RateDecision:
        """Count one request of ``token`` at ``now`` (epoch seconds) and say whether it passes."""
        with self._lock:
            window = self._windows.setdefault(token, _Window())
            if now < window.locked_until:
                return self._refuse(window, now)
            log = window.allowed_at
            while log and log[0] <= now - self.seconds:
                log.popleft()
            if len(log) >= self.requests:
                window.locked_until = now + self.seconds
                self.lockouts += 1
                return self._refuse(window, now)
            log.append(now)
            # The full quota is back when this request, the newest, leaves the window.
            return self._decision(True, self.requests - len(log), self.seconds)

    def clear(self) -> None:
        """Forget every window and lockout (the counters too)."""
        with self._lock:
            self._windows.clear()
            self.lockouts = 0
            self.refused = 0

    def _refuse(self, window: _Window, now: float) -> RateDecision:
        self.refused += 1
        wait = self._until(window.locked_until, now)
        return self._decision(False, 0, wait, retry_after=wait)

    def _decision(
        self, allowed: bool, remaining: int, reset: int, retry_after: int | None = None
    ) -> RateDecision:
        return RateDecision(allowed, remaining, reset, retry_after, self.requests, self.seconds)

    @staticmethod
    def _until(moment: float, now: float) -> int:
        """Whole seconds from ``now`` to ``moment``, rounded up, as Cloudflare rounds them."""
        return max(1, math.ceil(moment - now))
