"""A site of the matrix: USE_TZ = False on SQLite (refused by realtimekit.E011)."""

from tests.sites.base import *  # noqa: F403

USE_TZ = False
