"""A site of the matrix: a custom user model whose login is the e-mail address (no username, no name)."""

from tests.sites.base import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.sites.email_users"]  # noqa: F405
AUTH_USER_MODEL = "email_users.EmailUser"
