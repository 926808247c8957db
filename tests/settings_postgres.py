"""The suite's settings on the real PostgreSQL server (127.0.0.1:5432, trust auth).

pytest-django creates ``test_<NAME>`` beside the ``test`` database and drops it afterwards.
Used by ``.ci/run`` for the ``postgres`` and ``celery_worker`` suites.
"""

import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("REALTIMEKIT_TEST_PG_NAME", "test"),
        "USER": os.environ.get("REALTIMEKIT_TEST_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("REALTIMEKIT_TEST_PG_PASSWORD", ""),
        "HOST": os.environ.get("REALTIMEKIT_TEST_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("REALTIMEKIT_TEST_PG_PORT", "5432"),
    }
}
