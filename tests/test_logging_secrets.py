"""The API token (and every other secret the client handles) never leaks.

A realistic session runs against the emulator over loopback HTTP, so that ``requests`` and
``urllib3`` really log what they log, with DEBUG on for them, for this package and for the root
logger: every operation, a 404, a 401 from a wrong token, retried 503 / 429 / dropped connections,
a POST that is not retried. Afterwards the secrets must appear in no formatted log record (nor
its raw args), no exception ``str``/``repr``, no ``repr`` of the client or the settings, and
nothing written to stdout/stderr. ``http.client``'s own debug printing (which *would* dump
headers) is not switched on by this package, and this test does not switch it on either.
"""

from __future__ import annotations

import http.client
import logging

import pytest
from django.test import override_settings

from realtimekit_django.client import RealtimeKitClient, get_client
from realtimekit_django.conf import get_settings
from realtimekit_django.emulator import Emulator, serve
from realtimekit_django.exceptions import (
    AuthenticationError,
    NotFound,
    RealtimeKitError,
    ServerError,
)

TOKEN = "rtk-secret-token-9f8e7d6c5b4a"
WRONG_TOKEN = "rtk-wrong-token-0a1b2c3d4e5f"
STORAGE_SECRETS = {"access_key": "AKIA-LEAK-CANARY-1", "secret": "storage-secret-canary-2"}
ACCOUNT = "acct-logs"
APP = "app-logs"
LOGGERS = ("", "realtimekit_django", "requests", "urllib3")


@pytest.fixture
def emulator():
    return Emulator(api_token=TOKEN, default_app_id=APP)


