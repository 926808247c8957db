"""pytest plugin (entry point ``pytest11: realtimekit_django``): the ``realtimekit_emulator`` fixture.

The fixture yields a fresh :class:`~realtimekit_django.emulator.Emulator` and, while the test
runs, routes every ``requests`` call to a RealtimeKit API URL into it, without a socket (see
:mod:`realtimekit_django.emulator.responses_adapter`). Its API token and app id come from the
Django setting ``REALTIMEKIT`` (``API_TOKEN``, ``APP_ID``, ``BASE_URL``) when Django is configured,
else the token comes from the ``REALTIMEKIT_API_TOKEN`` environment variable, else any bearer
token is accepted. pytest-django is not required.
"""

from __future__ import annotations

import os

import pytest

from .core import Emulator

__all__ = ["realtimekit_emulator", "emulator_settings"]


def emulator_settings() -> dict:
    """``{"api_token", "app_id", "base_url"}`` from Django settings and the environment."""
    found: dict = {}
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        try:
            found = dict(getattr(settings, "REALTIMEKIT", None) or {})
        except ImproperlyConfigured:
            found = {}
    except ImportError:
        found = {}
    return {
        "api_token": found.get("API_TOKEN") or os.environ.get("REALTIMEKIT_API_TOKEN") or None,
        "app_id": found.get("APP_ID") or None,
        "base_url": found.get("BASE_URL") or None,
    }


@pytest.fixture
def realtimekit_emulator():
    """An in-memory RealtimeKit API that ``requests`` calls reach during this test."""
    from .responses_adapter import mock_requests

    config = emulator_settings()
    emulator = Emulator(api_token=config["api_token"], default_app_id=config["app_id"])
    with mock_requests(emulator, base_url=config["base_url"]):
        yield emulator
