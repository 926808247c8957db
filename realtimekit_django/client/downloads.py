"""Fetching a file from a download link (a recording, an artifact): only from the hosts
RealtimeKit stores files on, never with the API token, never more than the cap.

A download link comes in an API answer; an answer that was tampered with, or a compromised
account, could point it anywhere, including at an address inside the site's own network. So
a link is fetched only over https, on port 443, from a host in ``DOWNLOAD_HOSTS``; redirects
are followed by hand (at most :data:`MAX_REDIRECTS`), each target checked by the same rule
before anything is sent to it. The emulator's hosts (loopback, ``.test``, ``.invalid``) are
allowed only while the configured ``BASE_URL`` is itself the emulator.

The size is checked against ``Content-Length`` before a byte of the body is read, and again
while streaming, so that a server that lies or announces nothing cannot fill the storage.
No message holds the URL: it is a bearer link.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ..conf import get_settings
from ..exceptions import DownloadRefused, DownloadTooLarge, DownloadUnavailable, Timeout, TransportError

MAX_REDIRECTS = 5
CHUNK_SIZE = 1024 * 1024
_WHERE = {"method": "GET", "path": "<download URL>"}
_REDIRECTS = (301, 302, 303, 307, 308)
#: Names that never reach the public internet: the emulator's download hosts.
_EMULATOR_SUFFIXES = (".test", ".invalid")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_emulator_host(host: str) -> bool:
    return _is_loopback(host) or host.endswith(_EMULATOR_SUFFIXES) or host in ("test", "invalid")


def emulator_is_configured() -> bool:
    """Whether ``BASE_URL`` is the emulator (a loopback host or a ``.test`` name)."""
    host = (urlsplit(get_settings().base_url).hostname or "").lower()
    return _is_loopback(host) or host.endswith(".test")


def _matches(host: str, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        entry = entry.lower()
        if entry.startswith("."):
            if host.endswith(entry) and len(host) > len(entry):
                return True
        elif host == entry:
            return True
    return False


def check_download_url(url: Any) -> str:
    """The URL if this site may fetch it; else :class:`DownloadRefused` (naming no URL)."""
    if not isinstance(url, str) or not url or any(c in url for c in "\x00\r\n\t "):
        raise DownloadRefused("the download link is not a URL", **_WHERE)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DownloadRefused("the download link is not a URL", **_WHERE) from None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or parts.username is not None or parts.password is not None:
        raise DownloadRefused("the download link names no host, or carries credentials", **_WHERE)
    if emulator_is_configured() and _is_emulator_host(host):
        if parts.scheme in ("http", "https"):
            return url
        raise DownloadRefused("the download link is not http(s)", **_WHERE)
    if parts.scheme != "https" or port not in (None, 443):
        raise DownloadRefused("only https links on port 443 are downloaded", **_WHERE)
    if not _matches(host, get_settings().download_hosts):
        raise DownloadRefused(
            f"the download host {host!r} is not in DOWNLOAD_HOSTS; nothing was fetched", **_WHERE
        )
    return url


def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc credentials from the environment
    return session


def open_download(
    url: str,
    *,
    max_bytes: int,
    timeout: float | tuple[float, float] | None = None,
    offset: int = 0,
    session: requests.Session | None = None,
) -> OpenDownload:
    """Open ``url`` (from ``offset`` on) for streaming, after checking it and every redirect.

    Raises :class:`DownloadRefused` for a URL or redirect outside the rules,
    :class:`DownloadTooLarge` when ``Content-Length`` is over ``max_bytes``,
    :class:`DownloadUnavailable` for an expired, refused or missing file (401, 403, 404, 410),
    and :class:`TransportError` / :class:`Timeout` for anything else. Close what it returns.
    """
    if timeout is None:
        conf = get_settings()
        timeout = (conf.connect_timeout, conf.read_timeout)
    own = session is None
    http = session or _new_session()
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    current = check_download_url(url)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                # auth=None and a fresh header dict: no Authorization, whatever the session holds.
                response = http.get(
                    current,
                    headers={**headers, "Authorization": None},
                    stream=True,
                    timeout=timeout,
                    allow_redirects=False,
                    auth=None,
                )
            except requests.exceptions.Timeout:
                raise Timeout("timed out fetching the file", **_WHERE) from None
            except requests.exceptions.RequestException as exc:
                raise TransportError(f"fetching the file failed: {type(exc).__name__}", **_WHERE) from None
            if response.status_code in _REDIRECTS:
                target = response.headers.get("Location", "")
                response.close()
                current = check_download_url(urljoin(current, target))
                continue
            break
        else:
            raise DownloadRefused(f"more than {MAX_REDIRECTS} redirects; nothing was fetched", **_WHERE)
        status = response.status_code
        if status in (401, 403, 404, 410):
            response.close()
            raise DownloadUnavailable(
                "the download link has expired, was refused, or the file is gone", status=status, **_WHERE
            )
        if status not in (200, 206) or (offset and status != 206):
            response.close()
            raise TransportError(f"the file could not be fetched (HTTP {status})", status=status, **_WHERE)
        download = OpenDownload(response, offset=offset, max_bytes=max_bytes)
    except BaseException:
        if own:
            http.close()
        raise
    download._session = http if own else None
    return download


class OpenDownload:
    """An open download: ``content_type``, ``declared_size`` (bytes still to come, when
    announced), and :meth:`chunks`, which stops with :class:`DownloadTooLarge` past the cap.
    Close it (or use it as a context manager) to free the connection."""

    def __init__(
        self, response: requests.Response, *, offset: int, max_bytes: int, chunk_size: int = CHUNK_SIZE
    ) -> None:
        self._response = response
        self._session: requests.Session | None = None
        self.offset = offset
        self.max_bytes = max_bytes
        self.chunk_size = chunk_size
        self.received = 0
        self.content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        length = (response.headers.get("Content-Length") or "").strip()
        self.declared_size = int(length) if length.isdigit() else None
        if self.declared_size is not None and offset + self.declared_size > max_bytes:
            self.close()
            raise DownloadTooLarge(
                f"the file is {offset + self.declared_size} bytes, over the cap of {max_bytes}", **_WHERE
            )

    @property
    def length(self) -> int | None:
        """The name this object had as ``client.Download``."""
        return self.declared_size

    def chunks(self) -> Iterator[bytes]:
        try:
            for chunk in self._response.iter_content(chunk_size=self.chunk_size):
                self.received += len(chunk)
                if self.offset + self.received > self.max_bytes:
                    raise DownloadTooLarge(
                        f"the file grew past the cap of {self.max_bytes} bytes while streaming", **_WHERE
                    )
                yield chunk
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"the download broke off: {type(exc).__name__}", **_WHERE) from None

    def close(self) -> None:
        self._response.close()
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> OpenDownload:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:  # never the URL
        return f"<OpenDownload offset={self.offset} declared_size={self.declared_size}>"