@pytest.fixture
def server(emulator):
    server, thread = serve(emulator, "127.0.0.1", 0)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def debug_logs(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _formatted(caplog) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in caplog.records:
        texts.append(formatter.format(record))
        texts.append(repr(record.args))
    return texts


def _run_session(client: RealtimeKitClient, emulator: Emulator) -> tuple[list[BaseException], list[str]]:
    """Every operation plus errors and retries; returns the exceptions seen and participant tokens."""
    errors: list[BaseException] = []
    tokens: list[str] = []
    meetings = client.meetings

    meeting = meetings.create(
        title="Logged",
        record_on_start=False,
        recording_config={"storage_config": {"type": "aws", "bucket": "b", **STORAGE_SECRETS}},
    )["data"]
    meeting_id = meeting["id"]
    meetings.get_meeting_by_id(meeting_id)
    meetings.update_meeting_by_id(meeting_id, title="Renamed", persist_chat=False)
    meetings.replace_meeting_by_id(meeting_id, title="Replaced")
    for i in range(3):
        meetings.create(title=f"extra {i}")
    assert sum(len(page.items) for page in meetings.walk_meetings(per_page=2)) == 4

    added = meetings.add_participant(meeting_id, custom_participant_id="u-1", preset_name="group_call_host")
    participant_id = added["data"]["id"]
    tokens.append(added["data"]["token"])
    meetings.get_meeting_participant(participant_id, meeting_id=meeting_id)
    tokens.append(
        meetings.edit_participant(participant_id, meeting_id=meeting_id, name="Ada")["data"]["token"]
    )
    tokens.append(meetings.refresh_participant_token(participant_id, meeting_id=meeting_id)["data"]["token"])
    list(meetings.iter_participants(meeting_id, per_page=1))

    # Retried failures: a 503, a 429 burst with retry-after, a dropped connection.
    emulator.faults.fail_next(1, status=503)
    meetings.get_meeting_by_id(meeting_id)
    emulator.faults.rate_limit_burst = 1
    meetings.get(per_page=10)
    emulator.faults.fail_next(1, drop=True)
    meetings.get_meeting_participants(meeting_id, per_page=10)

    # Failures that surface.
    emulator.faults.fail_next(1, status=502)
    with pytest.raises(ServerError) as caught:
        meetings.create(title="not repeated")
    errors.append(caught.value)
    emulator.faults.fail_next(3, drop=True)
    with pytest.raises(RealtimeKitError) as caught:
        meetings.get_meeting_by_id(meeting_id)
    errors.append(caught.value)

    meetings.delete_meeting_participant(participant_id, meeting_id=meeting_id)
    with pytest.raises(NotFound) as caught:
        meetings.get_meeting_participant(participant_id, meeting_id=meeting_id)
    errors.append(caught.value)
    with pytest.raises(ValueError) as caught:
        meetings.create(session_keep_alive_time_in_secs=5)
    errors.append(caught.value)
    return errors, tokens


def _assert_absent(secrets: list[str], texts: list[str]) -> None:
    for secret in secrets:
        leaks = [text for text in texts if secret in text]
        assert not leaks, f"secret {secret[:6]}... leaked in: {leaks[:3]}"


def test_no_secret_in_logs_exceptions_or_reprs(server, emulator, debug_logs, capfd):
    debuglevel_before = http.client.HTTPConnection.debuglevel
    sleeps: list[float] = []
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, server.base_url, max_retries=2, sleep=sleeps.append)
    sent_requests: list = []
    client.after_attempt.append(
        lambda method, path, response: response and sent_requests.append(response.request)
    )
    errors, tokens = _run_session(client, emulator)

    wrong = RealtimeKitClient(ACCOUNT, APP, WRONG_TOKEN, server.base_url, max_retries=1, sleep=sleeps.append)
    with pytest.raises(AuthenticationError) as caught:
        wrong.meetings.get(per_page=1)
    errors.append(caught.value)
    assert caught.value.status == 401

    # The session really did what it claims, so the logs below are worth searching.
    assert len(tokens) == 3 and all(token.count(".") == 2 for token in tokens)
    assert sleeps, "no retry happened"
    assert sent_requests and all(sent.headers["Authorization"] == f"Bearer {TOKEN}" for sent in sent_requests)
    assert len(errors) == 5
    messages = debug_logs.text
    assert "realtimekit_django.client" in {record.name for record in debug_logs.records}
    assert any(record.name.startswith("urllib3") for record in debug_logs.records), "urllib3 logged nothing"
    assert "-> 503" in messages and "-> 429" in messages and "-> 404" in messages and "-> 401" in messages
    assert any(record.levelno == logging.DEBUG for record in debug_logs.records)

    texts = _formatted(debug_logs)
    texts += [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [str(getattr(error, "__cause__", "")) for error in errors]
    # What a debugger, an error report's frame locals or a careless dump would show of a client.
    texts += [repr(client), repr(wrong), repr(client.meetings), repr(vars(client)), repr(vars(wrong))]
    texts += [repr(client.session.auth), repr(client.session.headers), repr(vars(client.session))]
    texts += [repr(sent) for sent in sent_requests]  # its headers must carry the token: only there
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    _assert_absent([TOKEN, WRONG_TOKEN, *STORAGE_SECRETS.values(), *tokens], texts)

    assert http.client.HTTPConnection.debuglevel == debuglevel_before == 0
    client.close()
    wrong.close()


def test_settings_and_default_client_reprs_hide_the_token(monkeypatch):
    config = {
        "ACCOUNT_ID": ACCOUNT,
        "APP_ID": APP,
        "API_TOKEN": TOKEN,
        "BASE_URL": "https://rtk.test/client/v4",
    }
    with override_settings(REALTIMEKIT=config):
        settings = get_settings()
        assert settings.api_token == TOKEN  # the value is there...
        assert TOKEN not in repr(settings) and TOKEN not in str(settings)  # ...and never shown
        assert TOKEN not in repr(settings.api_token)
        assert TOKEN not in repr(get_client())

    monkeypatch.setenv("REALTIMEKIT_API_TOKEN", TOKEN)
    with override_settings(REALTIMEKIT={k: v for k, v in config.items() if k != "API_TOKEN"}):
        settings = get_settings()
        assert settings.api_token == TOKEN
        assert TOKEN not in repr(settings) and TOKEN not in repr(get_client())


def test_bad_configuration_errors_do_not_echo_the_token():
    from django.core.exceptions import ImproperlyConfigured

    config = {"ACCOUNT_ID": ACCOUNT, "APP_ID": APP, "API_TOKEN": TOKEN, "BASE_URL": TOKEN}
    with override_settings(REALTIMEKIT=config):
        with pytest.raises(ImproperlyConfigured) as caught:
            get_settings()
    assert "BASE_URL" in str(caught.value) and TOKEN not in str(caught.value)
