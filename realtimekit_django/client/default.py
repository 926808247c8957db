"""The default client, built from ``settings.REALTIMEKIT``: one per thread, rebuilt on change.

A thread's client remembers the settings snapshot it was built from; ``conf`` makes a new
snapshot whenever the settings change (``setting_changed``) or its cache is cleared, and the
next :func:`get_client` then builds a new client. So ``conf`` needs to know nothing of the
client: the dependency runs one way, client -> conf.
"""

from __future__ import annotations

import threading

from ..conf import RealtimeKitSettings, get_settings
from .budget import budget_for
from .http import RealtimeKitClient

_local = threading.local()
_generation = 0


def client_from_settings(base_url: str | None = None) -> RealtimeKitClient:
    """A new client built from ``settings.REALTIMEKIT`` (``base_url`` overrides ``BASE_URL``)."""
    return _build(get_settings(), base_url)


def _build(config: RealtimeKitSettings, base_url: str | None = None) -> RealtimeKitClient:
    """A client for ``config`` that spends from the site's shared rate budget (when it is on)."""
    client = RealtimeKitClient(
        config.account_id,
        config.app_id,
        config.api_token,
        base_url or config.base_url,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_retries=config.max_retries,
        backoff_base=config.retry_backoff_base,
        backoff_max=config.retry_backoff_max,
        retry_after_max=config.retry_after_max,
        page_size=config.page_size,
        max_pages=config.max_pages,
    )
    budget = budget_for(config)
    if budget is not None:
        budget.install(client)
    return client


def get_client() -> RealtimeKitClient:
    """The client built from ``settings.REALTIMEKIT``, one per thread (a Session each)."""
    config = get_settings()
    if (
        getattr(_local, "built_from", None) is not config
        or getattr(_local, "generation", None) != _generation
    ):
        _local.client = _build(config)
        _local.built_from, _local.generation = config, _generation
    return _local.client


def reset_default_client() -> None:
    """Make every thread build a fresh client next time (after a settings change)."""
    global _generation
    _generation += 1
