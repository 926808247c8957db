"""The example site, run as a newcomer runs it: setup command, then ``runserver`` on a free port.

A subprocess keeps the demo's settings out of this pytest process. The site calls its own
in-process emulator over HTTP, so a join here crosses the real WSGI dispatcher and the state
file; restarting the server proves the state file keeps the emulator consistent with the db.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_env(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REALTIMEKIT") and key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    port = _free_port()
    env.update(
        DJANGO_SETTINGS_MODULE="demo_site.settings",
        PYTHONPATH=str(ROOT),
        PORT=str(port),
        REALTIMEKIT_DEMO_DB=str(tmp_path / "db.sqlite3"),
        REALTIMEKIT_DEMO_STATE=str(tmp_path / "emulator-state.json"),
    )
    return env


def _manage(env, *args) -> str:
    done = subprocess.run(
        [sys.executable, str(MANAGE), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Site:
    """``runserver`` in a subprocess, stopped on exit."""

    def __init__(self, env, log_path: Path):
        self.base = f"http://127.0.0.1:{env['PORT']}"
        self.log_path = log_path
        self.log = open(log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{env['PORT']}"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def __enter__(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                requests.get(self.base + "/admin/login/", timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.2)
        raise AssertionError("the demo site did not start within 60 s")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def _login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(base + "/accounts/login/", timeout=10).raise_for_status()
    form = {"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    answer = session.post(
        base + "/accounts/login/",
        data=form,
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, "login failed"
    return session


def _join(session: requests.Session, base: str, page: str) -> requests.Response:
    """Follow the first Join link to the meeting's page (the package's room) and POST its join
    endpoint as ``room.js`` does: the session cookie, the CSRF token from the room's data."""
    meeting_page = session.get(base + re.search(r'<a class="join" href="([^"]+)"', page).group(1), timeout=10)
    assert meeting_page.status_code == 200, meeting_page.text
    assert "no-store" in meeting_page.headers["Cache-Control"]
    room = meeting_page.text
    assert 'data-state="ready"' in room and 'data-emulator="true"' in room
    assert re.search(r'<script type="module" src="/static/realtimekit/room.js"', room)
    url = re.search(r'data-join-url="([^"]+)"', room).group(1)
    csrf = re.search(r'data-csrf-token="([^"]+)"', room).group(1)
    return session.post(
        base + url,
        json={"refresh": False},
        headers={"X-CSRFToken": csrf, "Accept": "application/json"},
        timeout=30,
    )


