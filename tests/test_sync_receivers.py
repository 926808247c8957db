"""The services tell the sync scheduler what they changed through a signal, not an import.

Every service call that changes a meeting or its participants remotely marks the meeting
touched (``participants_touched_at``), so the next participants walk takes it first; the mark
comes from :mod:`realtimekit_django.sync.receivers` listening to ``meetings_touched``.
"""

from __future__ import annotations

import pytest

from realtimekit_django import services, signals
from realtimekit_django.models import Meeting
from realtimekit_django.sync import receivers

pytestmark = pytest.mark.django_db


def touched_at(meeting):
    return Meeting.objects.values_list("participants_touched_at", flat=True).get(pk=meeting.pk)


def clear(meeting):
    Meeting.objects.filter(pk=meeting.pk).update(participants_touched_at=None)


@pytest.fixture
def meeting(realtimekit_emulator):
    meeting = services.create_meeting(title="Standup")
    assert touched_at(meeting) is not None  # create_meeting marks it
    clear(meeting)
    return meeting


@pytest.fixture
def participant(meeting):
    participant, _ = services.add_participant(meeting, custom_participant_id="cp", preset_name="a")
    clear(meeting)
    return participant


CHANGES = {
    "update_meeting": lambda meeting, participant: services.update_meeting(meeting, title="Renamed"),
    "replace_meeting": lambda meeting, participant: services.replace_meeting(meeting, title="Replaced"),
    "add_participant": lambda meeting, participant: services.add_participant(
        meeting, custom_participant_id="other", preset_name="a"
    ),
    "edit_participant": lambda meeting, participant: services.edit_participant(participant, name="Bob"),
    "remove_participant": lambda meeting, participant: services.remove_participant(participant),
}


@pytest.mark.parametrize("change", CHANGES)
def test_each_change_marks_its_meeting_touched(meeting, participant, change):
    assert touched_at(meeting) is None
    CHANGES[change](meeting, participant)
    assert touched_at(meeting) is not None


def test_the_mark_comes_through_the_signal(meeting, participant):
    """With the receiver disconnected, nothing marks the meeting: the services do not call sync.

    (An edit, because a meeting's own update is marked by the store too, when its remote
    ``updated_at`` moves.)
    """
    sent = []

    def spy(sender, meeting_ids, **kwargs):
        sent.append((sender, list(meeting_ids)))

    signals.meetings_touched.connect(spy)
    assert signals.meetings_touched.disconnect(dispatch_uid=receivers.DISPATCH_UID)
    try:
        participant = services.edit_participant(participant, name="Unseen")
    finally:
        signals.meetings_touched.disconnect(spy)
        signals.meetings_touched.connect(receivers.mark_touched, dispatch_uid=receivers.DISPATCH_UID)
    assert sent == [(Meeting, [meeting.pk])]
    assert touched_at(meeting) is None
    services.edit_participant(participant, name="Seen again")
    assert touched_at(meeting) is not None
