"""System checks: ``manage.py check`` reports every bad ``REALTIMEKIT`` key at start-up.

The IDs are stable so that sites can silence one deliberately (``SILENCED_SYSTEM_CHECKS``):

- ``realtimekit.E001``: a required key (ACCOUNT_ID, APP_ID, API_TOKEN) is missing.
- ``realtimekit.E002``: a key has a malformed value (wrong type, out of range, not importable).
- ``realtimekit.E003``: ``REALTIMEKIT`` is not a dict.
- ``realtimekit.W001``: an unknown key (usually a typo) is present.
- ``realtimekit.E010``: the app's models live on a database this app cannot guard its writes
  on (PostgreSQL and SQLite are supported).
- ``realtimekit.E011``: ``RECORDING_STORAGE`` names no storage of ``settings.STORAGES``.

A ``DEFAULT_PRESET`` or ``HOST_PRESET`` the app does not have is reported by the presets sync
(a warning in its log), since only the API knows the app's presets.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

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


@checks.register("realtimekit")
def check_recording_storage(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A ``RECORDING_STORAGE`` alias must name one of ``settings.STORAGES``."""
    from django.conf import settings

    try:
        alias = conf.raw_settings().get("RECORDING_STORAGE")
    except ImproperlyConfigured:  # REALTIMEKIT is not a dict: E003 says so
        return []
    if not alias or not isinstance(alias, str):
        return []
    known = getattr(settings, "STORAGES", {}) or {}
    if alias in known:
        return []
    return [
        checks.Error(
            f"{conf.SETTING_NAME}['RECORDING_STORAGE'] is {alias!r}, which is not a storage of "
            f"settings.STORAGES (known: {', '.join(sorted(known)) or 'none'}).",
            hint="Add the storage to STORAGES, or leave RECORDING_STORAGE unset to keep no copies.",
            id="realtimekit.E011",
        )
    ]
