"""Fixtures shared by the whole suite.

The ``realtimekit_emulator`` fixture itself comes from the package's pytest plugin (the
``pytest11`` entry point), exactly as a site that installs the package gets it.
"""

import pytest

from realtimekit_django import conf

# Like a site's project package importing its Celery module: the suite's app (CELERY_* from
# tests.settings, eager) is the current one in every test, not only in those that import it.
from tests import celery_app  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_realtimekit_settings():
    """Each test starts with freshly read settings and a new default client."""
    conf.clear_cache()
    yield
    conf.clear_cache()
