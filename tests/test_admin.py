"""The admin: constant-cost lists, structured meeting forms that write through services, the
actions (row by row, permission-checked) and no secret on any page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from realtimekit_django import services
from realtimekit_django.models import Meeting, MeetingStatus, Participant
from tests.admin_pages import form_data

pytestmark = pytest.mark.django_db

API_TOKEN = "test-api-token-s3cr3t-value"
SECRETS = {
    "storage_access_key": "AKIA-ACCESS-KEY-4dmin-t3st",
    "storage_secret": "s3cr3t-storage-value-do-not-show",
    "storage_password": "p4ssw0rd-storage-value-do-not-show",
    "storage_private_key": "-----PRIVATE-KEY-do-not-show-----",
}
CHANGELIST = "admin:realtimekit_meeting_changelist"
PARTICIPANTS = "admin:realtimekit_participant_changelist"


# -- helpers ------------------------------------------------------------------------------------


def _stamp(n: int) -> str:
    return (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")


def _seed_meetings(count: int) -> list[Meeting]:
    payloads = [
        {
            "id": str(uuid.uuid4()),
            "title": f"Meeting {n}",
            "status": "ACTIVE" if n % 3 else "INACTIVE",
            "created_at": _stamp(n),
            "updated_at": _stamp(n),
        }
        for n in range(count)
    ]
    for start in range(0, count, 500):
        services.upsert_meetings(payloads[start : start + 500], app_id="test-app")
    return list(Meeting.objects.all())


def _seed_participants(meetings: list[Meeting], count: int, users) -> None:
    per_meeting = -(-count // len(meetings))
    made = 0
    for meeting in meetings:
        batch = []
        for _ in range(min(per_meeting, count - made)):
            batch.append(
                {
                    "id": str(uuid.uuid4()),
                    "custom_participant_id": f"person-{made}",
                    "name": f"Person {made}",
                    "preset_name": "group_call_participant",
                    "created_at": _stamp(made),
                    "updated_at": _stamp(made),
                }
            )
            made += 1
        if batch:
            services.upsert_participants(meeting, batch)
    # The first participants of each meeting belong to site users, so the list has users to show.
    for meeting in meetings:
        newest = Participant.objects.filter(meeting=meeting).order_by("-remote_created_at")
        for user, pk in zip(users, list(newest.values_list("pk", flat=True)[: len(users)]), strict=False):
            Participant.objects.filter(pk=pk).update(user=user)


def _count_queries(client, url: str) -> int:
    client.get(url)  # warm the per-process caches (content types), as they are in production
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _form_data(response) -> dict:
    """POST data reproducing the admin form as rendered (unchanged values), hidden inputs included."""
    return form_data(response)


def _run_action(client, url_name: str, action: str, objects, **extra):
    data = {"action": action, "index": "0", "_selected_action": [str(obj.pk) for obj in objects], **extra}
    return client.post(reverse(url_name), data, follow=True)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _staff(django_user_model, *codenames: str, username: str = "staff"):
    user = django_user_model.objects.create_user(username=username, password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="realtimekit", codename__in=codenames)
    )
    return user


def _assert_no_secret(content: bytes, *also: str) -> None:
    text = content.decode()
    assert API_TOKEN not in text
    for value in (*SECRETS.values(), *also):
        assert value not in text


def _remote_meeting(emulator, **fields) -> Meeting:
    remote = emulator.create_meeting(**fields)
    return services.refresh_meeting(remote["id"])


# -- list pages: a constant number of queries ----------------------------------------------------


def test_meeting_changelist_costs_the_same_with_10_and_2000_rows(admin_client, django_assert_num_queries):
    url = reverse(CHANGELIST)
    _seed_meetings(10)
    few = _count_queries(admin_client, url)
    _seed_meetings(1990)
    assert Meeting.objects.count() == 2000
    with django_assert_num_queries(few):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100
    print(f"\nmeeting changelist: {few} queries with 10 and with 2,000 rows")


def test_meeting_changelist_filtered_and_searched_stays_constant(admin_client, django_assert_num_queries):
    url = reverse(CHANGELIST) + "?status__exact=ACTIVE&q=Meeting"
    _seed_meetings(10)
    few = _count_queries(admin_client, url)
    _seed_meetings(1990)
    with django_assert_num_queries(few):
        assert admin_client.get(url).status_code == 200


def test_participant_counts_are_annotated(admin_client, django_user_model):
    meetings = _seed_meetings(3)
    users = [django_user_model.objects.create_user(username=f"u{n}") for n in range(2)]
    _seed_participants(meetings[:1], 7, users)
    response = admin_client.get(reverse(CHANGELIST))
    counts = {str(meeting.pk): meeting.participant_total for meeting in response.context["cl"].result_list}
    assert counts[str(meetings[0].pk)] == 7
    assert counts[str(meetings[1].pk)] == 0


def test_participant_changelist_costs_the_same_with_10_and_2000_rows(
    admin_client, django_user_model, django_assert_num_queries
):
    users = [
        django_user_model.objects.create_user(username=f"user{n}", email=f"user{n}@example.com")
        for n in range(5)
    ]
    url = reverse(PARTICIPANTS)
    meetings = _seed_meetings(3)
    _seed_participants(meetings, 10, users)
    few = _count_queries(admin_client, url)
    Participant.objects.all().delete()
    _seed_participants(meetings, 2000, users)
    assert Participant.objects.count() == 2000
    with django_assert_num_queries(few):
        response = admin_client.get(url)
    assert len(response.context["cl"].result_list) == 100
    assert b"user0" in response.content  # the users are shown, from the joined rows
    print(f"\nparticipant changelist: {few} queries with 10 and with 2,000 rows")


def test_meeting_page_costs_the_same_with_5_and_500_participants(
    admin_client, django_user_model, django_assert_num_queries
):
    users = [django_user_model.objects.create_user(username=f"user{n}") for n in range(3)]
    meeting = _seed_meetings(1)[0]
    _seed_participants([meeting], 5, users)
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    few = _count_queries(admin_client, url)
    Participant.objects.all().delete()
    _seed_participants([meeting], 500, users)
    with django_assert_num_queries(few):
        response = admin_client.get(url)
    assert b"500" in response.content  # the participant count is shown
    print(f"\nmeeting change page: {few} queries with 5 and with 500 participants")


def test_search_by_meeting_id_is_an_exact_match(admin_client):
    meetings = _seed_meetings(5)
    target = meetings[2]
    response = admin_client.get(reverse(CHANGELIST), {"q": str(target.pk)})
    assert [m.pk for m in response.context["cl"].result_list] == [target.pk]
    response = admin_client.get(reverse(CHANGELIST), {"q": "Meeting 3"})
    assert [m.title for m in response.context["cl"].result_list] == ["Meeting 3"]


def test_participant_search_by_user_email(admin_client, django_user_model):
    meeting = _seed_meetings(1)[0]
    alice = django_user_model.objects.create_user(username="alice", email="alice@example.org")
    _seed_participants([meeting], 4, [alice])
    response = admin_client.get(reverse(PARTICIPANTS), {"q": "alice@example.org"})
    assert [p.user_id for p in response.context["cl"].result_list] == [alice.pk]


# -- the meeting form: create and change through services ---------------------------------------


def _add_form_data(**overrides) -> dict:
    data = {
        "title": "Board meeting",
        "record_on_start": "on",
        "session_keep_alive_time_in_secs": "120",
        "ai_summary_type": "team_meeting",
        "ai_summary_format": "markdown",
        "ai_summary_word_limit": "300",
        "ai_transcription_keywords": "RealtimeKit, Django ,  admin",
        "ai_transcription_language": "de",
        "ai_transcription_profanity_filter": "true",
        "rec_video_codec": "VP8",
        "rec_video_width": "1280",
        "rec_video_height": "720",
        "rec_watermark_url": "https://example.com/mark.png",
        "rec_watermark_position": "left top",
        "rec_watermark_width": "64",
        "rec_watermark_height": "32",
        "rec_max_seconds": "3600",
        "rec_rtmp_url": "rtmp://live.example.com/app/key",
        "rec_bucket_enabled": "false",
        "storage_type": "aws",
        "storage_bucket": "recordings",
        "storage_region": "eu-west-1",
        **SECRETS,
        "participants-TOTAL_FORMS": "0",
        "participants-INITIAL_FORMS": "0",
        "participants-MIN_NUM_FORMS": "0",
        "participants-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_add_form_creates_the_meeting_remotely_with_nested_config(admin_client, realtimekit_emulator):
    response = admin_client.post(reverse("admin:realtimekit_meeting_add"), _add_form_data(), follow=True)
    assert response.status_code == 200
    [remote] = realtimekit_emulator.meetings()
    assert remote["title"] == "Board meeting"
    assert remote["record_on_start"] is True
    assert remote["session_keep_alive_time_in_secs"] == 120
    assert remote["ai_config"] == {
        "summarization": {"summary_type": "team_meeting", "text_format": "markdown", "word_limit": 300},
        "transcription": {
            "keywords": ["RealtimeKit", "Django", "admin"],
            "language": "de",
            "profanity_filter": True,
        },
    }
    video = remote["recording_config"]["video_config"]
    assert video == {
        "codec": "VP8",
        "width": 1280,
        "height": 720,
        "watermark": {
            "url": "https://example.com/mark.png",
            "position": "left top",
            "size": {"width": 64, "height": 32},
        },
    }
    assert remote["recording_config"]["realtimekit_bucket_config"] == {"enabled": False}
    assert remote["recording_config"]["live_streaming_config"] == {
        "rtmp_url": "rtmp://live.example.com/app/key"
    }
    assert "audio_config" not in remote["recording_config"]  # nothing set there: nothing sent
    # The secrets reached RealtimeKit, and only RealtimeKit.
    assert realtimekit_emulator.received_storage_secrets(remote["id"]) == {
        key.removeprefix("storage_"): value for key, value in SECRETS.items()
    }
    meeting = Meeting.objects.get()
    assert str(meeting.pk) == remote["id"]
    assert meeting.ai_config["transcription"]["language"] == "de"
    assert meeting.recording_config["storage_config"] == {
        "type": "aws",
        "bucket": "recordings",
        "region": "eu-west-1",
    }
    from django.contrib.admin.models import ADDITION, LogEntry

    entry = LogEntry.objects.get()
    assert entry.action_flag == ADDITION and entry.object_id == str(meeting.pk)
    _assert_no_secret(response.content)


def test_out_of_range_value_is_a_form_error_and_creates_nothing(admin_client, realtimekit_emulator):
    response = admin_client.post(
        reverse("admin:realtimekit_meeting_add"), _add_form_data(rec_video_width="5000")
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "rec_video_width" in form.errors
    assert "1920" in str(form.errors["rec_video_width"])
    assert realtimekit_emulator.meetings() == []
    assert realtimekit_emulator.requests == []
    assert Meeting.objects.count() == 0
    _assert_no_secret(response.content)  # typed secrets are not rendered back


def test_contract_error_is_shown_on_its_field(admin_client, realtimekit_emulator):
    data = _add_form_data(storage_type="")  # storage settings without the required type
    response = admin_client.post(reverse("admin:realtimekit_meeting_add"), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "is required" in str(form.errors["storage_type"])
    assert realtimekit_emulator.requests == []
    assert Meeting.objects.count() == 0


def test_api_error_is_shown_and_nothing_is_saved(admin_client, realtimekit_emulator):
    realtimekit_emulator.faults.fail_next(
        1, status=400, body={"success": False, "error": {"code": 400, "message": "quota exceeded"}}
    )
    response = admin_client.post(reverse("admin:realtimekit_meeting_add"), _add_form_data())
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.non_field_errors())
    assert "quota exceeded" in errors
    assert Meeting.objects.count() == 0
    assert [r.method for r in realtimekit_emulator.requests] == ["POST"]  # tried once, not again
    from django.contrib.admin.models import LogEntry

    assert LogEntry.objects.count() == 0
    _assert_no_secret(response.content)


def test_change_form_patches_only_the_changed_fields(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(
        realtimekit_emulator,
        title="Weekly",
        ai_config={"summarization": {"summary_type": "general", "word_limit": 200}},
        recording_config={"video_config": {"width": 640}, "storage_config": {"type": "gcs", "bucket": "b"}},
    )
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    page = admin_client.get(url)
    data = _form_data(page)
    assert data["ai_summary_word_limit"] == "200" and data["rec_video_width"] == "640"
    assert not any(data.get(name) for name in SECRETS)  # never pre-filled

    realtimekit_emulator.requests.clear()
    data.update(title="Weekly sync", rec_video_height="480")
    response = admin_client.post(url, data, follow=True)
    assert response.status_code == 200, response.context["adminform"].form.errors
    [patch] = [r for r in realtimekit_emulator.requests if r.method == "PATCH"]
    assert set(patch.json) == {"title", "recording_config"}
    assert patch.json["recording_config"] == {
        "video_config": {"width": 640, "height": 480},
        "storage_config": {"type": "gcs", "bucket": "b"},
    }
    meeting.refresh_from_db()
    assert meeting.title == "Weekly sync"
    assert meeting.recording_config["video_config"] == {"width": 640, "height": 480}
    assert meeting.ai_config == {"summarization": {"summary_type": "general", "word_limit": 200}}

    # Saving again unchanged sends nothing at all.
    realtimekit_emulator.requests.clear()
    admin_client.post(url, _form_data(admin_client.get(url)), follow=True)
    assert [r.method for r in realtimekit_emulator.requests] == []


def test_change_form_sends_a_typed_secret_and_never_shows_it(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(
        realtimekit_emulator, title="Secrets", recording_config={"storage_config": {"type": "aws"}}
    )
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    data = _form_data(admin_client.get(url))
    data["storage_secret"] = SECRETS["storage_secret"]
    response = admin_client.post(url, data, follow=True)
    assert realtimekit_emulator.received_storage_secrets(str(meeting.pk)) == {
        "secret": SECRETS["storage_secret"]
    }
    assert SECRETS["storage_secret"] not in str(Meeting.objects.get().recording_config)
    _assert_no_secret(response.content)
    for page in (url, reverse(CHANGELIST), reverse("admin:realtimekit_meeting_history", args=[meeting.pk])):
        _assert_no_secret(admin_client.get(page).content)


def test_change_form_api_error_keeps_the_row(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Before")
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    data = _form_data(admin_client.get(url))
    realtimekit_emulator.faults.fail_next(1, status=404)
    data["title"] = "After"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert Meeting.objects.get().title == "Before"


def test_a_page_with_a_broken_inline_sends_nothing(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Before")
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    data = {k: v for k, v in _form_data(admin_client.get(url)).items() if not k.startswith("participants-")}
    data["title"] = "After"
    realtimekit_emulator.requests.clear()
    for target in (url, reverse("admin:realtimekit_meeting_add")):
        response = admin_client.post(target, data)
        assert response.status_code == 200
        [inline] = response.context["inline_admin_formsets"]
        assert "ManagementForm data is missing" in str(inline.formset.non_form_errors())
        assert response.context["adminform"].form.is_valid()  # the form alone would have been saved
    assert realtimekit_emulator.requests == []
    assert list(Meeting.objects.values_list("title", flat=True)) == ["Before"]


# -- stale change forms: only what this editor changed, and no silent overwrite -------------------


def _patches(emulator) -> list[dict]:
    return [r.json for r in emulator.requests if r.method == "PATCH"]


def test_a_stale_form_does_not_reactivate_a_meeting(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Weekly")
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    seen_by_a = _form_data(admin_client.get(url))  # admin A opens the meeting
    _run_action(admin_client, CHANGELIST, "deactivate", [meeting])  # admin B deactivates it
    assert realtimekit_emulator.get_meeting(str(meeting.pk))["status"] == "INACTIVE"
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, {**seen_by_a, "title": "Weekly sync"}, follow=True)  # A saves a title
    assert response.status_code == 200 and "was changed successfully" in " ".join(_messages(response))
    assert _patches(realtimekit_emulator) == [{"title": "Weekly sync"}]
    assert realtimekit_emulator.get_meeting(str(meeting.pk))["status"] == "INACTIVE"
    meeting.refresh_from_db()
    assert (meeting.title, meeting.status) == ("Weekly sync", MeetingStatus.INACTIVE)


def test_a_conflicting_change_is_an_error_on_its_field_and_sends_nothing(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Weekly")
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    seen_by_a = _form_data(admin_client.get(url))
    services.update_meeting(Meeting.objects.get(pk=meeting.pk), title="Renamed by B")
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, {**seen_by_a, "title": "Renamed by A"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Someone else changed this" in str(errors["title"]) and "Renamed by B" in str(errors["title"])
    assert realtimekit_emulator.requests == []
    assert realtimekit_emulator.get_meeting(str(meeting.pk))["title"] == "Renamed by B"
    assert Meeting.objects.get().title == "Renamed by B"
    # Reloaded, the page shows B's title, and A's change then goes through.
    fresh = _form_data(admin_client.get(url))
    admin_client.post(url, {**fresh, "title": "Renamed by A"})
    assert _patches(realtimekit_emulator) == [{"title": "Renamed by A"}]


def test_both_editors_making_the_same_change_is_no_conflict(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Weekly")
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    seen_by_a = _form_data(admin_client.get(url))
    services.update_meeting(Meeting.objects.get(pk=meeting.pk), title="Same", persist_chat=True)
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, {**seen_by_a, "title": "Same"}, follow=True)
    assert "was changed successfully" in " ".join(_messages(response))
    assert _patches(realtimekit_emulator) == []  # already so remotely; B's persist_chat is kept
    assert realtimekit_emulator.get_meeting(str(meeting.pk))["persist_chat"] is True


def test_another_editors_config_change_is_kept_when_the_object_is_sent(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(
        realtimekit_emulator, title="Rec", recording_config={"video_config": {"width": 640, "height": 360}}
    )
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    seen_by_a = _form_data(admin_client.get(url))
    services.update_meeting(
        Meeting.objects.get(pk=meeting.pk),
        recording_config={"video_config": {"width": 1280, "height": 360}, "file_name_prefix": "b-"},
    )
    realtimekit_emulator.requests.clear()
    admin_client.post(url, {**seen_by_a, "rec_video_height": "720"})
    assert _patches(realtimekit_emulator) == [
        {"recording_config": {"video_config": {"width": 1280, "height": 720}, "file_name_prefix": "b-"}}
    ]


def test_a_post_without_what_the_editor_saw_sends_nothing(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Weekly")
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    data = {k: v for k, v in _form_data(admin_client.get(url)).items() if not k.startswith("initial-")}
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, {**data, "title": "Blind"})
    assert "out of date or incomplete" in str(response.context["adminform"].form.non_field_errors())
    assert realtimekit_emulator.requests == []


def test_a_stale_participant_form_sends_only_its_change_and_refuses_a_conflict(
    admin_client, realtimekit_emulator
):
    meeting = _remote_meeting(realtimekit_emulator, title="Panel")
    ann, _token = services.add_participant(meeting, custom_participant_id="a", preset_name="p", name="Ann")
    url = reverse("admin:realtimekit_participant_change", args=[ann.pk])
    seen_by_a = _form_data(admin_client.get(url))
    services.edit_participant(Participant.objects.get(pk=ann.pk), preset_name="group_call_host")
    realtimekit_emulator.requests.clear()
    admin_client.post(url, {**seen_by_a, "name": "Ann Lee"})
    assert _patches(realtimekit_emulator) == [{"name": "Ann Lee"}]
    [remote] = realtimekit_emulator.participants(str(meeting.pk))
    assert (remote["name"], remote["preset_name"]) == ("Ann Lee", "group_call_host")

    seen_by_a = _form_data(admin_client.get(url))
    services.edit_participant(Participant.objects.get(pk=ann.pk), name="Ann by B")
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, {**seen_by_a, "name": "Ann by A"})
    assert "Someone else changed this" in str(response.context["adminform"].form.errors["name"])
    assert realtimekit_emulator.requests == []


def test_a_contract_error_on_the_change_form_is_on_its_field_and_sends_nothing(
    admin_client, realtimekit_emulator
):
    from django.contrib.admin.models import LogEntry

    meeting = _remote_meeting(realtimekit_emulator, title="Rec")
    url = reverse("admin:realtimekit_meeting_change", args=[meeting.pk])
    data = _form_data(admin_client.get(url))
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, {**data, "storage_bucket": "b"})  # storage without its type
    assert "is required" in str(response.context["adminform"].form.errors["storage_type"])
    assert realtimekit_emulator.requests == []
    assert Meeting.objects.get().recording_config == {}
    assert LogEntry.objects.count() == 0


def test_meetings_cannot_be_deleted(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Keep")
    assert admin_client.get(reverse("admin:realtimekit_meeting_delete", args=[meeting.pk])).status_code == 403
    response = admin_client.get(reverse(CHANGELIST))
    assert "delete_selected" not in response.context["action_form"].fields["action"].choices.__repr__()


# -- meeting actions ------------------------------------------------------------------------------


def test_sync_selected_refreshes_meetings_and_participants_row_by_row(admin_client, realtimekit_emulator):
    good = _remote_meeting(realtimekit_emulator, title="Old title")
    realtimekit_emulator.update_meeting(str(good.pk), title="New title")
    realtimekit_emulator.add_participant(
        str(good.pk), custom_participant_id="p1", preset_name="group_call_host"
    )
    # A row the API does not know: its sync fails, the other one still runs.
    services.upsert_meetings(
        [{"id": str(uuid.uuid4()), "title": "Ghost", "created_at": _stamp(0)}], app_id="test-app"
    )
    ghost = Meeting.objects.get(title="Ghost")
    response = _run_action(admin_client, CHANGELIST, "sync_selected", [ghost, good])
    good.refresh_from_db()
    assert good.title == "New title"
    assert list(good.participants.values_list("custom_participant_id", flat=True)) == ["p1"]
    text = " | ".join(_messages(response))
    assert "1 succeeded (New title)" in text
    assert "1 failed (Ghost:" in text and "404" in text
    _assert_no_secret(response.content)


def test_sync_everything_only_queues_the_task(admin_client, realtimekit_emulator, monkeypatch):
    from realtimekit_django import tasks
    from tests.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)  # a site with a worker
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:6379/0")
    queued = []
    monkeypatch.setattr(tasks.reconcile_all, "delay", lambda *a, **k: queued.append((a, k)))
    meeting = _remote_meeting(realtimekit_emulator, title="Any")
    realtimekit_emulator.requests.clear()
    response = _run_action(admin_client, CHANGELIST, "sync_everything", [meeting])
    assert queued == [((), {})]
    assert b"Sync everything from RealtimeKit" in admin_client.get(reverse(CHANGELIST)).content
    assert realtimekit_emulator.requests == []  # no walk inside the request
    assert any("queued" in message for message in _messages(response))
    response = admin_client.post(reverse("admin:realtimekit_meeting_sync_all"), follow=True)
    assert len(queued) == 2
    assert any("queued" in message for message in _messages(response))


def test_sync_everything_reports_a_broker_failure(admin_client, realtimekit_emulator, monkeypatch):
    from realtimekit_django import tasks

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.reconcile_all, "delay", broken)
    response = admin_client.post(reverse("admin:realtimekit_meeting_sync_all"), follow=True)
    assert any("Could not queue" in message for message in _messages(response))


def test_activate_and_deactivate_report_each_row(admin_client, realtimekit_emulator):
    first = _remote_meeting(realtimekit_emulator, title="First")
    second = _remote_meeting(realtimekit_emulator, title="Second")
    services.upsert_meetings(
        [{"id": str(uuid.uuid4()), "title": "Ghost", "created_at": _stamp(0)}], app_id="test-app"
    )
    ghost = Meeting.objects.get(title="Ghost")
    response = _run_action(admin_client, CHANGELIST, "deactivate", [first, second, ghost])
    statuses = {m["title"]: m["status"] for m in realtimekit_emulator.meetings()}
    assert statuses == {"First": "INACTIVE", "Second": "INACTIVE"}
    assert set(Meeting.objects.filter(status=MeetingStatus.INACTIVE).values_list("title", flat=True)) == {
        "First",
        "Second",
    }
    text = " | ".join(_messages(response))
    assert "2 succeeded" in text and "1 failed (Ghost:" in text

    realtimekit_emulator.faults.fail_next(1, status=400)
    response = _run_action(admin_client, CHANGELIST, "activate", [first, second])
    text = " | ".join(_messages(response))
    assert "1 succeeded" in text and "1 failed" in text
    assert sorted(m["status"] for m in realtimekit_emulator.meetings()) == ["ACTIVE", "INACTIVE"]


def test_meeting_actions_need_change_meeting(client, django_user_model, realtimekit_emulator, monkeypatch):
    from realtimekit_django import tasks

    queued = []
    monkeypatch.setattr(tasks.reconcile_all, "delay", lambda *a, **k: queued.append(1))
    meeting = _remote_meeting(realtimekit_emulator, title="Guarded")
    client.force_login(_staff(django_user_model, "view_meeting"))
    realtimekit_emulator.requests.clear()
    for action in ("deactivate", "sync_selected", "sync_everything", "add_participant_action"):
        response = _run_action(client, CHANGELIST, action, [meeting])
        assert response.status_code == 200
    assert realtimekit_emulator.requests == []
    assert queued == []
    assert Meeting.objects.get().status == MeetingStatus.ACTIVE
    assert client.post(reverse("admin:realtimekit_meeting_sync_all")).status_code == 403
    assert b"Sync everything from RealtimeKit" not in client.get(reverse(CHANGELIST)).content
    url = reverse("admin:realtimekit_meeting_add_participant", args=[meeting.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"custom_participant_id": "x", "preset_name": "p"}).status_code == 403
    assert realtimekit_emulator.requests == []


def test_add_participant_shows_the_token_once(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Town hall")
    response = _run_action(admin_client, CHANGELIST, "add_participant_action", [meeting])
    assert response.redirect_chain[-1][0] == reverse(
        "admin:realtimekit_meeting_add_participant", args=[meeting.pk]
    )
    _assert_no_secret(response.content)

    url = reverse("admin:realtimekit_meeting_add_participant", args=[meeting.pk])
    response = admin_client.post(
        url, {"custom_participant_id": "guest-1", "preset_name": "group_call_host", "name": "Guest One"}
    )
    assert response.status_code == 200
    [token] = realtimekit_emulator.issued_tokens
    text = response.content.decode()
    assert token in text
    assert "valid until" in text
    assert "no-store" in response["Cache-Control"]
    assert API_TOKEN not in text
    [remote] = realtimekit_emulator.participants(str(meeting.pk))
    assert remote["custom_participant_id"] == "guest-1" and remote["preset_name"] == "group_call_host"
    participant = Participant.objects.get()
    assert token not in str(participant.remote_data)
    # Nowhere else: not in the following pages, not in the messages the next page would show.
    for page in (
        reverse(CHANGELIST),
        reverse("admin:realtimekit_meeting_change", args=[meeting.pk]),
        reverse(PARTICIPANTS),
        reverse("admin:realtimekit_participant_change", args=[participant.pk]),
        reverse("admin:realtimekit_meeting_history", args=[meeting.pk]),
    ):
        _assert_no_secret(admin_client.get(page).content, token)


def test_add_participant_for_a_site_user(admin_client, realtimekit_emulator, django_user_model):
    meeting = _remote_meeting(realtimekit_emulator, title="Town hall")
    bob = django_user_model.objects.create_user(username="bob", first_name="Bob", last_name="Builder")
    url = reverse("admin:realtimekit_meeting_add_participant", args=[meeting.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b'name="user"' in page.content
    response = admin_client.post(url, {"user": str(bob.pk), "preset_name": "group_call_participant"})
    assert response.status_code == 200
    participant = Participant.objects.get()
    assert participant.user == bob
    assert participant.custom_participant_id  # from the site's participant id policy
    # The same user twice is refused before any call.
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, {"user": str(bob.pk), "preset_name": "group_call_participant"})
    assert "already a participant" in str(response.context["form"].errors)
    assert realtimekit_emulator.requests == []


def test_add_participant_needs_an_id_or_a_user_and_shows_api_errors(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Town hall")
    url = reverse("admin:realtimekit_meeting_add_participant", args=[meeting.pk])
    response = admin_client.post(url, {"preset_name": "group_call_participant"})
    assert "custom participant id" in str(response.context["form"].non_field_errors())
    realtimekit_emulator.faults.fail_next(
        1, status=400, body={"success": False, "error": {"code": 400, "message": "bad preset"}}
    )
    response = admin_client.post(url, {"custom_participant_id": "x", "preset_name": "nope"})
    assert "bad preset" in str(response.context["form"].non_field_errors())
    assert Participant.objects.count() == 0


def test_inline_links_to_the_participant_page(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Inline")
    participant, _token = services.add_participant(
        meeting, custom_participant_id="in-1", preset_name="p", name="Ina"
    )
    response = admin_client.get(reverse("admin:realtimekit_meeting_change", args=[meeting.pk]))
    assert reverse("admin:realtimekit_participant_change", args=[participant.pk]).encode() in response.content
    assert b"Ina" in response.content
    _assert_no_secret(response.content, _token)


# -- participant actions --------------------------------------------------------------------------


def _two_participants(emulator):
    meeting = _remote_meeting(emulator, title="Panel")
    first, first_token = services.add_participant(
        meeting, custom_participant_id="a", preset_name="p", name="Ann"
    )
    second, second_token = services.add_participant(
        meeting, custom_participant_id="b", preset_name="p", name="Ben"
    )
    return meeting, [first, second], [first_token, second_token]


def test_refresh_token_shows_new_tokens_and_failures_row_by_row(admin_client, realtimekit_emulator):
    meeting, (ann, ben), old_tokens = _two_participants(realtimekit_emulator)
    realtimekit_emulator.delete_participant(str(meeting.pk), str(ben.pk))  # gone remotely: that row fails
    response = _run_action(admin_client, PARTICIPANTS, "refresh_token", [ann, ben])
    new_token = realtimekit_emulator.issued_tokens[-1]
    assert new_token not in old_tokens
    text = response.content.decode()
    assert new_token in text and "valid until" in text
    assert "Ben: failed:" in text and "404" in text
    assert "no-store" in response["Cache-Control"]
    assert API_TOKEN not in text
    for page in (reverse(PARTICIPANTS), reverse("admin:realtimekit_participant_change", args=[ann.pk])):
        _assert_no_secret(admin_client.get(page).content, new_token, *old_tokens)


def test_refresh_token_needs_change_participant(client, django_user_model, realtimekit_emulator):
    _meeting, participants, _tokens = _two_participants(realtimekit_emulator)
    client.force_login(_staff(django_user_model, "view_participant", "change_meeting", "delete_participant"))
    issued = len(realtimekit_emulator.issued_tokens)
    response = _run_action(client, PARTICIPANTS, "refresh_token", participants)
    assert len(realtimekit_emulator.issued_tokens) == issued
    assert "No action selected" in " ".join(_messages(response))


def test_remove_asks_first_then_deletes_remotely(admin_client, realtimekit_emulator):
    meeting, participants, tokens = _two_participants(realtimekit_emulator)
    confirm = _run_action(admin_client, PARTICIPANTS, "remove_participants", participants)
    assert b"Yes, remove them" in confirm.content and b"Ann" in confirm.content
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 2  # nothing yet
    response = _run_action(admin_client, PARTICIPANTS, "remove_participants", participants, post="yes")
    assert realtimekit_emulator.participants(str(meeting.pk)) == []
    assert not any(realtimekit_emulator.token_is_valid(token) for token in tokens)
    assert Participant.objects.count() == 0
    assert "2 succeeded" in " ".join(_messages(response))


def test_remove_reports_partial_failure(admin_client, realtimekit_emulator):
    meeting, participants, _tokens = _two_participants(realtimekit_emulator)
    realtimekit_emulator.faults.fail_next(
        1, status=400, body={"success": False, "error": {"code": 400, "message": "nope"}}
    )
    response = _run_action(admin_client, PARTICIPANTS, "remove_participants", participants, post="yes")
    [left] = Participant.objects.all()
    assert [p["id"] for p in realtimekit_emulator.participants(str(meeting.pk))] == [str(left.pk)]
    text = " | ".join(_messages(response))
    assert "1 succeeded" in text and f"1 failed ({left}:" in text and "nope" in text


def test_remove_needs_delete_participant_and_plain_delete_is_gone(
    client, django_user_model, realtimekit_emulator
):
    meeting, participants, _tokens = _two_participants(realtimekit_emulator)
    client.force_login(_staff(django_user_model, "view_participant", "change_participant", "change_meeting"))
    _run_action(client, PARTICIPANTS, "remove_participants", participants, post="yes")
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 2
    assert Participant.objects.count() == 2
    actions = client.get(reverse(PARTICIPANTS)).context["action_form"].fields["action"].choices
    names = [name for name, _label in actions]
    assert "delete_selected" not in names and "remove_participants" not in names and "refresh_token" in names


def test_participant_delete_view_revokes_remotely(admin_client, realtimekit_emulator):
    meeting, (ann, ben), tokens = _two_participants(realtimekit_emulator)
    url = reverse("admin:realtimekit_participant_delete", args=[ann.pk])
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"post": "yes"}, follow=True)
    assert [p["id"] for p in realtimekit_emulator.participants(str(meeting.pk))] == [str(ben.pk)]
    assert not realtimekit_emulator.token_is_valid(tokens[0])
    assert list(Participant.objects.values_list("pk", flat=True)) == [ben.pk]
    # A failure keeps the row and says why.
    realtimekit_emulator.faults.fail_next(1, status=400)
    response = admin_client.post(
        reverse("admin:realtimekit_participant_delete", args=[ben.pk]), {"post": "yes"}, follow=True
    )
    assert Participant.objects.filter(pk=ben.pk).exists()
    assert any("Could not remove" in message for message in _messages(response))


def test_participant_change_form_edits_through_the_service(admin_client, realtimekit_emulator):
    _meeting, (ann, _ben), _tokens = _two_participants(realtimekit_emulator)
    url = reverse("admin:realtimekit_participant_change", args=[ann.pk])
    data = _form_data(admin_client.get(url))
    data["name"] = "Ann Lee"
    realtimekit_emulator.requests.clear()
    response = admin_client.post(url, data, follow=True)
    [patch] = [r for r in realtimekit_emulator.requests if r.method == "PATCH"]
    assert patch.json == {"name": "Ann Lee"}
    assert Participant.objects.get(pk=ann.pk).name == "Ann Lee"
    # The edit returned a token; it is dropped, not shown.
    _assert_no_secret(response.content, realtimekit_emulator.issued_tokens[-1])
    assert admin_client.get(reverse("admin:realtimekit_participant_add")).status_code == 403
