"""The site matrix: new sites that each differ from ``startproject`` in one ordinary way.

Each site is a settings module in ``tests/sites/`` and runs the same walk-through
(``tests/sites/walkthrough.py``) in its own process, since a user model or a router cannot be
swapped inside a running suite. The walk-throughs of the SQLite sites start together and are
judged one test each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

WORKING = ["email_user", "uuid_user", "app_and_users_routed", "german", "new_york"]
REFUSED = {"use_tz_off": "realtimekit.E011", "app_routed_alone": "realtimekit.E012"}


def _start(site: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": f"tests.sites.settings_{site}", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sites.walkthrough"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(site: str, process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, f"the {site} walk-through failed:\n{err[-4000:]}"
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def walks() -> dict[str, dict]:
    started = {site: _start(site) for site in [*WORKING, *REFUSED]}
    return {site: _finish(site, process) for site, process in started.items()}


def assert_walk_worked(found: dict) -> None:
    assert found["check_errors"] == []
    assert found["commands_without_token"] == "ran"  # migrate, makemigrations, collectstatic
    assert (found["admin_add_meeting"], found["admin_add_participant"]) == (302, 200)
    assert (found["participant_search"], found["participant_search_hits"]) == (200, 1)
    assert found["join_status"] == [200, 200] and found["join_same_participant"]
    assert found["join_expires_at"].endswith("Z")
    # A local failure after each remote create: no local meeting (the sync adopts it), and
    # no remote participant.
    assert found["orphan_meeting_local"] is False and found["doomed_participant_remote"] == []
    assert found["dry_run_adopted"] is False and found["sync_adopted"] is True
    assert found["meetings_stored"] == ["Orphan", "Site walk"]
    assert found["participants_stored"] == found["participants_remote"] == 2


@pytest.mark.parametrize("site", WORKING)
def test_the_walk_through_works(walks, site):
    assert_walk_worked(walks[site])


def test_an_email_only_user_is_searchable_and_not_named_by_address(walks):
    found = walks["email_user"]
    assert found["participant_search_hits"] == 1  # searched by user__email, no user__username
    assert found["join_display_name"] is None


def test_other_sites_send_the_username_as_the_display_name(walks):
    assert {walks[site]["join_display_name"] for site in WORKING if site != "email_user"} == {"member"}


def test_a_german_site_speaks_german(walks):
    found = walks["german"]
    assert found["admin_action_message"] == ["Deaktivieren: 1 erfolgreich (Site walk)."]
    assert found["join_error"] == {"detail": "Dieses Meeting gibt es nicht."}
    assert found["token_page_expiry"].startswith("gültig bis")
    assert walks["uuid_user"]["join_error"] == {"detail": "No such meeting."}


def test_local_times_are_labelled_with_their_zone(walks):
    new_york = walks["new_york"]["token_page_expiry"]
    assert new_york.rsplit(" ", 1)[-1] in ("EST", "EDT"), new_york
    assert walks["uuid_user"]["token_page_expiry"].endswith(" UTC")


@pytest.mark.parametrize("site", list(REFUSED))
def test_a_site_the_app_cannot_work_on_is_refused_by_a_check(walks, site):
    found = walks[site]
    assert set(found["check_errors"]) == {REFUSED[site]}
    assert found["sync_command"] == f"refused: {REFUSED[site]}"


def test_use_tz_false_sends_nothing_even_when_the_check_is_skipped(walks):
    found = walks["use_tz_off"]
    assert found["create"] == "ImproperlyConfigured" and found["requests_sent"] == 0


@pytest.mark.postgres
def test_use_tz_false_on_postgresql_is_refused():
    found = _finish("use_tz_off_postgres", _start("use_tz_off_postgres"))
    assert found["check_errors"] == ["realtimekit.E011"]
    assert found["sync_command"] == "refused: realtimekit.E011"
    assert found["create"] == "ImproperlyConfigured" and found["requests_sent"] == 0
