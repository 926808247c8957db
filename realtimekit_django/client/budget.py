"""The rate budget every process of a site spends from: one count, two lanes, one cooldown.

Cloudflare allows an API user ``RATE_LIMIT_REQUESTS`` requests per ``RATE_LIMIT_WINDOW_SECONDS``
and answers every request of the next window with 429 once it is exceeded. Every attempt the
client sends (retries included) goes through :meth:`Budget.before_attempt`, which spends one
request from a count kept in a shared cache (``RATE_LIMIT_CACHE``), and
:meth:`Budget.after_attempt`, which learns from the answer.

**The count: atomic increments over fixed slots.** The window is cut into :data:`SLOTS` slots
of ``window / SLOTS`` seconds, one cache key each. An attempt increments the current slot
(``incr``: atomic on Redis, Memcached and ``LocMemCache``) and reads the :data:`SLOTS` slots
before it; the ``SLOTS + 1`` slots cover every window of ``window`` seconds ending now, so the
count is never below what any sliding window holds, and a site that stays inside it never trips
the API's limit however the API moves its window (the emulator's is a sliding log, the strictest
reading). The price is caution: up to one slot (a thirtieth of the window) of requests is
counted twice, so a steady rate gets about 97% of the quota (ten slots gave 91%: at 100,000
meetings that was most of the margin the scheduler has). A count reads the window's slots in one
``get_many`` (one round trip on Redis), and a process keeps the slots that can no longer change
for as long as they stay in its window (:meth:`Budget._closed_counts`), so an attempt reads the
two open slots alone. An attempt over its lane's limit takes its
increment back. A Redis script would count exactly, but needs Redis; increments work on every
shared Django cache, and the check-after-
increment order keeps the count exact under races (each attempt's ``incr`` returns a distinct
total, so no more than the limit pass).

**Lanes.** ``interactive`` (the default: joins, admin actions, anything a person waits for) may
spend the whole quota; ``background`` (walks and tasks, inside ``with lane("background")``)
keeps the reserve free for people. With ``R = RATE_LIMIT_RESERVE * quota`` and ``I`` the
interactive requests of the window, a background attempt passes while
``spent + max(R - I, R / 2) < quota``: background never spends the part of the reserve people
have not used, and never leaves less than half of it free for a burst of joins. So people can
spend ``R`` in any window whatever the background did, their first ``R / 2`` come out of the
reserve alone, and what they spend beyond that comes out of the background's share (at most
``quota - R``). Interactive attempts are counted in a second set of slots for this. Out of
budget, an interactive attempt fails at once with :class:`BudgetExhausted` (a ``RateLimited``
carrying ``retry_after``: the join view answers 503 with ``Retry-After``); a background attempt
waits for room when that takes at most ``RETRY_AFTER_MAX`` seconds, and otherwise raises
:class:`BudgetExhausted` too, which ends a walk cleanly as incomplete ("rate budget").

**The event reserve.** Inside the background lane, ``E = floor(RATE_LIMIT_EVENT_RESERVE *
quota)`` requests of each window are kept for event-driven work (inside :func:`event_driven`:
the targeted fetches webhooks ask for, deduplicated and bounded per minute), the way the
reserve is kept for people: routine background attempts (the scheduler's rotation, the sessions
walk, copies) stop ``max(E - X, 0)`` short of the background limit, ``X`` the event-driven
requests of the window, and event-driven ones may spend up to it. The rotation plans nearly the
whole background share and spends it at the start of each run, so without this an announced
change found the lane full and waited for the run's requests to leave the window (minutes);
with it, a fetch finds room at once while the window's event-driven requests stay under ``E``.
Event-driven attempts are counted in a third set of slots.

**Corrections and the cooldown.** Other tools of the same API user spend from the same quota.
When an answer's ``Ratelimit: "default";r=<remaining>`` reports fewer requests left than the
shared count believes, the difference is added to the current slot. A 429 sets a cooldown (its
``Retry-After``, or the whole window when that is missing or unusable, never more than the API's
5-minute lockout) in the cache, and every process honours it before its next attempt instead of
extending the lockout by retrying into it; processes whose clocks differ read the same
remaining time (:meth:`Budget._cooldown_left`).

**A cache that is down** must not take the site down: interactive attempts go on unbudgeted
(logged), background attempts are refused (:class:`BudgetUnavailable`) until it is back.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import caches

from ..exceptions import RateLimited
from .lanes import (  # noqa: F401 (re-exported)
    BACKGROUND,
    INTERACTIVE,
    LANES,
    _lane,
    current_lane,
    event_driven,
    is_event_driven,
    lane,
)

logger = logging.getLogger("realtimekit_django.budget")

#: Slots per window (see the module docstring: the count is at most one slot too cautious).
SLOTS = 30
KEY_PREFIX = "realtimekit:budget:"
_REMAINING = re.compile(r"(?:^|;)\s*r\s*=\s*(\d+)", re.ASCII)


class BudgetExhausted(RateLimited):
    """The site's own rate budget (or a cooldown after a 429) refused the attempt; nothing was sent."""


