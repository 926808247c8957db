"""The room on the emulator (``ROOM_EMULATOR``) in headless Chromium under the strict CSP: it
joins once, loads no kit, shows the note that video needs the real API and lists who is in now
(polling ``meeting-present``), with 0 console errors and 0 CSP violations."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from realtimekit_django import conf, services
from realtimekit_django.models import Session, SessionParticipant, SessionStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"


def test_on_the_emulator_the_room_says_video_needs_the_api_and_lists_who_is_in(
    live_server, realtimekit_emulator, settings
):
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), "run scripts/install-browser"
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "ROOM_EMULATOR": True}
    conf.clear_cache()
    user = get_user_model().objects.create_user("alice", password="pw")
    meeting = services.create_meeting(title="Standup")
    now = timezone.now()
    session = Session.objects.create(id="s-live", meeting=meeting, status=SessionStatus.LIVE, started_at=now)
    SessionParticipant.objects.create(session=session, peer_id="p1", display_name="Bob", joined_at=now)
    signed_in = Client()
    signed_in.force_login(user)
    room_url = live_server.url + reverse("realtimekit:meeting-room", args=[meeting.pk])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 360, "height": 740})
        tab = context.new_page()
        errors, joins, elsewhere = [], [], []
        tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("request", lambda r: r.url.endswith("/join/") and joins.append(r.post_data))
        tab.on("request", lambda r: not r.url.startswith(live_server.url) and elsewhere.append(r.url))

        def strict_csp(route):
            response = route.fetch()
            headers = {**response.headers, "content-security-policy": "script-src 'self'; object-src 'none'"}
            route.fulfill(response=response, headers=headers)

        tab.route("**/room/", strict_csp)
        context.add_cookies(
            [{"name": "sessionid", "value": signed_in.cookies["sessionid"].value, "url": live_server.url}]
        )
        tab.goto(room_url)
        tab.wait_for_selector(".realtimekit-room[data-outcome=emulator]")
        tab.wait_for_selector(".realtimekit-room-present li")
        status = tab.inner_text(".realtimekit-room-status")
        assert "video and audio need the real RealtimeKit API" in status
        assert tab.inner_text(".realtimekit-room-present li") == "Bob"
        # A newcomer appears at the next poll, without a reload. (The ORM is called from a
        # thread: Playwright's sync API runs an event loop in this one.)
        newcomer = threading.Thread(
            target=SessionParticipant.objects.create,
            kwargs={
                "session": session,
                "peer_id": "p2",
                "display_name": "Carol",
                "joined_at": now + timedelta(seconds=1),
            },
        )
        newcomer.start()
        newcomer.join()
        tab.wait_for_selector(".realtimekit-room-present li:nth-child(2)", timeout=10_000)
        assert tab.locator(".realtimekit-room-present li").all_inner_texts() == ["Bob", "Carol"]
        assert tab.locator("rtk-meeting").count() == 0
        assert tab.evaluate("typeof window.RealtimeKitClient") == "undefined"  # no kit loaded
        assert joins == ['{"refresh":false}']
        assert elsewhere == []  # nothing from a CDN
        assert errors == []  # CSP violations are console errors too
        browser.close()
