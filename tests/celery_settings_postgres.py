"""Settings of the real Celery worker that the ``celery_worker`` tests start.

The suite's PostgreSQL settings, pointed at what the test process hands over in the
environment: the test database pytest-django created (``REALTIMEKIT_WORKER_DB_NAME``, e.g.
``test_test``), the emulator it serves on loopback (``REALTIMEKIT_WORKER_BASE_URL``) and a queue
of its own (``REALTIMEKIT_WORKER_QUEUE``), so that a stale message from an earlier run is never
picked up. Tasks really go through a broker (Redis, or ``REALTIMEKIT_WORKER_BROKER_URL``): no
eager mode. ``REALTIMEKIT_WORKER_RATE_LIMIT`` sets a small rate budget. The lock's expiry and
the time limits can be lowered per test; a positive ``REALTIMEKIT_WORKER_BEAT_INTERVAL`` gives
``celery beat`` the package's schedule at that interval.
"""

import os

from realtimekit_django.tasks import beat_schedule
from tests.settings_postgres import *  # noqa: F403
from tests.settings_postgres import DATABASES, REALTIMEKIT

REDIS_URL = os.environ.get("REALTIMEKIT_WORKER_REDIS_URL", "redis://127.0.0.1:6379/15")

DATABASES = {
    "default": {**DATABASES["default"], "NAME": os.environ.get("REALTIMEKIT_WORKER_DB_NAME", "test_test")}
}

REALTIMEKIT = {
    **REALTIMEKIT,
    "BASE_URL": os.environ.get("REALTIMEKIT_WORKER_BASE_URL", "http://127.0.0.1:8765/client/v4"),
    "MAX_RETRIES": 1,
    # Short, so that a test can watch a killed worker's lock expire (walks renew it every page).
    "SYNC_LOCK_SECONDS": int(os.environ.get("REALTIMEKIT_WORKER_LOCK_SECONDS", "4")),
    "TASK_SOFT_TIME_LIMIT": int(os.environ.get("REALTIMEKIT_WORKER_SOFT_TIME_LIMIT", "1500")),
    "TASK_TIME_LIMIT": int(os.environ.get("REALTIMEKIT_WORKER_TIME_LIMIT", "1800")),
}
# A small shared budget for a test (``requests/seconds``, e.g. ``40/20``); it lives in the
# lock cache below, which every worker shares.
if _rate_limit := os.environ.get("REALTIMEKIT_WORKER_RATE_LIMIT"):
    _requests, _seconds = (int(part) for part in _rate_limit.split("/"))
    REALTIMEKIT = {**REALTIMEKIT, "RATE_LIMIT_REQUESTS": _requests, "RATE_LIMIT_WINDOW_SECONDS": _seconds}

# The overlap lock must live in a cache every worker shares.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("REALTIMEKIT_WORKER_QUEUE", "realtimekit-tests"),
    }
}

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BROKER_URL = os.environ.get("REALTIMEKIT_WORKER_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("REALTIMEKIT_WORKER_QUEUE", "celery")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

_BEAT_INTERVAL = float(os.environ.get("REALTIMEKIT_WORKER_BEAT_INTERVAL", "0"))
CELERY_BEAT_SCHEDULE = beat_schedule(_BEAT_INTERVAL) if _BEAT_INTERVAL > 0 else {}
