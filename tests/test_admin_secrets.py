"""The admin's secrets stay out of error reports and logs, whatever goes wrong.

The side doors tried here are Django's own: the template logger at DEBUG (which writes the
``repr`` of a whole context when a lookup fails), the ``mail_admins`` e-mail of a 500
(``AdminEmailHandler``, with its HTML report), and the technical 500 page with ``DEBUG = True``.
The 500s are real: the emulator fails in the middle of the remote call, so the frames of the
admin, the services and the client are all in the traceback.
"""

from __future__ import annotations

import logging
import sys

import pytest
from django.core import mail
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter

from realtimekit_django import services
from realtimekit_django.admin.helpers import MaskedToken, SecretHoldingViewFilter
from realtimekit_django.models import Participant

pytestmark = pytest.mark.django_db

API_TOKEN = "test-api-token-s3cr3t-value"  # tests/settings.py
STORAGE_SECRETS = {
    "storage_access_key": "AKIA-ADMIN-REPORT-CANARY",
    "storage_secret": "storage-secret-admin-report-canary",
    "storage_password": "storage-password-admin-report-canary",
    "storage_private_key": "-----PRIVATE-KEY-admin-report-canary-----",
}
ADD_MEETING = {
    "title": "Secret storage",
    "session_keep_alive_time_in_secs": "60",
    "storage_type": "aws",
    "storage_bucket": "recordings",
    "storage_region": "eu-west-1",
    **STORAGE_SECRETS,
    "participants-TOTAL_FORMS": "0",
    "participants-INITIAL_FORMS": "0",
    "participants-MIN_NUM_FORMS": "0",
    "participants-MAX_NUM_FORMS": "0",
}
LOGGERS = ("", "django", "django.template", "django.request", "realtimekit_django")


class EmulatorCrashed(RuntimeError):
    """Not a RealtimeKitError: nothing catches it, so the request ends in a 500."""


@pytest.fixture
def staff_client(django_user_model):
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def crash_on(realtimekit_emulator):
    """``crash_on("POST")``: the emulator raises inside the next such request."""

    def install(method: str) -> None:
        def crash(record) -> None:
            if record.method == method:
                raise EmulatorCrashed("the emulator fell over")

        realtimekit_emulator.add_hook(crash)

    return install


@pytest.fixture
def debug_logs(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _all_log_text(caplog) -> str:
    """Every record as a handler would write it: message, arguments and traceback."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(f"{formatter.format(record)} {record.args!r}" for record in caplog.records)


def _mail_text(message) -> str:
    return "\n".join([message.subject, message.body, *(content for content, _type in message.alternatives)])


def _assert_absent(text: str, *secrets: str) -> None:
    leaked = [secret[:12] for secret in secrets if secret in text]
    assert not leaked, f"leaked: {leaked}"


def _issued_token(staff_client, realtimekit_emulator) -> tuple[str, str]:
    meeting = services.refresh_meeting(realtimekit_emulator.create_meeting(title="Tokens")["id"])
    url = reverse("admin:realtimekit_meeting_add_participant", args=[meeting.pk])
    response = staff_client.post(url, {"custom_participant_id": "guest", "preset_name": "group_call_host"})
    [token] = realtimekit_emulator.issued_tokens
    return token, response.content.decode()


# -- the template logger ----------------------------------------------------------------------


def test_token_pages_log_no_token_at_debug(staff_client, realtimekit_emulator, debug_logs):
    token, page = _issued_token(staff_client, realtimekit_emulator)
    participant = Participant.objects.get()
    refreshed = staff_client.post(
        reverse("admin:realtimekit_participant_changelist"),
        {"action": "refresh_token", "index": "0", "_selected_action": [str(participant.pk)]},
    )
    new_token = realtimekit_emulator.issued_tokens[-1]
    assert token in page and new_token in refreshed.content.decode()  # shown on the page...
    logged = _all_log_text(debug_logs)
    # ...and the template logger did write contexts (so the search below means something).
    assert "Failed lookup for key" in logged and "'issued'" in logged
    _assert_absent(logged, token, new_token, API_TOKEN)


def test_a_masked_token_shows_only_when_revealed():
    masked = MaskedToken("eyJ.secret.token")
    assert "secret" not in str(masked) and "secret" not in repr(masked) and "secret" not in f"{masked}"
    assert "secret" not in repr({"token": masked})
    assert masked.reveal() == "eyJ.secret.token"


# -- 500s: the mail_admins e-mail and the technical page -------------------------------------------


@override_settings(ADMINS=[("Ops", "ops@example.com")], DEBUG=False)
def test_a_500_during_a_meeting_add_mails_no_secret(staff_client, crash_on):
    crash_on("POST")
    handler = AdminEmailHandler(include_html=True)
    request_logger = logging.getLogger("django.request")
    request_logger.addHandler(handler)
    try:
        response = staff_client.post(reverse("admin:realtimekit_meeting_add"), ADD_MEETING)
    finally:
        request_logger.removeHandler(handler)
    assert response.status_code == 500
    assert mail.outbox, "no e-mail was sent"
    for message in mail.outbox:
        text = _mail_text(message)
        assert "EmulatorCrashed" in text and "storage_bucket" in text  # a real report, POST included
        _assert_absent(text, *STORAGE_SECRETS.values(), API_TOKEN)


@override_settings(DEBUG=True)
def test_a_500_during_a_meeting_add_shows_no_secret_on_the_debug_page(staff_client, crash_on):
    crash_on("POST")
    response = staff_client.post(reverse("admin:realtimekit_meeting_add"), ADD_MEETING)
    assert response.status_code == 500
    page = response.content.decode()
    assert "EmulatorCrashed" in page and "storage_bucket" in page and "Local vars" in page
    _assert_absent(page, *STORAGE_SECRETS.values(), API_TOKEN)


@override_settings(DEBUG=True)
def test_a_500_while_showing_tokens_shows_no_token(staff_client, realtimekit_emulator, monkeypatch):
    _token, _page = _issued_token(staff_client, realtimekit_emulator)
    participant = Participant.objects.get()

    def broken_expiry(token: str):
        raise EmulatorCrashed("cannot read the expiry")

    monkeypatch.setattr(services, "token_expiry", broken_expiry)
    response = staff_client.post(
        reverse("admin:realtimekit_participant_changelist"),
        {"action": "refresh_token", "index": "0", "_selected_action": [str(participant.pk)]},
    )
    assert response.status_code == 500
    new_token = realtimekit_emulator.issued_tokens[-1]
    page = response.content.decode()
    assert "cannot read the expiry" in page and "Local vars" in page
    _assert_absent(page, new_token, API_TOKEN)


@override_settings(DEBUG=True)
def test_the_view_filter_cleanses_even_with_debug_on():
    """Django's stock filter shows everything with DEBUG on; the admin's views use this one."""
    request = RequestFactory().post("/", {"storage_secret": "posted-canary", "title": "shown"})
    request.sensitive_post_parameters = ["storage_secret"]
    request.exception_reporter_filter = SecretHoldingViewFilter()
    try:
        raise EmulatorCrashed("boom")
    except EmulatorCrashed:
        report = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()
    assert "posted-canary" not in report and "shown" in report
