"""After a remote create succeeds, any local failure leaves nothing unknown behind.

A participant is deleted remotely at once (it holds a working 100-day token); a meeting cannot
be deleted remotely, so it is left for the next complete sync to adopt, and the log names it.
"""

import logging

import pytest
from django.db import OperationalError

from realtimekit_django import services, signals, store
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync import reconcile

pytestmark = pytest.mark.django_db


class LocalFailure:
    """The local step after a remote create fails: a site's receiver, or the database."""

    def __init__(self, kind: str, monkeypatch) -> None:
        self.kind = kind
        self.monkeypatch = monkeypatch
        self.error = (
            RuntimeError("a site's receiver failed") if kind == "receiver" else OperationalError("locked")
        )

    def _fail(self, *args, **kwargs):
        raise self.error

    def start(self) -> None:
        if self.kind == "receiver":
            signals.meeting_created.connect(self._fail, weak=False, dispatch_uid="failing-meeting")
            signals.participant_added.connect(self._fail, weak=False, dispatch_uid="failing-participant")
        else:
            self.monkeypatch.setattr(store, "save_meeting", self._fail)
            self.monkeypatch.setattr(store, "save_participant", self._fail)

    def stop(self) -> None:
        signals.meeting_created.disconnect(dispatch_uid="failing-meeting")
        signals.participant_added.disconnect(dispatch_uid="failing-participant")
        self.monkeypatch.undo()


@pytest.fixture(params=["receiver", "database"])
def local_failure(request, monkeypatch):
    failure = LocalFailure(request.param, monkeypatch)
    yield failure
    failure.stop()


def test_a_meeting_not_stored_locally_is_adopted_by_the_next_sync(
    realtimekit_emulator, local_failure, caplog
):
    local_failure.start()
    with caplog.at_level(logging.ERROR, logger="realtimekit_django.services"):
        with pytest.raises(type(local_failure.error)):
            services.create_meeting(title="Orphan")

    (remote,) = realtimekit_emulator.meetings()
    assert not Meeting.objects.exists()  # the row (and any receiver's work) rolled back
    assert remote["id"] in caplog.text and "next complete sync adopts it" in caplog.text

    local_failure.stop()
    assert reconcile.reconcile_meetings().completed
    assert Meeting.objects.get(pk=remote["id"]).title == "Orphan"


def test_a_participant_not_stored_locally_is_deleted_remotely(
    realtimekit_emulator, local_failure, django_user_model
):
    meeting = services.create_meeting(title="Standup")
    user = django_user_model.objects.create_user("ann", password="pw")
    local_failure.start()

    with pytest.raises(type(local_failure.error)):
        services.issue_join_token(meeting, user)
    with pytest.raises(type(local_failure.error)):
        services.add_participant(meeting, custom_participant_id="cp", preset_name="group_call_participant")

    assert realtimekit_emulator.participants(str(meeting.pk)) == []
    assert not Participant.objects.exists()
    adds = [
        r for r in realtimekit_emulator.requests if r.method == "POST" and r.path.endswith("/participants")
    ]
    deletes = [r for r in realtimekit_emulator.requests if r.method == "DELETE"]
    assert len(adds) == len(deletes) == 2
