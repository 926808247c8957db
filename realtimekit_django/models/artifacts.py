"""Files RealtimeKit makes after a meeting (chat export, transcript, summary), kept on the site.

One row per session and kind. The download URL is a bearer link that expires: it is never a
field here; the copy asks the API for a fresh one each time (:mod:`..services.artifacts`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .sessions import Session


class ArtifactKind(models.TextChoices):
    CHAT = "chat", _("Chat export")
    TRANSCRIPT = "transcript", _("Transcript")
    SUMMARY = "summary", _("Summary")


class ArtifactState(models.TextChoices):
    ANNOUNCED = "announced", _("Announced")
    COPYING = "copying", _("Copying")
    STORED = "stored", _("Stored")
    FAILED = "failed", _("Failed, tried again later")
    GIVEN_UP = "given_up", _("Given up")


class SessionArtifact(models.Model):
    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="artifacts", verbose_name=_("session")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=ArtifactKind.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=ArtifactState.choices, default=ArtifactState.ANNOUNCED
    )
    stored_name = models.CharField(_("stored file"), max_length=500, blank=True, default="")
    stored_size = models.BigIntegerField(_("stored size (bytes)"), null=True, blank=True)
    stored_sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True, default="")
    content_type = models.CharField(_("content type"), max_length=100, blank=True, default="")
    tries = models.PositiveIntegerField(_("tries"), default=0)
    next_attempt_at = models.DateTimeField(_("next try"), null=True, blank=True)
    claim_token = models.CharField(max_length=64, blank=True, default="", editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True, default="")
    announced_at = models.DateTimeField(_("announced"), auto_now_add=True)
    stored_at = models.DateTimeField(_("stored"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("session artifact")
        verbose_name_plural = _("session artifacts")
        constraints = [
            models.UniqueConstraint(fields=["session", "kind"], name="realtimekit_artifact_one_per_kind")
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="realtimekit_artifact_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.session_id}"
