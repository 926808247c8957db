"""Presets: the mirror of the app's presets, and the check that a preset name is one of them.

Presets change rarely, so one short walk (a request or two) in the scheduled run keeps the
mirror; forms offer its names and :func:`require_known_preset` refuses an unknown name
before any call. Until a first sync has mirrored any preset, names are not checked (there is
nothing to check them against).

A join checks its preset, so the names are kept in the ``SYNC_LOCK_CACHE`` cache (shared by
every process) and a join normally reads no preset row: the presets walk's writes drop the
kept names, so the first check after a change reads the mirror again, and a short TTL bounds
how long a change made behind the services' back (a row edited by hand) goes unseen. The cache
is an economy, never a dependency: a cache that fails makes the check read the mirror.
"""

from __future__ import annotations

import logging

from django.core.cache import caches
from django.db import router, transaction

from .. import store
from ..conf import get_settings
from ..exceptions import ValidationError
from ..models import Preset

logger = logging.getLogger("realtimekit_django.services")


#: How long the kept preset names are trusted without a write dropping them (seconds).
PRESET_NAMES_TTL = 300
_PRESET_NAMES_KEY = "realtimekit:preset-names:"


def _names_cache():
    return caches[get_settings().sync_lock_cache]


def known_preset_names() -> list[str]:
    """The names of this app's mirrored presets, sorted (kept in the cache between writes).

    The cache is never needed: when it fails, the names come from the mirror (one query) and
    are not kept, so a cache outage costs a join one query, never the join.
    """
    app_id = get_settings().app_id
    key = _PRESET_NAMES_KEY + app_id
    names = _cache_call("read", lambda cache: cache.get(key))
    if names is None:
        names = list(Preset.objects.filter(app_id=app_id).order_by("name").values_list("name", flat=True))
        _cache_call("keep", lambda cache: cache.set(key, names, PRESET_NAMES_TTL))
    return list(names)


def forget_known_preset_names(app_id: str | None = None) -> None:
    """Drop the kept names: the next check reads the mirror. Every preset write calls this,
    now and again once its transaction commits (a check in between may have kept the names
    it read before the commit). A cache that fails leaves names that expire within
    :data:`PRESET_NAMES_TTL` (logged); the write itself goes on."""
    key = _PRESET_NAMES_KEY + (app_id or get_settings().app_id)
    _cache_call("drop", lambda cache: cache.delete(key))
    transaction.on_commit(
        lambda: _cache_call("drop", lambda cache: cache.delete(key)), using=router.db_for_write(Preset)
    )


def _cache_call(what: str, operation):
    """``operation(cache)``, or None (logged, with the exception's class only: a cache client's
    message may carry its URL and password) when the cache fails."""
    try:
        return operation(_names_cache())
    except Exception as exc:
        logger.warning(
            "preset names cache: could not %s the kept names (%s); the mirror is read instead",
            what,
            type(exc).__name__,
        )
        return None


def require_known_preset(preset_name: str, *, field: str = "preset_name") -> str:
    """``preset_name`` if the app has that preset (or no preset is mirrored yet), else a
    ``ValidationError`` naming the known ones."""
    known = known_preset_names()
    if known and preset_name not in known:
        raise ValidationError(
            [(field, f"{preset_name!r} is not a preset of this app (known: {', '.join(known)})")]
        )
    return preset_name


def missing_configured_presets() -> list[tuple[str, str]]:
    """``(setting, preset name)`` for DEFAULT_PRESET / HOST_PRESET naming a preset the mirror lacks."""
    known = set(known_preset_names())
    if not known:
        return []
    config = get_settings()
    wanted = (("DEFAULT_PRESET", config.default_preset), ("HOST_PRESET", config.host_preset))
    return [(key, name) for key, name in wanted if name not in known]


def upsert_presets(payloads, *, app_id: str) -> store.UpsertResult:
    """Store a page of the presets listing (for the presets walk)."""
    try:
        return store.save_preset_page(payloads, app_id=app_id)
    finally:
        forget_known_preset_names(app_id)


def remove_missing_presets(seen: set, *, app_id: str, walk_started) -> int:
    """After a complete presets walk: delete the presets it did not see."""
    try:
        return store.delete_presets_not_seen(seen, app_id=app_id, walk_started=walk_started)
    finally:
        forget_known_preset_names(app_id)


def warn_about_configured_presets() -> list[tuple[str, str]]:
    """Log (and return) each DEFAULT_PRESET / HOST_PRESET the app does not have."""
    missing = missing_configured_presets()
    for key, name in missing:
        logger.warning("the %s setting names %r, which is not a preset of this RealtimeKit app", key, name)
    return missing
