"""Copies of downloaded files into the site's storage: complete and checked, or nothing.

Generic on purpose (recordings use it, and so will every artifact kept after a meeting): it
knows a URL, a storage, a name and a cap, nothing of what the file is.

A copy is written under a temporary name beside its final one and published (saved under the
final name) only once the stored file's size has been read back from the storage and equals
what was streamed, so a reader never sees half a file and a crash leaves no file under the
final name. An oversize, short or failing download removes what it wrote. While streaming,
``renew_claim`` is called every ``renew_every`` seconds, so that a slow copy keeps its claim;
when it raises :class:`CopyClaimLost` the copy stops and keeps nothing.

Between failed tries a copy waits (:func:`next_attempt_at`: doubling from a minute, capped
at a day, with jitter) and after ``COPY_MAX_TRIES`` it is given up (:func:`tries_exhausted`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.files import File

from ..client.downloads import OpenDownload, open_download
from ..conf import get_settings
from ..exceptions import CopyClaimLost, CopyError, DownloadError, DownloadRefused

logger = logging.getLogger("realtimekit_django.services")

BACKOFF_FIRST = 60.0
BACKOFF_MAX = 86_400.0


@dataclass(frozen=True)
class StoredCopy:
    """Where a copy went and what it holds (``size`` as read back from the storage)."""

    name: str
    size: int
    sha256: str
    content_type: str


def copy_max_bytes() -> int:
    return get_settings().copy_max_bytes


def copy_max_tries() -> int:
    return get_settings().copy_max_tries


def tries_exhausted(tries: int) -> bool:
    """Whether a copy that has failed ``tries`` times is given up."""
    return tries >= copy_max_tries()


def next_attempt_at(tries: int, now: datetime) -> datetime:
    """When a copy that has failed ``tries`` times may be tried again: a minute, doubling per
    try up to a day, each wait between half and all of that (jitter keeps retries apart)."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** max(tries - 1, 0)))
    return now + timedelta(seconds=ceiling * (0.5 + random.random() / 2))


def check_storage_name(name: object) -> str:
    """A storage name with every path segment usable; else :class:`CopyError`.

    ``.``, ``..``, empty segments, backslashes and NUL are refused: a name of ``..`` would
    point the copy (and its size check) at a directory instead of a file.
    """
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name or name.startswith("/"):
        raise CopyError("the storage name is not usable")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise CopyError("the storage name is not usable")
    return name


def safe_file_name(raw: object, *, fallback: str, max_length: int = 200) -> str:
    """One path segment made from an untrusted name: its last part, only ``A-Za-z0-9._-``,
    never ``.``/``..`` nor hidden; ``fallback`` when nothing usable is left."""
    base = posixpath.basename(str(raw or "").replace("\\", "/"))
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base)[:max_length].lstrip(".")
    if not safe.strip("._-"):
        safe = fallback
    return safe


class _Streamed(File):
    """A download as the ``File`` a storage saves: read forwards in chunks, counted, hashed,
    with the claim renewed as it goes."""

    def __init__(
        self,
        download: OpenDownload,
        name: str,
        *,
        renew: Callable[[], object] | None,
        renew_every: float,
    ) -> None:
        super().__init__(None, name)
        self._download = download
        self._chunks = self._counted()
        self._buffer = b""
        self._renew = renew
        self._renew_every = renew_every
        self._renewed = time.monotonic()
        self.sha = hashlib.sha256()
        self.written = 0
        if download.declared_size is not None:
            self.size = download.declared_size

    def _counted(self) -> Iterator[bytes]:
        for chunk in self._download.chunks():
            if self._renew is not None and time.monotonic() - self._renewed >= self._renew_every:
                self._renew()  # raises CopyClaimLost when another worker holds the copy now
                self._renewed = time.monotonic()
            self.written += len(chunk)
            self.sha.update(chunk)
            yield chunk
        declared = self._download.declared_size
        if declared is not None and self.written != declared:
            raise CopyError(f"the file came with {self.written} of {declared} bytes")

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from self._chunks

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence in (0, 1) and self.written == 0:
            return 0
        raise io.UnsupportedOperation("a download can only be read forwards")

    def tell(self) -> int:
        return self.written - len(self._buffer)

    def close(self) -> None:
        self._download.close()


def copy_into_storage(
    *,
    url: str,
    storage,
    name: str,
    max_bytes: int,
    content_types: Iterable[str] | None = None,
    renew_claim: Callable[[], object] | None = None,
    replace: bool = False,
    timeout: float | tuple[float, float] | None = None,
    renew_every: float = 30.0,
) -> StoredCopy:
    """Download ``url`` into ``storage`` as ``name``, whole and checked, or not at all.

    ``content_types`` (when given) are the media types accepted (``video/*`` matches any
    video); ``replace`` lets a file already under ``name`` be replaced (else it is
    :class:`CopyError`). Raises the download's errors (:class:`~..exceptions.DownloadError`
    and transport errors), :class:`CopyError` for a refused write or a size that does not add
    up, and :class:`CopyClaimLost` from ``renew_claim``; each leaves nothing in storage.
    """
    check_storage_name(name)
    if storage.exists(name) and not replace:
        raise CopyError("a file is already stored under that name")
    folder, _, leaf = name.rpartition("/")
    temporary = f"{folder + '/' if folder else ''}.partial-{secrets.token_hex(6)}-{leaf}"[: len(name) + 40]
    with open_download(url, max_bytes=max_bytes, timeout=timeout) as download:
        if content_types is not None and not _accepted(download.content_type, content_types):
            raise DownloadRefused("the file's content type is not one that is kept", method="GET")
        content = _Streamed(download, temporary, renew=renew_claim, renew_every=renew_every)
        try:
            saved = storage.save(temporary, content)
        except (DownloadError, CopyError):
            _remove_quietly(storage, temporary)
            raise
        except BaseException as exc:
            _remove_quietly(storage, temporary)
            if isinstance(exc, Exception) and not _is_ours(exc):
                raise CopyError(f"the storage refused the write ({type(exc).__name__})") from None
            raise
    try:
        stored = storage.size(saved)
        if stored != content.written:
            raise CopyError(f"the storage holds {stored} of {content.written} bytes")
        if renew_claim is not None:
            renew_claim()  # the last word before publishing: is the copy still ours?
        if storage.exists(name):
            storage.delete(name)
        final = _publish(storage, saved, name)
        if storage.size(final) != content.written:
            _remove_quietly(storage, final)
            raise CopyError("the published file does not have the size that was streamed")
    finally:
        _remove_quietly(storage, saved)
    return StoredCopy(name=final, size=content.written, sha256=content.sha.hexdigest(), content_type=download.content_type)


def _is_ours(exc: BaseException) -> bool:
    from ..exceptions import RealtimeKitError

    return isinstance(exc, RealtimeKitError)


def _accepted(content_type: str, accepted: Iterable[str]) -> bool:
    for wanted in accepted:
        wanted = wanted.lower()
        if wanted == content_type or (wanted.endswith("/*") and content_type.startswith(wanted[:-1])):
            return True
    return False


def _publish(storage, temporary: str, name: str) -> str:
    """Save the checked temporary file under its final name (a storage has no rename)."""
    with storage.open(temporary, "rb") as handle:
        return storage.save(name, File(handle, name))


def _remove_quietly(storage, name: str) -> None:
    try:
        if storage.exists(name):
            storage.delete(name)
    except Exception:  # the copy's own error is the one worth raising
        logger.warning("a partial copy could not be removed from the storage")
