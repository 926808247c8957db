"""System checks: ``manage.py check`` reports every bad ``REALTIMEKIT`` key at start-up.

The IDs are stable so that sites can silence one deliberately (``SILENCED_SYSTEM_CHECKS``):

- ``realtimekit.E001``: a required key (ACCOUNT_ID, APP_ID, API_TOKEN) is missing. A missing
  API_TOKEN is a deployment check (``manage.py check --deploy``), so that ``migrate``,
  ``makemigrations``, ``collectstatic`` and ``test`` run without the secret (Docker builds, CI);
  the first API call still raises ``ImproperlyConfigured`` naming it.
- ``realtimekit.E002``: a key has a malformed value (wrong type, out of range, not importable).
- ``realtimekit.E003``: ``REALTIMEKIT`` is not a dict.
- ``realtimekit.W001``: an unknown key (usually a typo) is present; the nearest real key is
  suggested.
- ``realtimekit.W002``: Celery is neither eager nor given a broker, so the sync tasks would go
  to Celery's built-in default (AMQP on localhost) and, most likely, never run.
- ``realtimekit.W021``: the rate budget's cache (``RATE_LIMIT_CACHE``) is per process
  (``LocMemCache``, ``DummyCache``), so every process would spend the whole budget on its own.
  Not reported for the single-process development set-up (``DEBUG`` with eager Celery, as the
  demo runs), where it is right, except by ``check --deploy``.
- ``realtimekit.E010``: the app's models live on a database this app cannot guard its writes
  on (PostgreSQL and SQLite are supported).
- ``realtimekit.E011``: ``USE_TZ = False`` (RealtimeKit's times are UTC instants).
- ``realtimekit.E012``: the app's models and ``AUTH_USER_MODEL`` are routed to different
  databases (``Participant.user`` would be a cross-database foreign key).
- ``realtimekit.E013``: ``RECORDING_STORAGE`` names no storage of ``settings.STORAGES``.
- ``realtimekit.E020``: ``JOIN_TOKEN_CACHE`` is a database cache (the database never holds a
  token, even encrypted).
- ``realtimekit.W020``: ``JOIN_TOKEN_CACHE`` is a per-process or dummy cache: tokens kept by a
  worker's provisioning are not seen by the web processes, so prepared joins still cost a request.
- ``realtimekit.E030``: ``WEBHOOK_PUBLIC_KEY`` is set but is not a readable RSA public key.

A ``DEFAULT_PRESET`` or ``HOST_PRESET`` the app does not have is reported by the presets sync
(a warning in its log), since only the API knows the app's presets.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from . import conf, store

DISTRIBUTION = "realtimekit-django"


@cache
def docs_location(page: str) -> str:
    """Where a reader of ``manage.py check`` finds the documentation page ``page``.

    The copy installed with the package (``<prefix>/share/doc/realtimekit-django/``), else the
    checkout's ``docs/`` (a source tree), else the page's place in the source distribution (the
    project names no documentation URL, so none is invented).
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
    # The project publishes no documentation site (the metadata names no URL): name the page
    # in the source distribution, which every release has.
    return f"docs/{page} of the {DISTRIBUTION} source distribution"


def _every_key_hint() -> str:
    return f"Every key and its default: {docs_location('settings.md')}"


def _missing_token(key: str, sentence: str) -> bool:
    return key == "API_TOKEN" and "is required" in sentence


@checks.register("realtimekit")
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Turn :func:`conf.find_problems` into check messages naming each key (a missing API token
    is left to :func:`check_api_token`)."""
    messages: list[checks.CheckMessage] = []
    for key, sentence in conf.find_problems():
        if _missing_token(key, sentence):
            continue
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


@checks.register("realtimekit", deploy=True)
def check_api_token(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The API token, at ``check --deploy`` only: commands that never call the API must run
    where the secret is not available."""
    return [
        checks.Error(
            sentence,
            hint="Commands that call the API (and the first request) refuse to run without it.",
            id="realtimekit.E001",
        )
        for key, sentence in conf.find_problems()
        if _missing_token(key, sentence)
    ]


