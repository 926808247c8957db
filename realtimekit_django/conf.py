"""The one place the ``REALTIMEKIT`` settings dict is read.

Everything else asks :func:`get_settings` for a validated, immutable snapshot, so a typo in
a key or a value is reported once, naming the key, instead of surfacing as an odd failure deep
inside a request. ``checks.py`` runs the same validation at ``manage.py check`` time.

The API token may live in the environment (``REALTIMEKIT_API_TOKEN``) so that the secret stays
out of settings files; a value in the dict wins over the environment.
"""

from __future__ import annotations

import binascii
import difflib
import os
from base64 import urlsafe_b64decode
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
DEFAULT_WEBHOOK_PUBLIC_KEY_URL = "https://api.realtime.cloudflare.com/.well-known/webhooks.json"

#: The UI kit the room loads by default: exact versions from npm, with the sha384 of each file
#: (``npm pack @cloudflare/realtimekit@2.0.2``; ``openssl dgst -sha384 -binary dist/browser.js``).
ROOM_KIT_VERSION = "2.0.2"
ROOM_CLIENT_URL = f"https://cdn.jsdelivr.net/npm/@cloudflare/realtimekit@{ROOM_KIT_VERSION}/dist/browser.js"
ROOM_CLIENT_INTEGRITY = "sha384-lFXT0ldxi5sQ1wA86msP3ur5BxzZf9dyFkjT3PG884u6bf48UXXJPJl0QOL07TpO"
ROOM_UI_URL = f"https://cdn.jsdelivr.net/npm/@cloudflare/realtimekit-ui@{ROOM_KIT_VERSION}/dist/browser.js"
ROOM_UI_INTEGRITY = "sha384-j9x+Q/nDI3b7qaf4SpY1bJgWtgDvDsKwFOoJihAzEhgnCEas7wcFqrVbF3pUsT8y"

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
    "RATE_LIMIT_REQUESTS": 1200,
    "RATE_LIMIT_WINDOW_SECONDS": 300,
    "RATE_LIMIT_RESERVE": 0.25,
    # The share of the quota routine background work leaves for event-driven fetches (webhooks).
    "RATE_LIMIT_EVENT_RESERVE": 0.01,
    "RATE_LIMIT_CACHE": None,
    "SYNC_BUDGET_SHARE": 0.8,
    "PARTICIPANTS_MAX_AGE": 86_400,
    "FULL_SYNC_INTERVAL_SECONDS": 86_400,
    "RECENT_MEETINGS_SECONDS": 86_400,
    "TASK_SOFT_TIME_LIMIT": 1500,
    "TASK_TIME_LIMIT": 1800,
    "JOIN_TOKEN_CACHE": None,
    "JOIN_TOKEN_KEY": None,
    # Seconds since RealtimeKit last confirmed a participant (its add or edit, or a participant
    # walk that saw it unchanged) within which its kept token may be handed out without a request.
    "JOIN_TOKEN_VERIFIED_MAX_AGE": 21_600,
    # A Django storage alias (settings.STORAGES) that recordings are copied into; None: not copied.
    "RECORDING_STORAGE": None,
    # The largest file a copy into the site's storage keeps (recordings, artifacts): 2 GiB.
    "COPY_MAX_BYTES": 2 * 1024**3,
    # Tries of one copy before it is given up (backing off between them).
    "COPY_MAX_TRIES": 8,
    # The hosts files are downloaded from (https, port 443): a name, or ".suffix" for its subdomains.
    "DOWNLOAD_HOSTS": (".amazonaws.com", ".r2.cloudflarestorage.com", ".realtime.cloudflare.com", ".dyte.io"),
    "WEBHOOK_PUBLIC_KEY": None,
    "WEBHOOK_PUBLIC_KEY_URL": DEFAULT_WEBHOOK_PUBLIC_KEY_URL,
    "WEBHOOK_MAX_BODY_BYTES": 1_048_576,
    "WEBHOOK_RETENTION_DAYS": 30,
    "WEBHOOK_KEY_CACHE": "default",
    # Targeted fetches (sync/targeted.py) a minute: what webhooks may spend of the background lane.
    "TARGETED_FETCHES_PER_MINUTE": 60,
    # While verified webhooks arrive, an active meeting is walked again after this many seconds.
    "WEBHOOK_HEALTHY_ROTATION_SECONDS": 600,
    # No valid delivery for this long while sessions are live: back to polling (sync/health.py).
    "WEBHOOK_SILENCE_SECONDS": 900,
    # The meeting room's UI kit (docs/room.md): exact pinned versions with their SRI hashes. A
    # URL without a scheme is a path in the site's static files (self-hosting).
    "ROOM_CLIENT_URL": ROOM_CLIENT_URL,
    "ROOM_CLIENT_INTEGRITY": ROOM_CLIENT_INTEGRITY,
    "ROOM_UI_URL": ROOM_UI_URL,
    "ROOM_UI_INTEGRITY": ROOM_UI_INTEGRITY,
    # What the room passes as RealtimeKitClient.init(defaults=...): media off until the person turns it on.
    "ROOM_DEFAULTS": {"audio": False, "video": False},
    # How often the room tries the join endpoint when it answers 503 or 429 before giving up.
    "ROOM_JOIN_MAX_ATTEMPTS": 5,
    # True when BASE_URL is this package's emulator (it has no media server): the room joins, then
    # says that video needs the real API and lists who is in, instead of loading the kit.
    "ROOM_EMULATOR": False,
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
    "RATE_LIMIT_WINDOW_SECONDS": (1, None),
    "PARTICIPANTS_MAX_AGE": (1, None),
    "JOIN_TOKEN_VERIFIED_MAX_AGE": (1, None),
    "FULL_SYNC_INTERVAL_SECONDS": (1, None),
    "RECENT_MEETINGS_SECONDS": (1, None),
    "WEBHOOK_MAX_BODY_BYTES": (1, None),
    "WEBHOOK_RETENTION_DAYS": (1, None),
    "COPY_MAX_BYTES": (1, None),
    "COPY_MAX_TRIES": (1, 100),
    "TARGETED_FETCHES_PER_MINUTE": (0, None),
    "WEBHOOK_HEALTHY_ROTATION_SECONDS": (1, None),
    "WEBHOOK_SILENCE_SECONDS": (1, None),
    "ROOM_JOIN_MAX_ATTEMPTS": (1, 20),
}
#: Shares: key -> (lowest allowed, highest allowed, whether the lowest itself is allowed).
_SHARE_KEYS = {
    "RATE_LIMIT_RESERVE": (0.0, 0.99, True),
    "RATE_LIMIT_EVENT_RESERVE": (0.0, 0.5, True),
    "SYNC_BUDGET_SHARE": (0.0, 1.0, False),
}
_STRING_KEYS = (
    "ACCOUNT_ID",
    "APP_ID",
    "API_TOKEN",
    "SYNC_LOCK_CACHE",
    "DEFAULT_PRESET",
    "HOST_PRESET",
    "RECORDING_STORAGE",
    "WEBHOOK_PUBLIC_KEY",
    "WEBHOOK_KEY_CACHE",
    "ROOM_CLIENT_URL",
    "ROOM_CLIENT_INTEGRITY",
    "ROOM_UI_URL",
    "ROOM_UI_INTEGRITY",
)


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
    join_token_cache: str | None
    join_token_key: str | None = field(repr=False)
    rate_limit_requests: int | None
    rate_limit_window_seconds: int
    rate_limit_reserve: float
    rate_limit_event_reserve: float
    rate_limit_cache: str | None
    sync_budget_share: float
    participants_max_age: int
    full_sync_interval_seconds: int
    recent_meetings_seconds: int
    webhook_public_key: str | None
    webhook_public_key_url: str
    webhook_max_body_bytes: int
    webhook_retention_days: int
    webhook_key_cache: str
    recording_storage: str | None = None
    copy_max_bytes: int = 2 * 1024**3
    copy_max_tries: int = 8
    download_hosts: tuple[str, ...] = ()
    join_token_verified_max_age: int = 21_600
    targeted_fetches_per_minute: int = 60
    webhook_healthy_rotation_seconds: int = 600
    webhook_silence_seconds: int = 900
    room_client_url: str = ROOM_CLIENT_URL
    room_client_integrity: str | None = ROOM_CLIENT_INTEGRITY
    room_ui_url: str = ROOM_UI_URL
    room_ui_integrity: str | None = ROOM_UI_INTEGRITY
    room_defaults: dict = field(default_factory=lambda: {"audio": False, "video": False})
    room_join_max_attempts: int = 5
    room_emulator: bool = False

    @property
    def budget_cache(self) -> str:
        """The cache alias of the rate budget: ``RATE_LIMIT_CACHE``, else the lock cache."""
        return self.rate_limit_cache or self.sync_lock_cache


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

    problems.extend(_webhook_key_problems(values))

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

    problems.extend(_budget_problems(values))

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
    problems.extend(_join_token_problems(values))
    hosts = values.get("DOWNLOAD_HOSTS")
    if (
        isinstance(hosts, str)
        or not isinstance(hosts, list | tuple)
        or not all(isinstance(h, str) and h.strip(".") for h in hosts)
    ):
        problems.append(
            (
                "DOWNLOAD_HOSTS",
                f"{SETTING_NAME}['DOWNLOAD_HOSTS'] must be a list of host names "
                "(or '.suffix' for every host under a domain).",
            )
        )
    problems.extend(_room_problems(values))
    return problems


