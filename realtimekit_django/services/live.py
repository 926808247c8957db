"""Acting on a meeting while it is live: remove some people, or end it for everyone.

Nothing local changes: a removed person is still a participant of the meeting (and can join
again with their token); to take access away, remove the participant itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..client import RealtimeKitClient, get_client
from ..exceptions import ValidationError
from ..models import Meeting, Participant
from .answers import data_of


def kick_participants(
    meeting: Meeting, participants: Iterable[Participant], *, client: RealtimeKitClient | None = None
) -> list[str]:
    """Remove these participants from the meeting's live session; returns the removed ids.

    Refuses (``ValidationError``, before any call) an empty list or a participant of another
    meeting; the API answers 404 (``NotFound``) when none of them is in the live session.
    """
    people = list(participants)
    if not people:
        raise ValidationError([("participants", "choose at least one participant")])
    strangers = [str(p.pk) for p in people if p.meeting_id != meeting.pk]
    if strangers:
        raise ValidationError([("participants", f"not participants of this meeting: {', '.join(strangers)}")])
    api = client or get_client()
    envelope = api.active_session.kick_participants(
        str(meeting.pk), participant_ids=[str(p.pk) for p in people]
    )
    kicked = data_of(envelope, "kick participants").get("participants") or []
    return [str(p.get("id")) for p in kicked if isinstance(p, dict)]


def end_meeting_for_everyone(meeting: Meeting, *, client: RealtimeKitClient | None = None) -> int:
    """Remove everyone from the meeting's live session (which ends it); returns how many.

    The meeting stays ACTIVE: people can start it again. Deactivate it to keep them out.
    """
    api = client or get_client()
    data = data_of(api.active_session.kick_all_participants(str(meeting.pk)), "kick all participants")
    count = data.get("kicked_participants_count")
    return int(count) if isinstance(count, int | float) and not isinstance(count, bool) else 0
