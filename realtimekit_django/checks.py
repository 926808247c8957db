"""System checks: ``manage.py check`` reports every bad ``REALTIMEKIT`` key at start-up.

The IDs are stable so that sites can silence one deliberately (``SILENCED_SYSTEM_CHECKS``):

- ``realtimekit.E001``: a required key (ACCOUNT_ID, APP_ID, API_TOKEN) is missing.
- ``realtimekit.E002``: a key has a malformed value (wrong type, out of range, not importable).
- ``realtimekit.E003``: ``REALTIMEKIT`` is not a dict.
- ``realtimekit.W001``: an unknown key (usually a typo) is present; the nearest real key is
  suggested.
- ``realtimekit.W002``: Celery is neither eager nor given a broker, so the sync tasks would go
  to Celery's built-in default (AMQP on localhost) and, most likely, never run.
- ``realtimekit.E010``: the app's models live on a database this app cannot guard its writes
  on (PostgreSQL and SQLite are supported).
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from django.core import checks

from . import conf, store

DISTRIBUTION = "realtimekit-django"


@cache
def docs_location(page: str) -> str:
    """Where a reader of ``manage.py check`` finds the documentation page ``page``.

    The copy installed with the package (``<prefix>/share/doc/realtimekit-django/``), else the
    checkout's ``docs/`` (a source tree), else the project's documentation URL: a pip user has
    no ``docs/`` folder of their own.
    """
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        dist = None
    for file in (dist.files or []) if dist is not None else []:
        if file.name == page and file.parent.name == DISTRIBUTION:
            installed = Path(dist.locate_file(file)).resolve()
            if installed.is_file():
                return str(installed)
    checkout = Path(__file__).resolve().parent.parent / "docs" / page
    if checkout.is_file():
        return str(checkout)
    urls = dict(
        entry.split(", ", 1) for entry in (dist.metadata.get_all("Project-URL") or [] if dist else [])
    )
    return f"{urls.get('Documentation', 'the documentation')}/{page}"


def _every_key_hint() -> str:
    return f"Every key and its default: {docs_location('settings.md')}"


@checks.register("realtimekit")
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Turn :func:`conf.find_problems` into check messages naming each key."""
    messages: list[checks.CheckMessage] = []
    for key, sentence in conf.find_problems():
        if key == conf.SETTING_NAME:
            messages.append(checks.Error(sentence, id="realtimekit.E003"))
        elif key not in conf.DEFAULTS:
            nearest = conf.nearest_key(key)
            hint = f"Rename it to {nearest}." if nearest else f"Remove it. {_every_key_hint()}"
            messages.append(checks.Warning(sentence, hint=hint, id="realtimekit.W001"))
        elif "is required" in sentence:
            messages.append(checks.Error(sentence, hint=_every_key_hint(), id="realtimekit.E001"))
        else:
            messages.append(checks.Error(sentence, hint=_every_key_hint(), id="realtimekit.E002"))
    return messages


def celery_app():
    """The Celery app ``shared_task`` tasks are sent through: the site's, once its Celery module
    is imported (the usual ``from .celery import app`` in the project package), else Celery's
    built-in default."""
    from celery import current_app

    return current_app


def broker_address(url: str) -> str:
    """``scheme://host:port`` of a broker URL: never its user name or password."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or 'localhost'}{port}"


def celery_delivery_problem() -> str | None:
    """Why a queued task would never run, or None: Celery is neither eager nor given a broker."""
    app = celery_app()
    if app.conf.task_always_eager or app.conf.broker_url:
        return None
    return (
        f"Celery (app {app.main!r}) is neither eager nor given a broker: CELERY_BROKER_URL is not set, "
        "so the sync tasks would be sent to Celery's default, AMQP on localhost, and most likely never run."
    )


@checks.register("realtimekit")
def check_celery(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when nothing would ever run the sync tasks (a warning: a site may sync by cron)."""
    problem = celery_delivery_problem()
    if problem is None:
        return []
    return [
        checks.Warning(
            problem,
            hint=(
                "Give Celery an app module that reads CELERY_* settings and a broker "
                "(CELERY_BROKER_URL), then run a worker and beat; or set CELERY_TASK_ALWAYS_EAGER = True "
                "in development; or sync from cron with `manage.py realtimekit_sync --participants`. "
                f"How: {docs_location('tasks.md')}"
            ),
            id="realtimekit.W002",
        )
    ]


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