def _room_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The room's kit URLs are given and its defaults are a dict (pinning and SRI are warnings:
    ``realtimekit.W040``/``W041``)."""
    problems = []
    for key in ("ROOM_CLIENT_URL", "ROOM_UI_URL"):
        if not isinstance(values.get(key), str) or not values.get(key):
            problems.append((key, f"{SETTING_NAME}['{key}'] must be a URL or a static file path."))
    if not isinstance(values.get("ROOM_DEFAULTS"), dict):
        problems.append(("ROOM_DEFAULTS", f"{SETTING_NAME}['ROOM_DEFAULTS'] must be a dict."))
    if not isinstance(values.get("ROOM_EMULATOR"), bool):
        problems.append(("ROOM_EMULATOR", f"{SETTING_NAME}['ROOM_EMULATOR'] must be True or False."))
    return problems


#: Why ``USE_TZ = False`` is refused (system check ``realtimekit.E011`` and every first use).
USE_TZ_REQUIRED = (
    "realtimekit_django needs USE_TZ = True: RealtimeKit answers with UTC instants, and with "
    "USE_TZ = False Django cannot store or compare them (a meeting would be created remotely "
    "and then fail to be stored, and every sync would fail)."
)


def site_problems() -> list[str]:
    """What in the site's own Django settings this app cannot work with (not REALTIMEKIT keys)."""
    return [] if django_settings.USE_TZ else [USE_TZ_REQUIRED]


