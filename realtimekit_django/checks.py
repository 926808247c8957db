"""System checks: ``manage.py check`` reports every bad ``REALTIMEKIT`` key at start-up.

The IDs are stable so that sites can silence one deliberately (``SILENCED_SYSTEM_CHECKS``):

- ``realtimekit.E001``: a required key (ACCOUNT_ID, APP_ID, API_TOKEN) is missing.
- ``realtimekit.E002``: a key has a malformed value (wrong type, out of range, not importable).
- ``realtimekit.E003``: ``REALTIMEKIT`` is not a dict.
- ``realtimekit.W001``: an unknown key (usually a typo) is present.
- ``realtimekit.E010``: the app's models live on a database this app cannot guard its writes
  on (PostgreSQL and SQLite are supported).
- ``realtimekit.E020``: ``WEBHOOK_PUBLIC_KEY`` is set but is not a readable RSA public key (or
  ``cryptography``, the ``webhooks`` extra, is not installed to read it).
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


@checks.register("realtimekit")
def check_webhook_key(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A pinned webhook key that cannot be read would refuse every delivery with 401."""
    from django.core.exceptions import ImproperlyConfigured

    if conf.find_problems():
        return []  # reported by check_settings
    pem = conf.get_settings().webhook_public_key
    if not pem:
        return []
    from .webhooks.verify import load_public_key

    try:
        load_public_key(pem)
    except ImproperlyConfigured as err:
        return [
            checks.Error(
                f"{conf.SETTING_NAME}['WEBHOOK_PUBLIC_KEY'] cannot be used: {err}",
                hint="Paste the PEM published at WEBHOOK_PUBLIC_KEY_URL, or unset it to fetch that.",
                id="realtimekit.E020",
            )
        ]
    return []
