"""The HTTP side of the client: session, timeouts, the one retry policy, errors, attempts.

Every HTTP attempt, retries included, is sent by :meth:`RealtimeKitClient._send` and nowhere
else, so whatever must see each attempt (``request_count``, the ``before_attempt`` and
``after_attempt`` hooks, a rate budget shared between processes) sees all of them.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InvalidHeader,
    MaxRetryError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from .. import __version__, schema
from ..conf import DEFAULT_BASE_URL, DEFAULTS
from ..exceptions import (
    APIError,
    InvalidResponse,
    RateLimited,
    RealtimeKitError,
    Timeout,
    TransportError,
    ValidationError,
    error_for_status,
)
from .active_session import ActiveSessionResource
from .livestreams import LivestreamsResource
from .meetings import MeetingsResource
from .paging import PageWalk
from .presets import PresetsResource
from .recordings import RecordingsResource
from .sessions import SessionsResource
from .webhooks import WebhooksResource

logger = logging.getLogger("realtimekit_django.client")

USER_AGENT = f"realtimekit-django/{__version__} python-requests/{requests.__version__}"

#: Statuses worth another try. The SDK also retries 409; we do not: a conflict will not go
#: away by asking again.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})

#: The hooks' signatures: ``before(method, path)``; ``after(method, path, response)``, where
#: ``response`` is ``None`` when no answer came (a timeout, a dropped connection).
BeforeAttempt = Callable[[str, str], None]
AfterAttempt = Callable[[str, str, "requests.Response | None"], None]


#: The API's documented lockout: going over the limit blocks the token for 5 minutes, so no
#: ``retry-after`` is read as longer than this (a far one would lock every process out).
LOCKOUT_SECONDS = 300.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``retry-after`` header (a number, fractions allowed, or an HTTP date),
    at most :data:`LOCKOUT_SECONDS`; ``None`` when unusable: not a number or date, negative,
    not finite, or a date that is not ahead of this clock (under a 429 that is a skewed clock,
    not an invitation to retry into the lockout). Callers read ``None`` as "the whole window"."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - time.time()
        if seconds <= 0:
            return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, LOCKOUT_SECONDS)


class RetryPolicy(Retry):
    """The one retry policy: urllib3's ``Retry``, with this API's rules where they differ.

    urllib3 keeps the count (``total`` extra attempts, ``max_retries``), tells a connect error
    (the request never reached a server: repeated whatever the method) from a read error (the
    server may have acted: repeated only for ``allowed_methods``, the idempotent ones), keeps
    the history and reads ``Retry-After``. On top of it:

    - a 429 is repeated even for a POST: the API refused the request without acting on it;
    - a ``Retry-After`` longer than ``retry_after_max`` is not waited for: the 429 is raised,
      so that a task can reschedule itself instead of holding a worker (urllib3 would clamp
      the wait and sleep anyway);
    - the wait before retry *n* (0-based) is a random point in ``[d/2, d]`` with
      ``d = min(backoff_factor * 2**n, backoff_max)``: urllib3 does not wait before the first
      retry at all, which spends a rate-limited budget on an answer that has not changed;
    - ``Retry-After`` may be fractional (the emulator and some proxies send ``0.25``).

    The client asks it attempt by attempt (:meth:`after_response`, :meth:`after_error`)
    instead of mounting it on the adapter, where urllib3 would repeat requests out of sight of
    :meth:`RealtimeKitClient._send` and of an injected ``sleep``.
    """

    #: Statuses are retried when in ``status_forcelist``, never for a ``Retry-After`` alone.
    RETRY_AFTER_STATUS_CODES = frozenset()

    def __init__(
        self,
        total: int = DEFAULTS["MAX_RETRIES"],
        *,
        backoff_factor: float = DEFAULTS["RETRY_BACKOFF_BASE"],
        backoff_max: float = DEFAULTS["RETRY_BACKOFF_MAX"],
        retry_after_max: float = DEFAULTS["RETRY_AFTER_MAX"],
        **options: Any,
    ) -> None:
        options.setdefault("allowed_methods", IDEMPOTENT_METHODS)
        options.setdefault("status_forcelist", RETRYABLE_STATUSES)
        super().__init__(total, **options)
        # Set after urllib3's __init__, whose own versions of these differ between releases.
        self.backoff_factor = backoff_factor
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max

    def new(self, **changes: Any) -> RetryPolicy:
        changes.setdefault("backoff_max", self.backoff_max)
        changes.setdefault("retry_after_max", self.retry_after_max)
        return super().new(**changes)

    @property
    def max_retries(self) -> int:
        """Extra attempts left (for the client's own policy: the ``MAX_RETRIES`` setting)."""
        return self.total

    @property
    def backoff_base(self) -> float:
        return self.backoff_factor

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and status_code in self.status_forcelist:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = parse_retry_after(retry_after)
        if seconds is None:
            raise InvalidHeader(f"Invalid Retry-After header: {retry_after!r}")
        return seconds

    def get_backoff_time(self) -> float:
        retry_number = max(len(self.history) - 1, 0)
        ceiling = min(self.backoff_factor * (2**retry_number), self.backoff_max)
        return ceiling / 2 + random.random() * ceiling / 2

    def after_response(
        self, method: str, url: str, response: requests.Response
    ) -> tuple[RetryPolicy, float] | None:
        """The policy and the wait for another attempt after this error answer; ``None``: give up."""
        if not self.is_retry(method, response.status_code):
            return None
        try:
            wait = self.get_retry_after(response)
        except InvalidHeader:
            wait = None
        if wait is not None and wait > self.retry_after_max:
            return None
        try:
            following = self.increment(method, url)
        except MaxRetryError:
            return None
        return following, following.get_backoff_time() if wait is None else wait

    def after_error(self, method: str, url: str, error: HTTPError) -> tuple[RetryPolicy, float] | None:
        """The policy and the wait for another attempt after a transport error; ``None``: give up."""
        try:
            following = self.increment(method, url, error=error)
        except HTTPError:  # exhausted (MaxRetryError), or a read error on a method not repeated
            return None
        return following, following.get_backoff_time()


def _urllib3_error(exc: requests.exceptions.RequestException) -> HTTPError:
    """The urllib3 error behind a ``requests`` failure, which :class:`RetryPolicy` classifies.

    ``requests`` keeps it as the first argument (inside a ``MaxRetryError`` for connection
    failures). A failure raised without one (a mocked transport) is rebuilt from its type; an
    error that is neither a connect nor a read error counts as a read error, since the server
    may have acted on the request.
    """
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    if isinstance(cause, ConnectTimeoutError | ReadTimeoutError | ProtocolError):
        return cause
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectTimeoutError(str(exc))
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ReadTimeoutError(None, None, str(exc))
    return ProtocolError(str(exc))


def describe_error_body(response: requests.Response) -> tuple[str | int | None, str]:
    """The API's error code and message from any of the error shapes seen in the wild."""
    text = response.text or ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and (error.get("message") or error.get("code")):
            return error.get("code"), str(error.get("message") or "no message")
        if isinstance(error, str) and error:
            return None, error
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = [e for e in errors if isinstance(e, dict)]
            if parts:
                message = "; ".join(str(e.get("message") or e.get("code")) for e in parts)
                return parts[0].get("code"), message
        if body.get("message"):
            return None, str(body["message"])
    reason = response.reason or "error"
    if not text.strip():
        return None, f"{reason} (empty body)"
    if "<html" in text[:500].lower():
        return None, f"{reason} (an HTML page, not the API's JSON)"
    return None, f"{reason} (a body that is not the API's JSON: {text[:80]!r})"


class _BearerAuth(requests.auth.AuthBase):
    """Adds the token at send time, so it sits in no session default that could be dumped."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth ********>"


class RealtimeKitClient:
    """A RealtimeKit API client for one account and app.

    ``session`` may be given to share a connection pool; ``sleep`` exists so tests and the
    benchmarks can observe backoff without waiting for it. The defaults are the settings'
    (:data:`realtimekit_django.conf.DEFAULTS`).
    """

    def __init__(
        self,
        account_id: str,
        app_id: str,
        api_token: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        connect_timeout: float = DEFAULTS["CONNECT_TIMEOUT"],
        read_timeout: float = DEFAULTS["READ_TIMEOUT"],
        max_retries: int = DEFAULTS["MAX_RETRIES"],
        backoff_base: float = DEFAULTS["RETRY_BACKOFF_BASE"],
        backoff_max: float = DEFAULTS["RETRY_BACKOFF_MAX"],
        retry_after_max: float = DEFAULTS["RETRY_AFTER_MAX"],
        page_size: int = DEFAULTS["PAGE_SIZE"],
        max_pages: int = DEFAULTS["MAX_PAGES"],
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for name, value in (("account_id", account_id), ("app_id", app_id), ("api_token", api_token)):
            if not value or not isinstance(value, str):
                raise ValidationError([(name, "is required (a non-empty string)")])
        schema.validate_listing_params(per_page=page_size)
        self.account_id = account_id
        self.app_id = app_id
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.retry = RetryPolicy(
            max_retries, backoff_factor=backoff_base, backoff_max=backoff_max, retry_after_max=retry_after_max
        )
        self.page_size = page_size
        self.max_pages = max_pages
        self._sleep = sleep
        self._auth = _BearerAuth(api_token)
        self.session = session or self._new_session()
        #: HTTP attempts made (retries included); reconcile reports and tests read it.
        self.request_count = 0
        #: Called before and after every attempt (see :data:`BeforeAttempt`, :data:`AfterAttempt`).
        #: A before hook may raise (a ``RateLimited``, say) to refuse the attempt.
        self.before_attempt: list[BeforeAttempt] = []
        self.after_attempt: list[AfterAttempt] = []
        #: The shared rate budget the hooks spend from, when one is installed (``client.budget``).
        self.budget = None
        self.meetings = MeetingsResource(self)
        self.presets = PresetsResource(self)
        self.recordings = RecordingsResource(self)
        self.active_session = ActiveSessionResource(self)
        self.webhooks = WebhooksResource(self)
        self.sessions = SessionsResource(self)
        self.livestreams = LivestreamsResource(self)

    def __repr__(self) -> str:
        return (
            f"<RealtimeKitClient account={self.account_id!r} app={self.app_id!r} base_url={self.base_url!r}>"
        )

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        return session

    @property
    def app_path(self) -> str:
        return f"/accounts/{quote(self.account_id, safe='')}/realtime/kit/{quote(self.app_id, safe='')}"

    def close(self) -> None:
        self.session.close()

    # -- the one request pipeline ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
    ) -> dict:
        """Send one API call (with retries) and return its success envelope.

        ``path`` is relative to the app (``/meetings/...``). Raises a ``RealtimeKitError``
        subclass for every failure.
        """
        full_path = self.app_path + path
        url = self.base_url + full_path
        retry = self.retry
        attempt = 1
        while True:
            try:
                response = self._send(method, full_path, url, params=params, json=json)
            except requests.exceptions.RequestException as exc:
                error: RealtimeKitError = self._transport_error(method, full_path, exc)
                following = retry.after_error(method, url, _urllib3_error(exc))
                self._log_failure(f"{method} {full_path} failed", error, attempt, following)
                if following is None:
                    raise error from None
            else:
                if response.status_code < 400:
                    return self._parse_success(method, full_path, response)
                error = self._api_error(method, full_path, response)
                following = retry.after_response(method, url, response)
                self._log_failure(
                    f"{method} {full_path} -> {response.status_code}", error, attempt, following
                )
                if following is None:
                    raise error
            retry, wait = following
            self._sleep(wait)
            attempt += 1

    def _send(self, method: str, path: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one attempt: the only place an HTTP request leaves this package."""
        for before in self.before_attempt:
            before(method, path)
        self.request_count += 1
        response = None
        started = time.monotonic()
        try:
            response = self.session.request(method, url, timeout=self.timeout, auth=self._auth, **kwargs)
        finally:
            for after in self.after_attempt:
                after(method, path, response)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("%s %s -> %s in %.1f ms", method, path, response.status_code, elapsed_ms)
        return response

    @staticmethod
    def _log_failure(
        what: str, error: RealtimeKitError, attempt: int, following: tuple[RetryPolicy, float] | None
    ) -> None:
        then = f", retrying in {following[1]:.2f}s" if following is not None else ", not retried"
        logger.warning("%s: %s (attempt %s%s)", what, error.message, attempt, then)

    @staticmethod
    def _transport_error(
        method: str, path: str, exc: requests.exceptions.RequestException
    ) -> RealtimeKitError:
        """The package error for a ``requests`` failure."""
        if isinstance(exc, requests.exceptions.Timeout):
            phase = (
                "connecting"
                if isinstance(exc, requests.exceptions.ConnectTimeout)
                else "waiting for the answer"
            )
            return Timeout(f"timed out {phase}", method=method, path=path)
        if isinstance(exc, requests.exceptions.ConnectionError):
            never_connected = isinstance(_urllib3_error(exc), ConnectTimeoutError)
            what = "could not connect" if never_connected else "the connection failed or was dropped"
            return TransportError(f"{what}: {type(exc).__name__}", method=method, path=path)
        return TransportError(f"request failed: {type(exc).__name__}", method=method, path=path)

    @staticmethod
    def _api_error(method: str, path: str, response: requests.Response) -> APIError:
        code, message = describe_error_body(response)
        cls = error_for_status(response.status_code)
        context = {"method": method, "path": path, "status": response.status_code, "code": code}
        if cls is RateLimited:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return RateLimited(message, retry_after=retry_after, **context)
        return cls(message, **context)

    @staticmethod
    def _parse_success(method: str, path: str, response: requests.Response) -> dict:
        context = {"method": method, "path": path, "status": response.status_code}
        try:
            body = response.json()
        except ValueError:
            shown = "an empty body" if not response.content else "a body that is not JSON"
            raise InvalidResponse(f"the API answered with {shown}", **context) from None
        if not isinstance(body, dict):
            raise InvalidResponse("the API's answer is not a JSON object", **context)
        if body.get("success") is False:
            code, message = describe_error_body(response)
            raise InvalidResponse(message, code=code, **context)
        if "data" not in body:
            raise InvalidResponse("the API's answer has no 'data'", **context)
        return body

    # -- paging -----------------------------------------------------------------------------

    def walk(self, fetch: Callable[[int, int], dict], per_page: int | None = None) -> PageWalk:
        """A :class:`PageWalk` over ``fetch(page_no, per_page)``; refuses a bad ``per_page`` now."""
        return PageWalk(
            fetch=fetch, per_page=self.page_size if per_page is None else per_page, max_pages=self.max_pages
        )
