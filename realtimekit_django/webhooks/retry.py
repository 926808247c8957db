"""Trying stored events again until they are processed: the retry task's work.

An event can stay unprocessed two ways: its handler failed (a database hiccup, a bug fixed
since, a row the handler needed missing), or its processing task never ran (a broker outage
when the receiver sent it). Either way the platform believes it delivered the event and will
not send it again, so the site must try it again itself. Each event row carries
``next_try_at``: the receiver sets it a grace period ahead (:data:`UNQUEUED_GRACE_SECONDS`) in
case the task never runs, each failure moves it later (:func:`next_try`, exponential with a
cap), success clears it, and so does the last of :data:`MAX_ATTEMPTS` tries: the event then
stays failed, for an operator's replay (admin "Process again", ``realtimekit_webhooks replay``).

:func:`retry_due` is run by the ``realtimekit.retry_webhook_events`` task (every minute with
``webhook_beat_schedule()``); it processes each due event with
:func:`.handlers.process_event`, which locks the row and skips one processed meanwhile, so a
retry racing a late task or a redelivery processes the event once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

logger = logging.getLogger("realtimekit_django.webhooks")

#: Tries an event gets (the receiver's task counts as the first); then it waits for a person.
MAX_ATTEMPTS = 8
#: The wait after the first failure, doubled after each further one, up to the cap.
FIRST_BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 6 * 3600
#: How long after its arrival an event whose task never ran is picked up by the retry task.
UNQUEUED_GRACE_SECONDS = 300
#: The most events one run of the retry task processes (the rest wait for the next run).
BATCH = 200


def backoff_seconds(attempts: int) -> int:
    """The wait after the ``attempts``-th failed try: 60 s, 120 s, 240 s, ... up to 6 hours."""
    return min(FIRST_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def next_try(attempts: int, now: datetime | None = None) -> datetime | None:
    """When an event that has failed ``attempts`` times is tried again; None once it has had
    :data:`MAX_ATTEMPTS` tries."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return (now or timezone.now()) + timedelta(seconds=backoff_seconds(attempts))


def due_events(now: datetime | None = None):
    """The unprocessed events whose next try is due, the longest waiting first."""
    from ..models import WebhookEvent

    return WebhookEvent.objects.filter(
        processed_at__isnull=True, next_try_at__isnull=False, next_try_at__lte=now or timezone.now()
    ).order_by("next_try_at", "pk")


def retry_due(limit: int = BATCH, now: datetime | None = None) -> dict[str, int]:
    """Process up to ``limit`` events due at ``now`` (default: now), each in its own
    transaction; how many ended each way (``processed``, ``failed``, ``already``, ``missing``)."""
    from .handlers import process_event

    outcomes: dict[str, int] = {}
    for pk in list(due_events(now).values_list("pk", flat=True)[:limit]):
        outcome = process_event(pk)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        logger.info("webhook retry: %s", ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))
    return outcomes
