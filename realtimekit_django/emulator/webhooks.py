"""The emulator's webhooks: the ``/webhooks`` resource, its signing key and signed deliveries.

* The resource has the SDK 5.9 shapes: ``{id, name, url, events, enabled, created_at,
  updated_at}``; ``get_webhooks`` is not paged; ``delete_webhook`` answers the deleted webhook.
  ``events`` must be a non-empty list of known event names, and ``url`` an http(s) URL.
* The emulator has its own RSA key pair (2048 bits, made on first use) and publishes the public
  half at ``GET /.well-known/webhooks.json`` as ``{"success": true, "data": {"publicKey": PEM}}``.
* :meth:`WebhookDispatcher.deliver` sends one event to every enabled webhook of the app that
  subscribes to it, signed as the platform signs (``rtk-signature``: base64 RSA-SHA256 PKCS#1
  v1.5 over the exact body; ``rtk-uuid``: one per delivery, the same on a retry or a duplicate;
  ``rtk-webhook-id``). A 5xx or a network error is retried (``retries`` times); any other
  answer is final, as on the platform.
* Fault knobs (:class:`DeliveryFaults`): ``duplicate`` sends every delivery twice; ``out_of_order``
  holds deliveries until :meth:`WebhookDispatcher.flush` sends them newest first; ``delay``
  waits before each delivery. With ``background=True`` (the CLI) deliveries leave from a worker
  thread, in order, so the simulator's HTTP calls answer at once, as the platform's do.
* Where deliveries go is :attr:`WebhookDispatcher.transport`: over HTTP by default (standard
  library, any host); the ``realtimekit_emulator`` fixture sends non-loopback URLs straight to
  the Django test client instead (no socket).

Webhooks and the key are not kept in the state file: a restarted emulator has a new key.
"""

from __future__ import annotations

import base64
import copy
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .answers import ApiError as _ApiError
from .answers import error as _error
from .answers import ok as _ok

WELL_KNOWN_PATH = "/.well-known/webhooks.json"
EVENTS = (
    "meeting.started",
    "meeting.ended",
    "meeting.participantJoined",
    "meeting.participantLeft",
    "meeting.chatSynced",
    "recording.statusUpdate",
    "livestreaming.statusUpdate",
    "meeting.transcript",
    "meeting.summary",
)

#: ``transport(url, body, headers) -> HTTP status``; raises ``OSError`` for a network error.
Transport = Callable[[str, bytes, dict[str, str]], int]


class DeliveryRecord(NamedTuple):
    """One attempt to deliver (never the signature or the body's secrets: only names)."""

    webhook_id: str
    url: str
    event: str
    uuid: str
    attempt: int
    status: int | None  # None: a network error
    error: str | None


@dataclass
class DeliveryFaults:
    duplicate: bool = False
    out_of_order: bool = False
    delay: float = 0.0


class _Pending(NamedTuple):
    webhook: dict
    event: str
    body: bytes
    delivery_id: str


