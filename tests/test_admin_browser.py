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
    # Two joins make two participants in two meetings.
    for title in ("Design review", "Weekly standup"):
        page.locator("tr", has_text=title).locator("button.join").click()
        page.wait_for_selector(f"#outcome:has-text('Joined \"{title}\"')")

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
