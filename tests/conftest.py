"""Fixtures shared by the whole suite.

The ``realtimekit_emulator`` fixture itself comes from the package's pytest plugin (the
``pytest11`` entry point), exactly as a site that installs the package gets it.

The fixtures below the autouse one are opt-in and were copied between modules before: kept here
once so the copies cannot drift apart. A module that needs another ``user`` or ``meeting``
defines its own of the same name, which wins over these.
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


@pytest.fixture
def empty_cache():
    """An empty cache before and after the test: throttle history, kept tokens and webhook gates
    live there, and user pks repeat between tests. Opt in with
    ``pytest.mark.usefixtures("empty_cache")``."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user():
    """Alice, a user with a password, so that a test client can log her in."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("alice", password="pw")


@pytest.fixture
def meeting(realtimekit_emulator):
    """A meeting made through the services, so the emulator holds it too."""
    from realtimekit_django import services

    return services.create_meeting(title="Standup")


@pytest.fixture
def browser(user):
    """A Django test client logged in as ``user`` that enforces CSRF, as a browser meets it."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture
def pem_key(settings):
    """The receiver verifies deliveries with the suite's webhook public key."""
    from tests import webhook_helpers as wh

    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY": wh.public_pem()}


@pytest.fixture
def received():
    """The uuids of the events ``webhook_received`` announced during the test, in order."""
    from realtimekit_django import signals

    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event.uuid)

    signals.webhook_received.connect(receiver)
    yield seen
    signals.webhook_received.disconnect(receiver)