def _join_token_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """``JOIN_TOKEN_CACHE`` names a configured cache (or is None); ``JOIN_TOKEN_KEY`` is a Fernet
    key (or None). The key's value is never part of a sentence."""
    problems = []
    alias = values.get("JOIN_TOKEN_CACHE")
    if alias is not None and (not isinstance(alias, str) or alias not in django_settings.CACHES):
        problems.append(
            (
                "JOIN_TOKEN_CACHE",
                f"{SETTING_NAME}['JOIN_TOKEN_CACHE'] must be None or the alias of a cache in "
                "settings.CACHES.",
            )
        )
    key = values.get("JOIN_TOKEN_KEY")
    if key is not None and not _is_fernet_key(key):
        problems.append(
            (
                "JOIN_TOKEN_KEY",
                f"{SETTING_NAME}['JOIN_TOKEN_KEY'] must be None or a Fernet key "
                "(32 url-safe base64-encoded bytes, as cryptography.fernet.Fernet.generate_key() makes).",
            )
        )
    return problems


def _is_fernet_key(key: Any) -> bool:
    if not isinstance(key, str | bytes):
        return False
    try:
        return len(urlsafe_b64decode(key)) == 32
    except (binascii.Error, ValueError):
        return False


def _budget_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The rate budget's keys: a quota or ``None``, shares in range, a cache that exists."""
    problems = []
    requests = values.get("RATE_LIMIT_REQUESTS")
    if requests is not None and (isinstance(requests, bool) or not isinstance(requests, int) or requests < 1):
        problems.append(
            (
                "RATE_LIMIT_REQUESTS",
                f"{SETTING_NAME}['RATE_LIMIT_REQUESTS'] must be a whole number of at least 1, or None "
                "(no budget).",
            )
        )
    for key, (low, high, low_ok) in _SHARE_KEYS.items():
        value = values.get(key)
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if not number or not (low <= value <= high) or (value == low and not low_ok):
            above = f"at least {low:g}" if low_ok else f"above {low:g}"
            problems.append((key, f"{SETTING_NAME}['{key}'] must be a number {above} and at most {high:g}."))
    reserves = [values.get(key) for key in ("RATE_LIMIT_RESERVE", "RATE_LIMIT_EVENT_RESERVE")]
    shares = [key for key, _ in problems]
    if "RATE_LIMIT_RESERVE" not in shares and "RATE_LIMIT_EVENT_RESERVE" not in shares and sum(reserves) >= 1:
        problems.append(
            (
                "RATE_LIMIT_EVENT_RESERVE",
                f"{SETTING_NAME}['RATE_LIMIT_RESERVE'] and ['RATE_LIMIT_EVENT_RESERVE'] together must "
                "stay below 1 (background work would get nothing).",
            )
        )
    alias = values.get("RATE_LIMIT_CACHE")
    caches_defined = getattr(django_settings, "CACHES", None) or {"default": {}}
    if alias is not None and (not isinstance(alias, str) or alias not in caches_defined):
        problems.append(
            (
                "RATE_LIMIT_CACHE",
                f"{SETTING_NAME}['RATE_LIMIT_CACHE'] must be an alias in CACHES "
                f"(known: {', '.join(caches_defined)}), or None for SYNC_LOCK_CACHE.",
            )
        )
    return problems


