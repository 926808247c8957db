"""Signals other apps can listen to. They are sent after the remote call succeeded and the
local row was written (inside the same transaction, so use ``transaction.on_commit`` in a
receiver that talks to the outside world).

No signal ever carries a participant token: a receiver that logged its kwargs would leak it.

- ``meeting_created(sender=Meeting, meeting)``
- ``meeting_updated(sender=Meeting, meeting, changed: tuple[str, ...])``
- ``participant_added(sender=Participant, participant)``
- ``participant_removed(sender=Participant, participant_id, meeting_id, custom_participant_id)``
- ``token_issued(sender=Participant, participant, expires_at)``: a join or refresh handed out a token.
- ``reconcile_finished(sender=None, report)``: a reconcile walk ended (complete or not).
- ``meetings_touched(sender=Meeting, meeting_ids: list)``: a service changed these meetings or
  their participants remotely. The sync scheduler listens (:mod:`.sync.receivers`) to walk their
  participants first; this is how the writers tell the readers without importing them. Sent
  where the change is stored (inside its transaction when there is one), so a receiver that
  fails fails the call.

- ``webhooks_health_changed(sender=None, healthy: bool, reason: str)``: the scheduler moved
  between relying on webhooks (``healthy``) and polling (:mod:`.sync.health`); sent once per
  change, by the run that saw it.

Sent while a stored webhook event is processed (each at most once per session or peer, whatever
the order and number of deliveries):

- ``webhook_received(sender=WebhookEvent, event)``: every processed event, including types this
  app does not model (``event.payload`` may hold download URLs and stream keys: never log it).
- ``meeting_started(sender=Session, session)``: a session was first seen.
- ``meeting_ended(sender=Session, session)``: a session's end was first seen.
- ``participant_joined(sender=SessionParticipant, attendance)``: a peer was first seen in a session.
- ``participant_left(sender=SessionParticipant, attendance)``: a peer's leave was first seen.
"""

from django.dispatch import Signal

meeting_created = Signal()
meeting_updated = Signal()
participant_added = Signal()
participant_removed = Signal()
token_issued = Signal()
reconcile_finished = Signal()
meetings_touched = Signal()
webhooks_health_changed = Signal()
webhook_received = Signal()
meeting_started = Signal()
meeting_ended = Signal()
participant_joined = Signal()
participant_left = Signal()

#: ``session_attendance_final(sender=Session, session)``: the API confirmed the session ended
#: and its attendance was read from the API (sent once per session, by the sessions walk).
session_attendance_final = Signal()
#: ``livestream_updated(sender=Livestream, livestream, created: bool)``: a livestream was
#: started, stopped or its status moved (never carries the stream key or ingest server).
livestream_updated = Signal()
#: ``artifact_stored(sender=SessionArtifact, artifact)``: a session's chat export, transcript
#: or summary was copied into the site's storage (sent once per stored copy).
artifact_stored = Signal()
