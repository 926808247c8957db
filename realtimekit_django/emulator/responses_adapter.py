"""Route ``requests`` calls into an emulator without a socket, using the ``responses`` library.

::

    with mock_requests(emulator, base_url="https://rtk.test/client/v4"):
        requests.get("https://rtk.test/client/v4/accounts/a/realtime/kit/app/meetings", ...)

Any URL whose path holds ``/accounts/<account>/realtime/kit/<app>/`` goes to the emulator,
whatever its host, except loopback hosts (``127.0.0.1``, ``localhost``), which pass through to
real sockets so that live-server tests keep working; URLs under ``base_url`` are routed to the
emulator even on a loopback host. So does ``.../.well-known/webhooks.json`` on any host but
loopback (the webhook signing key). Any other URL is refused by ``responses`` (no network in tests).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import requests
import responses

from .core import Emulator
from .faults import ConnectionDropped

__all__ = ["mock_requests", "install", "PASSTHRU_PREFIXES"]

PASSTHRU_PREFIXES = ("http://127.0.0.1", "http://localhost", "https://127.0.0.1", "https://localhost")
_API_PATH = r"/accounts/[^/?#]+/realtime/kit/[^/?#]+(?:[/?#].*)?$"
_NOT_LOOPBACK = r"(?!(?:127\.0\.0\.1|localhost)(?:[:/]|$))"
_ANY_REMOTE_HOST = re.compile(r"^https?://" + _NOT_LOOPBACK + r"[^/?#]+(?:/[^?#]*?)?" + _API_PATH)
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
#: The webhook signing key, on any host but loopback (tests point WEBHOOK_PUBLIC_KEY_URL here).
_WELL_KNOWN = re.compile(r"^https?://" + _NOT_LOOPBACK + r"[^/?#]+(?:/[^?#]*)?/\.well-known/webhooks\.json$")


def _callback(emulator: Emulator):
    def callback(request: requests.PreparedRequest):
        parts = urlsplit(request.url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            body = request.body or b""
            response = emulator.handle(request.method, parts.path, query, body, dict(request.headers))
            if response.stream is not None:  # small files only: responses wants the whole body
                response.body = b"".join(response.stream)
        except ConnectionDropped as err:
            raise requests.exceptions.ConnectionError(
                f"Connection aborted: the emulator dropped the connection ({err})", request=request
            ) from None
        return response.status, dict(response.headers), response.body

    return callback


def install(mock: responses.RequestsMock, emulator: Emulator, base_url: str | None = None) -> None:
    """Register the emulator's routes on an existing ``responses.RequestsMock``."""
    patterns = [_ANY_REMOTE_HOST]
    # Only a loopback base URL needs its own pattern: two patterns matching the same URL would
    # make responses' registry drop one of them after its first use.
    if base_url and not _ANY_REMOTE_HOST.match(base_url.rstrip("/") + "/accounts/a/realtime/kit/b/meetings"):
        patterns.append(re.compile("^" + re.escape(base_url.rstrip("/")) + _API_PATH))
    for pattern in patterns:
        for method in _METHODS:
            mock.add_callback(method, pattern, callback=_callback(emulator), content_type=None)
    mock.add_callback("GET", _WELL_KNOWN, callback=_callback(emulator), content_type=None)
    for prefix in PASSTHRU_PREFIXES:
        mock.add_passthru(prefix)


@contextlib.contextmanager
def mock_requests(emulator: Emulator, base_url: str | None = None) -> Iterator[responses.RequestsMock]:
    """Within the block, ``requests`` calls to the RealtimeKit API reach ``emulator`` in memory."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        install(mock, emulator, base_url)
        yield mock
