"""The receiver: verify, insert once, answer. Nothing else happens in the request.

In order: POST only; a body over ``WEBHOOK_MAX_BODY_BYTES`` is refused before it is read (413);
no ``rtk-signature`` is 400, a signature that does not sign the raw body is 401 (the platform
retries neither); a signed body that is not a JSON object is 400. A refused delivery stores
nothing and runs nothing: it is counted (:func:`refusal_counts`) and logged without its body.
An accepted delivery becomes one :class:`~realtimekit_django.models.WebhookEvent` row, keyed by
``rtk-uuid`` (a unique constraint, so a concurrent duplicate loses the insert and is answered
200 like any duplicate), and the processing task is sent after the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.core.cache import caches
from django.db import IntegrityError, router, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..conf import get_settings
from ..models import WebhookEvent
from . import payloads
from .verify import KeyUnavailable, verify

logger = logging.getLogger("realtimekit_django.webhooks")

REFUSAL_COUNTER_PREFIX = "realtimekit:webhooks:refused:"
REFUSAL_REASONS = ("too_large", "no_signature", "bad_signature", "not_json", "no_key")


def _refuse(status: int, reason: str, request: HttpRequest) -> JsonResponse:
    cache = caches[get_settings().webhook_key_cache]
    key = REFUSAL_COUNTER_PREFIX + reason
    cache.add(key, 0, None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, None)
    logger.warning(
        "webhook delivery refused (%s, HTTP %s): webhook %s, uuid %s",
        reason,
        status,
        payloads.as_text(request.headers.get("rtk-webhook-id"), 100) or "-",
        payloads.as_text(request.headers.get("rtk-uuid"), 100) or "-",
    )
    return JsonResponse({"success": False, "error": reason}, status=status)


def refusal_counts() -> dict[str, int]:
    """How many deliveries were refused, by reason, since the cache last forgot (monitor these:
    a rising ``bad_signature`` is a wrong key or someone probing the URL)."""
    cache = caches[get_settings().webhook_key_cache]
    found = cache.get_many([REFUSAL_COUNTER_PREFIX + reason for reason in REFUSAL_REASONS])
    return {reason: int(found.get(REFUSAL_COUNTER_PREFIX + reason) or 0) for reason in REFUSAL_REASONS}


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def delivery_uuid(request: HttpRequest, body: bytes) -> str:
    """``rtk-uuid``, or a digest of the webhook id and the body (the same delivery sent again
    has the same digest)."""
    given = payloads.as_text(request.headers.get("rtk-uuid"), 100).strip()
    if given:
        return given
    webhook_id = request.headers.get("rtk-webhook-id", "")
    return "sha256:" + hashlib.sha256(webhook_id.encode("utf-8", "replace") + b"\n" + body).hexdigest()


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    limit = get_settings().webhook_max_body_bytes
    if _declared_length(request) > limit:
        return _refuse(413, "too_large", request)
    body = request.read(limit + 1)
    if len(body) > limit:
        return _refuse(413, "too_large", request)
    signature = request.headers.get("rtk-signature")
    if not signature:
        return _refuse(400, "no_signature", request)
    try:
        if not verify(body, signature):
            return _refuse(401, "bad_signature", request)
    except KeyUnavailable:
        return _refuse(503, "no_key", request)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict) or payloads.as_text(payload.get("event"), 64) == "":
        return _refuse(400, "not_json", request)
    created = _insert_once(request, body, payload)
    return JsonResponse({"success": True, "duplicate": not created})


def _insert_once(request: HttpRequest, body: bytes, payload: dict) -> bool:
    """Insert the event and queue its processing after the commit; False for a duplicate."""
    from ..tasks import process_webhook_event

    using = router.db_for_write(WebhookEvent)
    try:
        with transaction.atomic(using=using):
            event = WebhookEvent.objects.using(using).create(
                uuid=delivery_uuid(request, body),
                event=payloads.as_text(payload.get("event"), 64),
                webhook_id=payloads.as_text(request.headers.get("rtk-webhook-id"), 100),
                meeting_id=payloads.meeting_id_of(payload),
                received_at=timezone.now(),
                payload=_storable(payload),
            )
            transaction.on_commit(lambda: _send_task(process_webhook_event, event.pk), using=using)
    except IntegrityError:
        return False
    return True


def _storable(payload: dict) -> dict:
    """The payload, unless a value in it could not be stored (NUL, lone surrogates): then the
    parts that can, so the event is still kept and its type still processed."""
    from .. import schema

    problems = schema.unstorable(payload)
    if not problems:
        return payload
    return {"event": payload.get("event"), "unstorable": [path for path, _ in problems][:20]}


def _send_task(task, pk: int) -> None:
    try:
        task.delay(pk)
    except Exception as err:  # a broker outage must not lose the event: it stays unprocessed
        logger.warning("could not queue webhook event %s: %s", pk, type(err).__name__)
