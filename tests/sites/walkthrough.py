"""One walk-through of a new site, run in its own process: ``python -m tests.sites.walkthrough``.

``DJANGO_SETTINGS_MODULE`` names the site (``tests/sites/settings_*.py``). The steps are what a
new user does: check, migrate (and the other commands that must run without the API token),
add a meeting and a participant in the admin, join twice, sync, dry-run sync, plus a local
failure forced after each remote create. A site refused by a system check stops after
showing that nothing can be created remotely. The findings are printed as one JSON object
(the last line), which ``tests/test_sites.py`` judges.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile

import django


def main() -> dict:
    os.environ.pop("REALTIMEKIT_API_TOKEN", None)
    os.environ["SITE_STATIC_ROOT"] = tempfile.mkdtemp()
    django.setup()
    from django.conf import settings
    from django.test.utils import setup_test_environment

    setup_test_environment()  # responses carry their template context, as in a test

    found: dict = {"check_errors": check_errors()}
    if found["check_errors"]:
        found.update(refused_site())
        return found
    found.update(commands_without_token(list(settings.DATABASES)))
    os.environ["REALTIMEKIT_API_TOKEN"] = "site-matrix-token"
    from realtimekit_django import conf

    conf.clear_cache()
    found.update(with_emulator(site_walk))
    return found


def check_errors() -> list[str]:
    from django.core import checks

    return sorted(m.id for m in checks.run_checks() if m.level >= checks.ERROR)


def with_emulator(walk):
    from realtimekit_django.emulator import Emulator
    from realtimekit_django.emulator.pytest_plugin import emulator_settings
    from realtimekit_django.emulator.responses_adapter import mock_requests

    config = emulator_settings()
    emulator = Emulator(api_token=config["api_token"], default_app_id=config["app_id"])
    with mock_requests(emulator, base_url=config["base_url"]):
        return walk(emulator)


def refused_site() -> dict:
    """What a refused site does when someone goes on regardless: nothing reaches RealtimeKit."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    os.environ["REALTIMEKIT_API_TOKEN"] = "site-matrix-token"

    def walk(emulator) -> dict:
        from realtimekit_django import services

        outcome = {}
        try:
            call_command("realtimekit_sync", skip_checks=False, stdout=io.StringIO())
            outcome["sync_command"] = "ran"
        except SystemCheckError as exc:
            outcome["sync_command"] = "refused: " + ",".join(sorted(set(_ids(str(exc)))))
        try:
            services.create_meeting(title="Refused")
            outcome["create"] = "created"
        except Exception as exc:  # what a site's own code would see
            outcome["create"] = type(exc).__name__
        outcome["requests_sent"] = len(emulator.requests)
        return outcome

    return with_emulator(walk)


def _ids(text: str) -> list[str]:
    """The ids of the errors that refused the command (warnings never refuse one)."""
    return [word.strip("():") for word in text.split() if word.strip("():").startswith("realtimekit.E")]


def commands_without_token(aliases: list[str]) -> dict:
    from django.core.management import call_command

    for alias in aliases:
        call_command("migrate", database=alias, verbosity=0, skip_checks=False)
    call_command("makemigrations", "realtimekit", check=True, dry_run=True, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0, skip_checks=False)
    return {"commands_without_token": "ran"}


def site_walk(emulator) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from realtimekit_django.models import Meeting, Participant

    found: dict = {}
    user_model = get_user_model()
    staff = _create_user(user_model, "staff", superuser=True)
    member = _create_user(user_model, "member")
    admin = Client()
    admin.force_login(staff)

    meeting = _admin_add_meeting(admin, found)
    _admin_add_participant(admin, meeting, staff, found)
    found["participant_search"] = admin.get("/admin/realtimekit/participant/", {"q": "staff"}).status_code
    found["participant_search_hits"] = (
        admin.get("/admin/realtimekit/participant/", {"q": _login(staff)}).context["cl"].result_count
    )
    _join_twice(meeting, member, emulator, found)
    _admin_action_message(admin, meeting, found)
    _local_failures(emulator, found)
    _sync(found)
    found["meetings_stored"] = sorted(Meeting.objects.values_list("title", flat=True))
    found["participants_stored"] = Participant.objects.count()
    found["participants_remote"] = sum(len(emulator.participants(m["id"])) for m in emulator.meetings())
    return found


def _login(user) -> str:
    return str(getattr(user, user.USERNAME_FIELD))


