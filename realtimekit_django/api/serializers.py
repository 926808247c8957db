"""What the API shows: a meeting's public fields and the answer to a join.

Neither ``recording_config`` nor ``remote_data`` is ever shown: the first is the site's storage
set-up (its secrets are never stored, but its bucket names are nobody's business) and the
second is the raw payload, which could grow fields the site did not mean to publish.

``live`` and ``people_in`` come from webhooks (sessions and attendance): a list page costs one
query for all of its meetings, not one per meeting.
"""

from __future__ import annotations

from datetime import UTC

from rest_framework import serializers

from ..models import Meeting, Session

PUBLIC_MEETING_FIELDS = (
    "id",
    "title",
    "status",
    "record_on_start",
    "live_stream_on_start",
    "persist_chat",
    "summarize_on_end",
    "transcribe_on_end",
    "session_keep_alive_time_in_secs",
    "remote_created_at",
    "remote_updated_at",
)


class MeetingListSerializer(serializers.ListSerializer):
    """Looks up who is in every meeting of the page at once."""

    def to_representation(self, data):
        meetings = list(data.all() if hasattr(data, "all") else data)
        self.child.people_in = Session.objects.people_in(meeting.pk for meeting in meetings)
        return super().to_representation(meetings)


class MeetingSerializer(serializers.ModelSerializer):
    live = serializers.SerializerMethodField(help_text="Whether a session of the meeting is live now.")
    people_in = serializers.SerializerMethodField(help_text="How many are in its live session now.")

    class Meta:
        model = Meeting
        fields = (*PUBLIC_MEETING_FIELDS, "live", "people_in")
        read_only_fields = fields
        list_serializer_class = MeetingListSerializer

    def _people_in(self, meeting: Meeting) -> dict:
        known = getattr(self, "people_in", None)
        if known is None:  # a single meeting, not a list page
            known = self.people_in = Session.objects.people_in([meeting.pk])
        return known

    def get_live(self, meeting: Meeting) -> bool:
        return meeting.pk in self._people_in(meeting)

    def get_people_in(self, meeting: Meeting) -> int:
        return self._people_in(meeting).get(meeting.pk, 0)


class JoinTokenSerializer(serializers.Serializer):
    """The join answer, built from a :class:`~realtimekit_django.services.JoinToken`.

    The token is for the browser of the user who asked, right now; the server keeps no copy.
    """

    token = serializers.CharField()
    participant_id = serializers.UUIDField(source="participant.pk")
    meeting_id = serializers.UUIDField(source="participant.meeting_id")
    preset_name = serializers.CharField()
    #: Always UTC with a ``Z``, whatever the site's ``TIME_ZONE`` (the documented form).
    expires_at = serializers.DateTimeField(allow_null=True, default_timezone=UTC)


class JoinRequestSerializer(serializers.Serializer):
    """The join request's body: empty, or ``{"refresh": true}`` to ask for a fresh token (the
    kept one, if any, is dropped first). Every other key is ignored: the preset comes from the
    site's policy, never from the request."""

    refresh = serializers.BooleanField(required=False, default=False)
