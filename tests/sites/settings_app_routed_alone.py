"""A site of the matrix: a router sends the app alone to a second database (refused by realtimekit.E012)."""

from tests.sites.base import *  # noqa: F403

DATABASES = {**DATABASES, "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}  # noqa: F405
DATABASE_ROUTERS = ["tests.sites.routers.AppOnlyRouter"]
