"""Fixtures of the reliability suite: the outcome recorder, settings overrides, a loopback
emulator, and the comparison that says whether the mirror equals the remote state."""

from __future__ import annotations

import logging
import os
from collections import Counter

import pytest
from django.db import connection

from realtimekit_django import conf
from realtimekit_django.emulator import Emulator, serve
from realtimekit_django.models import Meeting, Participant
from tests.reliability import collector
from tests.settings import REALTIMEKIT as BASE_REALTIMEKIT

API_TOKEN = BASE_REALTIMEKIT["API_TOKEN"]
APP_ID = BASE_REALTIMEKIT["APP_ID"]


# -- the recorder -----------------------------------------------------------------------------


_RECORDER = collector.Recorder()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        _RECORDER.failed_tests.add(item.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get(collector.WRITE_ENV_VAR) != "1" or not _RECORDER.rows:
        return
    stored = collector.merge_into_file(_RECORDER.finish())
    collector.MD_PATH.write_text(collector.render(stored), encoding="utf-8")


class _Record:
    """``reliability(area, scenario, outcome, runs=..., lost=...)`` for one test."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def __call__(self, area: str, scenario: str, outcome: str, **counts: int) -> None:
        _RECORDER.add(
            self.nodeid, area=area, scenario=scenario, database=connection.vendor, outcome=outcome, **counts
        )


@pytest.fixture
def reliability(request) -> _Record:
    """Record what a test tried and measured; rendered into docs/reliability.md."""
    return _Record(request.node.nodeid)


# -- settings ---------------------------------------------------------------------------------


@pytest.fixture
def rk_settings(settings):
    """``rk_settings(READ_TIMEOUT=0.2, ...)`` overrides keys of ``REALTIMEKIT`` for this test."""

    def apply(**overrides):
        settings.REALTIMEKIT = {**settings.REALTIMEKIT, **overrides}
        conf.clear_cache()

    # The suite never waits for real between retries, and honours any retry-after it sees.
    apply(RETRY_BACKOFF_BASE=0.0, RETRY_BACKOFF_MAX=0.0, RETRY_AFTER_MAX=3600.0)
    return apply


@pytest.fixture
def served_emulator(rk_settings):
    """An emulator behind a real loopback socket, so read timeouts and connection resets are real."""
    emulator = Emulator(api_token=API_TOKEN, default_app_id=APP_ID)
    server, thread = serve(emulator)
    rk_settings(BASE_URL=server.base_url)
    try:
        yield emulator
    finally:
        emulator.faults.clear()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def debug_logging(caplog):
    """Everything at DEBUG, captured: the secrets tests scan every formatted record."""
    caplog.set_level(logging.DEBUG)
    for name in ("realtimekit_django", "django", "celery", "urllib3", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


# -- comparing the mirror with the emulator -----------------------------------------------------


def meeting_view(payload: dict) -> dict:
    """What must match between a remote meeting and its row."""
    return {key: payload.get(key) for key in ("id", "title", "status", "updated_at", "created_at")}


def row_view(meeting: Meeting) -> dict:
    return {
        "id": str(meeting.pk),
        "title": meeting.title,
        "status": meeting.status,
        "updated_at": meeting.remote_data.get("updated_at"),
        "created_at": meeting.remote_data.get("created_at"),
    }


def meeting_diff(emulator: Emulator) -> dict[str, int]:
    """Counts of how the Meeting table differs from the emulator (all zero: an exact mirror).

    ``lost``: remote meetings without a row, or flagged missing although present remotely.
    ``wrong``: rows whose payload, title, status or timestamps differ from the remote ones.
    ``extra``: rows of meetings the remote does not have that are *not* flagged missing.
    """
    remote = {m["id"]: m for m in emulator.meetings(app_id=APP_ID)}
    local = {str(m.pk): m for m in Meeting.objects.filter(app_id=APP_ID)}
    lost = sum(1 for pk in remote if pk not in local or local[pk].missing_since is not None)
    wrong = sum(
        1
        for pk, m in remote.items()
        if pk in local
        and (
            local[pk].remote_data != m
            or row_view(local[pk]) != meeting_view(m)
            or local[pk].remote_updated_at is None
        )
    )
    extra = sum(1 for pk, m in local.items() if pk not in remote and m.missing_since is None)
    return {"lost": lost, "wrong": wrong, "extra": extra}


def participant_diff(emulator: Emulator, meeting_id: str) -> dict[str, int]:
    """As :func:`meeting_diff` for one meeting's participants; ``duplicates`` counts extra rows
    for one custom_participant_id beyond what the remote has."""
    remote = {
        p["id"]: {k: v for k, v in p.items() if k != "token"} for p in emulator.participants(meeting_id)
    }
    rows = list(Participant.objects.filter(meeting_id=meeting_id))
    local = {str(p.pk): p for p in rows}
    lost = sum(1 for pk in remote if pk not in local)
    wrong = sum(
        1
        for pk, p in remote.items()
        if pk in local
        and (
            local[pk].remote_data != p
            or local[pk].preset_name != p["preset_name"]
            or local[pk].custom_participant_id != p["custom_participant_id"]
        )
    )
    extra = sum(1 for pk in local if pk not in remote)
    remote_ids = Counter(p["custom_participant_id"] for p in remote.values())
    local_ids = Counter(p.custom_participant_id for p in rows)
    duplicates = sum(max(0, n - remote_ids.get(cid, 0)) for cid, n in local_ids.items() if n > 1)
    return {"lost": lost, "wrong": wrong, "extra": extra, "duplicates": duplicates}


def local_rows_agree(emulator: Emulator) -> bool:
    """After an incomplete walk: every row it wrote is exactly what the remote holds."""
    remote = {m["id"]: m for m in emulator.meetings(app_id=APP_ID)}
    return all(
        str(m.pk) not in remote or m.remote_data == remote[str(m.pk)]
        for m in Meeting.objects.filter(app_id=APP_ID)
    )
