"""The Django admin for meetings and participants: every change goes through ``services``.

The admin never writes a Meeting or Participant row itself and never talks to the client: a
form's ``save()`` or an action calls a service, which calls RealtimeKit and then writes the row
the API described, so the admin can never disagree with the remote side. A token is shown
once, in the response to the admin who asked for it (never in the messages framework, never
logged or stored), and every view that holds a secret is marked sensitive for error reports.
Actions run row by row: one failing row does not stop the others, and the message says which
rows succeeded and which failed, and why.

Importing this package registers both admins (``django.contrib.admin``'s autodiscovery imports
it); the modules are one per model admin, with what they share in ``helpers`` and the forms
in ``forms``; the meeting admin's live controls, join preparation and participants inline are
in ``live``, ``prepare`` and ``inlines``.
"""

from .meetings import INLINE_PARTICIPANT_LIMIT, MeetingAdmin, ParticipantInline
from .participants import ParticipantAdmin
from .presets import PresetAdmin
from .recordings import RecordingAdmin
from .livestreams import LivestreamAdmin
from .artifacts import SessionArtifactAdmin, SessionArtifactInline
from .webhooks import SessionAdmin, WebhookEventAdmin

__all__ = [
    "INLINE_PARTICIPANT_LIMIT",
    "MeetingAdmin",
    "ParticipantAdmin",
    "ParticipantInline",
    "PresetAdmin",
    "RecordingAdmin",
    "SessionArtifactAdmin",
    "SessionArtifactInline",
    "LivestreamAdmin",
    "SessionAdmin",
    "WebhookEventAdmin",
]
