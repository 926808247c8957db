"""The webhook registration operations, named as in the official ``cloudflare`` SDK, and the
fetch of the key that signs deliveries.

Same method and keyword names as ``client.realtime_kit.webhooks`` (minus ``account_id`` /
``app_id``); ``edit_webhook`` sends only the fields given, as the SDK does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import requests

from ..exceptions import InvalidResponse, TransportError, ValidationError, error_for_status
from .resource import OMIT, Client, _given

#: The events a webhook can subscribe to (the SDK's ``Literal``).
WEBHOOK_EVENTS = (
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


def _check_events(events: Any) -> list[str]:
    if isinstance(events, str) or not isinstance(events, Sequence) or not events:
        raise ValidationError([("events", "must be a non-empty list of event names")])
    unknown = [event for event in events if event not in WEBHOOK_EVENTS]
    if unknown:
        raise ValidationError([("events", f"unknown events: {', '.join(map(str, unknown))}")])
    return list(events)


def _check_text(**values: Any) -> None:
    bad = [
        (name, "must be a non-empty string")
        for name, value in values.items()
        if not value or not isinstance(value, str)
    ]
    if bad:
        raise ValidationError(bad)


class WebhooksResource:
    """``/webhooks``: the app's webhook configurations."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _path(self, webhook_id: str | None = None) -> str:
        if webhook_id is None:
            return "/webhooks"
        _check_text(webhook_id=webhook_id)
        return f"/webhooks/{quote(webhook_id, safe='')}"

    def create_webhook(self, *, events: Sequence[str], name: str, url: str, enabled: Any = OMIT) -> dict:
        """POST /webhooks."""
        _check_text(name=name, url=url)
        body = _given({"events": _check_events(events), "name": name, "url": url}, enabled=enabled)
        return self._client.request("POST", self._path(), json=body)

    def get_webhooks(self) -> dict:
        """GET /webhooks: every webhook of the app (the API does not page them)."""
        return self._client.request("GET", self._path())

    def get_webhook_by_id(self, webhook_id: str) -> dict:
        """GET /webhooks/{webhook_id}."""
        return self._client.request("GET", self._path(webhook_id))

    def edit_webhook(
        self, webhook_id: str, *, enabled: Any = OMIT, events: Any = OMIT, name: Any = OMIT, url: Any = OMIT
    ) -> dict:
        """PATCH /webhooks/{webhook_id} with only the fields given."""
        if events is not OMIT:
            events = _check_events(events)
        for label, value in (("name", name), ("url", url)):
            if value is not OMIT:
                _check_text(**{label: value})
        body = _given({}, enabled=enabled, events=events, name=name, url=url)
        return self._client.request("PATCH", self._path(webhook_id), json=body)

    def replace_webhook(
        self, webhook_id: str, *, events: Sequence[str], name: str, url: str, enabled: Any = OMIT
    ) -> dict:
        """PUT /webhooks/{webhook_id} with the whole webhook."""
        _check_text(name=name, url=url)
        body = _given({"events": _check_events(events), "name": name, "url": url}, enabled=enabled)
        return self._client.request("PUT", self._path(webhook_id), json=body)

    def delete_webhook(self, webhook_id: str) -> dict:
        """DELETE /webhooks/{webhook_id}; answers the deleted webhook."""
        return self._client.request("DELETE", self._path(webhook_id))


def fetch_webhook_public_key(url: str, *, timeout: tuple[float, float] = (5.0, 10.0)) -> str:
    """The PEM published at ``url`` (``{"success": true, "data": {"publicKey": "<PEM>"}}``).

    Not an API call: it carries no ``Authorization`` header (the key is public, and the URL is
    another host than the API's, which must never see the token) and spends no rate budget.
    """
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.exceptions.RequestException as exc:
        raise TransportError(f"could not fetch the webhook key: {type(exc).__name__}", method="GET", path=url)
    context = {"method": "GET", "path": url, "status": response.status_code}
    if response.status_code >= 400:
        raise error_for_status(response.status_code)("the webhook key URL refused", **context)
    try:
        key = response.json()["data"]["publicKey"]
    except (ValueError, KeyError, TypeError):
        raise InvalidResponse("the webhook key URL answered without data.publicKey", **context) from None
    if not isinstance(key, str) or "-----BEGIN PUBLIC KEY-----" not in key:
        raise InvalidResponse("the webhook key URL's data.publicKey is not a PEM public key", **context)
    return key
