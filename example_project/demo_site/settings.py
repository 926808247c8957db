"""Settings of the demo site: SQLite, DEBUG, the emulator in the same process, eager Celery.

Everything a newcomer might want to change comes from the environment:

``PORT``                           the port the site listens on (default 8000); the in-process
                                   emulator is reached through it.
``REALTIMEKIT_DEMO_DB``            the SQLite file (default ``example_project/db.sqlite3``).
``REALTIMEKIT_DEMO_STATE``         the emulator's state file
                                   (default ``example_project/emulator-state.json``).
``REALTIMEKIT_BASE_URL``           set it to ``https://api.cloudflare.com/client/v4`` to use the real
                                   RealtimeKit (with ``REALTIMEKIT_ACCOUNT_ID``, ``REALTIMEKIT_APP_ID``
                                   and ``REALTIMEKIT_API_TOKEN``); unset, the demo uses the emulator.
``REALTIMEKIT_DEMO_CELERY_BROKER`` e.g. ``redis://127.0.0.1:6379/0``: tasks go to a real worker
                                   instead of running eagerly.
"""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-insecure-secret-key-change-me")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "realtimekit_django",
    "demo_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("REALTIMEKIT_DEMO_DB") or str(BASE_DIR / "db.sqlite3"),
    }
}
if django.VERSION >= (5, 1):
    # The options docs/installation.md recommends: commits without an fsync each (WAL,
    # synchronous=NORMAL), and the write lock taken when a transaction begins. Django 4.2
    # passes OPTIONS to sqlite3.connect, which knows neither.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }

STATIC_URL = "/static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "meetings"
LOGOUT_REDIRECT_URL = "login"

# -- RealtimeKit ------------------------------------------------------------------------------

DEMO_PORT = os.environ.get("PORT", "8000")
#: Where the in-process emulator answers (see demo_site/wsgi.py).
DEMO_EMULATOR_PREFIX = "/emulator"
DEMO_EMULATOR_BASE_URL = f"http://127.0.0.1:{DEMO_PORT}{DEMO_EMULATOR_PREFIX}/client/v4"
DEMO_EMULATOR_STATE_FILE = os.environ.get("REALTIMEKIT_DEMO_STATE") or str(BASE_DIR / "emulator-state.json")
#: A made-up token the emulator requires; it is never a real Cloudflare token.
DEMO_EMULATOR_API_TOKEN = "demo-emulator-token-not-a-secret"

_base_url = os.environ.get("REALTIMEKIT_BASE_URL") or DEMO_EMULATOR_BASE_URL
DEMO_USES_EMULATOR = _base_url == DEMO_EMULATOR_BASE_URL

REALTIMEKIT = {
    "ACCOUNT_ID": os.environ.get("REALTIMEKIT_ACCOUNT_ID", "demo-account"),
    "APP_ID": os.environ.get("REALTIMEKIT_APP_ID", "demo-app"),
    "BASE_URL": _base_url,
    # The emulator has no media server: the room says so and lists who is in instead of the video.
    "ROOM_EMULATOR": DEMO_USES_EMULATOR,
}
if DEMO_USES_EMULATOR:
    # Only the emulator gets a default token. Against the real API the token must come from
    # the REALTIMEKIT_API_TOKEN environment variable (the app reads it there itself).
    REALTIMEKIT["API_TOKEN"] = os.environ.get("REALTIMEKIT_API_TOKEN") or DEMO_EMULATOR_API_TOKEN
    # Webhooks are signed by the in-process emulator's key, published under its prefix.
    REALTIMEKIT["WEBHOOK_PUBLIC_KEY_URL"] = (
        f"http://127.0.0.1:{DEMO_PORT}{DEMO_EMULATOR_PREFIX}/.well-known/webhooks.json"
    )
# A meeting's files (recordings, chat exports, transcripts, summaries) are copied here.
REALTIMEKIT["RECORDING_STORAGE"] = "realtimekit"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "realtimekit": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ.get("REALTIMEKIT_DEMO_MEDIA") or str(BASE_DIR / "media")},
    },
}
#: Where the emulator delivers the demo's webhooks (this site's receiver).
DEMO_WEBHOOK_URL = f"http://127.0.0.1:{DEMO_PORT}/realtimekit/webhooks/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_THROTTLE_RATES": {"realtimekit_join": "30/min"},
}

# -- Celery -----------------------------------------------------------------------------------

_broker = os.environ.get("REALTIMEKIT_DEMO_CELERY_BROKER")
if _broker:
    CELERY_BROKER_URL = _broker
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True

CELERY_BEAT_SCHEDULE = {
    "realtimekit-reconcile-all": {"task": "realtimekit.reconcile_all", "schedule": 300.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"realtimekit_django": {"handlers": ["console"], "level": "INFO"}},
}