def _create_user(user_model, name: str, *, superuser: bool = False):
    login = f"{name}@example.com" if user_model.USERNAME_FIELD == "email" else name
    create = (
        user_model._default_manager.create_superuser if superuser else user_model._default_manager.create_user
    )
    extra = {"email": f"{name}@example.com"} if user_model.USERNAME_FIELD != "email" else {}
    return create(**{user_model.USERNAME_FIELD: login, "password": "pw", **extra})


def _admin_add_meeting(admin, found: dict):
    from realtimekit_django.models import Meeting
    from tests.admin_pages import form_data

    page = admin.get("/admin/realtimekit/meeting/add/")
    data = {**form_data(page), "title": "Site walk"}
    response = admin.post("/admin/realtimekit/meeting/add/", data)
    found["admin_add_meeting"] = response.status_code
    return Meeting.objects.get(title="Site walk")


def _admin_add_participant(admin, meeting, staff, found: dict) -> None:
    url = f"/admin/realtimekit/meeting/{meeting.pk}/add-participant/"
    response = admin.post(
        url, {"user": str(staff.pk), "preset_name": "group_call_host", "custom_participant_id": ""}
    )
    found["admin_add_participant"] = response.status_code
    found["token_page_expiry"] = _between(response.content.decode(), "(", ")", after="realtimekit-token")


def _between(text: str, start: str, end: str, *, after: str) -> str:
    text = text[text.index(after) :]
    text = text[text.index(start) + 1 :]
    return " ".join(text[: text.index(end)].split())


def _join_twice(meeting, member, emulator, found: dict) -> None:
    from django.test import Client

    browser = Client()
    browser.force_login(member)
    answers = [browser.post(f"/realtimekit/meetings/{meeting.pk}/join/") for _ in range(2)]
    found["join_status"] = [answer.status_code for answer in answers]
    bodies = [answer.json() for answer in answers]
    found["join_same_participant"] = bodies[0]["participant_id"] == bodies[1]["participant_id"]
    found["join_expires_at"] = bodies[0]["expires_at"]
    remote = next(p for p in emulator.participants(str(meeting.pk)) if p["id"] == bodies[0]["participant_id"])
    found["join_display_name"] = remote.get("name")
    found["join_error"] = browser.post(
        "/realtimekit/meetings/00000000-0000-4000-8000-000000000000/join/"
    ).json()


def _admin_action_message(admin, meeting, found: dict) -> None:
    response = admin.post(
        "/admin/realtimekit/meeting/",
        {"action": "deactivate", "_selected_action": [str(meeting.pk)]},
        follow=True,
    )
    found["admin_action_message"] = [str(message) for message in response.context["messages"]]


def _local_failures(emulator, found: dict) -> None:
    """A site's receiver fails after each remote create: the rows roll back on the app's database."""
    from realtimekit_django import services, signals
    from realtimekit_django.models import Meeting

    def fail(**kwargs):
        raise RuntimeError("a site's receiver failed")

    signals.meeting_created.connect(fail, weak=False, dispatch_uid="walk")
    try:
        services.create_meeting(title="Orphan")
    except RuntimeError:
        found["orphan_meeting_local"] = Meeting.objects.filter(title="Orphan").exists()
    finally:
        signals.meeting_created.disconnect(dispatch_uid="walk")

    host = Meeting.objects.get(title="Site walk")
    signals.participant_added.connect(fail, weak=False, dispatch_uid="walk")
    try:
        services.add_participant(host, custom_participant_id="doomed", preset_name="group_call_participant")
    except RuntimeError:
        found["doomed_participant_remote"] = [
            p for p in emulator.participants(str(host.pk)) if p.get("custom_participant_id") == "doomed"
        ]
    finally:
        signals.participant_added.disconnect(dispatch_uid="walk")


def _sync(found: dict) -> None:
    from django.core.management import call_command

    from realtimekit_django.models import Meeting

    dry = io.StringIO()
    call_command("realtimekit_sync", "--participants", "--dry-run", stdout=dry)
    found["dry_run_adopted"] = Meeting.objects.filter(title="Orphan").exists()
    out = io.StringIO()
    call_command("realtimekit_sync", "--participants", stdout=out)
    found["sync_adopted"] = Meeting.objects.filter(title="Orphan").exists()


if __name__ == "__main__":
    result = main()
    sys.stdout.write("\n" + json.dumps(result) + "\n")
