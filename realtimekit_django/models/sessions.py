"""Live sessions of meetings and who attended them (from webhooks and the API)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .meetings import Meeting, Participant


class SessionStatus(models.TextChoices):
    LIVE = "LIVE", _("Live")
    ENDED = "ENDED", _("Ended")


class SessionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(status=SessionStatus.LIVE)

    def people_in(self, meeting_ids) -> dict:
        """``{meeting_id: how many are in now}`` for the given meetings that are live (one
        query, whatever the number of meetings); a meeting not live is absent."""
        counts: dict = {}
        rows = (
            self.live()
            .filter(meeting_id__in=list(meeting_ids))
            .order_by()
            .annotate(n=models.Count("attendees", filter=Q(attendees__left_at__isnull=True)))
            .values_list("meeting_id", "n")
        )
        for meeting_id, n in rows:
            counts[meeting_id] = counts.get(meeting_id, 0) + n
        return counts


class Session(models.Model):
    """One run of a meeting (RealtimeKit's ``sessionId``), built from webhook payloads alone.

    Every field is a merge that does not depend on the order events arrive in (the earliest
    start seen, the end when one was seen), so duplicates and shuffled deliveries converge.
    ``meeting`` is not a database constraint: an event may name a meeting the sync has not
    mirrored yet, and its session must not be lost for that.
    """

    id = models.CharField(_("session id"), max_length=100, primary_key=True, editable=False)
    meeting = models.ForeignKey(
        Meeting,
        on_delete=models.CASCADE,
        related_name="sessions",
        db_constraint=False,
        editable=False,
    )
    status = models.CharField(
        _("status"), max_length=8, choices=SessionStatus.choices, default=SessionStatus.LIVE, db_index=True
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=64, blank=True, default="")

    objects = SessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ("-started_at", "id")
        indexes = [models.Index(fields=["meeting", "status"], name="rtk_session_meeting_status")]

    def __str__(self) -> str:
        return self.id


class SessionParticipant(models.Model):
    """One peer's attendance of a session: from ``joined_at`` to ``left_at``.

    ``participant`` is the mirrored :class:`Participant` whose ``custom_participant_id``
    matched, when there is one. A peer still in an ended session (its leave not delivered) is
    shown as having left when the session ended.
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="attendees", editable=False)
    peer_id = models.CharField(_("peer id"), max_length=100)
    participant = models.ForeignKey(
        Participant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attendances",
        db_constraint=False,
    )
    custom_participant_id = models.CharField(
        _("custom participant id"), max_length=255, blank=True, default=""
    )
    display_name = models.TextField(_("display name"), blank=True, default="")
    joined_at = models.DateTimeField(_("joined"), null=True, blank=True)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)

    class Meta:
        verbose_name = _("session participant")
        verbose_name_plural = _("session participants")
        ordering = ("joined_at", "peer_id")
        constraints = [
            models.UniqueConstraint(fields=["session", "peer_id"], name="realtimekit_one_row_per_peer")
        ]

    def __str__(self) -> str:
        return self.display_name or self.custom_participant_id or self.peer_id

    @property
    def until(self):
        """When the peer left: its own leave, else the session's end, else None (still in)."""
        return self.left_at or self.session.ended_at

    @property
    def duration(self):
        until = self.until
        if until is None or self.joined_at is None:
            return None
        return until - self.joined_at
