"""A site of the matrix: USE_TZ = False on PostgreSQL (refused by realtimekit.E011)."""

from tests.settings_postgres import DATABASES  # noqa: F401
from tests.sites.base import *  # noqa: F403

USE_TZ = False
