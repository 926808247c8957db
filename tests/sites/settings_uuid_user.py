"""A site of the matrix: Django's user with a UUID primary key."""

from tests.sites.base import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.sites.uuid_users"]  # noqa: F405
AUTH_USER_MODEL = "uuid_users.UUIDUser"
