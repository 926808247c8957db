"""Finding one meeting's participants, choosing users, and the admin's failure messages.

The participant list filters by meeting with an autocomplete (never a list of every meeting),
searches meeting titles, and a meeting's participant count links to it; each page costs the
same number of queries with 10 and 2,000 meetings. Adding a participant chooses the user by
autocomplete. A failure to reach RealtimeKit names the host; "Sync everything" says when Celery
has nowhere to send the task.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import override_settings
from django.urls import reverse

from realtimekit_django import services
from realtimekit_django.models import Meeting, Participant
from tests.celery_app import app as celery_app
from tests.test_admin import (
    CHANGELIST,
    PARTICIPANTS,
    _count_queries,
    _messages,
    _remote_meeting,
    _seed_meetings,
    _seed_participants,
)

pytestmark = pytest.mark.django_db


def _new_meetings(count: int) -> list[Meeting]:
    """``count`` new meetings (``_seed_meetings`` returns every meeting there is)."""
    before = set(Meeting.objects.values_list("pk", flat=True))
    return [meeting for meeting in _seed_meetings(count) if meeting.pk not in before]


def _meeting_with_participants(n: int, title: str = "Board review") -> Meeting:
    meeting = _new_meetings(1)[0]
    Meeting.objects.filter(pk=meeting.pk).update(title=title)
    _seed_participants([meeting], n, [])
    return Meeting.objects.get(pk=meeting.pk)


def _listed_ids(response) -> set[str]:
    return {participant.custom_participant_id for participant in response.context["cl"].result_list}


# -- the meeting filter -------------------------------------------------------------------------


def test_meeting_filter_shows_only_that_meetings_participants(admin_client):
    chosen = _meeting_with_participants(3)
    other = _new_meetings(1)[0]
    services.upsert_participants(
        other,
        [
            {
                "id": str(uuid.uuid4()),
                "custom_participant_id": "elsewhere",
                "preset_name": "p",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
            }
        ],
    )
    response = admin_client.get(reverse(PARTICIPANTS), {"meeting": str(chosen.pk)})
    assert response.status_code == 200
    assert _listed_ids(response) == set(chosen.participants.values_list("custom_participant_id", flat=True))
    assert "elsewhere" not in _listed_ids(response)
    page = response.content.decode()
    assert "By meeting" in page and "Board review" in page  # the chosen meeting, by title


def test_meeting_filter_is_an_autocomplete_not_a_list_of_meetings(admin_client):
    meetings = _seed_meetings(30)
    page = admin_client.get(reverse(PARTICIPANTS)).content.decode()
    box = re.search(r'<select[^>]*id="realtimekit-meeting-filter"[^>]*>(.*?)</select>', page, re.S)
    assert box is not None
    assert "admin-autocomplete" in box.group(0) and 'data-field-name="meeting"' in box.group(0)
    assert re.findall(r"<option[^>]*>", box.group(1)) == ['<option value=""></option>'[:17]]  # no meeting
    assert not any(f"?meeting={meeting.pk}" in page for meeting in meetings)
    assert "admin/js/autocomplete.js" in page and "realtimekit/admin/meeting_filter.js" in page


def test_the_filters_autocomplete_searches_meeting_titles(admin_client):
    _seed_meetings(5)
    wanted = _meeting_with_participants(1, title="Quarterly planning")
    answer = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "realtimekit",
            "model_name": "participant",
            "field_name": "meeting",
            "term": "Quarterly",
        },
    ).json()
    assert [result["id"] for result in answer["results"]] == [str(wanted.pk)]


def test_meeting_filter_keeps_the_lists_other_parameters(admin_client):
    _meeting_with_participants(1)
    page = admin_client.get(reverse(PARTICIPANTS), {"q": "Person", "preset_name": "group_call_participant"})
    html = page.content.decode()
    form = re.search(r'<form method="get" class="realtimekit-meeting-filter">(.*?)</form>', html, re.S).group(
        1
    )
    assert '<input type="hidden" name="q" value="Person">' in form
    assert '<input type="hidden" name="preset_name" value="group_call_participant">' in form


def test_a_meeting_filter_that_is_no_meeting_matches_nothing(admin_client):
    _meeting_with_participants(2)
    for value in ("not-a-uuid", str(uuid.uuid4())):
        response = admin_client.get(reverse(PARTICIPANTS), {"meeting": value})
        assert response.status_code == 200
        assert _listed_ids(response) == set()


def test_participant_search_finds_meeting_titles(admin_client):
    chosen = _meeting_with_participants(2, title="Zebra standup")
    for meeting in _new_meetings(2):
        services.upsert_participants(
            meeting,
            [
                {
                    "id": str(uuid.uuid4()),
                    "custom_participant_id": f"other-{meeting.pk}",
                    "preset_name": "p",
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                }
            ],
        )
    response = admin_client.get(reverse(PARTICIPANTS), {"q": "Zebra"})
    assert _listed_ids(response) == set(chosen.participants.values_list("custom_participant_id", flat=True))


def test_meeting_status_filter_says_it_is_the_meetings(admin_client):
    _meeting_with_participants(1)
    page = admin_client.get(reverse(PARTICIPANTS)).content.decode()
    assert "By meeting status" in page
    assert not re.search(r"By status\b", page)


# -- the count links to the filtered list -------------------------------------------------------


def test_participant_count_links_to_the_filtered_participant_list(admin_client):
    meeting = _meeting_with_participants(4)
    link = f'<a href="{reverse(PARTICIPANTS)}?meeting={meeting.pk}">4</a>'
    assert link in admin_client.get(reverse(CHANGELIST)).content.decode()
    assert (
        link
        in admin_client.get(reverse("admin:realtimekit_meeting_change", args=[meeting.pk])).content.decode()
    )
    followed = admin_client.get(f"{reverse(PARTICIPANTS)}?meeting={meeting.pk}")
    assert len(followed.context["cl"].result_list) == 4


def test_the_link_and_the_filter_cost_the_same_with_10_and_2000_meetings(
    admin_client, django_assert_num_queries
):
    meeting = _meeting_with_participants(5)
    _seed_meetings(9)
    urls = [
        reverse(CHANGELIST),
        reverse(PARTICIPANTS),
        f"{reverse(PARTICIPANTS)}?meeting={meeting.pk}",
    ]
    autocomplete = reverse("admin:autocomplete") + (
        "?app_label=realtimekit&model_name=participant&field_name=meeting&term=Meeting"
    )
    few = {url: _count_queries(admin_client, url) for url in [*urls, autocomplete]}
    _seed_meetings(1990)
    assert Meeting.objects.count() == 2000
    for url, expected in few.items():
        with django_assert_num_queries(expected):
            assert admin_client.get(url).status_code == 200


# -- labels and column formats ------------------------------------------------------------------


def test_lists_label_last_written_from_remote_and_show_compact_dates(admin_client):
    meeting = _meeting_with_participants(1)
    meetings_page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "Last written from remote" in meetings_page and "Last synced" not in meetings_page
    stamp = meeting.remote_created_at.strftime(
        '<span class="realtimekit-date">%Y-%m-%d</span> <span class="realtimekit-date">%H:%M</span>'
    )
    assert stamp in meetings_page
    participant = meeting.participants.get()
    page = admin_client.get(reverse("admin:realtimekit_participant_change", args=[participant.pk])).content
    assert b"Last written from remote" in page
    assert b"realtimekit/admin/lists.css" in admin_client.get(reverse(PARTICIPANTS)).content


def test_long_custom_ids_are_cut_with_their_whole_value_on_hover(admin_client):
    meeting = _seed_meetings(1)[0]
    long_id = "customer-" + "x" * 200
    services.upsert_participants(
        meeting,
        [
            {
                "id": str(uuid.uuid4()),
                "custom_participant_id": long_id,
                "preset_name": "p",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
            }
        ],
    )
    page = admin_client.get(reverse(PARTICIPANTS)).content.decode()
    assert f'<span class="realtimekit-long" title="{long_id}">{long_id}</span>' in page


def test_display_name_is_one_line(admin_client, realtimekit_emulator):
    meeting = _remote_meeting(realtimekit_emulator, title="Names")
    participant, _token = services.add_participant(
        meeting, custom_participant_id="p1", preset_name="group_call_host", name="Ada"
    )
    page = admin_client.get(
        reverse("admin:realtimekit_participant_change", args=[participant.pk])
    ).content.decode()
    assert re.search(r'<input type="text" name="name" value="Ada"', page)
    assert '<textarea name="name"' not in page


# -- choosing the user by autocomplete ----------------------------------------------------------


def test_add_participant_chooses_the_user_by_autocomplete(
    admin_client, realtimekit_emulator, django_user_model
):
    meeting = _remote_meeting(realtimekit_emulator, title="Autocomplete")
    django_user_model.objects.create_user(username="grace", email="grace@example.com")
    url = reverse("admin:realtimekit_meeting_add_participant", args=[meeting.pk])
    page = admin_client.get(url).content.decode()
    select = re.search(r'<select name="user"[^>]*>', page).group(0)
    assert "admin-autocomplete" in select and 'data-field-name="user"' in select
    assert 'class="vForeignKeyRawIdAdminField"' not in page
    answer = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "realtimekit", "model_name": "participant", "field_name": "user", "term": "grac"},
    ).json()
    assert [result["text"] for result in answer["results"]] == ["grace"]


def test_add_participant_falls_back_to_a_raw_id_without_a_user_admin(admin_client, realtimekit_emulator):
    from django.contrib import admin
    from django.contrib.admin.widgets import AutocompleteSelect
    from django.contrib.auth import get_user_model

    from realtimekit_django.admin.forms import user_widget

    site = admin.AdminSite(name="bare")
    assert "RawId" in type(user_widget(site)).__name__
    site.register(get_user_model(), admin.ModelAdmin)  # registered, but no search_fields
    if hasattr(site, "get_model_admin"):  # Django 5.0+; on 4.2 a registered admin is taken to search
        assert "RawId" in type(user_widget(site)).__name__
    assert isinstance(user_widget(admin.site), AutocompleteSelect)


# -- failures: which host, which broker ---------------------------------------------------------


@override_settings(
    REALTIMEKIT={
        "ACCOUNT_ID": "acc",
        "APP_ID": "test-app",
        "API_TOKEN": "t0k3n-not-shown",
        "BASE_URL": "http://127.0.0.1:9/client/v4",
        "MAX_RETRIES": 0,
        "CONNECT_TIMEOUT": 1,
    }
)
def test_a_connection_failure_names_the_host_it_could_not_reach(admin_client):
    meeting = _seed_meetings(1)[0]
    Meeting.objects.filter(pk=meeting.pk).update(status="INACTIVE")
    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "activate", "index": "0", "_selected_action": [str(meeting.pk)]},
        follow=True,
    )
    text = " | ".join(_messages(response))
    assert "RealtimeKit could not be reached at 127.0.0.1:9 (the BASE_URL setting)" in text
    assert "refused" not in text
    assert "t0k3n-not-shown" not in response.content.decode()


def test_a_form_refusal_from_a_connection_failure_names_the_host():
    from django import forms

    from realtimekit_django.admin.forms import add_service_error
    from realtimekit_django.exceptions import BadRequest, TransportError

    form = forms.Form(data={})
    form.is_valid()
    add_service_error(form, TransportError("could not connect: ConnectionError", method="GET", path="/m"))
    add_service_error(form, BadRequest("title too long", method="PATCH", path="/m", status=400))
    shown = form.non_field_errors()
    assert shown[0].startswith("RealtimeKit could not be reached at rtk.test")
    assert shown[1].startswith("RealtimeKit refused the change: title too long")


def test_sync_everything_without_a_broker_says_what_to_do(admin_client, monkeypatch):
    from realtimekit_django import tasks

    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", None)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    sent = []
    monkeypatch.setattr(tasks.reconcile_all, "delay", lambda *a, **k: sent.append(a))
    response = admin_client.post(reverse("admin:realtimekit_meeting_sync_all"), follow=True)
    text = " | ".join(_messages(response))
    assert sent == []  # nothing is sent to a broker nobody configured
    assert "not queued" in text and "CELERY_BROKER_URL is not set" in text
    assert "manage.py realtimekit_sync --participants" in text
    assert "the lists update" not in text


def test_sync_everything_with_a_broker_down_names_it_without_its_password(admin_client, monkeypatch):
    from realtimekit_django import tasks

    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://:br0ker-secret@127.0.0.1:6399/0")

    def refused(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.reconcile_all, "delay", refused)
    response = admin_client.post(reverse("admin:realtimekit_meeting_sync_all"), follow=True)
    text = " | ".join(_messages(response))
    assert "Celery broker at redis://127.0.0.1:6399 (CELERY_BROKER_URL)" in text
    assert "ConnectionRefusedError" in text and "manage.py realtimekit_sync" in text
    assert "br0ker-secret" not in response.content.decode()


def test_sync_everything_on_eager_celery_says_it_ran(admin_client, realtimekit_emulator):
    realtimekit_emulator.create_meeting(title="Pulled in")
    response = admin_client.post(reverse("admin:realtimekit_meeting_sync_all"), follow=True)
    assert any("ran" in message and "eager" in message for message in _messages(response))
    assert Meeting.objects.filter(title="Pulled in").exists()
    assert Participant.objects.count() == 0
