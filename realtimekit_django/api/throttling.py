"""The throttle that keeps one user from burning the account's RealtimeKit rate limit.

RealtimeKit allows 3,500 requests per 5 minutes per account, and every join costs one. A site
sets its own rate with ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["realtimekit_join"]``; DRF's
own ``ScopedRateThrottle`` raises ``ImproperlyConfigured`` on every request when that key is
missing, which would turn a forgotten setting into an outage, so this one falls back to
:attr:`JoinRateThrottle.default_rate`.

DRF's throttles read a request history from the cache and write it back, so requests that
arrive together all read the same history and all pass. This one counts with the cache's
``add`` and ``incr`` instead, which a shared cache performs atomically.
"""

from __future__ import annotations

import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

JOIN_THROTTLE_SCOPE = "realtimekit_join"

logger = logging.getLogger("realtimekit_django.api")


class JoinRateThrottle(SimpleRateThrottle):
    """Per-user (per-IP when anonymous) join rate, scope ``realtimekit_join``, counted atomically.

    A fixed window: time is cut into windows of the rate's period (``20/min``: each minute),
    every request adds one to its user's counter for the current window (``cache.add(key, 0)``
    then ``cache.incr(key)``), and a request whose count exceeds the rate is refused until the
    window ends; :meth:`wait` says when, and DRF sends it as ``Retry-After``. At a window's edge a
    user may get up to twice the rate within one period, which keeps each check to two cache
    operations and no read-modify-write.

    The count holds under concurrency only as far as the cache's ``incr`` is atomic: it is on
    Redis and Memcached (one counter for every process); LocMemCache is atomic but per process,
    so each process counts on its own; the database cache's ``incr`` reads and then writes, so
    concurrent requests in several processes can pass together. Use Redis or Memcached in
    production. A cache that fails lets the join through (logged): the throttle is a guard,
    and its outage must not refuse every join.
    """

    scope = JOIN_THROTTLE_SCOPE
    #: Used when the site configured no rate for the scope. Subclass to change it.
    default_rate = "20/min"

    def get_rate(self) -> str | None:
        # Read the settings now, not at import time (DRF's class attribute is frozen at import,
        # so ``override_settings`` and late configuration would otherwise be ignored).
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope in rates:
            return rates[self.scope]
        return self.default_rate

    def get_cache_key(self, request, view) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            ident = user.pk
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:  # the site set the scope's rate to None: no limit
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        key = f"{self.get_cache_key(request, view)}_{window}"
        try:
            return self._count(key) <= self.num_requests
        except Exception as exc:  # a cache outage must not become a meeting outage: let it pass
            logger.warning(
                "join throttle: its cache failed (%s); the join is not throttled", type(exc).__name__
            )
            return True

    def _count(self, key: str) -> int:
        """This request's number in the window: one more than the requests before it."""
        self.cache.add(key, 0, timeout=self.duration)
        try:
            return self.cache.incr(key)
        except ValueError:  # the counter expired between add and incr: start it again
            if self.cache.add(key, 1, timeout=self.duration):
                return 1
            return self.cache.incr(key)

    def wait(self) -> float:
        """Seconds until the current window ends and the counter starts again."""
        return max(0.0, self.window_ends_at - self.timer())