def http_transport(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> int:
    """POST over HTTP with the standard library (the emulator has no dependency on requests)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        err.read()
        return err.code


def _signing_primitives():
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:
        raise RuntimeError(
            "the emulator signs webhooks with 'cryptography': pip install cryptography"
        ) from None
    return hashes, serialization, padding, rsa


@dataclass
class WebhookDispatcher:
    """The webhooks of every app of one emulator, and their deliveries."""

    emulator: Any  # the Emulator (not imported: core imports this module)
    transport: Transport = http_transport
    retries: int = 3
    retry_delay: float = 0.0
    faults: DeliveryFaults = field(default_factory=DeliveryFaults)
    background: bool = False
    deliveries: list[DeliveryRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._webhooks: dict[str, dict[str, dict]] = {}  # app_id -> {webhook_id: webhook}
        self._private_key = None
        self._held: list[_Pending] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Pending | None] | None = None

    def reset(self) -> None:
        with self._lock:
            self._webhooks.clear()
            self._held.clear()
            self.deliveries.clear()
            self.faults = DeliveryFaults()

    # -- the key -------------------------------------------------------------------------------

    @property
    def private_key(self):
        with self._lock:
            if self._private_key is None:
                _, _, _, rsa = _signing_primitives()
                self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._private_key

    def use_key(self, private_key) -> None:
        """Sign with ``private_key`` from now on (tests share one to save key generation)."""
        with self._lock:
            self._private_key = private_key

    @property
    def public_key_pem(self) -> str:
        _, serialization, _, _ = _signing_primitives()
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def sign(self, body: bytes) -> str:
        """``rtk-signature`` for ``body``."""
        hashes, _, padding, _ = _signing_primitives()
        return base64.b64encode(self.private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()

    def well_known(self) -> dict:
        return {"success": True, "data": {"publicKey": self.public_key_pem}}

    # -- the resource ----------------------------------------------------------------------------

    def _check(self, body: dict, *, partial: bool) -> dict:
        required = () if partial else ("name", "url", "events")
        missing = [name for name in required if name not in body]
        if missing:
            raise _ApiError(400, f"{', '.join(missing)}: required")
        clean: dict[str, Any] = {}
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"]:
                raise _ApiError(400, "name: must be a non-empty string")
            clean["name"] = body["name"]
        if "url" in body:
            parts = urlsplit(body["url"]) if isinstance(body["url"], str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise _ApiError(400, "url: must be an http(s) URL")
            clean["url"] = body["url"]
        if "events" in body:
            events = body["events"]
            if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
                raise _ApiError(400, f"events: must be a non-empty list of: {', '.join(EVENTS)}")
            clean["events"] = list(dict.fromkeys(events))
        if "enabled" in body:
            if not isinstance(body["enabled"], bool):
                raise _ApiError(400, "enabled: must be a boolean")
            clean["enabled"] = body["enabled"]
        return clean

    def _find(self, app_id: str, webhook_id: str) -> dict:
        found = self._webhooks.get(app_id, {}).get(webhook_id)
        if found is None:
            raise _ApiError(404, "Webhook not found")
        return found

    def create(self, app_id: str, body: dict) -> dict:
        now = self.emulator._now()
        webhook = {"id": str(uuid.uuid4()), "enabled": True, **self._check(body, partial=False)}
        webhook.update(created_at=now, updated_at=now)
        self._webhooks.setdefault(app_id, {})[webhook["id"]] = webhook
        return copy.deepcopy(webhook)

    def list_webhooks(self, app_id: str) -> list[dict]:
        found = self._webhooks.get(app_id, {}).values()
        return copy.deepcopy(sorted(found, key=lambda w: (w["created_at"], w["id"])))

    def update(self, app_id: str, webhook_id: str, body: dict, *, replace: bool) -> dict:
        webhook = self._find(app_id, webhook_id)
        clean = self._check(body, partial=not replace)
        if replace:
            clean.setdefault("enabled", True)
        webhook.update(clean, updated_at=self.emulator._now())
        return copy.deepcopy(webhook)

    def delete(self, app_id: str, webhook_id: str) -> dict:
        webhook = self._find(app_id, webhook_id)
        del self._webhooks[app_id][webhook_id]
        return copy.deepcopy(webhook)

    def route(self, method: str, app_id: str, route: list[str], body: Any):
        """Answer ``/webhooks[/{id}]`` (the emulator's router calls this under its lock)."""

        body = body if isinstance(body, dict) else {}
        if len(route) == 1:
            if method == "GET":
                return _ok(self.list_webhooks(app_id))
            if method == "POST":
                return _ok(self.create(app_id, body), status=201)
        elif len(route) == 2:
            if method == "GET":
                return _ok(copy.deepcopy(self._find(app_id, route[1])))
            if method in ("PATCH", "PUT"):
                return _ok(self.update(app_id, route[1], body, replace=method == "PUT"))
            if method == "DELETE":
                return _ok(self.delete(app_id, route[1]))
        else:
            return _error(404, "Not found")
        return _error(405, "Method not allowed")

    # -- deliveries ------------------------------------------------------------------------------

    def deliver(self, app_id: str, event: str, payload: dict) -> None:
        """Send ``payload`` (which names its ``event``) to every subscribed, enabled webhook."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._lock:
            targets = [
                copy.deepcopy(w)
                for w in self._webhooks.get(app_id, {}).values()
                if w["enabled"] and event in w["events"]
            ]
        for webhook in targets:
            pending = _Pending(webhook, event, body, str(uuid.uuid4()))
            copies = 2 if self.faults.duplicate else 1
            for _ in range(copies):
                if self.faults.out_of_order:
                    with self._lock:
                        self._held.append(pending)
                else:
                    self._dispatch(pending)

    def flush(self) -> int:
        """Send the deliveries ``out_of_order`` held, newest first; how many were sent."""
        with self._lock:
            held, self._held = self._held, []
        for pending in reversed(held):
            self._dispatch(pending)
        return len(held)

    def _dispatch(self, pending: _Pending) -> None:
        if not self.background:
            self._send(pending)
            return
        with self._lock:
            if self._queue is None:
                self._queue = queue.Queue()
                threading.Thread(target=self._drain, name="rtk-webhook-deliveries", daemon=True).start()
        self._queue.put(pending)

    def _drain(self) -> None:
        while True:
            pending = self._queue.get()
            try:
                self._send(pending)
            finally:
                self._queue.task_done()

    def wait_idle(self) -> None:
        """Block until background deliveries sent so far are done."""
        if self._queue is not None:
            self._queue.join()

    def _send(self, pending: _Pending) -> None:
        webhook = pending.webhook
        headers = {
            "content-type": "application/json",
            "rtk-signature": self.sign(pending.body),
            "rtk-uuid": pending.delivery_id,
            "rtk-webhook-id": webhook["id"],
        }
        for attempt in range(1, self.retries + 2):
            if self.faults.delay:
                time.sleep(self.faults.delay)
            try:
                status, error = self.transport(webhook["url"], pending.body, headers), None
            except OSError as err:
                status, error = None, type(err).__name__
            record = DeliveryRecord(
                webhook["id"], webhook["url"], pending.event, pending.delivery_id, attempt, status, error
            )
            with self._lock:
                self.deliveries.append(record)
            if status is not None and status < 500:
                return
            if attempt <= self.retries and self.retry_delay:
                time.sleep(self.retry_delay * 2 ** (attempt - 1))
