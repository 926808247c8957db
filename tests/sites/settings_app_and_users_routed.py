"""A site of the matrix: the app, auth, contenttypes and admin routed to a second database."""

from tests.sites.base import *  # noqa: F403

DATABASES = {**DATABASES, "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}  # noqa: F405
DATABASE_ROUTERS = ["tests.sites.routers.AppAndUsersRouter"]
