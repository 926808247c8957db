"""The room in headless Chromium under the strict CSP: 0 console errors, 0 CSP violations, one
token fetch, ``<rtk-meeting>`` mounted with the token, and a kit that fails to load.

The kit here is a stand-in with the real kit's interface (``RealtimeKitClient.init({authToken,
defaults})``, ``RtkUiKit.defineCustomElements()``, ``meeting.self.on("roomLeft")``), served as
static files with their SRI hashes: the official ``./mock`` (``setupStubs``) replaces
``window.fetch`` and imports a bare specifier, so it cannot run beside our module offline
without an import map (an inline script the CSP forbids).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from realtimekit_django import conf, services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CLIENT = """window.RealtimeKitClient = { init: async ({ authToken, defaults }) => {
  window.__inits = (window.__inits || []).concat([{ authToken, defaults }]);
  if (window.__refuseFirst && window.__inits.length === 1) throw new Error("token refused");
  const handlers = {};
  window.__leave = (state) => handlers.roomLeft({ state });
  return { self: { on: (name, fn) => { handlers[name] = fn; } } };
} };"""
UI = """window.RtkUiKit = { defineCustomElements: async () => {
  customElements.define("rtk-meeting", class extends HTMLElement {});
} };"""


def _sri(text: str) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(text.encode()).digest()).decode()


@pytest.fixture
def kit(tmp_path, settings):
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "client.js").write_text(CLIENT)
    (tmp_path / "kit" / "ui.js").write_text(UI)
    settings.STATICFILES_DIRS = [str(tmp_path)]
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT,
        "ROOM_CLIENT_URL": "kit/client.js",
        "ROOM_CLIENT_INTEGRITY": _sri(CLIENT),
        "ROOM_UI_URL": "kit/ui.js",
        "ROOM_UI_INTEGRITY": _sri(UI),
    }
    conf.clear_cache()


@pytest.fixture
def page(live_server, realtimekit_emulator):
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), "run scripts/install-browser"
    user = get_user_model().objects.create_user("alice", password="pw")
    meeting = services.create_meeting(title="Standup")
    signed_in = Client()
    signed_in.force_login(user)
    session = signed_in.cookies["sessionid"].value
    room_url = live_server.url + reverse("realtimekit:meeting-room", args=[meeting.pk])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 360, "height": 740})
        tab = context.new_page()
        tab.errors, tab.joins = [], []
        tab.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.on("request", lambda r: r.url.endswith("/join/") and tab.joins.append(r.post_data))

        def strict_csp(route):
            response = route.fetch()
            headers = {**response.headers, "content-security-policy": "script-src 'self'; object-src 'none'"}
            route.fulfill(response=response, headers=headers)

        tab.route("**/room/", strict_csp)
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        tab.room_url = room_url
        yield tab
        browser.close()


def test_the_room_mounts_the_meeting_with_one_token_under_the_strict_csp(kit, page):
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted] rtk-meeting", state="attached")
    inits = page.evaluate("window.__inits")
    assert len(inits) == 1 and len(inits[0]["authToken"]) > 20
    assert inits[0]["defaults"] == {"audio": False, "video": False}
    assert inits[0]["authToken"] not in page.content()
    assert page.joins == ['{"refresh":false}']
    assert page.errors == []  # CSP violations are console errors too
    page.evaluate("window.__leave('ended')")
    assert "The meeting has ended." in page.inner_text(".realtimekit-room-status")


def test_a_kit_that_does_not_load_says_so_and_offers_a_retry(kit, page, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "ROOM_UI_URL": "kit/missing.js", "ROOM_UI_INTEGRITY": None}
    conf.clear_cache()
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=kit-failed]")
    assert "could not be loaded" in page.inner_text(".realtimekit-room-status")
    assert page.locator(".realtimekit-room-actions button").inner_text() == "Try again"
    assert page.joins == []


def test_a_503_is_waited_out_with_a_countdown_and_tried_again(kit, page):
    answered = []

    def busy_once(route):
        if not answered:
            answered.append(503)
            return route.fulfill(status=503, headers={"Retry-After": "1"}, json={"detail": "busy"})
        return route.continue_()

    page.route("**/join/", busy_once)
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=waiting]")
    assert "trying again in" in page.inner_text(".realtimekit-room-status")
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]", timeout=10_000)
    assert len(page.joins) == 2
    # Chromium itself logs the 503 answer; nothing else may be an error.
    assert [e for e in page.errors if "status of 503" not in e] == []


@pytest.mark.parametrize("status, words", [(403, "You may not join"), (404, "does not exist"), (409, "inactive")])
def test_a_refused_join_says_why(kit, page, status, words):
    page.route("**/join/", lambda route: route.fulfill(status=status, json={"detail": "no"}))
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome] .realtimekit-room-status p")
    page.wait_for_function("document.querySelector('.realtimekit-room').dataset.outcome !== 'joining'")
    assert words in page.inner_text(".realtimekit-room-status")
    assert page.locator(".realtimekit-room-actions a").count() == 1


def test_a_token_the_kit_refuses_is_replaced_by_a_fresh_one(kit, page):
    page.add_init_script("window.__refuseFirst = true;")
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]")
    assert page.joins == ['{"refresh":false}', '{"refresh":true}']
    assert len(page.evaluate("window.__inits")) == 2


@pytest.mark.parametrize("state, words", [("kicked", "You were removed"), ("disconnected", "connection")])
def test_removed_and_disconnected_are_said(kit, page, state, words):
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]")
    page.evaluate(f"window.__leave('{state}')")
    assert words in page.inner_text(".realtimekit-room-status")
