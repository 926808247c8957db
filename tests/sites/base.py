"""What every site of the matrix shares: tests/settings.py without the API token in the dict.

The walk-through (``tests/sites/walkthrough.py``) puts the token in the environment only after
``check``, ``migrate``, ``makemigrations`` and ``collectstatic`` ran without it.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import REALTIMEKIT as _SUITE

REALTIMEKIT = {key: value for key, value in _SUITE.items() if key != "API_TOKEN"}
STATIC_ROOT = os.environ.get("SITE_STATIC_ROOT", "/nonexistent")
