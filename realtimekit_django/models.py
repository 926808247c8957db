"""Local mirrors of RealtimeKit meetings and participants.

The primary keys *are* the remote UUIDs: one identity, so a row and its remote object can never
be paired wrongly. Each row keeps ``remote_data``, the last payload it was built from (minus
write-only storage secrets), so fields the API adds later are not lost, and
``remote_updated_at``, so an older payload never overwrites a newer row.

Only :mod:`realtimekit_django.services` writes these rows from remote data. No token is ever
stored: tokens live 100 days and only deleting the participant revokes them, so a stored token
would be a long-lived secret waiting to leak.
"""

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
        from .conf import get_settings

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


class Preset(models.Model):
    """A preset of this RealtimeKit app (the permissions and UI a participant joins with).

    The listing gives only the id, name and times; that is what is mirrored, so that forms
    offer a choice of the app's presets and a preset name is checked before any call.
    """

    id = models.UUIDField(_("preset id"), primary_key=True, editable=False)
    app_id = models.CharField(_("app id"), max_length=100, db_index=True, editable=False)
    name = models.CharField(_("name"), max_length=255)
    remote_created_at = models.DateTimeField(_("created (remote)"), null=True, blank=True)
    remote_updated_at = models.DateTimeField(_("updated (remote)"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    remote_data = models.JSONField(_("last remote payload"), default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("preset")
        verbose_name_plural = _("presets")
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(fields=["app_id", "name"], name="realtimekit_preset_name_per_app")
        ]

    def __str__(self) -> str:
        return self.name


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

    class Meta:
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        ordering = ("-invoked_at", "id")
        permissions = [("control_recording", "Can start, pause, resume and stop recordings")]

    def __str__(self) -> str:
        return self.output_file_name or str(self.id)

    @property
    def is_active(self) -> bool:
        return self.status in (RecordingStatus.INVOKED, RecordingStatus.RECORDING, RecordingStatus.PAUSED)


# -- pushed by webhooks ----------------------------------------------------------------------


class WebhookEvent(models.Model):
    """One webhook delivery, stored once (by ``uuid``) before anything is done with it.

    The receiver only verifies and inserts; a task processes the row later, and a failed row can
    be processed again from what is stored here. ``payload`` may hold short-lived download
    URLs and a live stream's ``streamKey`` (bearer secrets): it is kept for processing and
    replay, but never shown on list pages, in logs or in the ``repr``.
    """

    uuid = models.CharField(
        _("delivery id"),
        max_length=100,
        unique=True,
        help_text=_("rtk-uuid, or a digest of the webhook id and the body when the header is missing."),
    )
    event = models.CharField(_("event"), max_length=64, db_index=True)
    webhook_id = models.CharField(_("webhook id"), max_length=100, blank=True, default="")
    meeting_id = models.UUIDField(_("meeting id"), null=True, blank=True, db_index=True)
    received_at = models.DateTimeField(_("received"), db_index=True)
    payload = models.JSONField(_("payload"), default=dict, editable=False)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(_("processing attempts"), default=0)
    error = models.TextField(_("last error"), blank=True, default="")

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ("-received_at", "-id")

    def __str__(self) -> str:
        return f"{self.event} {self.uuid}"

    def __repr__(self) -> str:  # never the payload: it may carry download URLs and stream keys
        processed = self.processed_at is not None
        return f"<WebhookEvent {self.pk} {self.event!r} uuid={self.uuid!r} processed={processed}>"

    @property
    def failed(self) -> bool:
        return self.processed_at is None and bool(self.error)


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
