"""Local mirrors of RealtimeKit meetings and participants.

The primary keys *are* the remote UUIDs: one identity, so a row and its remote object can never
be paired wrongly. Each row keeps ``remote_data``, the last payload it was built from (minus
write-only storage secrets), so fields the API adds later are not lost, and
``remote_updated_at``, so an older payload never overwrites a newer row.

Only :mod:`realtimekit_django.services` writes these rows from remote data. No token is ever
stored: tokens live 100 days and only deleting the participant revokes them, so a stored token
would be a long-lived secret waiting to leak.
"""

from .artifacts import ArtifactKind, ArtifactState, SessionArtifact
from .livestreams import Livestream, LivestreamStatus
from .meetings import Meeting, MeetingQuerySet, MeetingStatus, Participant
from .presets import Preset
from .recordings import Recording, RecordingStatus
from .sessions import (
    Attendance,
    Session,
    SessionParticipant,
    SessionParticipantQuerySet,
    SessionQuerySet,
    SessionStatus,
)
from .webhooks import WebhookEvent

__all__ = [
    "ArtifactKind",
    "ArtifactState",
    "Attendance",
    "Livestream",
    "LivestreamStatus",
    "Meeting",
    "MeetingQuerySet",
    "MeetingStatus",
    "Participant",
    "Preset",
    "Recording",
    "RecordingStatus",
    "Session",
    "SessionArtifact",
    "SessionParticipant",
    "SessionParticipantQuerySet",
    "SessionQuerySet",
    "SessionStatus",
    "WebhookEvent",
]
