"""Where the room loads RealtimeKit's UI kit from, and whether that source is pinned.

The kit comes from two files (the client and the UI components), each a URL plus its
Subresource Integrity hash. A URL with no scheme is a path in the site's static files: the site
serves the npm package's files itself (docs/room.md, self-hosting). ``pinned`` is what the
system check ``realtimekit.W040`` asks: a CDN URL that names an exact version, never ``latest``
or a range, so that the integrity hash cannot silently stop matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.templatetags.static import static

from ..conf import get_settings

#: ``@1.2.3`` (optionally ``-beta.1``) followed by ``/``: an exact npm version in a CDN URL.
_EXACT_VERSION = re.compile(r"@\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?/")


@dataclass(frozen=True)
class KitFile:
    """One script of the kit, as the room's module loads it."""

    url: str
    integrity: str | None

    @property
    def origin(self) -> str | None:
        """The scheme and host a Content-Security-Policy must allow (None: the site's own)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def is_static_path(url: str) -> bool:
    """A path in the site's static files (``realtimekit/vendor/browser.js``), not a URL."""
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("/")


def pinned(url: str) -> bool:
    """Self-hosted files are what the site deployed; a CDN URL must name an exact version."""
    if is_static_path(url) or url.startswith("/"):
        return True
    return "@latest" not in url and bool(_EXACT_VERSION.search(url))


def _resolve(url: str) -> str:
    return static(url) if is_static_path(url) else url


def kit_files() -> tuple[KitFile, KitFile]:
    """(client, UI), in the order the module loads them."""
    config = get_settings()
    return (
        KitFile(_resolve(config.room_client_url), config.room_client_integrity or None),
        KitFile(_resolve(config.room_ui_url), config.room_ui_integrity or None),
    )


def kit_problems() -> list[tuple[str, str]]:
    """``(key, sentence)`` for each kit file that is unpinned (W040) or has no hash (W041)."""
    config = get_settings()
    problems = []
    for key, url, integrity in (
        ("ROOM_CLIENT_URL", config.room_client_url, config.room_client_integrity),
        ("ROOM_UI_URL", config.room_ui_url, config.room_ui_integrity),
    ):
        if not pinned(url):
            problems.append((key, "W040"))
        if not integrity:
            problems.append((key.replace("_URL", "_INTEGRITY"), "W041"))
    return problems
