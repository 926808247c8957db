"""The room in headless Chromium under the strict CSP: 0 console errors, 0 CSP violations, one
token fetch, ``<rtk-meeting>`` mounted with the token, and the lifecycle paths: a kit that fails
to load, 429/503 counted down and tried again (bounded), refusals, leaving to a safe ``next``.
Every request to a host other than the live server is aborted and recorded; none may go to a CDN.

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
from urllib.parse import quote, urlsplit

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
#: Hosts the room may be served from; every other request is aborted and recorded (no test reaches
#: a CDN or RealtimeKit).
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
CDN_HOSTS = {"cdn.jsdelivr.net", "unpkg.com", "esm.sh", "cdnjs.cloudflare.com", "cdn.skypack.dev"}
#: Each CSP violation the document sees, recorded before any of the page's own script runs.
CSP_SPY = """window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push({ directive: e.effectiveDirective, blocked: e.blockedURI });
});"""
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
        tab.errors, tab.joins, tab.outside = [], [], []
        tab.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.on("request", lambda r: r.url.endswith("/join/") and tab.joins.append(r.post_data))

        def strict_csp(route):
            response = route.fetch()
            headers = {**response.headers, "content-security-policy": "script-src 'self'; object-src 'none'"}
            route.fulfill(response=response, headers=headers)

        def local_only(route):
            if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
                return route.continue_()
            tab.outside.append((route.request.resource_type, route.request.url))
            return route.abort()

        context.route("**/*", local_only)  # page routes (below, and in tests) take precedence
        context.add_init_script(CSP_SPY)
        tab.route(lambda url: urlsplit(url).path.endswith("/room/"), strict_csp)
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        tab.room_url = room_url
        yield tab
        browser.close()
    assert [url for _, url in tab.outside if urlsplit(url).hostname in CDN_HOSTS] == []


def test_the_room_mounts_the_meeting_with_one_token_under_the_strict_csp(kit, page):
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted] rtk-meeting", state="attached")
    inits = page.evaluate("window.__inits")
    assert len(inits) == 1 and len(inits[0]["authToken"]) > 20
    assert inits[0]["defaults"] == {"audio": False, "video": False}
    assert inits[0]["authToken"] not in page.content()
    assert page.joins == ['{"refresh":false}']
    assert page.errors == []  # CSP violations are console errors too
    assert page.evaluate("window.__csp") == []
    page.evaluate("window.__leave('ended')")
    assert "The meeting has ended." in page.inner_text(".realtimekit-room-status")


def test_a_kit_that_does_not_load_says_so_and_offers_a_retry(kit, page, settings):
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT, "ROOM_UI_URL": "kit/missing.js", "ROOM_UI_INTEGRITY": None
    }
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


@pytest.mark.parametrize(
    "status, words", [(403, "You may not join"), (404, "does not exist"), (409, "inactive")]
)
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


#: Every sentence the status line shows, in order (a MutationObserver, so no timing is asserted).
STATUS_SPY = """window.__said = [];
new MutationObserver(() => {
  const p = document.querySelector(".realtimekit-room-status p");
  if (p && window.__said[window.__said.length - 1] !== p.textContent) window.__said.push(p.textContent);
}).observe(document, { subtree: true, childList: true, characterData: true });
Math.random = () => 0.5;"""


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_answer_counts_down_retry_after_plus_jitter_then_tries_again(kit, page, status):
    answered = []

    def busy_once(route):
        if not answered:
            answered.append(status)
            return route.fulfill(status=status, headers={"Retry-After": "1"}, json={"detail": "busy"})
        return route.continue_()

    page.add_init_script(STATUS_SPY)
    page.route("**/join/", busy_once)
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]", timeout=10_000)
    said = [line for line in page.evaluate("window.__said") if "trying again" in line]
    # Retry-After 1 s plus a jitter of 0.5 * 1 s (Math.random pinned): 2, 1, 0 s, attempt 2 of 5.
    assert [line.split("trying again in ")[1].split(" s")[0] for line in said] == ["2", "1", "0"]
    assert all("(attempt 2 of 5)" in line for line in said)
    assert answered == [status] and len(page.joins) == 2
    assert len(page.evaluate("window.__inits")) == 1


def test_busy_answers_are_tried_a_bounded_number_of_times_then_it_gives_up(kit, page, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "ROOM_JOIN_MAX_ATTEMPTS": 2}
    conf.clear_cache()
    page.route("**/join/", lambda route: route.fulfill(status=429, headers={"Retry-After": "1"}, json={}))
    page.goto(page.room_url)
    page.wait_for_selector(".realtimekit-room[data-outcome=gave_up]", timeout=10_000)
    assert "could not be joined right now" in page.inner_text(".realtimekit-room-status")
    assert page.locator(".realtimekit-room-actions button").inner_text() == "Try again"
    assert len(page.joins) == 2
    assert page.evaluate("window.__inits") is None


def test_leaving_goes_back_to_a_safe_next(kit, page, live_server):
    page.goto(page.room_url + "?next=" + quote("/lobby/?team=1"))
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]")
    with page.expect_navigation():
        page.evaluate("window.__leave('left')")
    assert page.url == live_server.url + "/lobby/?team=1"


@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_an_unsafe_next_is_ignored_on_leaving_and_in_the_back_link(kit, page, live_server, unsafe):
    page.goto(page.room_url + "?next=" + quote(unsafe))
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]")
    page.evaluate("window.__leave('ended')")
    assert page.locator(".realtimekit-room-actions a").get_attribute("href") == "/"
    page.goto(page.room_url + "?next=" + quote(unsafe))
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]")
    with page.expect_navigation():
        page.evaluate("window.__leave('left')")
    assert page.url == live_server.url + "/"
    assert [url for _, url in page.outside if "evil.example" in url] == []


def test_the_back_link_after_the_meeting_ends_is_the_safe_next(kit, page):
    page.goto(page.room_url + "?next=" + quote("/lobby/"))
    page.wait_for_selector(".realtimekit-room[data-outcome=mounted]")
    page.evaluate("window.__leave('ended')")
    assert page.locator(".realtimekit-room-actions a").get_attribute("href") == "/lobby/"
