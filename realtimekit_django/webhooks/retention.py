"""How long stored webhook events are kept: the work of ``realtimekit.cleanup_webhook_events``.

A stored event serves replays and audits; after ``WEBHOOK_RETENTION_DAYS`` it has served them
(and any download link it mentioned expired long before), so it is deleted. This runs and is
tested without Celery.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from ..conf import get_settings
from ..exceptions import ValidationError

# The task logged these lines under this name before the work moved here; operators filter on it.
logger = logging.getLogger("realtimekit_django.tasks")


def delete_old_events(days: int | None = None) -> int:
    """Delete webhook events received more than ``days`` (default ``WEBHOOK_RETENTION_DAYS``)
    ago; returns how many. Their download URLs expired long before."""
    from ..models import WebhookEvent

    keep = days if days is not None else get_settings().webhook_retention_days
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValidationError([("days", "must be a whole number of days, at least 1")])
    deleted, _ = WebhookEvent.objects.filter(received_at__lt=timezone.now() - timedelta(days=keep)).delete()
    logger.info("deleted %s webhook events older than %s days", deleted, keep)
    return deleted
