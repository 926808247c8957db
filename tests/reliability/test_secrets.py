"""No secret ever leaves through a side door.

The secrets: the API token, the storage secrets sent inside ``recording_config`` and every
participant token the emulator issued. The side doors: every log record (root and every
library at DEBUG, formatted with its traceback), every exception message and repr, every admin
page a staff member can open afterwards, the join API's error answers, and ``dumpdata``.

Each scenario runs a realistic sequence (client calls, services, joins, admin actions,
reconcile walks) with faults and retries switched on, so the error and retry paths log too.
"""

from __future__ import annotations

import logging
import traceback
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from realtimekit_django import services
from realtimekit_django.exceptions import RealtimeKitError
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync.reconcile import reconcile_meetings, reconcile_participants
from tests.admin_pages import form_data
from tests.reliability.conftest import API_TOKEN

pytestmark = pytest.mark.django_db

STORAGE_SECRETS = {
    "access_key": "AKIA-RELIABILITY-LEAK",
    "secret": "s3cr3t-RELIABILITY-LEAK",
    "password": "pa55-RELIABILITY-LEAK",
}
RECORDING = {
    "storage_config": {
        "type": "aws",
        "bucket": "recordings",
        "region": "eu-west-1",
        "access_key": STORAGE_SECRETS["access_key"],
        "secret": STORAGE_SECRETS["secret"],
    }
}
SFTP_RECORDING = {
    "storage_config": {
        "type": "sftp",
        "host": "sftp.example.com",
        "port": 22,
        "username": "rec",
        "auth_method": "PASSWORD",
        "password": STORAGE_SECRETS["password"],
    }
}


class Exposure:
    """Everything that left the system during a scenario, to be searched for secrets."""

    def __init__(self, caplog) -> None:
        self.caplog = caplog
        self.texts: list[tuple[str, str]] = []  # (where, text)

    def exception(self, exc: BaseException) -> None:
        self.texts.append(("exception", f"{exc}\n{exc!r}\n{''.join(traceback.format_exception_only(exc))}"))

    def page(self, where: str, content: bytes | str) -> None:
        self.texts.append((where, content.decode() if isinstance(content, bytes) else content))

    def leaks(self, secrets: list[str]) -> list[tuple[str, str]]:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        logged = [("log", formatter.format(record) + repr(record.args)) for record in self.caplog.records]
        return [
            (where, secret[:8] + "...")
            for where, text in logged + self.texts
            for secret in secrets
            if secret and secret in text
        ]


@pytest.fixture
def exposure(debug_logging):
    logging.getLogger().setLevel(logging.DEBUG)
    return Exposure(debug_logging)


def all_secrets(emulator) -> list[str]:
    return [API_TOKEN, *STORAGE_SECRETS.values(), *emulator.issued_tokens]


def attempt(exposure: Exposure, operation):
    try:
        return operation()
    except RealtimeKitError as exc:
        exposure.exception(exc)
        return None


def _record(reliability, scenario, exposure, emulator, leaks, runs):
    reliability(
        "secrets",
        scenario,
        "no API token, storage secret or participant token in any of them",
        runs=runs,
        requests=len(emulator.requests),
        leaks=len(leaks),
    )


def test_services_client_and_reconcile_with_faults_leak_nothing(
    realtimekit_emulator, rk_settings, exposure, reliability, django_user_model
):
    emulator = realtimekit_emulator
    rk_settings(MAX_RETRIES=1)
    meeting = services.create_meeting(title="secret keeper", recording_config=RECORDING)
    other = services.update_meeting(meeting, recording_config=SFTP_RECORDING)
    services.replace_meeting(other, title="replaced", recording_config=RECORDING)
    user = django_user_model.objects.create_user("leaky", password="pw")
    issued = services.issue_join_token(meeting, user)
    participant, token = services.add_participant(meeting, custom_participant_id="p-1", preset_name="host")
    services.refresh_participant_token(participant)
    services.edit_participant(participant, name="renamed")
    emulator.faults.seed = 3
    emulator.faults.error_rate = 0.3
    emulator.faults.retry_after = 0
    operations = [
        lambda: services.issue_join_token(meeting, user),
        lambda: services.refresh_participant_token(participant),
        lambda: services.create_meeting(title="during faults", recording_config=RECORDING),
        lambda: services.update_meeting(meeting, recording_config=RECORDING),
        lambda: reconcile_meetings(per_page=2),
        lambda: reconcile_participants(meeting, per_page=1),
    ]
    for _ in range(4):
        for operation in operations:
            attempt(exposure, operation)
        emulator.faults.rate_limit_burst = 3
        emulator.faults.fail_next(2, drop=True)
    emulator.faults.clear()
    emulator.faults.fail_next(
        1, status=400, body={"success": False, "error": {"code": 400, "message": "bad input"}}
    )
    attempt(exposure, lambda: services.create_meeting(title="refused", recording_config=RECORDING))
    services.remove_participant(participant)

    secrets = all_secrets(emulator)
    assert issued.token in secrets and token in secrets and len(emulator.issued_tokens) >= 4
    assert exposure.caplog.records, "DEBUG logging captured nothing: the scenario proves nothing"
    assert [t for t in exposure.texts if t[0] == "exception"], "the faults raised no exception to inspect"
    leaks = exposure.leaks(secrets)
    _record(
        reliability,
        f"logs at DEBUG + exception messages: services, client, reconcile under faults "
        f"({len(exposure.caplog.records)} log records)",
        exposure,
        emulator,
        leaks,
        runs=len(operations) * 4 + 9,
    )
    assert leaks == []


