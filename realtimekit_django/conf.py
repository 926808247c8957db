"""The one place the ``REALTIMEKIT`` settings dict is read.

Everything else asks :func:`get_settings` for a validated, immutable snapshot, so a typo in
a key or a value is reported once, naming the key, instead of surfacing as an odd failure deep
inside a request. ``checks.py`` runs the same validation at ``manage.py check`` time.

The API token may live in the environment (``REALTIMEKIT_API_TOKEN``) so that the secret stays
out of settings files; a value in the dict wins over the environment.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .schema import MAX_PER_PAGE

SETTING_NAME = "REALTIMEKIT"
API_TOKEN_ENV_VAR = "REALTIMEKIT_API_TOKEN"
DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"

REQUIRED_KEYS = ("ACCOUNT_ID", "APP_ID", "API_TOKEN")

#: Every key with its default. docs/settings.md documents each one; keep them in step.
DEFAULTS: dict[str, Any] = {
    "ACCOUNT_ID": None,
    "APP_ID": None,
    "API_TOKEN": None,
    "BASE_URL": DEFAULT_BASE_URL,
    "CONNECT_TIMEOUT": 5.0,
    "READ_TIMEOUT": 30.0,
    "MAX_RETRIES": 2,
    "RETRY_BACKOFF_BASE": 0.5,
    "RETRY_BACKOFF_MAX": 8.0,
    "RETRY_AFTER_MAX": 60.0,
    "PAGE_SIZE": 100,
    "MAX_PAGES": 10_000,
    "PARTICIPANT_ID_FUNCTION": "realtimekit_django.policies.default_custom_participant_id",
    "PRESET_POLICY": "realtimekit_django.policies.default_preset_policy",
    "DISPLAY_NAME_FUNCTION": "realtimekit_django.policies.default_display_name",
    "PICTURE_FUNCTION": "realtimekit_django.policies.default_picture",
    "DEFAULT_PRESET": "group_call_participant",
    "HOST_PRESET": "group_call_host",
    "SYNC_INTERVAL_SECONDS": 300,
    "SYNC_LOCK_SECONDS": 300,
    "SYNC_LOCK_CACHE": "default",
    "TASK_SOFT_TIME_LIMIT": 1500,
    "TASK_TIME_LIMIT": 1800,
}

_CALLABLE_KEYS = ("PARTICIPANT_ID_FUNCTION", "PRESET_POLICY", "DISPLAY_NAME_FUNCTION", "PICTURE_FUNCTION")
_POSITIVE_NUMBER_KEYS = ("CONNECT_TIMEOUT", "READ_TIMEOUT")
_NON_NEGATIVE_NUMBER_KEYS = ("RETRY_BACKOFF_BASE", "RETRY_BACKOFF_MAX", "RETRY_AFTER_MAX")
_INT_KEYS = {
    # key: (minimum, maximum or None)
    "MAX_RETRIES": (0, 10),
    "PAGE_SIZE": (1, MAX_PER_PAGE),
    "MAX_PAGES": (1, None),
    "SYNC_INTERVAL_SECONDS": (1, None),
    "SYNC_LOCK_SECONDS": (1, None),
    "TASK_SOFT_TIME_LIMIT": (1, None),
    "TASK_TIME_LIMIT": (1, None),
}
_STRING_KEYS = ("ACCOUNT_ID", "APP_ID", "API_TOKEN", "SYNC_LOCK_CACHE", "DEFAULT_PRESET", "HOST_PRESET")


class _Secret(str):
    """A ``str`` whose repr hides its value, so a settings dump or a traceback shows no token."""

    def __repr__(self) -> str:
        return "'********'"


@dataclass(frozen=True)
class RealtimeKitSettings:
    """A validated snapshot of ``settings.REALTIMEKIT`` merged over :data:`DEFAULTS`."""

    account_id: str
    app_id: str
    api_token: str = field(repr=False)
    base_url: str
    connect_timeout: float
    read_timeout: float
    max_retries: int
    retry_backoff_base: float
    retry_backoff_max: float
    retry_after_max: float
    page_size: int
    max_pages: int
    participant_id_function: Callable[..., str]
    preset_policy: Callable[..., str | None]
    display_name_function: Callable[..., str | None]
    picture_function: Callable[..., str | None]
    default_preset: str
    host_preset: str
    sync_interval_seconds: int
    sync_lock_seconds: int
    sync_lock_cache: str
    task_soft_time_limit: int
    task_time_limit: int


def raw_settings() -> dict[str, Any]:
    """The user's dict merged over the defaults, with the token's environment fallback."""
    user = getattr(django_settings, SETTING_NAME, None)
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured(f"settings.{SETTING_NAME} must be a dict, not {type(user).__name__}.")
    merged = {**DEFAULTS, **user}
    if not merged.get("API_TOKEN"):
        merged["API_TOKEN"] = os.environ.get(API_TOKEN_ENV_VAR) or None
    return merged


def find_problems() -> list[tuple[str, str]]:
    """Every configuration problem as ``(key, sentence)``; empty when all is well.

    Shared by :func:`get_settings` (which raises on the first) and the system checks (which
    report all of them).
    """
    try:
        values = raw_settings()
    except ImproperlyConfigured as exc:
        return [(SETTING_NAME, str(exc))]
    user = getattr(django_settings, SETTING_NAME, None) or {}
    problems: list[tuple[str, str]] = []

    unknown = sorted(set(user) - set(DEFAULTS), key=str)
    for key in unknown:
        nearest = nearest_key(key)
        guess = f"; did you mean {nearest}?" if nearest else "."
        problems.append((key, f"{SETTING_NAME}['{key}'] is not a known setting{guess}"))

    for key in REQUIRED_KEYS:
        value = values.get(key)
        if value in (None, ""):
            hint = f" or the {API_TOKEN_ENV_VAR} environment variable" if key == "API_TOKEN" else ""
            problems.append((key, f"{SETTING_NAME}['{key}'] is required; set it in settings{hint}."))
    for key in _STRING_KEYS:
        value = values.get(key)
        if value not in (None, "") and not isinstance(value, str):
            problems.append((key, f"{SETTING_NAME}['{key}'] must be a string."))

    base_url = values.get("BASE_URL")
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            ("BASE_URL", f"{SETTING_NAME}['BASE_URL'] must be an http(s) URL, such as {DEFAULT_BASE_URL}.")
        )

    for key in _POSITIVE_NUMBER_KEYS + _NON_NEGATIVE_NUMBER_KEYS:
        value = values.get(key)
        floor_ok = (lambda v: v > 0) if key in _POSITIVE_NUMBER_KEYS else (lambda v: v >= 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not floor_ok(value):
            what = "a positive number" if key in _POSITIVE_NUMBER_KEYS else "a number >= 0"
            problems.append((key, f"{SETTING_NAME}['{key}'] must be {what} of seconds."))

    for key, (low, high) in _INT_KEYS.items():
        value = values.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bound = f"between {low} and {high}" if high else f"at least {low}"
            problems.append((key, f"{SETTING_NAME}['{key}'] must be a whole number {bound}."))

    for key in _CALLABLE_KEYS:
        value = values.get(key)
        if isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as exc:
                problems.append((key, f"{SETTING_NAME}['{key}'] could not be imported: {exc}"))
                continue
        if not callable(value):
            problems.append((key, f"{SETTING_NAME}['{key}'] must be a callable or a dotted path to one."))
    return problems


def nearest_key(key: object) -> str | None:
    """The real key a mistyped one most likely meant (``"APPID"`` -> ``"APP_ID"``), if any."""
    if not isinstance(key, str):
        return None
    matches = difflib.get_close_matches(key.upper(), DEFAULTS, n=1, cutoff=0.6)
    return matches[0] if matches else None


_cached: RealtimeKitSettings | None = None


def get_settings() -> RealtimeKitSettings:
    """The validated settings; raises ``ImproperlyConfigured`` naming the first bad key."""
    global _cached
    if _cached is not None:
        return _cached
    # Unknown keys are only a warning (realtimekit.W001): a typo must not break every request.
    problems = [(key, why) for key, why in find_problems() if key in DEFAULTS or key == SETTING_NAME]
    if problems:
        raise ImproperlyConfigured(problems[0][1])
    values = raw_settings()
    resolved = {
        key.lower(): (import_string(value) if key in _CALLABLE_KEYS and isinstance(value, str) else value)
        for key, value in values.items()
        if key in DEFAULTS
    }
    resolved["api_token"] = _Secret(resolved["api_token"])
    resolved["base_url"] = resolved["base_url"].rstrip("/")
    for key in _POSITIVE_NUMBER_KEYS + _NON_NEGATIVE_NUMBER_KEYS:
        resolved[key.lower()] = float(resolved[key.lower()])
    _cached = RealtimeKitSettings(**resolved)
    return _cached


def api_host() -> str:
    """The host (and port, if given) of ``BASE_URL``: what a "could not be reached" names."""
    try:
        base_url = get_settings().base_url
    except ImproperlyConfigured:
        base_url = raw_settings().get("BASE_URL")
    netloc = urlsplit(base_url).netloc if isinstance(base_url, str) else ""
    return netloc.rpartition("@")[2] or str(base_url)


def clear_cache(**kwargs: Any) -> None:
    """Forget the snapshot (tests use ``override_settings``; the signal calls this)."""
    global _cached
    if kwargs.get("setting") in (None, SETTING_NAME):
        _cached = None


setting_changed.connect(clear_cache, dispatch_uid="realtimekit_django.conf.clear_cache")
