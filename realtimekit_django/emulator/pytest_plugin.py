"""pytest plugin (entry point ``pytest11: realtimekit_django``): the ``realtimekit_emulator`` fixture.

The fixture yields a fresh :class:`~realtimekit_django.emulator.Emulator` and, while the test
runs, routes every ``requests`` call to a RealtimeKit API URL into it, without a socket (see
:mod:`realtimekit_django.emulator.responses_adapter`). Its API token and app id come from the
Django setting ``REALTIMEKIT`` (``API_TOKEN``, ``APP_ID``, ``BASE_URL``) when Django is configured,
else the token comes from the ``REALTIMEKIT_API_TOKEN`` environment variable, else any bearer
token is accepted. pytest-django is not required. Webhook deliveries to a non-loopback URL reach
the Django test client without a socket (:func:`test_client_transport`).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from .core import Emulator
from .webhooks import Transport, http_transport

__all__ = ["realtimekit_emulator", "emulator_settings", "test_client_transport"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


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


def test_client_transport(fallback: Transport = http_transport) -> Transport:
    """Deliver webhooks to a non-loopback URL through Django's test client (no socket), and to a
    loopback one (a live server) over HTTP. A receiver's crash is a 500, as the platform sees it."""

    def transport(url: str, body: bytes, headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        if parts.hostname in _LOOPBACK:
            return fallback(url, body, headers)
        from django.test import Client

        extra = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in headers.items()
            if name.lower() != "content-type"
        }
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        client = Client(raise_request_exception=False)
        content_type = headers.get("content-type", "application/json")
        response = client.generic(
            "POST", path, body, content_type=content_type, secure=parts.scheme == "https", **extra
        )
        return response.status_code

    return transport


@pytest.fixture
def realtimekit_emulator():
    """An in-memory RealtimeKit API that ``requests`` calls reach during this test."""
    from .responses_adapter import mock_requests

    config = emulator_settings()
    emulator = Emulator(api_token=config["api_token"], default_app_id=config["app_id"])
    emulator.webhooks.transport = test_client_transport()
    with mock_requests(emulator, base_url=config["base_url"]):
        yield emulator
