"""Redacting secrets out of payloads before they rest anywhere.

RealtimeKit puts bearer secrets in what it sends: a live stream's ``streamKey`` and
``ingestServer`` (whoever has both can broadcast as the meeting), and short-lived download
links (``downloadUrl``, ``audioDownloadUrl``, ``chatDownloadUrl``, ``transcriptDownloadUrl``,
``summaryDownloadUrl`` and any other ``...DownloadUrl``). None of them is needed after the
fact: links are asked for afresh from the API when a file is copied. So the receiver replaces
them with :data:`REDACTED` before the event row is written (the signature is checked on the
raw body first), and nothing that reads a stored payload, a database dump or the SQL debug log
can see them.

:func:`redacted` is the one rule; anything else that keeps a payload (after-the-meeting
artifacts, admin pages) uses it too. It imports nothing from Django or the models, so a
migration can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What a secret value is replaced with: says a value was there, and nothing about it.
REDACTED = "[redacted]"
#: Keys that are credentials, compared without case, ``_`` or ``-`` (``streamKey``,
#: ``stream_key``, ``STREAM-KEY``). ``rtmpUrl`` is there because a custom destination's RTMP URL
#: usually carries its stream key in the path.
SECRET_KEYS = frozenset({"streamkey", "ingestserver", "rtmpurl"})
#: Keys ending with this (compared the same way) are download links: ``downloadUrl``,
#: ``chatDownloadUrl``, ``transcript_download_url``. ``downloadUrlExpiry`` is not one.
SECRET_SUFFIX = "downloadurl"


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def is_secret_key(key: object) -> bool:
    """Whether a payload key names a credential or a download link."""
    if not isinstance(key, str):
        return False
    normal = _normal(key)
    return normal in SECRET_KEYS or normal.endswith(SECRET_SUFFIX)


def _has_value(value: Any) -> bool:
    return value not in (None, "", [], {})


def redacted(value: Any, marker: Any = REDACTED) -> Any:
    """A copy of a JSON-like value with every secret value (at any depth, in objects and lists)
    replaced by ``marker``; empty values (``None``, ``""``) stay as they are, so the marker
    always means that a value was there. Everything else is kept as it is."""
    if isinstance(value, Mapping):
        return {
            key: (marker if is_secret_key(key) and _has_value(item) else redacted(item, marker))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redacted(item, marker) for item in value]
    return value


def secret_paths(value: Any, path: str = "") -> list[str]:
    """The dotted paths of the secret values in ``value`` that are not redacted yet."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if is_secret_key(key) and _has_value(item) and item != REDACTED:
                found.append(where)
            else:
                found.extend(secret_paths(item, where))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(secret_paths(item, f"{path}[{index}]"))
    return found
