"""Where sync listens to the writers: the services send signals, never call into ``sync/``.

``services/`` must not know that a scheduler exists (the writer side does not import the
reader side: ``tests/test_structure.py`` checks it); it sends
:data:`~realtimekit_django.signals.meetings_touched` and this module turns that into
:func:`.schedule.mark_touched`, so the next participants walk takes those meetings first.
The webhooks package does the same: it sends
:data:`~realtimekit_django.signals.webhook_received` for each processed event, and
:func:`on_webhook` hands it to :mod:`.targeted` (targeted fetches, the front of the walks, the
webhooks' health). Connected when the app is ready (:meth:`realtimekit_django.apps.RealtimeKitConfig.ready`).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from .. import signals
from . import schedule, targeted

DISPATCH_UID = "realtimekit_django.sync.receivers.mark_touched"
WEBHOOK_DISPATCH_UID = "realtimekit_django.sync.receivers.on_webhook"


@receiver(signals.meetings_touched, dispatch_uid=DISPATCH_UID)
def mark_touched(sender: Any, meeting_ids: list, **kwargs: Any) -> None:
    """Walk these meetings' participants first at the next run."""
    schedule.mark_touched(meeting_ids)


@receiver(signals.webhook_received, dispatch_uid=WEBHOOK_DISPATCH_UID)
def on_webhook(sender: Any, event: Any, **kwargs: Any) -> None:
    """A processed webhook event: fetch what it names and the mirror lacks (:mod:`.targeted`)."""
    targeted.on_webhook(sender, event, **kwargs)
