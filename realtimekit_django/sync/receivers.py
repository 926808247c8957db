"""Where sync listens to the writers: the services send signals, never call into ``sync/``.

``services/`` must not know that a scheduler exists (the writer side does not import the
reader side: ``tests/test_structure.py`` checks it); it sends
:data:`~realtimekit_django.signals.meetings_touched` and this module turns that into
:func:`.schedule.mark_touched`, so the next participants walk takes those meetings first.
Connected when the app is ready (:meth:`realtimekit_django.apps.RealtimeKitConfig.ready`).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from .. import signals
from . import schedule

DISPATCH_UID = "realtimekit_django.sync.receivers.mark_touched"


@receiver(signals.meetings_touched, dispatch_uid=DISPATCH_UID)
def mark_touched(sender: Any, meeting_ids: list, **kwargs: Any) -> None:
    """Walk these meetings' participants first at the next run."""
    schedule.mark_touched(meeting_ids)