def _webhook_key_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """A PEM that is not one, or a key URL that is not http(s): refused at start-up rather than
    at the first delivery (which would be answered 401 for a reason nobody sees)."""
    problems = []
    pem = values.get("WEBHOOK_PUBLIC_KEY")
    if isinstance(pem, str) and pem and "-----BEGIN PUBLIC KEY-----" not in pem:
        problems.append(
            (
                "WEBHOOK_PUBLIC_KEY",
                f"{SETTING_NAME}['WEBHOOK_PUBLIC_KEY'] must be a PEM public key "
                "('-----BEGIN PUBLIC KEY-----' ...), or None to fetch it from WEBHOOK_PUBLIC_KEY_URL.",
            )
        )
    url = values.get("WEBHOOK_PUBLIC_KEY_URL")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            (
                "WEBHOOK_PUBLIC_KEY_URL",
                f"{SETTING_NAME}['WEBHOOK_PUBLIC_KEY_URL'] must be an http(s) URL, such as "
                f"{DEFAULT_WEBHOOK_PUBLIC_KEY_URL}.",
            )
        )
    return problems


def nearest_key(key: object) -> str | None:
    """The real key a mistyped one most likely meant (``"APPID"`` -> ``"APP_ID"``), if any."""
    if not isinstance(key, str):
        return None
    matches = difflib.get_close_matches(key.upper(), DEFAULTS, n=1, cutoff=0.6)
    return matches[0] if matches else None


_cached: RealtimeKitSettings | None = None


def get_settings() -> RealtimeKitSettings:
    """The validated settings; raises ``ImproperlyConfigured`` naming the first bad key.

    A site this app cannot work on (``site_problems``) is refused here too, before any request
    is sent: ``manage.py check`` is not run by every server process.
    """
    global _cached
    for problem in site_problems():
        raise ImproperlyConfigured(problem)
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
    if resolved["join_token_key"] is not None:
        key = resolved["join_token_key"]
        resolved["join_token_key"] = _Secret(key.decode() if isinstance(key, bytes) else key)
    resolved["base_url"] = resolved["base_url"].rstrip("/")
    resolved["download_hosts"] = tuple(h.lower() for h in resolved["download_hosts"])
    for key in (*_POSITIVE_NUMBER_KEYS, *_NON_NEGATIVE_NUMBER_KEYS, *_SHARE_KEYS):
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