@checks.register("realtimekit")
def check_time_zone_support(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse ``USE_TZ = False`` before anything is created remotely."""
    return [
        checks.Error(
            problem,
            hint="Set USE_TZ = True (Django's default since 5.0); TIME_ZONE still sets how times are shown.",
            id="realtimekit.E011",
        )
        for problem in conf.site_problems()
    ]


@checks.register("realtimekit")
def check_user_database(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse a router that puts the app's models and the site's users on different databases.

    ``Participant.user`` is a foreign key to ``AUTH_USER_MODEL``: across databases every
    participant insert fails, after the participant was added remotely.
    """
    from django.contrib.auth import get_user_model
    from django.db import router

    from .models import Meeting, Participant

    user_model = get_user_model()
    models = (Meeting, Participant, user_model)
    placed = {
        "write": tuple(router.db_for_write(model) for model in models),
        "read": tuple(router.db_for_read(model) for model in models),
    }
    messages: list[checks.CheckMessage] = []
    for what, (meetings, participants, users) in placed.items():
        if len({meetings, participants, users}) > 1:
            messages.append(
                checks.Error(
                    f"Database routers send {what}s of realtimekit meetings to '{meetings}', of "
                    f"participants to '{participants}' and of {user_model._meta.label} "
                    f"(AUTH_USER_MODEL) to '{users}': they must share one database, because "
                    f"Participant.user is a foreign key to the user model.",
                    hint="Route the realtimekit app and the user model (with auth and contenttypes) "
                    "to the same database; see docs/installation.md.",
                    id="realtimekit.E012",
                )
            )
    return messages


#: Cache backends whose contents no other process sees.
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register("realtimekit")
def check_join_token_cache(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A token cache that is a database, or that other processes cannot see."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        alias = conf.raw_settings().get("JOIN_TOKEN_CACHE")
    except ImproperlyConfigured:  # reported by check_settings (E003)
        return []
    if not isinstance(alias, str) or alias not in settings.CACHES:
        return []  # off, or refused by check_settings (E002)
    backend = settings.CACHES[alias].get("BACKEND", "")
    if backend == "django.core.cache.backends.db.DatabaseCache":
        return [
            checks.Error(
                f"REALTIMEKIT['JOIN_TOKEN_CACHE'] is '{alias}', a database cache: the database never "
                "holds a participant token.",
                hint="Use Redis or Memcached for kept join tokens (docs/security.md).",
                id="realtimekit.E020",
            )
        ]
    if backend in PER_PROCESS_CACHES:
        return [
            checks.Warning(
                f"REALTIMEKIT['JOIN_TOKEN_CACHE'] is '{alias}', which each process keeps to itself: "
                "tokens kept by provisioning in a worker are not seen by the web processes.",
                hint="Use Redis or Memcached, shared by every process of the site.",
                id="realtimekit.W020",
            )
        ]
    return []


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
            id="realtimekit.E013",
        )
    ]


def single_process_development() -> bool:
    """Whether this is a development set-up in which one process makes every API call:
    ``DEBUG`` on and Celery running tasks eagerly (in the process that sends them), as under
    ``manage.py runserver``. A per-process budget is the right budget there."""
    from django.conf import settings

    if not settings.DEBUG:
        return False
    try:
        return bool(celery_app().conf.task_always_eager)
    except Exception:  # Celery's app could not be read: not known to be one process
        return False


def _budget_cache_warnings() -> list[checks.CheckMessage]:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        config = conf.get_settings()
    except ImproperlyConfigured:  # reported by the other checks (E00x, E011), by name
        return []
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
            id="realtimekit.W021",
        )
    ]


@checks.register("realtimekit")
def check_budget_cache(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when the rate budget lives in a cache only one process sees, unless this is the
    single-process development set-up (:func:`single_process_development`), where that is
    right; ``check --deploy`` warns about that one too (:func:`check_budget_cache_deploy`)."""
    if single_process_development():
        return []
    return _budget_cache_warnings()


@checks.register("realtimekit", deploy=True)
def check_budget_cache_deploy(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``check --deploy``: a deployment runs several processes, so the per-process budget the
    development set-up may keep is a warning there (once: the ordinary check said it otherwise)."""
    if not single_process_development():
        return []
    return _budget_cache_warnings()


@checks.register("realtimekit")
def check_webhook_key(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A pinned webhook key that cannot be read would refuse every delivery with 401."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        pem = conf.get_settings().webhook_public_key
    except ImproperlyConfigured:  # reported by the other checks, by name
        return []
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
                id="realtimekit.E030",
            )
        ]
    return []


@checks.register("realtimekit")
def check_room_kit(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``realtimekit.W040``: a kit URL names no exact version (``latest``, a range, none);
    ``realtimekit.W041``: a kit file has no Subresource Integrity hash."""
    from .room.kit import kit_problems

    try:
        found = kit_problems()
    except ImproperlyConfigured:  # reported by check_settings
        return []
    messages = []
    for key, code in found:
        if code == "W040":
            sentence = f"REALTIMEKIT['{key}'] does not name an exact version of the UI kit."
            hint = "Use a URL with @<major>.<minor>.<patch>/ (never @latest), or self-host it (docs/room.md)."
        else:
            sentence = f"REALTIMEKIT['{key}'] is empty: the room loads the UI kit without integrity checking."
            hint = "Set the file's sha384 hash (docs/room.md shows how to compute it)."
        messages.append(checks.Warning(sentence, hint=hint, id=f"realtimekit.{code}"))
    return messages
