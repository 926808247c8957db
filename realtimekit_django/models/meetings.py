"""Meetings and their participants, as RealtimeKit last described them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class MeetingStatus(models.TextChoices):
    ACTIVE = "ACTIVE", _("Active")
    INACTIVE = "INACTIVE", _("Inactive")


class MeetingQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=MeetingStatus.ACTIVE)

    def present_remotely(self):
        """Meetings the last complete sync still found in RealtimeKit."""
        return self.filter(missing_since__isnull=True)

    def of_this_app(self):
        """Meetings of the RealtimeKit app this site is configured for (``APP_ID``)."""
        from ..conf import get_settings

        return self.filter(app_id=get_settings().app_id)

    def joinable(self):
        """The meetings a join can succeed in: this app's, still present remotely. (Whether
        they are ACTIVE is checked by the join itself, which answers "inactive" rather than
        "no such meeting".)"""
        return self.of_this_app().present_remotely()


class Meeting(models.Model):
    """A RealtimeKit meeting, as the API last described it."""

    id = models.UUIDField(_("meeting id"), primary_key=True, editable=False)
    app_id = models.CharField(_("app id"), max_length=100, db_index=True, editable=False)
    title = models.TextField(_("title"), null=True, blank=True)  # noqa: DJ001 - the API distinguishes null from ""
    status = models.CharField(
        _("status"), max_length=8, choices=MeetingStatus.choices, default=MeetingStatus.ACTIVE, db_index=True
    )
    record_on_start = models.BooleanField(_("record on start"), default=False)
    live_stream_on_start = models.BooleanField(_("live stream on start"), default=False)
    persist_chat = models.BooleanField(_("persist chat"), default=False)
    summarize_on_end = models.BooleanField(_("summarize on end"), default=False)
    transcribe_on_end = models.BooleanField(_("transcribe on end"), default=False)
    session_keep_alive_time_in_secs = models.FloatField(_("session keep-alive (seconds)"), default=60)
    ai_config = models.JSONField(_("AI config"), default=dict, blank=True)
    recording_config = models.JSONField(
        _("recording config"),
        default=dict,
        blank=True,
        help_text=_("As the API returned it: never a storage secret."),
    )
    remote_created_at = models.DateTimeField(_("created (remote)"), null=True, blank=True, db_index=True)
    remote_updated_at = models.DateTimeField(_("updated (remote)"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    missing_since = models.DateTimeField(
        _("missing remotely since"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_(
            "Set when a complete sync did not find the meeting; meetings cannot be deleted remotely."
        ),
    )
    remote_data = models.JSONField(_("last remote payload"), default=dict, blank=True, editable=False)
    participants_synced_at = models.DateTimeField(
        _("participants verified"),
        null=True,
        blank=True,
        db_index=True,
        editable=False,
        help_text=_("When a complete walk last verified the participants against RealtimeKit."),
    )
    participants_touched_at = models.DateTimeField(
        _("participants touched"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When something last suggested the participants changed (the sync walks them first)."),
    )

    objects = MeetingQuerySet.as_manager()

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ("-remote_created_at", "id")
        indexes = [models.Index(fields=["app_id", "-remote_created_at"], name="rtk_meeting_app_created")]
        permissions = [
            ("remove_live_participant", "Can remove people from a live meeting"),
            ("end_live_meeting", "Can end a live meeting for everyone"),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)

    @property
    def is_active(self) -> bool:
        return self.status == MeetingStatus.ACTIVE


class Participant(models.Model):
    """A person's membership of a meeting, as RealtimeKit knows it (never their token)."""

    id = models.UUIDField(_("participant id"), primary_key=True, editable=False)
    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="participants", editable=False
    )
    custom_participant_id = models.CharField(_("custom participant id"), max_length=255)
    preset_name = models.CharField(_("preset"), max_length=255, db_index=True)
    name = models.TextField(_("display name"), null=True, blank=True)  # noqa: DJ001 - mirrors the API's null
    picture = models.URLField(_("picture"), max_length=2048, null=True, blank=True)  # noqa: DJ001
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="realtimekit_participants",
        help_text=_("The site user this participant was issued for, when there is one."),
    )
    remote_created_at = models.DateTimeField(_("created (remote)"), null=True, blank=True, db_index=True)
    remote_updated_at = models.DateTimeField(_("updated (remote)"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    remote_data = models.JSONField(_("last remote payload"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ("-remote_created_at", "id")
        constraints = [
            # Together with the join lock in services, one site user is one remote participant.
            models.UniqueConstraint(
                fields=["meeting", "user"],
                condition=Q(user__isnull=False),
                name="realtimekit_one_participant_per_user",
            )
        ]
        indexes = [
            models.Index(fields=["meeting", "custom_participant_id"], name="rtk_part_meeting_cpid"),
            models.Index(fields=["custom_participant_id"], name="rtk_part_cpid"),
            # The scheduler's active meetings: those with a participant written recently.
            models.Index(fields=["synced_at"], name="rtk_part_synced"),
        ]

    def __str__(self) -> str:
        return self.name or self.custom_participant_id
