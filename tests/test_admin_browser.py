"""The admin in a real browser: the example site, on its in-process emulator, driven by headless
Chromium (Debian's ``chromium``, through Playwright's Python API; ``scripts/install-browser``).

The site runs as a subprocess exactly as ``scripts/demo`` runs it (``demo_setup``, then
``runserver``), on a free port with a temporary database and emulator state file, so this test
exercises the real stack: browser, Django's admin, services, client, HTTP, emulator.

Set ``REALTIMEKIT_SCREENSHOTS=1`` to refresh the screenshots in ``docs/img/`` (tokens masked);
otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_USER, ADMIN_PASSWORD = "browser-admin", "browser-admin-password-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the example site exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the example site did not answer on {url} within {timeout:.0f}s")


@pytest.fixture(scope="module")
def example_site(tmp_path_factory):
    """The example site on a free port: (base URL, emulator state file)."""
    workdir = tmp_path_factory.mktemp("example-site")
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "REALTIMEKIT_DEMO_DB": str(workdir / "db.sqlite3"),
        "REALTIMEKIT_DEMO_STATE": str(workdir / "emulator-state.json"),
        "DJANGO_SUPERUSER_USERNAME": ADMIN_USER,
        "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "browser-admin@example.com",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the site's own settings, not the test suite's
    for command in (["demo_setup"], ["createsuperuser", "--noinput"]):
        subprocess.run(
            [sys.executable, str(MANAGE), *command], env=env, check=True, capture_output=True, timeout=120
        )
    log = (workdir / "runserver.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base_url}/admin/login/", process)
        yield base_url, workdir / "emulator-state.json"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright import sync_api
    except ImportError:  # a missing browser is a failure, never a skip
        pytest.fail("Playwright is missing: run scripts/install-browser")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    if os.environ.get("REALTIMEKIT_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "img"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path


def _remote_meetings(state_file: Path) -> dict[str, dict]:
    state = json.loads(state_file.read_text())
    return {meeting_id: m for app in state["apps"].values() for meeting_id, m in app["meetings"].items()}


def _run_action(page, action: str) -> None:
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_staff_runs_a_meeting_from_the_admin(example_site, browser, screenshot_dir):
    base_url, state_file = example_site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)

    # Log in.
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "/admin/login/" not in page.url

    # Create a meeting with structured settings (and a storage secret that must not come back).
    page.goto(f"{base_url}/admin/realtimekit/meeting/add/")
    page.fill("#id_title", "Browser review")
    page.check("#id_persist_chat")
    page.select_option("#id_ai_summary_type", "code_review")
    page.fill("#id_ai_transcription_keywords", "Django, RealtimeKit")
    page.select_option("#id_rec_video_codec", "H264")
    page.fill("#id_rec_video_width", "1280")
    page.fill("#id_rec_video_height", "720")
    page.screenshot(path=str(screenshot_dir / "admin-meeting-form.png"), full_page=True)
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert "was added successfully" in page.inner_text(".messagelist")
    remote = [m for m in _remote_meetings(state_file).values() if m["title"] == "Browser review"]
    assert len(remote) == 1
    assert remote[0]["ai_config"]["summarization"]["summary_type"] == "code_review"
    assert remote[0]["recording_config"]["video_config"]["width"] == 1280
    meeting_id = remote[0]["id"]
    assert page.is_visible("text=Sync everything from RealtimeKit")
    page.screenshot(path=str(screenshot_dir / "admin-meeting-list.png"), full_page=True)

    # Add a participant from the meeting's page: the token is shown once.
    page.goto(f"{base_url}/admin/realtimekit/meeting/{meeting_id}/change/")
    page.click("text=Add a participant")
    page.fill("#id_custom_participant_id", "browser-guest")
    page.fill("#id_preset_name", "group_call_host")
    page.fill("#id_name", "Browser Guest")
    page.click("input[name=_add_participant]")
    page.wait_for_selector(".realtimekit-token")
    first_token = page.input_value(".realtimekit-token-value")
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", first_token)
    assert "valid until" in page.inner_text(".realtimekit-token")

    # Refresh the token from the participant list: a new one, with its expiry.
    page.goto(f"{base_url}/admin/realtimekit/participant/?q=browser-guest")
    page.check("input[name=_selected_action]")
    _run_action(page, "refresh_token")
    page.wait_for_selector(".realtimekit-token")
    message = page.inner_text(".realtimekit-token")
    assert "New join token for Browser Guest" in message and "valid until" in message
    second_token = page.input_value(".realtimekit-token-value")
    assert second_token and second_token != first_token
    page.screenshot(
        path=str(screenshot_dir / "admin-refresh-token.png"),
        mask=[page.locator(".realtimekit-token-value")],
        mask_color="#d0d0d0",
    )
    page.goto(f"{base_url}/admin/realtimekit/participant/")
    assert second_token not in page.content()  # shown once, then never again

    # Deactivate the meeting.
    page.goto(f"{base_url}/admin/realtimekit/meeting/?q={meeting_id}")
    page.check("input[name=_selected_action]")
    _run_action(page, "deactivate")
    page.wait_for_selector(".messagelist .success")
    assert "Deactivate: 1 succeeded (Browser review)" in page.inner_text(".messagelist")
    assert "Inactive" in page.inner_text("#result_list")
    assert _remote_meetings(state_file)[meeting_id]["status"] == "INACTIVE"
    context.close()


def _fits(page, selector: str) -> bool:
    """Whether the element shows all its content: no column pushed out of its scroll box."""
    return page.evaluate(
        "(selector) => {"
        " const el = document.querySelector(selector); return el.scrollWidth <= el.clientWidth; }",
        selector,
    )


def test_one_meetings_participants_and_the_demo_join_button(example_site, browser, screenshot_dir):
    base_url, _state_file = example_site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    # The demo page: an inactive meeting's Join cannot be pressed, and says why.
    page.goto(f"{base_url}/")
    inactive = page.locator("tr.inactive", has_text="Last year's retro")
    assert inactive.locator("button.join").is_disabled()
    assert "nobody can join until staff activate it" in inactive.inner_text()
    # Two joins (Join opens the package's room, which joins when it loads) make two
    # participants in two meetings.
    for title in ("Design review", "Weekly standup"):
        page.goto(f"{base_url}/")
        with page.expect_response(lambda r: r.url.endswith("/join/") and r.status == 200):
            page.locator("tr", has_text=title).locator("a.join").click()

    # The meeting list fits at 1280 px; a meeting's count links to its participants.
    page.goto(f"{base_url}/admin/realtimekit/meeting/")
    page.screenshot(path=str(screenshot_dir / "admin-meeting-list.png"), full_page=True)
    assert _fits(page, "#changelist .results"), "a meeting list column is cut off at 1280 px"
    page.locator("#result_list tr", has_text="Design review").locator("td.field-participant_count a").click()
    page.wait_for_url("**/admin/realtimekit/participant/?meeting=*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Design review" in rows.first.inner_text()

    # The participant list's meeting filter: search a title, pick it, see only its participants.
    page.goto(f"{base_url}/admin/realtimekit/participant/")
    assert page.locator("#result_list tbody tr").count() >= 2
    page.click(".realtimekit-meeting-filter .select2-selection")
    page.fill(".select2-search__field", "Weekly")
    page.click(".select2-results__option:has-text('Weekly standup')")
    page.wait_for_url("**/admin/realtimekit/participant/?meeting=*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Weekly standup" in rows.first.inner_text()
    assert "Weekly standup" in page.inner_text("#changelist-filter li.selected")
    page.goto(f"{base_url}/admin/realtimekit/participant/")
    page.screenshot(path=str(screenshot_dir / "admin-participant-list.png"), full_page=True)
    assert _fits(page, "#changelist .results"), "a participant list column is cut off at 1280 px"
    context.close()


EMULATOR_TOKEN = "demo-emulator-token-not-a-secret"  # the demo's made-up emulator token


def _emulator_call(base_url: str, method: str, route: str, body: dict | None = None) -> tuple[int, dict]:
    """Call the site's in-process emulator as the demo does (its session simulator included)."""
    url = f"{base_url}/emulator/client/v4/accounts/demo-account/realtime/kit/demo-app/{route}"
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {EMULATOR_TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _log_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", ADMIN_USER)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def _add_participant(page, base_url: str, meeting_id: str, custom_id: str, name: str, preset: str) -> None:
    page.goto(f"{base_url}/admin/realtimekit/meeting/{meeting_id}/add-participant/")
    page.fill("#id_custom_participant_id", custom_id)
    page.select_option("select#id_preset_name", preset)  # a list of the app's presets, not free text
    page.fill("#id_name", name)
    page.click("input[name=_add_participant]")
    page.wait_for_selector(".realtimekit-token")


def test_staff_records_and_controls_a_live_meeting(example_site, browser, screenshot_dir):
    base_url, state_file = example_site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    _log_in(page, base_url)
    meeting_id = next(i for i, m in _remote_meetings(state_file).items() if m["title"] == "Design review")

    # A full sync mirrors the app's presets; the participant form then offers them as a list.
    page.goto(f"{base_url}/admin/realtimekit/meeting/")
    page.click("text=Sync everything from RealtimeKit")
    page.wait_for_selector(".messagelist .success")
    page.goto(f"{base_url}/admin/realtimekit/meeting/{meeting_id}/add-participant/")
    options = page.eval_on_selector_all("select#id_preset_name option", "els => els.map(e => e.value)")
    assert {"group_call_host", "group_call_participant"} <= set(options)
    page.select_option("select#id_preset_name", "group_call_host")
    page.fill("#id_custom_participant_id", "live-host")
    page.fill("#id_name", "Live Host")
    page.screenshot(path=str(screenshot_dir / "admin-add-participant-preset.png"), full_page=True)
    page.click("input[name=_add_participant]")
    page.wait_for_selector(".realtimekit-token")
    _add_participant(page, base_url, meeting_id, "live-guest", "Live Guest", "group_call_participant")

    # Both join the meeting (the emulator's session simulator plays them).
    status, started = _emulator_call(base_url, "POST", f"emulator/meetings/{meeting_id}/sessions", {})
    assert status == 201, started
    session_id = started["data"]["session_id"]
    for custom_id in ("live-host", "live-guest"):
        status, joined = _emulator_call(
            base_url,
            "POST",
            f"emulator/sessions/{session_id}/participants",
            {"custom_participant_id": custom_id},
        )
        assert status == 201, joined

    # Start and stop recording from the meeting list.
    page.goto(f"{base_url}/admin/realtimekit/meeting/?q={meeting_id}")
    page.check("input[name=_selected_action]")
    _run_action(page, "start_recording")
    page.wait_for_selector(".messagelist .success")
    assert "Start recording: 1 succeeded (Design review)" in page.inner_text(".messagelist")
    status, active = _emulator_call(base_url, "GET", f"recordings/active-recording/{meeting_id}")
    assert status == 200 and active["data"]["status"] in ("INVOKED", "RECORDING"), active
    page.check("input[name=_selected_action]")
    _run_action(page, "stop_recording")
    page.wait_for_selector(".messagelist .success")
    assert "Stop recording: 1 succeeded (Design review)" in page.inner_text(".messagelist")
    page.goto(f"{base_url}/admin/realtimekit/recording/")
    assert "Uploading" in page.inner_text("#result_list") or "Uploaded" in page.inner_text("#result_list")
    assert "signature=" not in page.content()
    page.screenshot(path=str(screenshot_dir / "admin-recordings.png"), full_page=True)

    # Remove the guest from the live meeting, after confirming on the meeting's page.
    page.goto(f"{base_url}/admin/realtimekit/meeting/{meeting_id}/change/")
    page.click("text=Remove from the live meeting")
    page.get_by_label("Live Guest").check()
    page.screenshot(path=str(screenshot_dir / "admin-remove-live.png"), full_page=True)
    page.click("input[name=_remove_live]")
    page.wait_for_selector(".messagelist .success")
    assert "Removed from the live meeting: Live Guest" in page.inner_text(".messagelist")
    status, session = _emulator_call(base_url, "GET", f"meetings/{meeting_id}/active-session")
    assert status == 200 and session["data"]["live_participants"] == 1, session
    context.close()
