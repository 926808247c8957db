"""The receiver: verify, insert once, answer. Nothing else happens in the request.

In order: POST only; a body over ``WEBHOOK_MAX_BODY_BYTES`` is refused before it is read (413);
no ``rtk-signature`` is 400, a signature that does not sign the raw body is 401 (the platform
retries neither; see :mod:`.verify` for the 503 of a key that may have rotated); a signed body
that is not a JSON object, or nests deeper than ``schema.MAX_DEPTH``, is 400. A refused
delivery stores nothing and runs nothing: it is counted (:func:`refusal_counts`) and logged
without its body.

An accepted delivery becomes one :class:`~realtimekit_django.models.WebhookEvent` row, its
secrets redacted (:mod:`.redact`) and its unstorable values replaced
(:func:`.payloads.storable`) before the row is written, so neither the row, a dump nor the SQL
log ever holds them. It is keyed twice, by ``rtk-uuid`` and by a digest of the raw body (both
unique), so a duplicate (the platform's redelivery, a concurrent post, or a captured body
replayed under a new ``rtk-uuid``) loses the insert and is answered 200; a duplicate of an
event still unprocessed (a failed one, say) is sent for processing again. The processing task
is sent after the commit.

The receiver's cache (the refusal counters; the key, in :mod:`.verify`) may be down: a
counter is then lost, never the answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from django.core.cache import caches
from django.db import IntegrityError, router, transaction
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import schema
from ..conf import get_settings
from ..models import WebhookEvent
from . import payloads, redact, retry
from .verify import KeyUnavailable, verify

logger = logging.getLogger("realtimekit_django.webhooks")

REFUSAL_COUNTER_PREFIX = "realtimekit:webhooks:refused:"
REFUSAL_REASONS = ("too_large", "no_signature", "bad_signature", "not_json", "no_key", "key_not_fresh")
#: The longest ``rtk-uuid`` kept as it is; a longer one is kept as its digest, never cut.
MAX_UUID_LENGTH = 100


def _count_refusal(reason: str) -> None:
    cache = caches[get_settings().webhook_key_cache]
    key = REFUSAL_COUNTER_PREFIX + reason
    try:
        cache.add(key, 0, None)
        try:
            cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, None)
    except Exception as err:  # a cache outage loses a count, never the answer
        logger.warning("could not count a refused webhook delivery (%s)", type(err).__name__)


def _refuse(status: int, reason: str, request: HttpRequest) -> JsonResponse:
    _count_refusal(reason)
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
    a rising ``bad_signature`` is a wrong key or someone probing the URL). All zero while the
    cache is down."""
    cache = caches[get_settings().webhook_key_cache]
    try:
        found = cache.get_many([REFUSAL_COUNTER_PREFIX + reason for reason in REFUSAL_REASONS])
    except Exception as err:
        logger.warning("could not read the webhook refusal counters (%s)", type(err).__name__)
        found = {}
    return {reason: int(found.get(REFUSAL_COUNTER_PREFIX + reason) or 0) for reason in REFUSAL_REASONS}


def _declared_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def delivery_uuid(request: HttpRequest, body: bytes) -> str:
    """``rtk-uuid``; a digest of it when it is longer than :data:`MAX_UUID_LENGTH` or holds
    what a column cannot store (two long ids sharing a beginning stay two); without one, a
    digest of the webhook id and the body (the same delivery sent again has the same digest)."""
    given = (request.headers.get("rtk-uuid") or "").strip()
    if given:
        if len(given) <= MAX_UUID_LENGTH and payloads.as_text(given, MAX_UUID_LENGTH) == given:
            return given
        return "uuid-sha256:" + _digest(given.encode("utf-8", "surrogatepass"))
    webhook_id = request.headers.get("rtk-webhook-id", "")
    return "sha256:" + _digest(webhook_id.encode("utf-8", "replace") + b"\n" + body)


def parsed(body: bytes) -> dict | None:
    """The signed body as an event object, or None when it is unusable: not JSON, not an
    object, no event name, or nested deeper than ``schema.MAX_DEPTH`` (a hostile depth raises
    ``RecursionError`` in the parser; it is refused like any other unusable body)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict) or payloads.as_text(payload.get("event"), 64) == "":
        return None
    if payloads.nests_deeper_than(payload, schema.MAX_DEPTH):
        return None
    return payload


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
    except KeyUnavailable as err:
        return _refuse(503, err.reason, request)
    payload = parsed(body)
    if payload is None:
        return _refuse(400, "not_json", request)
    created = _insert_once(request, body, payload)
    return JsonResponse({"success": True, "duplicate": not created})


def _insert_once(request: HttpRequest, body: bytes, payload: dict) -> bool:
    """Insert the event and queue its processing after the commit; False for a duplicate (whose
    stored event is queued again when it is still unprocessed)."""
    from ..tasks import process_webhook_event

    using = router.db_for_write(WebhookEvent)
    uuid, digest = delivery_uuid(request, body), _digest(body)
    now = timezone.now()
    try:
        with transaction.atomic(using=using):
            event = WebhookEvent.objects.using(using).create(
                uuid=uuid,
                body_digest=digest,
                event=payloads.as_text(payload.get("event"), 64),
                webhook_id=payloads.as_text(request.headers.get("rtk-webhook-id"), 100),
                meeting_id=payloads.meeting_id_of(payload),
                received_at=now,
                payload=redact.redacted(payloads.storable(payload)),
                # the retry task's safety net, should the task below never run (a broker outage)
                next_try_at=now + timedelta(seconds=retry.UNQUEUED_GRACE_SECONDS),
            )
            transaction.on_commit(lambda: _send_task(process_webhook_event, event.pk), using=using)
    except IntegrityError:
        _again_if_unprocessed(using, uuid, digest)
        return False
    return True


def _again_if_unprocessed(using: str, uuid: str, digest: str) -> None:
    """A delivery of an event stored before: if that event is not processed (it failed, or its
    task was lost), send it for processing again; the platform is telling us it still matters."""
    from ..tasks import process_webhook_event

    stored = (
        WebhookEvent.objects.using(using)
        .filter(Q(uuid=uuid) | Q(body_digest=digest), processed_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )
    if stored is not None:
        _send_task(process_webhook_event, stored)


def _send_task(task, pk: int) -> None:
    try:
        task.delay(pk)
    except Exception as err:  # a broker outage must not lose the event: it stays unprocessed
        logger.warning("could not queue webhook event %s: %s", pk, type(err).__name__)
