"""The one join path: the meeting read inside the join, the person's participant found by user
as well as by custom id, an answer that states what the token grants, and no orphan left
behind when a remote add cannot be kept."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from realtimekit_django import services, signals
from realtimekit_django.client import get_client
from realtimekit_django.exceptions import MeetingInactive
from realtimekit_django.models import Meeting, Participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw", first_name="Alice")


def participant_requests(emulator) -> list:
    return [r for r in emulator.requests if "/participants" in r.path]


# -- 12.1: a user whose participant carries another custom id ----------------------------------


def test_a_user_added_by_the_admin_under_another_custom_id_joins_as_that_participant(
    realtimekit_emulator, meeting, user
):
    added, _token = services.add_participant(
        meeting, custom_participant_id="chosen-by-staff", preset_name="group_call_participant", user=user
    )
    before = len(participant_requests(realtimekit_emulator))

    joined = services.issue_join_token(meeting, user)

    assert joined.participant.pk == added.pk
    assert joined.participant.custom_participant_id == "chosen-by-staff"  # kept: the API cannot change it
    assert len(participant_requests(realtimekit_emulator)) == before + 1
    assert [p["id"] for p in realtimekit_emulator.participants(str(meeting.pk))] == [str(added.pk)]
    assert Participant.objects.count() == 1


@pytest.mark.parametrize("change", ["SECRET_KEY", "PARTICIPANT_ID_FUNCTION"])
def test_a_changed_participant_id_function_still_finds_the_users_participant(
    realtimekit_emulator, meeting, user, settings, change
):
    first = services.issue_join_token(meeting, user)
    if change == "SECRET_KEY":
        settings.SECRET_KEY = "rotated-" + settings.SECRET_KEY
    else:
        settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PARTICIPANT_ID_FUNCTION": lambda u: f"site-{u.pk}"}

    response = _api(user).post(reverse("realtimekit:meeting-join", args=[meeting.pk]))

    assert response.status_code == 200, response.content
    assert response.json()["participant_id"] == str(first.participant.pk)
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 1
    assert Participant.objects.count() == 1


def test_a_participant_of_another_user_with_the_same_custom_id_is_never_handed_out(
    realtimekit_emulator, meeting, user, django_user_model, settings
):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PARTICIPANT_ID_FUNCTION": lambda u: "everyone"}
    other = django_user_model.objects.create_user("bob")
    theirs = services.issue_join_token(meeting, other)

    mine = services.issue_join_token(meeting, user)

    assert mine.participant.pk != theirs.participant.pk
    assert Participant.objects.get(pk=theirs.participant.pk).user == other
    assert Participant.objects.get(pk=mine.participant.pk).user == user


def test_an_unclaimed_participant_with_the_persons_custom_id_is_claimed(realtimekit_emulator, meeting, user):
    from realtimekit_django.conf import get_settings

    custom_id = get_settings().participant_id_function(user)
    unclaimed, _token = services.add_participant(
        meeting, custom_participant_id=custom_id, preset_name="group_call_participant"
    )

    joined = services.issue_join_token(meeting, user)

    assert joined.participant.pk == unclaimed.pk
    assert Participant.objects.get(pk=unclaimed.pk).user == user


def test_a_remote_add_that_cannot_be_kept_is_deleted_remotely(realtimekit_emulator, meeting, user):
    def failing_receiver(**kwargs):
        raise RuntimeError("a site's receiver failed")

    signals.participant_added.connect(failing_receiver, weak=False, dispatch_uid="failing")
    try:
        with pytest.raises(RuntimeError):
            services.issue_join_token(meeting, user)
        with pytest.raises(RuntimeError):
            services.add_participant(
                meeting, custom_participant_id="cp", preset_name="group_call_participant"
            )
    finally:
        signals.participant_added.disconnect(dispatch_uid="failing")

    assert realtimekit_emulator.participants(str(meeting.pk)) == []
    assert Participant.objects.count() == 0
    deletes = [r for r in realtimekit_emulator.requests if r.method == "DELETE"]
    assert len(deletes) == 2


# -- 12.2: a join decides on the meeting it reads itself -------------------------------------------


def test_services_update_the_instance_they_were_given(realtimekit_emulator, meeting):
    returned = services.set_meeting_status(meeting, "INACTIVE")
    assert returned is meeting and meeting.status == "INACTIVE"
    assert services.update_meeting(meeting, title="Renamed") is meeting and meeting.title == "Renamed"
    assert services.refresh_meeting(meeting) is meeting
    assert Meeting.objects.get().title == "Renamed"


def test_a_stale_active_copy_cannot_join_a_deactivated_meeting(realtimekit_emulator, meeting, user):
    stale = Meeting.objects.get(pk=meeting.pk)
    services.set_meeting_status(meeting, "INACTIVE")
    before = len(realtimekit_emulator.requests)

    with pytest.raises(MeetingInactive):
        services.issue_join_token(stale, user)

    assert len(realtimekit_emulator.requests) == before


def test_a_stale_inactive_copy_does_not_refuse_a_reactivated_meeting(realtimekit_emulator, meeting, user):
    services.set_meeting_status(meeting, "INACTIVE")
    stale = Meeting.objects.get(pk=meeting.pk)
    services.set_meeting_status(meeting, "ACTIVE")

    joined = services.issue_join_token(stale, user)

    assert joined.participant.meeting.status == "ACTIVE"


def test_a_meeting_flagged_missing_cannot_be_joined_through_an_instance(realtimekit_emulator, meeting, user):
    Meeting.objects.filter(pk=meeting.pk).update(missing_since=meeting.synced_at)
    before = len(realtimekit_emulator.requests)
    with pytest.raises(Meeting.DoesNotExist):
        services.issue_join_token(meeting, user)
    assert len(realtimekit_emulator.requests) == before


# -- 12.3: the answer says what the token grants ---------------------------------------------------


def test_a_rejoin_corrects_a_preset_changed_remotely(realtimekit_emulator, meeting, user):
    first = services.issue_join_token(meeting, user)
    get_client().meetings.edit_participant(
        str(first.participant.pk), meeting_id=str(meeting.pk), preset_name="group_call_host"
    )  # behind the site's back: the row still says group_call_participant

    again = services.issue_join_token(meeting, user)

    remote = realtimekit_emulator.participants(str(meeting.pk))[0]
    assert again.preset_name == remote["preset_name"] == "group_call_participant"
    assert Participant.objects.get().preset_name == "group_call_participant"


def _api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_an_error_report_from_inside_a_join_shows_no_token(realtimekit_emulator, meeting, user, rf, settings):
    """Frames of the join hold the token (the API's answer); the error report of a failure there
    (a site's receiver raising), as ``mail_admins`` sends it, must not print it."""
    from django.views.debug import ExceptionReporter

    settings.DEBUG = False  # what production error e-mails are built with

    def failing(**kwargs):
        raise RuntimeError("receiver failed")

    signals.token_issued.connect(failing, weak=False, dispatch_uid="failing-token")
    try:
        with pytest.raises(RuntimeError) as caught:
            services.issue_join_token(meeting, user)
    finally:
        signals.token_issued.disconnect(dispatch_uid="failing-token")
    error = caught.value
    report = ExceptionReporter(rf.post("/join/"), type(error), error, error.__traceback__)
    text = report.get_traceback_text() + report.get_traceback_html()
    assert "_first_join" in text and "receiver failed" in text  # the frames are in the report
    token = realtimekit_emulator.issued_tokens[-1]  # read only now: no frame above holds it
    assert token not in text


def test_a_failing_token_issued_receiver_leaves_row_and_remote_participant_together(
    realtimekit_emulator, meeting, user
):
    def failing(**kwargs):
        raise RuntimeError("receiver failed")

    signals.token_issued.connect(failing, weak=False, dispatch_uid="failing-issued")
    try:
        with pytest.raises(RuntimeError):
            services.issue_join_token(meeting, user)
    finally:
        signals.token_issued.disconnect(dispatch_uid="failing-issued")
    remote = [p["id"] for p in realtimekit_emulator.participants(str(meeting.pk))]
    assert remote == [str(p.pk) for p in Participant.objects.all()] and len(remote) == 1
