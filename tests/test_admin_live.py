"""The admin's live controls and recording actions: each gated by its own permission, each
confirmed, and each refusal (no live session, a stopped recording, an expired download link)
shown as a message with nothing half-written; a download URL is never on a page or in a message."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from realtimekit_django import services
from realtimekit_django.models import Participant, Recording, RecordingStatus
from realtimekit_django.sync import reconcile

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/realtimekit/meeting/"


def staff_with(django_user_model, client, *codenames):
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    for codename in ("view_meeting", "change_meeting", "view_recording", *codenames):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


def shown(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="Live review")


@pytest.fixture
def people(meeting):
    return [
        services.add_participant(
            meeting, custom_participant_id=f"u-{n}", preset_name="group_call_participant"
        )[0]
        for n in range(2)
    ]


def test_remove_from_the_live_meeting_asks_then_removes(
    realtimekit_emulator, meeting, people, client, django_user_model
):
    for person in people:
        realtimekit_emulator.join_session(str(meeting.pk), str(person.pk))
    staff_with(django_user_model, client, "remove_live_participant")
    page = client.post(
        CHANGELIST, {"action": "remove_live_participants_action", "_selected_action": [meeting.pk]}
    )
    url = reverse("admin:realtimekit_meeting_remove_live", args=[meeting.pk])
    assert page.status_code == 302 and page["Location"] == url
    confirm = client.get(url)
    assert confirm.status_code == 200 and "Yes, remove them from the live meeting" in confirm.content.decode()
    assert realtimekit_emulator.live_participants(str(meeting.pk)) == sorted(str(p.pk) for p in people)
    done = client.post(url, {"participants": [people[0].pk]}, follow=True)
    assert any("Removed from the live meeting" in m for m in shown(done))
    assert realtimekit_emulator.live_participants(str(meeting.pk)) == [str(people[1].pk)]
    assert Participant.objects.filter(meeting=meeting).count() == 2  # still participants


def test_removing_from_a_meeting_nobody_is_in_says_so(
    realtimekit_emulator, meeting, people, client, django_user_model
):
    staff_with(django_user_model, client, "remove_live_participant")
    url = reverse("admin:realtimekit_meeting_remove_live", args=[meeting.pk])
    page = client.post(url, {"participants": [people[0].pk]})
    assert page.status_code == 200
    assert "the meeting has no live session (nobody is in it)" in page.content.decode()


def test_live_controls_need_their_own_permissions(realtimekit_emulator, meeting, client, django_user_model):
    staff_with(django_user_model, client)
    listing = client.get(CHANGELIST).content.decode()
    for action in (
        "remove_live_participants_action",
        "end_for_everyone",
        "start_recording",
        "stop_recording",
    ):
        assert f'value="{action}"' not in listing
    assert client.get(reverse("admin:realtimekit_meeting_remove_live", args=[meeting.pk])).status_code == 403
    assert (
        "Remove from the live meeting"
        not in client.get(reverse("admin:realtimekit_meeting_change", args=[meeting.pk])).content.decode()
    )


def test_end_for_everyone_confirms_first(realtimekit_emulator, meeting, people, client, django_user_model):
    for person in people:
        realtimekit_emulator.join_session(str(meeting.pk), str(person.pk))
    staff_with(django_user_model, client, "end_live_meeting")
    form = {"action": "end_for_everyone", "_selected_action": [meeting.pk]}
    confirm = client.post(CHANGELIST, form)
    assert confirm.status_code == 200 and "Yes, end them for everyone" in confirm.content.decode()
    assert len(realtimekit_emulator.live_participants(str(meeting.pk))) == 2  # nothing done yet
    done = client.post(CHANGELIST, {**form, "post": "yes"}, follow=True)
    assert any("End for everyone: 1 succeeded" in m for m in shown(done))
    assert realtimekit_emulator.live_participants(str(meeting.pk)) == []
    again = client.post(CHANGELIST, {**form, "post": "yes"}, follow=True)
    assert any("no live session (nobody is in it)" in m for m in shown(again))


def test_start_and_stop_recording_from_the_meeting_list(
    realtimekit_emulator, meeting, people, client, django_user_model
):
    staff_with(django_user_model, client, "control_recording")
    start = {"action": "start_recording", "_selected_action": [meeting.pk]}
    refused = client.post(CHANGELIST, start, follow=True)
    assert any("Start recording: 1 failed" in m and "no live session" in m for m in shown(refused))
    assert not Recording.objects.exists()
    realtimekit_emulator.join_session(str(meeting.pk), str(people[0].pk))
    started = client.post(CHANGELIST, start, follow=True)
    assert any("Start recording: 1 succeeded" in m for m in shown(started))
    recording = Recording.objects.get(meeting=meeting)
    stop = {"action": "stop_recording", "_selected_action": [meeting.pk]}
    stopped = client.post(CHANGELIST, stop, follow=True)
    assert any("Stop recording: 1 succeeded" in m for m in shown(stopped))
    recording.refresh_from_db()
    assert recording.status not in (RecordingStatus.INVOKED, RecordingStatus.RECORDING)
    again = client.post(CHANGELIST, stop, follow=True)
    assert any("no recording of this meeting is running" in m for m in shown(again))


def stopped_recording(emulator, meeting, person) -> Recording:
    emulator.join_session(str(meeting.pk), str(person.pk))
    recording = services.start_recording(meeting)
    services.control_recording(recording, "stop")
    return services.refresh_recording(recording)


def test_download_redirects_to_a_fresh_link_never_shown(
    realtimekit_emulator, meeting, people, client, django_user_model
):
    recording = stopped_recording(realtimekit_emulator, meeting, people[0])
    assert recording.status == RecordingStatus.UPLOADED
    staff_with(django_user_model, client)
    url = reverse("admin:realtimekit_recording_changelist")
    response = client.post(url, {"action": "download_recording", "_selected_action": [recording.pk]})
    assert response.status_code == 302
    link = response["Location"]
    assert "signature=" in link and str(recording.pk) in link
    assert "no-cache" in response["Cache-Control"]
    for page in (
        client.get(url),
        client.get(reverse("admin:realtimekit_recording_change", args=[recording.pk])),
    ):
        assert link not in page.content.decode() and "signature=" not in page.content.decode()


def test_an_expired_download_link_is_a_message(
    realtimekit_emulator, meeting, people, client, django_user_model
):
    realtimekit_emulator.download_url_lifetime = 0  # every link it issues has expired already
    recording = stopped_recording(realtimekit_emulator, meeting, people[0])
    staff_with(django_user_model, client)
    url = reverse("admin:realtimekit_recording_changelist")
    response = client.post(
        url, {"action": "download_recording", "_selected_action": [recording.pk]}, follow=True
    )
    messages = shown(response)
    assert any("Cannot download" in m and "expired" in m for m in messages)
    assert not any("signature=" in m for m in messages)


def test_the_participant_forms_offer_the_apps_presets(realtimekit_emulator, meeting, admin_client):
    url = reverse("admin:realtimekit_meeting_add_participant", args=[meeting.pk])
    before = admin_client.get(url).content.decode()
    assert 'name="preset_name" ' in before and "<select" not in before.split('name="preset_name"')[0][-200:]
    assert reconcile.reconcile_presets().completed
    page = admin_client.get(url).content.decode()
    assert '<select name="preset_name"' in page and '<option value="group_call_host"' in page
    requests = len(realtimekit_emulator.requests)
    refused = admin_client.post(url, {"custom_participant_id": "x", "preset_name": "no_such_preset"})
    assert "no_such_preset is not a preset of this app" in refused.content.decode()
    assert len(realtimekit_emulator.requests) == requests and not Participant.objects.exists()
    added = admin_client.post(url, {"custom_participant_id": "x", "preset_name": "group_call_host"})
    assert added.status_code == 200 and Participant.objects.get().preset_name == "group_call_host"


def test_the_participant_form_keeps_a_preset_the_app_lost(realtimekit_emulator, meeting, admin_client):
    person, _token = services.add_participant(
        meeting, custom_participant_id="x", preset_name="group_call_host"
    )
    Participant.objects.filter(pk=person.pk).update(preset_name="retired_preset")
    assert reconcile.reconcile_presets().completed
    page = admin_client.get(
        reverse("admin:realtimekit_participant_change", args=[person.pk])
    ).content.decode()
    assert '<option value="retired_preset" selected>' in page
    assert "not a preset of this app any more" in page
