"""Fault injection for the emulator: latency, 5xx, 429 with ``retry-after``, dropped connections.

Every knob is a plain attribute so tests can flip it between two calls::

    emulator.faults.error_rate = 0.3
    emulator.faults.fail_next(2, status=503)
    emulator.faults.rate_limit_burst = 1

The order in which a request meets the faults is fixed, so a test can reason about it:
``latency`` (always), then the ``fail_next`` queue, then ``rate_limit_burst``, then
``drop_rate``, then ``error_rate``. When the emulator's rate limit is on
(``Emulator.set_rate_limit``), it is checked after ``latency``: a request it refuses meets no
other fault. Random choices use one ``random.Random`` seeded with ``seed``, so a run with a seed
is reproducible.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = ["ConnectionDropped", "FaultResponse", "Faults", "HTML_502_BODY"]


class ConnectionDropped(Exception):  # noqa: N818 - it names an event, not a failure of ours
    """Raised by ``Emulator.handle`` when a fault says the connection must drop without an answer.

    The WSGI server started by :func:`realtimekit_django.emulator.wsgi.serve` closes the socket;
    the ``responses`` adapter raises ``requests.exceptions.ConnectionError``.
    """


HTML_502_BODY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class FaultResponse:
    """A canned answer a fault puts in place of the real one."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Queued:
    status: int
    body: Any
    drop: bool
    headers: dict[str, str] | None


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> FaultResponse:
    hdrs = {"content-type": "application/json"}
    hdrs.update(headers or {})
    return FaultResponse(status, hdrs, json.dumps(payload).encode())


def documented_error(status: int, message: str | None = None) -> dict:
    """The contract's error shape: ``{"success": false, "error": {"code", "message"}}``."""
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "Error"
    return {"success": False, "error": {"code": status, "message": message}}


def gateway_error(code: int, message: str) -> dict:
    """Cloudflare's gateway shape, with ``errors`` / ``messages`` / ``result``."""
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def canned_response(status: int, *, retry_after: float = 1, variant: int = 0) -> FaultResponse:
    """A realistic error answer for ``status``.

    500 uses the documented shape, 502 Cloudflare's HTML page, 503 the gateway JSON shape and
    429 the gateway shape with a ``retry-after`` header. ``variant`` picks between the shapes a
    5xx can take in the wild (used by ``error_rate``).
    """
    if status == 429:
        return _json(
            429,
            gateway_error(971, "Please wait and consider throttling your request speed"),
            {"retry-after": _format_seconds(retry_after)},
        )
    if status == 502 or (status >= 500 and variant == 1):
        return FaultResponse(status, {"content-type": "text/html"}, HTML_502_BODY.encode())
    if status == 503 or (status >= 500 and variant == 2):
        return _json(status, gateway_error(10000, "Service temporarily unavailable, please retry"))
    return _json(status, documented_error(status))


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class Faults:
    """Fault settings of one emulator. All fields may be changed at any time.

    ``latency``            seconds slept before every request is handled.
    ``error_rate``         fraction (0..1) of requests answered 500, 502 (HTML page) or 503
                           (gateway JSON), chosen at random.
    ``drop_rate``          fraction (0..1) of requests whose connection is dropped unanswered.
    ``rate_limit_burst``   the next N requests get 429 with ``retry-after: <retry_after>``.
    ``retry_after``        seconds announced by 429 answers (default 1).
    ``seed``               seed of the random generator; assigning it reseeds.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit_burst: int = 0
    retry_after: float = 1
    seed: int | None = None
    _queue: deque = field(default_factory=deque, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "seed" and "_rng" in self.__dict__:
            self._rng.seed(value)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        body: Any = None,
        drop: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (or drop them, if ``drop``).

        ``body`` may be a dict/list (sent as JSON), a str or bytes (sent as is; ``text/html``
        if it looks like HTML) or None for the realistic default of :func:`canned_response`.
        Calls queue up: ``fail_next(1, 503); fail_next(1, 429)`` fails the next two differently.
        """
        with self._lock:
            for _ in range(n):
                self._queue.append(_Queued(status, body, drop, headers))

    def clear(self) -> None:
        """Back to no faults at all (the seed is kept and the generator reseeded)."""
        with self._lock:
            self._queue.clear()
        self.latency = 0.0
        self.error_rate = 0.0
        self.drop_rate = 0.0
        self.rate_limit_burst = 0
        self.retry_after = 1
        self.seed = self.seed

    @property
    def pending(self) -> int:
        """How many ``fail_next`` answers are still queued."""
        return len(self._queue)

    def decide(self) -> FaultResponse | None:
        """Consume one request's worth of faults: a canned answer, None, or ConnectionDropped."""
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
            if queued is None and self.rate_limit_burst > 0:
                self.rate_limit_burst -= 1
                return canned_response(429, retry_after=self.retry_after)
            if queued is None:
                if self.drop_rate and self._rng.random() < self.drop_rate:
                    raise ConnectionDropped("fault: drop_rate")
                if self.error_rate and self._rng.random() < self.error_rate:
                    status, variant = self._rng.choice([(500, 0), (502, 1), (503, 2), (500, 2)])
                    return canned_response(status, variant=variant)
                return None
        if queued.drop:
            raise ConnectionDropped("fault: fail_next(drop=True)")
        return self._build(queued)

    def _build(self, queued: _Queued) -> FaultResponse:
        if queued.body is None:
            response = canned_response(queued.status, retry_after=self.retry_after)
        elif isinstance(queued.body, (dict, list)):
            response = _json(queued.status, queued.body)
        else:
            raw = queued.body.encode() if isinstance(queued.body, str) else bytes(queued.body)
            kind = "text/html" if raw.lstrip().lower().startswith(b"<") else "text/plain"
            response = FaultResponse(queued.status, {"content-type": kind}, raw)
        if queued.headers:
            response.headers.update(queued.headers)
        return response
