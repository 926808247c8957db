"""Livestreams of meetings, as RealtimeKit and its ``livestreaming.statusUpdate`` describe them.

The stream key and the ingest server are credentials: they are handed once to the staff member
who started the stream and never reach a row (there is no field for them on purpose).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .meetings import Meeting


class LivestreamStatus(models.TextChoices):
    INVOKED = "INVOKED", _("Invoked")
    LIVE = "LIVE", _("Live")
    IDLE = "IDLE", _("Idle")
    OFFLINE = "OFFLINE", _("Offline")
    ERRORED = "ERRORED", _("Errored")


#: Statuses after which the stream is over.
FINISHED = (LivestreamStatus.OFFLINE, LivestreamStatus.ERRORED)


class Livestream(models.Model):
    """One livestream of a meeting (RealtimeKit's livestream id)."""

    id = models.CharField(_("livestream id"), max_length=100, primary_key=True, editable=False)
    meeting = models.ForeignKey(
        Meeting,
        on_delete=models.CASCADE,
        related_name="livestreams",
        db_constraint=False,
        null=True,
        blank=True,
        editable=False,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=LivestreamStatus.choices, default=LivestreamStatus.INVOKED, db_index=True
    )
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    playback_url = models.URLField(_("playback URL"), max_length=2048, blank=True, default="")
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("livestream")
        verbose_name_plural = _("livestreams")
        ordering = ("-started_at", "id")
        permissions = [("control_livestream", "Can start and stop livestreams")]

    def __str__(self) -> str:
        return self.name or self.id
