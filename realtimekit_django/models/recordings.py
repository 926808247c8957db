"""Recordings of meetings, and where the site kept its copy."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .meetings import Meeting


class RecordingStatus(models.TextChoices):
    INVOKED = "INVOKED", _("Invoked")
    RECORDING = "RECORDING", _("Recording")
    PAUSED = "PAUSED", _("Paused")
    UPLOADING = "UPLOADING", _("Uploading")
    UPLOADED = "UPLOADED", _("Uploaded")
    ERRORED = "ERRORED", _("Errored")


class Recording(models.Model):
    """A recording of a meeting, as RealtimeKit last described it, and where the site kept it.

    RealtimeKit deletes recordings after 7 days; ``stored_name`` and ``stored_size`` say
    where the copy in ``RECORDING_STORAGE`` is. The download URL is a short-lived bearer
    link and is never stored (``remote_data`` keeps the payload without it).
    """

    id = models.UUIDField(_("recording id"), primary_key=True, editable=False)
    app_id = models.CharField(_("app id"), max_length=100, db_index=True, editable=False)
    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, null=True, blank=True, related_name="recordings", editable=False
    )
    session_id = models.UUIDField(_("session id"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=RecordingStatus.choices, db_index=True)
    output_file_name = models.CharField(_("file name"), max_length=1024, blank=True)
    file_size = models.BigIntegerField(_("file size (bytes)"), null=True, blank=True)
    invoked_at = models.DateTimeField(_("invoked"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    duration_seconds = models.IntegerField(_("duration (seconds)"), null=True, blank=True)
    download_url_expiry = models.DateTimeField(_("download URL expires"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    remote_data = models.JSONField(_("last remote payload"), default=dict, blank=True, editable=False)
    stored_name = models.CharField(_("stored file"), max_length=1024, blank=True, editable=False)
    stored_size = models.BigIntegerField(_("stored size (bytes)"), null=True, blank=True, editable=False)
    copy_claimed_at = models.DateTimeField(_("copy claimed"), null=True, blank=True, editable=False)
    copy_error = models.CharField(_("last copy error"), max_length=500, blank=True, editable=False)
    # The holder's token: only the worker whose token is here may finish the copy.
    copy_claim = models.CharField(_("copy claim"), max_length=64, blank=True, editable=False)
    copy_tries = models.PositiveIntegerField(_("copy tries"), default=0, editable=False)
    copy_next_attempt_at = models.DateTimeField(_("next copy try"), null=True, blank=True, editable=False)
    copy_failed_at = models.DateTimeField(_("copy given up"), null=True, blank=True, editable=False)
    stored_sha256 = models.CharField(_("stored SHA-256"), max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        ordering = ("-invoked_at", "id")
        permissions = [("control_recording", "Can start, pause, resume and stop recordings")]

    def __str__(self) -> str:
        return self.output_file_name or str(self.id)

    @property
    def copy_state(self) -> str:
        """copied, given up, claimed, waiting (for the next try), pending or none (not UPLOADED)."""
        if self.stored_name:
            return "copied"
        if self.copy_failed_at is not None:
            return "given up"
        if self.copy_claim:
            return "copying"
        if self.copy_tries:
            return "waiting"
        return "pending" if self.status == RecordingStatus.UPLOADED else "none"

    @property
    def is_active(self) -> bool:
        return self.status in (RecordingStatus.INVOKED, RecordingStatus.RECORDING, RecordingStatus.PAUSED)


# -- pushed by webhooks ----------------------------------------------------------------------
