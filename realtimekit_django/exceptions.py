"""The one error hierarchy of realtimekit-django.

Every failure a caller can see is a :class:`RealtimeKitError`, so ``except RealtimeKitError``
catches all of them, and each one is *also* an instance of the standard type that fits it
(``ValueError`` for bad input, ``ConnectionError`` / ``TimeoutError`` for transport trouble,
``LookupError`` for a missing object, Django's ``PermissionDenied`` for a refused join), so code
that knows nothing of this package still handles it sensibly.

API errors carry the request's method and path (never its headers: the API token lives there),
the HTTP status, and the API's own error code and message, whatever shape the body had.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class RealtimeKitError(Exception):
    """Base class. ``str(err)`` is always a complete, readable sentence."""

    def __init__(
        self,
        message: str = "",
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: str | int | None = None,
    ) -> None:
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}" if self.method and self.path else ""
        status = f"HTTP {self.status}" if self.status is not None else ""
        code = f"code {self.code}" if self.code not in (None, "", self.status) else ""
        context = ", ".join(part for part in (where, status, code) if part)
        return f"{self.message} ({context})" if context else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


# --- bad input, refused before any HTTP call ----------------------------------------------


class ValidationError(RealtimeKitError, ValueError):
    """A payload broke the API contract. ``errors`` is a list of ``(path, problem)`` pairs.

    The message names each path, e.g.
    ``recording_config.video_config.width: must be between 1 and 1920``.
    """

    def __init__(self, errors: list[tuple[str, str]] | str, **context) -> None:
        if isinstance(errors, str):
            errors = [("", errors)]
        self.errors = list(errors)
        text = "; ".join(f"{path}: {problem}" if path else problem for path, problem in self.errors)
        super().__init__(text, **context)


class MeetingInactive(RealtimeKitError, ValueError):
    """Nobody can join an INACTIVE meeting, so no token is asked for."""


class JoinRefused(RealtimeKitError, PermissionDenied):
    """The site's preset policy said this user may not join this meeting."""


class ConfigurationError(RealtimeKitError, ValueError):
    """An operation needs a ``REALTIMEKIT`` setting the site has not set (``RECORDING_STORAGE``)."""


# --- the API answered with an error ------------------------------------------------------


class APIError(RealtimeKitError):
    """The API answered, and the answer was an error (or not the shape the contract promises)."""


class BadRequest(APIError, ValueError):
    """400 / 422: the API refused the input."""


class AuthenticationError(APIError, PermissionError):
    """401 / 403: the API token is wrong, expired or lacks the RealtimeKit permission."""


class NotFound(APIError, LookupError):
    """404: no such meeting or participant."""


class Conflict(APIError):
    """409: the request clashes with the remote state."""


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if it gave one."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **context) -> None:
        self.retry_after = retry_after
        super().__init__(message, **context)


class ServerError(APIError):
    """5xx: the API or the gateway in front of it failed."""


class InvalidResponse(APIError):
    """A 2xx answer whose body is not what the contract promises (not JSON, no ``data``, wrong types)."""


# --- transport ---------------------------------------------------------------------------


class TransportError(RealtimeKitError, ConnectionError):
    """No usable answer: the connection failed or was dropped."""


class Timeout(TransportError, TimeoutError):
    """Connecting or reading took longer than the configured timeout."""


class DownloadError(RealtimeKitError):
    """A file download (a recording, an artifact) could not be done; the URL is in no message."""


class DownloadRefused(DownloadError, ValueError):
    """The URL is not one this site fetches: not https on port 443 to a host in ``DOWNLOAD_HOSTS``
    (or a redirect led elsewhere). Nothing was sent to it."""


class DownloadTooLarge(DownloadError, ValueError):
    """The file is larger than the cap (``COPY_MAX_BYTES``): announced so, or found so while
    streaming. Nothing of it was kept."""


class DownloadUnavailable(DownloadError, LookupError):
    """The file cannot be fetched now: the link expired, was refused, or the file is gone."""


class CopyError(DownloadError):
    """Copying a file into the site's storage failed; nothing of it was kept."""


class CopyClaimLost(CopyError):
    """Another worker holds the copy now: this one stopped and kept nothing."""


class RecordingUnavailable(DownloadUnavailable, APIError, ValueError):
    """A recording's file cannot be fetched now: its download URL expired or was refused."""


class RecordingCopyError(CopyError):
    """Copying a recording into the site's storage failed (the storage refused the write, or
    the file came short); nothing of it was kept."""


def error_for_status(status: int) -> type[APIError]:
    """The exception class that fits an HTTP error status."""
    if status in (400, 422):
        return BadRequest
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status == 429:
        return RateLimited
    if status >= 500:
        return ServerError
    return APIError
