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
    """Each test starts with freshly read settings, a new default client and an unspent budget."""
    conf.clear_cache()
    _clear_budget()
    _forget_preset_names()
    yield
    _forget_preset_names()
    _clear_budget()
    conf.clear_cache()


def _forget_preset_names():
    """The kept preset names outlive a test's rolled-back rows: drop them."""
    from realtimekit_django.services import forget_known_preset_names

    try:
        forget_known_preset_names()
    except Exception:  # a test of bad settings, or no database: nothing was kept
        return


def _clear_budget():
    from realtimekit_django.client.budget import get_budget

    try:
        budget = get_budget()
    except Exception:  # a test of bad settings: there is no budget to clear
        return
    if budget is not None:
        budget.clear()
