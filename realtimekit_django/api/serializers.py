"""What the API shows: a meeting's public fields and the answer to a join.

Neither ``recording_config`` nor ``remote_data`` is ever shown: the first is the site's storage
set-up (its secrets are never stored, but its bucket names are nobody's business) and the
second is the raw payload, which could grow fields the site did not mean to publish.
"""

from __future__ import annotations

from datetime import UTC

from rest_framework import serializers

from ..models import Meeting

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


class MeetingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Meeting
        fields = PUBLIC_MEETING_FIELDS
        read_only_fields = PUBLIC_MEETING_FIELDS


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