def test_demo_setup_then_site_serves_pages_and_joins(demo_env, tmp_path):
    first = _manage(demo_env, "demo_setup")
    second = _manage(demo_env, "demo_setup")  # idempotent
    assert first.count("meeting created:") == 4
    assert second.count("meeting exists:") == 4 and "meeting created:" not in second
    credentials = dict(re.findall(r"login: (\w+)\s+password: (\S+)", second))
    assert set(credentials) == {"admin", "alice", "bob"}

    log = tmp_path / "server.log"
    with Site(demo_env, log) as site:
        assert requests.get(site.base + "/admin/login/", timeout=10).status_code == 200
        anonymous = requests.get(site.base + "/", timeout=10, allow_redirects=False)
        assert anonymous.status_code == 302

        alice = _login(site.base, "alice", credentials["alice"])
        page = alice.get(site.base + "/", timeout=10)
        assert page.status_code == 200
        assert "Weekly standup" in page.text and "Design review" in page.text
        # The inactive meeting's Join cannot be pressed (it would only answer 409), and says why.
        inactive = re.search(r"<tr class=\"inactive\">(.*?)</tr>", page.text, re.S).group(1)
        assert "Last year" in inactive
        assert re.search(r"<button[^>]*\bdisabled\b[^>]*>Join</button>", inactive)
        assert 'class="join" href' not in inactive
        # No script on the list page, and none inline anywhere: the room's module does the join.
        assert "<script" not in page.text
        assert "Inactive: nobody can join until staff activate it" in inactive
        joined = _join(alice, site.base, page.text)
        assert joined.status_code == 200, joined.text
        first_join = joined.json()
        assert first_join["preset_name"] == "group_call_participant"
        assert "no-store" in joined.headers["Cache-Control"]
        room_page = alice.get(site.base + re.search(r'<a class="join" href="([^"]+)"', page.text).group(1))
        assert first_join["token"] not in room_page.text
        present_url = re.search(r'data-present-url="([^"]+)"', room_page.text).group(1)
        assert alice.get(site.base + present_url, timeout=10).json() == {"present": []}

        admin = _login(site.base, "admin", credentials["admin"])
        assert admin.get(site.base + "/admin/", timeout=10).status_code == 200

        # Emulated people join: the emulator delivers signed webhooks to the site, which shows them.
        move = re.search(r'action="([^"]+/people-move/)"', page.text).group(1)
        for _ in range(2):
            moved = alice.post(
                site.base + move, data={"csrfmiddlewaretoken": alice.cookies["csrftoken"]}, timeout=30
            )
            assert moved.status_code == 200, moved.text
        assert re.search(r'class="people-in">2: Guest \d+, Guest \d+<', moved.text), moved.text
        # The room's list (what room.js polls on the emulator) shows the same two people.
        present = alice.get(site.base + present_url, timeout=10)
        assert present.status_code == 200 and "no-store" in present.headers["Cache-Control"]
        names = present.json()["present"]
        assert len(names) == 2 and all(re.fullmatch(r"Guest \d+", name) for name in names), names
        assert names == re.findall(r"Guest \d+", moved.text)[:2]
        # Signed out, the list is refused (the join endpoint's own permission).
        assert requests.get(site.base + present_url, timeout=10).status_code == 403

        # The host ends the meeting: its transcript reaches the site's storage, one click away.
        listing = admin.get(site.base + "/", timeout=10).text
        end = re.search(r'action="([^"]+/end/)"', listing).group(1)
        ended = admin.post(site.base + end, data={"csrfmiddlewaretoken": admin.cookies["csrftoken"]}, timeout=60)
        assert ended.status_code == 200, ended.text
        link = re.search(r'<a class="transcript" href="([^"]+)"', ended.text)
        assert link, ended.text
        transcript = admin.get(site.base + link.group(1), timeout=10)
        assert transcript.status_code == 200
        assert re.search(r"Hello from Guest \d+\.", transcript.text), transcript.text
        assert 'class="attendance"' in ended.text
        assert "emulator" not in link.group(1)  # the site's own copy, not the emulator's link

    # A restart reloads the emulator's state file: alice is still the same participant.
    with Site(demo_env, log) as site:
        alice = _login(site.base, "alice", credentials["alice"])
        page = alice.get(site.base + "/", timeout=10).text
        again = _join(alice, site.base, page)
        assert again.status_code == 200, again.text
        assert again.json()["participant_id"] == first_join["participant_id"]
        assert again.json()["token"] != first_join["token"]

    server_log = log.read_text()
    assert first_join["token"] not in server_log and again.json()["token"] not in server_log


def test_the_demo_refuses_a_taken_port_before_doing_anything(tmp_path):
    """``scripts/demo`` on a port in use: it says so and suggests PORT=, without installing or
    running ``demo_setup`` (which would touch the running site's state)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("REALTIMEKIT")}
    env.update(
        REALTIMEKIT_DEMO_DB=str(tmp_path / "db.sqlite3"), REALTIMEKIT_DEMO_STATE=str(tmp_path / "state.json")
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["PORT"] = str(taken.getsockname()[1])
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "demo")], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert f"Port {env['PORT']} on 127.0.0.1 is already in use" in done.stderr
    assert "PORT=8123 bash scripts/demo" in done.stderr
    assert "Installing" not in done.stdout and "Preparing the demo" not in done.stdout
    assert not (tmp_path / "db.sqlite3").exists() and not (tmp_path / "state.json").exists()


def test_the_demo_database_commits_without_an_fsync_each(demo_env):
    """docs/installation.md's SQLite options, as the demo uses them: WAL and synchronous=NORMAL
    (1), so a webhook delivery's commit does not wait for the disk. Django 4.2 has no such
    OPTIONS, and the demo keeps SQLite's defaults there."""
    import django

    script = (
        "import django; django.setup(); from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('PRAGMA journal_mode'); mode = c.fetchone()[0]\n"
        "    c.execute('PRAGMA synchronous'); sync = c.fetchone()[0]\n"
        "print(mode, sync)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**demo_env, "PYTHONPATH": f"{ROOT / 'example_project'}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    expected = "wal 1" if django.VERSION >= (5, 1) else "delete 2"
    assert done.stdout.split() == expected.split()
