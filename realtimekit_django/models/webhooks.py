"""Webhook deliveries, each stored once before it is processed."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.Model):
    """One webhook delivery, stored once (by ``uuid``) before anything is done with it.

    The receiver only verifies and inserts; a task processes the row later, and a failed row can
    be processed again from what is stored here. ``payload`` is the delivered JSON with its
    secrets (a live stream's ``streamKey`` and ``ingestServer``, every download link) already
    replaced by ``"[redacted]"`` (:mod:`realtimekit_django.webhooks.redact`), and any value a
    database could not store replaced and listed under ``"_unstorable"``. ``body_digest`` (the
    SHA-256 of the raw body) makes a replayed body a duplicate whatever its ``rtk-uuid``.
    ``next_try_at`` is when the retry task (``realtimekit.retry_webhook_events``) processes an
    unprocessed event again; empty once it is processed or has used up its tries.
    """

    uuid = models.CharField(
        _("delivery id"),
        max_length=100,
        unique=True,
        help_text=_("rtk-uuid, or a digest of the webhook id and the body when the header is missing."),
    )
    body_digest = models.CharField(
        _("body digest"),
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("SHA-256 of the raw body: the same signed body delivered again is a duplicate."),
    )
    event = models.CharField(_("event"), max_length=64, db_index=True)
    webhook_id = models.CharField(_("webhook id"), max_length=100, blank=True, default="")
    meeting_id = models.UUIDField(_("meeting id"), null=True, blank=True, db_index=True)
    received_at = models.DateTimeField(_("received"), db_index=True)
    payload = models.JSONField(_("payload"), default=dict, editable=False)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(_("processing attempts"), default=0)
    error = models.TextField(_("last error"), blank=True, default="")
    next_try_at = models.DateTimeField(
        _("next try"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("When the retry task processes this event again; empty when done or given up."),
    )

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ("-received_at", "-id")

    def __str__(self) -> str:
        return f"{self.event} {self.uuid}"

    def __repr__(self) -> str:  # never the payload: it is the delivery's, whatever it holds
        processed = self.processed_at is not None
        return f"<WebhookEvent {self.pk} {self.event!r} uuid={self.uuid!r} processed={processed}>"

    @property
    def failed(self) -> bool:
        return self.processed_at is None and bool(self.error)
