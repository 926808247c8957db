"""``RealtimeKitClient``: the only code in this package that speaks HTTP.

It mirrors the official ``cloudflare`` SDK's ``realtime_kit.meetings`` resource
(:mod:`.meetings`) and
``realtime_kit.webhooks`` (:mod:`.webhooks`). What it adds:

- every payload is validated by :mod:`~realtimekit_django.schema` *before* a request is made;
- one retry policy, safer than the SDK's (:class:`RetryPolicy`): a POST is repeated only when
  the server cannot have acted on it (the connection was never made, or a 429), so a retried
  create never makes a second meeting;
- every attempt passes through one place (``RealtimeKitClient._send``), counted in
  ``request_count`` and shown to the ``before_attempt`` / ``after_attempt`` hooks;
- every error becomes a :class:`~realtimekit_django.exceptions.RealtimeKitError` carrying the
  method, the path, the status and the API's own message, whatever shape the body had;
- page walks (:class:`PageWalk`) that are complete only when what they saw agrees with the
  listing, and say why when it does not;
- the API token never appears in a log line, an exception, or a ``repr``.

Every method returns the parsed JSON envelope (``{"success": true, "data": ..., "paging": ...}``),
as the SDK's response models do.
"""

from ..conf import DEFAULT_BASE_URL
from .active_session import ActiveSessionResource
from .budget import BACKGROUND, INTERACTIVE, Budget, BudgetExhausted, BudgetUnavailable, get_budget, lane
from .default import client_from_settings, get_client, reset_default_client
from .http import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    USER_AGENT,
    RealtimeKitClient,
    RetryPolicy,
    describe_error_body,
    parse_retry_after,
)
from .livestreams import LivestreamsResource
from .meetings import MEETING_FILTERS, OMIT, MeetingsResource
from .paging import Page, PageWalk
from .presets import PresetsResource
from .recordings import Download, RecordingsResource
from .sessions import SESSION_FILTERS, SESSION_PARTICIPANT_FILTERS, SessionsResource
from .webhooks import WEBHOOK_EVENTS, WebhooksResource, fetch_webhook_public_key

__all__ = [
    "ActiveSessionResource",
    "BACKGROUND",
    "INTERACTIVE",
    "Budget",
    "BudgetExhausted",
    "BudgetUnavailable",
    "DEFAULT_BASE_URL",
    "Download",
    "IDEMPOTENT_METHODS",
    "MEETING_FILTERS",
    "OMIT",
    "RETRYABLE_STATUSES",
    "USER_AGENT",
    "WEBHOOK_EVENTS",
    "LivestreamsResource",
    "MeetingsResource",
    "Page",
    "PresetsResource",
    "PageWalk",
    "RealtimeKitClient",
    "RecordingsResource",
    "RetryPolicy",
    "SESSION_FILTERS",
    "SESSION_PARTICIPANT_FILTERS",
    "SessionsResource",
    "WebhooksResource",
    "client_from_settings",
    "describe_error_body",
    "get_budget",
    "fetch_webhook_public_key",
    "get_client",
    "lane",
    "parse_retry_after",
    "reset_default_client",
]
