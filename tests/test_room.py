"""The meeting room page and template tag: the join endpoint's policy, no token in the HTML,
never cached, no inline script, the kit pinned with SRI (and the checks that say when not)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from realtimekit_django import conf, services
from realtimekit_django.checks import check_room_kit
from realtimekit_django.models import Meeting, MeetingStatus
from realtimekit_django.room.kit import pinned

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def refuse_everyone_policy(user, meeting):
    return None


def room_url(meeting_id) -> str:
    return reverse("realtimekit:meeting-room", args=[meeting_id])


def test_the_room_url_is_under_the_meeting():
    meeting_id = uuid.uuid4()
    assert room_url(meeting_id).endswith(f"/meetings/{meeting_id}/room/")


def test_the_room_is_ready_never_cached_and_has_no_inline_script(browser, meeting, realtimekit_emulator):
    before = len(realtimekit_emulator.requests)
    page = browser.get(room_url(meeting.pk))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]
    html = page.content.decode()
    assert 'data-state="ready"' in html
    assert f'data-join-url="{reverse("realtimekit:meeting-join", args=[meeting.pk])}"' in html
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]  # one script, with a src and no body
    assert re.search(r'<script type="module" src="/static/realtimekit/room.js"', html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handler
    assert len(realtimekit_emulator.requests) == before  # the page issues nothing


def test_no_token_ever_appears_in_the_room_html(browser, meeting, user, realtimekit_emulator, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "default"}
    conf.clear_cache()
    issued = services.issue_join_token(meeting, user)  # a kept token exists for this person
    joined = browser.post(
        reverse("realtimekit:meeting-join", args=[meeting.pk]),
        data="{}",
        content_type="application/json",
        HTTP_X_CSRFTOKEN=browser.get(room_url(meeting.pk)).cookies["csrftoken"].value,
    )
    assert joined.status_code == 200
    token = joined.json()["token"]
    html = browser.get(room_url(meeting.pk)).content.decode()
    for secret in {issued.token, token}:
        assert secret not in html
        for part in secret.split("."):
            assert len(part) < 12 or part not in html


def test_the_join_from_the_room_page_passes_csrf(browser, meeting):
    page = browser.get(room_url(meeting.pk))
    csrf = re.search(r'data-csrf-token="([^"]+)"', page.content.decode()).group(1)
    answer = browser.post(
        reverse("realtimekit:meeting-join", args=[meeting.pk]),
        data="{}",
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert answer.status_code == 200 and answer.json()["token"]


def test_a_refused_user_gets_a_403_page_that_says_why(browser, meeting, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": refuse_everyone_policy}
    conf.clear_cache()
    page = browser.get(room_url(meeting.pk))
    assert page.status_code == 403
    html = page.content.decode()
    assert "You may not join this meeting" in html and 'data-join-url=""' in html
    assert "room.js" not in html


def test_an_inactive_meeting_is_shown_with_no_join_attempt(browser, meeting):
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.INACTIVE)
    page = browser.get(room_url(meeting.pk))
    html = page.content.decode()
    assert page.status_code == 200 and 'data-state="inactive"' in html
    assert "This meeting is inactive" in html and "room.js" not in html and 'data-join-url=""' in html


def test_an_unknown_meeting_is_404(browser, realtimekit_emulator):
    page = browser.get(room_url(uuid.uuid4()))
    assert page.status_code == 404 and 'data-state="missing"' in page.content.decode()


def test_signed_out_people_go_to_the_login_page(client, meeting, settings):
    settings.LOGIN_URL = "/admin/login/"
    page = client.get(room_url(meeting.pk))
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/?next=")


def test_next_is_kept_only_when_it_stays_on_the_site(browser, meeting, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": refuse_everyone_policy}
    conf.clear_cache()
    safe = browser.get(room_url(meeting.pk) + "?next=/lobby/").content.decode()
    assert 'data-back-url="/lobby/"' in safe and 'href="/lobby/"' in safe
    unsafe = browser.get(room_url(meeting.pk) + "?next=https://evil.example/").content.decode()
    assert "evil.example" not in unsafe and 'data-back-url="/"' in unsafe


def test_the_kit_is_pinned_with_integrity_and_crossorigin_in_the_module(browser, meeting):
    html = browser.get(room_url(meeting.pk)).content.decode()
    client_src = re.search(r'data-kit-client-src="([^"]+)"', html).group(1)
    assert re.search(r"@cloudflare/realtimekit@\d+\.\d+\.\d+/", client_src)
    assert re.search(r'data-kit-client-integrity="sha384-[A-Za-z0-9+/=]{64}"', html)
    assert re.search(r'data-kit-ui-integrity="sha384-[A-Za-z0-9+/=]{64}"', html)
    module = (conf.__file__.rsplit("/", 1)[0] + "/static/realtimekit/room.js")
    source = open(module).read()
    assert 'crossOrigin = "anonymous"' in source and "script.integrity = integrity" in source
    assert "localStorage" not in source and "sessionStorage" not in source and "console." not in source


def test_the_strings_come_translated_from_the_template(browser, meeting):
    html = browser.get(room_url(meeting.pk), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    match = re.search(r'data-messages="([^"]+)"', html)
    assert match
    import html as html_module

    messages = json.loads(html_module.unescape(match.group(1)))
    assert {"ended", "removed", "kit_failed", "retry", "busy"} <= set(messages)


def test_a_django_csp_nonce_goes_on_the_module(meeting, user, rf: RequestFactory):
    request = rf.get("/")
    request.user = user
    request.csp_nonce = "n0nce-value"
    html = Template("{% load realtimekit %}{% realtimekit_room meeting %}").render(
        Context({"request": request, "meeting": meeting})
    )
    assert 'nonce="n0nce-value"' in html and 'data-state="ready"' in html


def test_the_template_tag_renders_the_room_in_a_sites_page(meeting, user, rf):
    request = rf.get("/")
    request.user = user
    html = Template("{% load realtimekit %}<div>{% realtimekit_room meeting load_kit=False %}</div>").render(
        Context({"request": request, "meeting": meeting})
    )
    assert 'class="realtimekit-room"' in html and 'data-load-kit="false"' in html


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://cdn.jsdelivr.net/npm/@cloudflare/realtimekit@2.0.2/dist/browser.js", True),
        ("https://cdn.jsdelivr.net/npm/@cloudflare/realtimekit@latest/dist/browser.js", False),
        ("https://cdn.jsdelivr.net/npm/@cloudflare/realtimekit@2/dist/browser.js", False),
        ("https://cdn.jsdelivr.net/npm/@cloudflare/realtimekit/dist/browser.js", False),
        ("realtimekit/vendor/realtimekit/browser.js", True),
    ],
)
def test_pinned(url, expected):
    assert pinned(url) is expected


def test_the_check_warns_when_unpinned_or_without_integrity(settings):
    assert check_room_kit() == []
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT,
        "ROOM_UI_URL": "https://cdn.jsdelivr.net/npm/@cloudflare/realtimekit-ui@latest/dist/browser.js",
        "ROOM_CLIENT_INTEGRITY": None,
    }
    conf.clear_cache()
    assert sorted(message.id for message in check_room_kit()) == ["realtimekit.W040", "realtimekit.W041"]


def test_the_room_speaks_german(meeting, user, rf):
    from django.utils import translation

    request = rf.get("/")
    request.user = user
    with translation.override("de"):
        html = Template("{% load realtimekit %}{% realtimekit_room meeting %}").render(
            Context({"request": request, "meeting": meeting})
        )
    assert "Sie treten dem Meeting bei" in html and "Das Meeting ist beendet." in html
