"""The room on the emulator (``ROOM_EMULATOR``): marked so that its module loads no kit, and the
``meeting-present`` endpoint it polls: the join's own permission, names only, never cached."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from realtimekit_django import conf, services
from realtimekit_django.models import MeetingStatus, Session, SessionParticipant, SessionStatus

pytestmark = pytest.mark.django_db


def refuse_everyone_policy(user, meeting):
    return None


@pytest.fixture(autouse=True)
def _on_emulator(settings):
    cache.clear()
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "ROOM_EMULATOR": True}
    conf.clear_cache()
    yield
    conf.clear_cache()
    cache.clear()


def present_url(meeting_id) -> str:
    return reverse("realtimekit:meeting-present", args=[meeting_id])


def _people(meeting, *names_and_left):
    now = timezone.now()
    session = Session.objects.create(id="s-live", meeting=meeting, status=SessionStatus.LIVE, started_at=now)
    for n, (name, left) in enumerate(names_and_left):
        SessionParticipant.objects.create(
            session=session,
            peer_id=f"peer-{n}",
            custom_participant_id=f"custom-{n}",
            display_name=name,
            joined_at=now + timedelta(seconds=n),
            left_at=now + timedelta(seconds=10) if left else None,
        )
    return session


def test_the_room_on_the_emulator_loads_no_kit_and_polls_presence(browser, meeting):
    html = browser.get(reverse("realtimekit:meeting-room", args=[meeting.pk])).content.decode()
    assert 'data-emulator="true"' in html and 'data-load-kit="false"' in html
    assert f'data-present-url="{present_url(meeting.pk)}"' in html
    assert 'class="realtimekit-room-present"' in html
    assert "video and audio need the real RealtimeKit API" in html  # the module's sentence, handed over
    assert "cdn.jsdelivr.net" in html  # the kit's URLs stay in the page, but the module skips them


def test_off_the_emulator_the_room_has_no_presence_list(browser, meeting, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "ROOM_EMULATOR": False}
    conf.clear_cache()
    html = browser.get(reverse("realtimekit:meeting-room", args=[meeting.pk])).content.decode()
    assert 'data-emulator="false"' in html and 'data-load-kit="true"' in html
    assert 'data-present-url=""' in html and 'class="realtimekit-room-present"' not in html


def test_presence_lists_who_is_in_now_in_the_order_they_came(browser, meeting, realtimekit_emulator):
    _people(meeting, ("Bob", False), ("Carol", True), ("Dan", False))
    before = len(realtimekit_emulator.requests)
    answer = browser.get(present_url(meeting.pk))
    assert answer.status_code == 200
    assert answer.json() == {"present": ["Bob", "Dan"]}
    assert "no-store" in answer["Cache-Control"] and "private" in answer["Cache-Control"]
    assert len(realtimekit_emulator.requests) == before  # a poll spends nothing of the API budget


def test_presence_of_an_ended_session_is_nobody(browser, meeting):
    session = _people(meeting, ("Bob", False))
    Session.objects.filter(pk=session.pk).update(status=SessionStatus.ENDED)
    assert browser.get(present_url(meeting.pk)).json() == {"present": []}


def test_presence_answers_names_only_never_a_token_or_an_id(browser, meeting, user, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "default"}
    conf.clear_cache()
    issued = services.issue_join_token(meeting, user)
    _people(meeting, ("Bob", False))
    body = browser.get(present_url(meeting.pk)).content.decode()
    assert issued.token not in body
    assert not re.search(r"peer-|custom-|" + re.escape(str(issued.participant.pk)), body)
    assert set(browser.get(present_url(meeting.pk)).json()) == {"present"}


def test_presence_is_refused_to_whoever_may_not_join(browser, meeting, settings):
    _people(meeting, ("Bob", False))
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": refuse_everyone_policy}
    conf.clear_cache()
    answer = browser.get(present_url(meeting.pk))
    assert answer.status_code == 403
    assert "Bob" not in answer.content.decode()
    assert answer.json()["detail"] == "You may not join this meeting."


def test_presence_is_refused_signed_out_and_for_inactive_or_missing_meetings(meeting):
    import uuid

    _people(meeting, ("Bob", False))
    anonymous = Client().get(present_url(meeting.pk))
    assert anonymous.status_code == 403 and "Bob" not in anonymous.content.decode()
    client = Client()
    client.force_login(get_user_model().objects.create_user("erin", password="pw"))
    assert client.get(present_url(uuid.uuid4())).status_code == 404
    type(meeting).objects.filter(pk=meeting.pk).update(status=MeetingStatus.INACTIVE)
    inactive = client.get(present_url(meeting.pk))
    assert inactive.status_code == 409 and "Bob" not in inactive.content.decode()


def test_the_setting_must_be_a_bool(settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "ROOM_EMULATOR": "yes"}
    conf.clear_cache()
    assert any(key == "ROOM_EMULATOR" for key, _ in conf.find_problems())
