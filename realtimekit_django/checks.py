"""System checks: ``manage.py check`` reports every bad ``REALTIMEKIT`` key at start-up.

The IDs are stable so that sites can silence one deliberately (``SILENCED_SYSTEM_CHECKS``):

- ``realtimekit.E001``: a required key (ACCOUNT_ID, APP_ID, API_TOKEN) is missing.
- ``realtimekit.E002``: a key has a malformed value (wrong type, out of range, not importable).
- ``realtimekit.E003``: ``REALTIMEKIT`` is not a dict.
- ``realtimekit.W001``: an unknown key (usually a typo) is present.
- ``realtimekit.W020``: the rate budget's cache (``RATE_LIMIT_CACHE``) is per process
  (``LocMemCache``, ``DummyCache``), so every process would spend the whole budget on its own.
- ``realtimekit.E010``: the app's models live on a database this app cannot guard its writes
  on (PostgreSQL and SQLite are supported).
"""

from __future__ import annotations

from django.core import checks

from . import conf, store


@checks.register("realtimekit")
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Turn :func:`conf.find_problems` into check messages naming each key."""
    messages: list[checks.CheckMessage] = []
    for key, sentence in conf.find_problems():
        if key == conf.SETTING_NAME:
            messages.append(checks.Error(sentence, id="realtimekit.E003"))
        elif key not in conf.DEFAULTS:
            messages.append(
                checks.Warning(sentence, hint="Remove it or fix its spelling.", id="realtimekit.W001")
            )
        elif "is required" in sentence:
            messages.append(
                checks.Error(sentence, hint="See docs/settings.md for every key.", id="realtimekit.E001")
            )
        else:
            messages.append(
                checks.Error(sentence, hint="See docs/settings.md for every key.", id="realtimekit.E002")
            )
    return messages


@checks.register("realtimekit")
def check_database(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse a database the guarded upsert and the join lock cannot run on (the backend's
    vendor is known without connecting, so this runs with every ``check``)."""
    from django.db import router

    from .models import Meeting, Participant

    messages: list[checks.CheckMessage] = []
    for alias in sorted({router.db_for_write(Meeting), router.db_for_write(Participant)}):
        vendor = store.unsupported_vendor(alias)
        if vendor is not None:
            messages.append(
                checks.Error(
                    f"realtimekit_django stores meetings and participants on database '{alias}', "
                    f"which is {vendor}: only PostgreSQL and SQLite are supported.",
                    hint=(
                        "Its writes rely on INSERT ... ON CONFLICT ... DO UPDATE ... WHERE, which keeps "
                        "an older payload from overwriting a newer row; route the app's models to a "
                        "PostgreSQL or SQLite database."
                    ),
                    id="realtimekit.E010",
                )
            )
    return messages


#: Cache backends whose counts no other process sees.
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register("realtimekit")
def check_budget_cache(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when the rate budget lives in a cache only one process sees."""
    from django.conf import settings

    if any(key in conf.DEFAULTS or key == conf.SETTING_NAME for key, _ in conf.find_problems()):
        return []  # check_settings reports those; the budget's keys may be among them
    config = conf.get_settings()
    if config.rate_limit_requests is None:
        return []
    alias = config.budget_cache
    backend = (getattr(settings, "CACHES", {}) or {}).get(alias, {}).get("BACKEND", "")
    if backend not in PER_PROCESS_CACHES:
        return []
    key = "RATE_LIMIT_CACHE" if config.rate_limit_cache else "SYNC_LOCK_CACHE"
    return [
        checks.Warning(
            f"The RealtimeKit rate budget is kept in cache '{alias}' ({backend.rsplit('.', 1)[-1]}), "
            "which each process keeps to itself: every worker and web process would spend the "
            "whole API budget on its own.",
            hint=f"Point REALTIMEKIT['{key}'] at a cache shared by every process (Redis, Memcached).",
            id="realtimekit.W020",
        )
    ]
