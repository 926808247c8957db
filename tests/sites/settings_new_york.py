"""A site of the matrix: TIME_ZONE = "America/New_York"."""

from tests.sites.base import *  # noqa: F403

TIME_ZONE = "America/New_York"
