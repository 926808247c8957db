"""The throttle that keeps one user from burning the account's RealtimeKit rate limit.

RealtimeKit allows 3,500 requests per 5 minutes per account, and every join costs one. A site
sets its own rate with ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["realtimekit_join"]``; DRF's
own ``ScopedRateThrottle`` raises ``ImproperlyConfigured`` on every request when that key is
missing, which would turn a forgotten setting into an outage, so this one falls back to
:attr:`JoinRateThrottle.default_rate`.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

JOIN_THROTTLE_SCOPE = "realtimekit_join"


class JoinRateThrottle(ScopedRateThrottle):
    """Per-user (per-IP when anonymous) join rate, scope ``realtimekit_join``."""

    #: Used when the site configured no rate for the scope. Subclass to change it.
    default_rate = "20/min"

    def get_rate(self) -> str | None:
        # Read the settings now, not at import time (DRF's class attribute is frozen at import,
        # so ``override_settings`` and late configuration would otherwise be ignored).
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope in rates:
            return rates[self.scope]
        return self.default_rate