class BudgetUnavailable(BudgetExhausted):
    """The budget's cache could not be reached, and a background attempt does not go unbudgeted."""


def parse_remaining(header: str | None) -> int | None:
    """``r`` of a ``Ratelimit`` header (the smallest, when it names several policies)."""
    if not header:
        return None
    found = [int(match[1]) for part in header.split(",") if (match := _REMAINING.search(part))]
    return min(found) if found else None


class Budget:
    """``requests`` per ``window`` seconds, shared through ``cache`` by every process.

    ``clock`` (epoch seconds) and ``sleep`` are attributes so that tests and benchmarks can run
    the budget on emulated time.
    """

    def __init__(
        self,
        cache: Any,
        *,
        requests: int,
        window: float,
        reserve: float,
        wait_max: float,
        event_reserve: float = 0.0,
        prefix: str = KEY_PREFIX,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cache = cache
        self.requests = requests
        self.window = float(window)
        self.reserve = reserve
        self.event_reserve = event_reserve
        self.wait_max = wait_max
        self.prefix = prefix
        self.clock = clock
        self.sleep = sleep
        #: Whether a cooldown key the cache still keeps is a cooldown still on, whatever this
        #: clock says: true on the wall clock, which cache timeouts are counted in; an emulated
        #: clock (tests, benchmarks) goes by the stored instant alone.
        self.cache_expiry_decides = clock is time.time
        #: The settings snapshot it was built from (:func:`budget_for`), if any.
        self.config: Any = None
        self.slot_seconds = self.window / SLOTS
        #: Real seconds a slot key is kept: as long as any count can still read it.
        self.key_ttl = math.ceil(self.window + 2 * self.slot_seconds)
        #: The closed slots' counts this process read last (see :meth:`_closed_counts`).
        self._closed: tuple[int, str, dict[str, list[int]]] | None = None

    def __repr__(self) -> str:
        return f"<Budget {self.requests}/{self.window:g}s reserve={self.reserve:g}>"

    @property
    def cooldown_key(self) -> str:
        return self.prefix + "cooldown"

    @property
    def reserved(self) -> int:
        """Requests of each window kept for the interactive lane."""
        return self.requests - math.floor(self.requests * (1 - self.reserve))

    @property
    def events_reserved(self) -> int:
        """Requests of each window routine background work leaves for event-driven work."""
        return math.floor(self.requests * self.event_reserve)

    def limit(
        self, lane_name: str, interactive_spent: int = 0, events_spent: int = 0, *, event: bool = False
    ) -> int:
        """What the count (both lanes) may reach within a window before lane ``lane_name`` stops.

        Background stops short of the reserve interactive attempts have not used yet, and
        always short of half of it (see the module docstring); with no interactive spending this
        is ``floor(quota * (1 - RATE_LIMIT_RESERVE))``, the most the background lane ever gets.
        A routine background attempt (not ``event``) stops short of the event reserve that
        event-driven attempts (``events_spent`` of the window) have not used yet too.
        """
        if lane_name == BACKGROUND:
            limit = self.requests - max(self.reserved - interactive_spent, self.reserved // 2)
            if not event:
                limit -= max(self.events_reserved - events_spent, 0)
            return limit
        return self.requests

    # -- reading ---------------------------------------------------------------------------

    def _slot(self, now: float) -> int:
        return math.floor(now / self.slot_seconds)

    def _slot_key(self, slot: int) -> str:
        return f"{self.prefix}slot:{slot}"

    def _interactive_key(self, slot: int) -> str:
        return f"{self.prefix}interactive:{slot}"

    def _earlier_keys(self, slot: int) -> list[str]:
        return [self._slot_key(s) for s in range(slot - SLOTS, slot)]

    def _interactive_keys(self, slot: int) -> list[str]:
        return [self._interactive_key(s) for s in range(slot - SLOTS, slot + 1)]

    def _events_key(self, slot: int) -> str:
        return f"{self.prefix}events:{slot}"

    def _events_keys(self, slot: int) -> list[str]:
        return [self._events_key(s) for s in range(slot - SLOTS, slot + 1)]

    def spent(self) -> int:
        """Requests counted in the current window, by every process."""
        slot = self._slot(self.clock())
        values = self.cache.get_many([self._marker_key, self._slot_key(slot - 1), self._slot_key(slot)])
        closed = self._closed_counts(slot, values.pop(self._marker_key, None))
        return sum(closed["slot"]) + sum(int(v) for v in values.values())

    # A slot more than one slot old is closed: every process increments the slot its clock is
    # in (a correction too, and an increment taken back is the current one), so once the clocks
    # of a site's processes agree within a slot (a thirtieth of the window: 10 s at the
    # defaults) no count changes in it any more. Each process reads the closed slots of its
    # window once a slot and each attempt reads only the two open ones: 7 keys an attempt
    # instead of 93 (2026-12-07: a background attempt took 0.4 ms on LocMemCache, a sixth of a
    # meeting page's own time). A marker key the first reader adds dates what was read: a
    # cache cleared or restarted since loses it, and the closed slots are read again.

    def _closed_counts(self, slot: int, marker: Any) -> dict[str, list[int]]:
        """The counts of slots ``slot - SLOTS`` to ``slot - 2`` of each set (total, interactive,
        events), oldest first: read once a slot, and again whenever the marker (read by the
        caller with its open slots, in the same round trip) is gone or another."""
        found = self._closed
        if found is not None and found[0] == slot and marker is not None and found[1] == marker:
            return found[2]
        if marker is None:
            self.cache.add(self._marker_key, uuid.uuid4().hex, timeout=self.key_ttl)
            marker = self.cache.get(self._marker_key)
        sets = {"slot": self._slot_key, "interactive": self._interactive_key, "events": self._events_key}
        span = range(slot - SLOTS, slot - 1)
        keys = {name: [key(s) for s in span] for name, key in sets.items()}
        values = self.cache.get_many([key for listed in keys.values() for key in listed])
        counts = {name: [int(values.get(key, 0)) for key in listed] for name, listed in keys.items()}
        if marker is not None:
            self._closed = (slot, marker, counts)
        return counts

    @property
    def _marker_key(self) -> str:
        return self.prefix + "closed-read"

    def cooldown_left(self) -> float:
        """Seconds until the cooldown set by a 429 ends (0 when there is none)."""
        return self._cooldown_left(self.cache.get(self.cooldown_key), self.clock())

    def _cooldown_left(self, stored: Any, now: float) -> float:
        """The remaining seconds of a stored cooldown, read so that clocks that differ agree.

        The value holds the instant it ends on the setter's clock and its length; the cache
        keeps the key exactly that long (Redis and Memcached count the timeout on their own
        clock). A reader never sees more than the length (a clock an hour behind would see an
        hour more), and on the real clock a key still kept is a cooldown still on, however far
        ahead the reader's clock is (at least a second left).
        """
        if stored is None:
            return 0.0
        if isinstance(stored, dict):
            until, length = float(stored["until"]), float(stored["wait"])
        else:  # the bare instant earlier versions stored
            until, length = float(stored), self._lockout()
        left = min(max(0.0, until - now), length)
        if left <= 0 and self.cache_expiry_decides:
            left = min(1.0, length)
        return left

    @staticmethod
    def _lockout() -> float:
        from .http import LOCKOUT_SECONDS

        return LOCKOUT_SECONDS

    def interactive_spent(self) -> int:
        """Interactive requests counted in the current window (they use up the reserve first)."""
        keys = self._interactive_keys(self._slot(self.clock()))
        return sum(int(v) for v in self.cache.get_many(keys).values())

    def events_spent(self) -> int:
        """Event-driven requests counted in the current window (they use up the event reserve)."""
        if not self.events_reserved:
            return 0
        keys = self._events_keys(self._slot(self.clock()))
        return sum(int(v) for v in self.cache.get_many(keys).values())

    def state(self) -> dict[str, Any]:
        """What the admin and the command show; ``None`` values when the cache is down."""
        try:
            interactive, events = self.interactive_spent(), self.events_spent()
            return {
                "spent": self.spent(),
                "interactive_spent": interactive,
                "cooldown": self.cooldown_left(),
                "requests": self.requests,
                "background_limit": self.limit(BACKGROUND, interactive, events),
                "window": self.window,
            }
        except Exception as exc:  # a cache that is down must not break a page
            logger.warning("rate budget cache unavailable: %s", type(exc).__name__)
            return {
                "spent": None,
                "interactive_spent": None,
                "cooldown": None,
                "requests": self.requests,
                "background_limit": self.limit(BACKGROUND),
                "window": self.window,
            }

    # -- spending --------------------------------------------------------------------------

    def before_attempt(self, method: str, path: str) -> None:
        """Spend one request, or wait (background, briefly) or refuse (:class:`BudgetExhausted`)."""
        lane_name = current_lane()
        event = lane_name == BACKGROUND and is_event_driven()
        while True:
            try:
                wait, why = self._try_spend(lane_name, event=event)
            except Exception as exc:
                if lane_name == INTERACTIVE:
                    logger.warning(
                        "rate budget cache unavailable (%s): %s %s sent unbudgeted",
                        type(exc).__name__,
                        method,
                        path,
                    )
                    return
                raise BudgetUnavailable(
                    f"rate budget: its cache is unavailable ({type(exc).__name__}); background "
                    "requests wait until it is back",
                    retry_after=self.slot_seconds,
                    method=method,
                    path=path,
                ) from None
            if wait is None:
                return
            if lane_name == INTERACTIVE or wait > self.wait_max:
                raise BudgetExhausted(
                    f"rate budget: {why}; the {lane_name} lane may send again in {math.ceil(wait)}s",
                    retry_after=wait,
                    method=method,
                    path=path,
                )
            logger.info("rate budget: %s; %s lane waits %.1fs", why, lane_name, wait)
            self.sleep(wait)

    def _try_spend(self, lane_name: str, *, event: bool = False) -> tuple[float | None, str]:
        """Count one attempt: ``(None, "")`` when spent, else ``(seconds to wait, why)``.

        ``event``: a background attempt of event-driven work (it may spend the event reserve).
        """
        now = self.clock()
        slot = self._slot(now)
        background = lane_name == BACKGROUND
        previous = self._slot_key(slot - 1)
        open_slots = (slot - 1, slot)
        interactive_keys = [self._interactive_key(s) for s in open_slots] if background else []
        # Routine attempts read how much of the event reserve is used; event-driven ones need not.
        routine = background and not event and self.events_reserved
        events_keys = [self._events_key(s) for s in open_slots] if routine else []
        values = self.cache.get_many(
            [self.cooldown_key, self._marker_key, previous, *interactive_keys, *events_keys]
        )
        cooling = self._cooldown_left(values.pop(self.cooldown_key, None), now)
        if cooling > 0:
            return cooling, "cooling down after a 429 from the API"
        closed = self._closed_counts(slot, values.pop(self._marker_key, None))
        current = self._slot_key(slot)
        count = self._incr(current, 1)
        counts = [*closed["slot"], int(values.get(previous, 0))]
        interactive = sum(closed["interactive"]) + sum(int(values.get(key, 0)) for key in interactive_keys)
        events = sum(closed["events"]) + sum(int(values.get(key, 0)) for key in events_keys)
        limit = self.limit(
            lane_name,
            interactive if background else 0,
            events if routine else 0,
            event=event,
        )
        if count + sum(counts) <= limit:
            if lane_name == INTERACTIVE:
                self._incr(self._interactive_key(slot), 1)
            elif event and self.events_reserved:
                self._incr(self._events_key(slot), 1)
            return None, ""
        self.cache.decr(current)
        return self._wait_for_room(counts, count - 1, limit, slot, now), (
            f"{count - 1 + sum(counts)} of {self.requests} requests spent in the last "
            f"{self.window:g}s ({lane_name}{' event-driven' if event else ''} limit {limit})"
        )

    def _incr(self, key: str, delta: int) -> int:
        """Add ``delta`` to a slot: one round trip, two (``add``) for a slot's first request."""
        for _ in range(3):
            try:
                return self.cache.incr(key, delta)
            except ValueError:  # not there yet (or it expired just now)
                self.cache.add(key, 0, timeout=self.key_ttl)
        return self.cache.incr(key, delta)

    def _wait_for_room(self, counts: list[int], current: int, limit: int, slot: int, now: float) -> float:
        """Seconds until enough old slots have left the count for one more attempt."""
        excess = current + sum(counts) - limit + 1
        freed = 0
        for index, count in enumerate(counts):
            freed += count
            if freed >= excess:
                return (slot + 1 + index) * self.slot_seconds - now
        return (slot + 1 + SLOTS) * self.slot_seconds - now

    # -- learning from the answer ----------------------------------------------------------

    def after_attempt(self, method: str, path: str, response: Any) -> None:
        """Set the cooldown on a 429; take the API's own remaining count when it is lower."""
        if response is None:
            return
        try:
            if response.status_code == 429:
                self._cool_down(response)
            remaining = parse_remaining(response.headers.get("ratelimit"))
            if remaining is not None:
                self._correct(remaining)
        except Exception as exc:
            logger.warning("rate budget cache unavailable (%s) after %s %s", type(exc).__name__, method, path)

    def _cool_down(self, response: Any) -> None:
        """Every process waits the answer's ``Retry-After`` (unusable: the whole window), never
        longer than the API's lockout; stored as an instant and a length (see
        :meth:`_cooldown_left`) for as long as it lasts."""
        from .http import parse_retry_after

        wait = parse_retry_after(response.headers.get("retry-after"))
        wait = min(wait if wait is not None else self.window, self._lockout())
        now = self.clock()
        if self._cooldown_left(self.cache.get(self.cooldown_key), now) < wait:
            self.cache.set(
                self.cooldown_key, {"until": now + wait, "wait": wait}, timeout=max(1, math.ceil(wait))
            )
        logger.warning("rate budget: the API answered 429; every process waits %.0fs", wait)

    def _correct(self, remaining: int) -> None:
        believed = self.requests - self.spent()
        if remaining < believed:
            self._incr(self._slot_key(self._slot(self.clock())), believed - remaining)
            logger.info(
                "rate budget: the API reports %s left, %s believed; count corrected", remaining, believed
            )

    def clear(self) -> None:
        """Forget the count and the cooldown (tests; an operator after changing API users)."""
        slot = self._slot(self.clock())
        self._closed = None
        self.cache.delete_many(
            [
                self.cooldown_key,
                self._marker_key,
                *self._earlier_keys(slot + 1),
                *self._interactive_keys(slot),
                *self._events_keys(slot),
            ]
        )

    # -- wiring ----------------------------------------------------------------------------

    def install(self, client: Any) -> None:
        """Make ``client`` spend from this budget on every attempt."""
        client.before_attempt.append(self.before_attempt)
        client.after_attempt.append(self.after_attempt)
        client.budget = self


_budgets: dict[int, Budget] = {}


def budget_for(config: Any) -> Budget | None:
    """The process's budget for a settings snapshot (``None`` when ``RATE_LIMIT_REQUESTS`` is None)."""
    if config.rate_limit_requests is None:
        return None
    found = _budgets.get(id(config))
    if found is None or found.config is not config:
        found = Budget(
            caches[config.budget_cache],
            requests=config.rate_limit_requests,
            window=config.rate_limit_window_seconds,
            reserve=config.rate_limit_reserve,
            event_reserve=config.rate_limit_event_reserve,
            wait_max=config.retry_after_max,
        )
        found.config = config
        _budgets.clear()  # one snapshot is current at a time
        _budgets[id(config)] = found
    return found


def get_budget() -> Budget | None:
    """The budget of the current settings (``None`` when it is turned off)."""
    from ..conf import get_settings

    return budget_for(get_settings())