def test_join_api_leaks_nothing_but_the_callers_own_token(
    realtimekit_emulator, exposure, reliability, django_user_model, settings
):
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"realtimekit_join": "1000/min"}}
    emulator = realtimekit_emulator
    meeting = services.create_meeting(title="join", recording_config=RECORDING)
    user = django_user_model.objects.create_user("joiner2", password="pw")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    url = f"/realtimekit/meetings/{meeting.pk}/join/"
    emulator.faults.retry_after = 0
    answers = []
    for fault in (None, 500, 429, 502, "drop", None):
        if fault == "drop":
            emulator.faults.fail_next(3, drop=True)
        elif fault:
            emulator.faults.fail_next(3, status=fault)
        response = client.post(url)
        answers.append(response.status_code)
        if response.status_code == 200:
            own = response.json()["token"]
            exposure.page(
                "join answer minus the caller's own token", response.content.decode().replace(own, "")
            )
        else:
            exposure.page(f"join error {response.status_code}", response.content)
        exposure.page("meeting list", client.get("/realtimekit/meetings/").content)
        exposure.page("meeting detail", client.get(f"/realtimekit/meetings/{meeting.pk}/").content)
    leaks = exposure.leaks(all_secrets(emulator))
    _record(
        reliability,
        "join API answers (200 and upstream 5xx/429/drop errors) and meeting API pages",
        exposure,
        emulator,
        leaks,
        runs=len(answers),
    )
    assert 200 in answers and any(code >= 500 for code in answers)
    assert leaks == []


def test_admin_pages_and_dumpdata_leak_nothing(
    realtimekit_emulator, exposure, reliability, django_user_model
):
    emulator = realtimekit_emulator
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    meeting = services.create_meeting(title="admin secrets", recording_config=RECORDING)
    services.update_meeting(meeting, recording_config=SFTP_RECORDING)
    services.issue_join_token(meeting, admin)
    participant, _ = services.add_participant(meeting, custom_participant_id="p-admin", preset_name="host")
    reconcile_participants(meeting)
    # Through the admin itself: the edit form with the storage secrets typed in again.
    change_url = f"/admin/realtimekit/meeting/{meeting.pk}/change/"
    data = form_data(client.get(change_url))
    data.update(
        {
            "title": "edited",
            "storage_type": "aws",
            "storage_bucket": "b",
            "storage_region": "r",
            "storage_access_key": STORAGE_SECRETS["access_key"],
            "storage_secret": STORAGE_SECRETS["secret"],
        }
    )
    saved = client.post(change_url, data)
    pages = [
        "/admin/realtimekit/meeting/",
        change_url,
        f"/admin/realtimekit/meeting/{meeting.pk}/history/",
        "/admin/realtimekit/participant/",
        f"/admin/realtimekit/participant/{participant.pk}/change/",
        f"/admin/realtimekit/participant/{participant.pk}/history/",
        "/admin/",
        f"/admin/realtimekit/meeting/{meeting.pk}/add-participant/",
        "/admin/realtimekit/meeting/?q=admin",
        "/admin/realtimekit/participant/?q=p-admin",
    ]
    statuses = []
    for url in pages:
        response = client.get(url)
        statuses.append(response.status_code)
        exposure.page(url, response.content)
    exposure.page("saved change form", saved.content)
    for label in ("realtimekit", "admin", "auth", "sessions", "contenttypes"):
        out = StringIO()
        call_command("dumpdata", label, stdout=out)
        exposure.page(f"dumpdata {label}", out.getvalue())
    secrets = all_secrets(emulator)
    assert emulator.received_storage_secrets(str(meeting.pk)), "the scenario sent no storage secret"
    leaks = exposure.leaks(secrets)
    _record(
        reliability,
        f"admin pages ({len(pages)}) after secrets were typed in, and dumpdata of every app",
        exposure,
        emulator,
        leaks,
        runs=len(pages) + 6,
    )
    assert all(code == 200 for code in statuses), statuses
    assert saved.status_code == 302, "the admin edit carrying the storage secrets was not saved"
    assert emulator.received_storage_secrets(str(meeting.pk))["secret"] == STORAGE_SECRETS["secret"]
    assert leaks == []
    assert Meeting.objects.filter(remote_data__icontains="LEAK").count() == 0
    assert Participant.objects.count() >= 2
