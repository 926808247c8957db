"""Django settings for ``python -m benchmarks``: the app alone, on a real database file or server.

The database comes from the environment, set by :mod:`benchmarks.database` before Django starts:
``REALTIMEKIT_BENCH_DATABASE`` is ``sqlite`` (a temporary file, not ``:memory:``, so every commit
pays for a real write) or ``postgres`` (``REALTIMEKIT_BENCH_PG_*``, default 127.0.0.1:5432, user
``postgres``), and ``REALTIMEKIT_BENCH_DB_NAME`` the file or database the run created for itself.
``REALTIMEKIT`` is replaced at run time with the loopback emulator's address.
"""

import os

import django

SECRET_KEY = "benchmarks-only-not-secret"
DEBUG = False  # no query log: it would cost time and memory the timings must not include
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "realtimekit_django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

_ENGINE = os.environ.get("REALTIMEKIT_BENCH_DATABASE", "sqlite")
_NAME = os.environ.get("REALTIMEKIT_BENCH_DB_NAME", "")
if _ENGINE == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _NAME or "realtimekit_bench",
            "USER": os.environ.get("REALTIMEKIT_BENCH_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("REALTIMEKIT_BENCH_PG_PASSWORD", ""),
            "HOST": os.environ.get("REALTIMEKIT_BENCH_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("REALTIMEKIT_BENCH_PG_PORT", "5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _NAME or "realtimekit_bench.sqlite3",
        }
    }
    if django.VERSION >= (5, 1):
        # docs/installation.md's recommended options, so figures do not depend on the disk.
        DATABASES["default"]["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The burst scenario's kept join tokens: one entry per prepared participant (LocMemCache
    # culls beyond MAX_ENTRIES, 300 by default; a shared cache needs the room as well).
    "join-tokens": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "join-tokens",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    },
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    # 1,000 joins in a few seconds would trip the default 20/min join throttle: the benchmark
    # measures the join, not the throttle's refusal (the throttle's own cache hit is still paid).
    "DEFAULT_THROTTLE_RATES": {"realtimekit_join": "1000000/min"},
}

REALTIMEKIT = {
    "ACCOUNT_ID": "bench-account",
    "APP_ID": "bench-app",
    "API_TOKEN": "bench-api-token-not-a-secret",
    "BASE_URL": "http://127.0.0.1:9/client/v4",  # replaced with the emulator's address at run time
}

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
