"""An in-memory Cloudflare RealtimeKit server, for tests and the demo.

* :class:`Emulator`: the state and the request router (``Emulator.handle``), with Python helpers
  to seed and inspect it, a request log, hooks, :class:`Faults`, Cloudflare's rate limit
  (:class:`RateLimit`) and a clock tests can drive (:class:`ManualClock`, :class:`ScaledClock`).
* :func:`make_wsgi_app` / :func:`serve`: the emulator over HTTP (the official SDK works against it
  with ``base_url=server.base_url``).
* :func:`realtimekit_django.emulator.responses_adapter.mock_requests`: ``requests`` calls routed
  into it without a socket; the ``realtimekit_emulator`` pytest fixture uses it.
* webhooks (``emulator.webhooks``: the ``/webhooks`` resource, the signing key at
  ``/.well-known/webhooks.json``, signed deliveries with fault knobs) and the session simulator
  (``emulator.sessions``), whose events are delivered to the registered webhooks.
* ``python -m realtimekit_django.emulator``: the CLI.
"""

from .clock import Clock, ManualClock, ScaledClock, SystemClock
from .core import DEFAULT_APP_ID, Emulator, EmulatorResponse, RequestRecord, decode_token
from .faults import ConnectionDropped, Faults
from .ratelimit import RateLimit
from .sessions import SessionSimulator
from .webhooks import DeliveryFaults, DeliveryRecord, WebhookDispatcher, http_transport
from .wsgi import make_wsgi_app, serve

__all__ = [
    "DEFAULT_APP_ID",
    "DeliveryFaults",
    "DeliveryRecord",
    "SessionSimulator",
    "WebhookDispatcher",
    "http_transport",
    "Clock",
    "ConnectionDropped",
    "Emulator",
    "EmulatorResponse",
    "Faults",
    "ManualClock",
    "RateLimit",
    "RequestRecord",
    "ScaledClock",
    "SystemClock",
    "decode_token",
    "make_wsgi_app",
    "serve",
]
