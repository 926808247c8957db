"""``manage.py realtimekit_sync`` against the emulator: output on a pipe and on a terminal, the
options, and its exit status."""

from __future__ import annotations

import contextlib
import io
import uuid

import pytest
from django.core.cache import caches
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.test.utils import override_settings

from realtimekit_django import schema, tasks
from realtimekit_django.models import Meeting, Participant
from tests.settings import REALTIMEKIT

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _seed(emulator, meetings: int, participants: int = 0) -> list[dict]:
    seeded = []
    for n in range(meetings):
        meeting = emulator.create_meeting(title=f"Meeting {n}")
        for k in range(participants):
            emulator.add_participant(meeting["id"], custom_participant_id=f"u{n}-{k}", preset_name="p")
        seeded.append(meeting)
    return seeded


def _run(*args, stdout=None) -> str:
    out = stdout if stdout is not None else io.StringIO()
    call_command("realtimekit_sync", *args, stdout=out)
    return out.getvalue()


def test_on_a_pipe_it_prints_plain_lines_and_a_summary(realtimekit_emulator):
    _seed(realtimekit_emulator, 5)

    output = _run("--per-page", "2")

    assert "\r" not in output
    assert "meetings: complete; 3 pages, 3 HTTP requests, 5 created" in output
    assert "Sync complete (1 walks)." in output
    assert Meeting.objects.count() == 5


def test_verbosity_two_prints_a_line_per_page(realtimekit_emulator):
    _seed(realtimekit_emulator, 5)

    output = _run("--per-page", "2", "-v", "2")

    assert [line for line in output.splitlines() if "page" in line and "items" in line] == [
        "meetings: page 1, 2/5 items",
        "meetings: page 2, 4/5 items",
        "meetings: page 3, 5/5 items",
    ]


def test_on_a_terminal_it_draws_a_progress_bar(realtimekit_emulator):
    _seed(realtimekit_emulator, 4)

    output = _run("--per-page", "2", stdout=Terminal())

    assert "\rmeetings [###############---------------] 2/4" in output
    assert "\rmeetings [##############################] 4/4\n" in output
    assert output.rstrip().endswith("Sync complete (1 walks).")


def test_participants_walks_every_local_meeting_too(realtimekit_emulator):
    _seed(realtimekit_emulator, 3, participants=2)

    output = _run("--participants")

    assert Participant.objects.count() == 6
    assert "participants of 3 meetings: 3 complete, 0 incomplete; 3 pages, 3 HTTP requests, 6 created" in (
        output
    )
    assert "Sync complete (4 walks)." in output


def test_participants_on_a_terminal_shows_one_bar_across_meetings(realtimekit_emulator):
    _seed(realtimekit_emulator, 2, participants=1)

    output = _run("--participants", stdout=Terminal())

    assert "\rparticipants of 2 meetings [##############################] 2/2\n" in output


def test_meeting_walks_only_that_meetings_participants(realtimekit_emulator):
    first, second = _seed(realtimekit_emulator, 2, participants=3)

    output = _run("--meeting", first["id"], "--per-page", "2")

    assert set(Participant.objects.values_list("meeting_id", flat=True)) == {Meeting.objects.get().pk}
    assert str(Meeting.objects.get().pk) == first["id"]
    assert f"participants of meeting {first['id']}: complete; 2 pages" in output
    assert all("page_no" in r.query and first["id"] in r.path for r in realtimekit_emulator.requests[1:])


def test_dry_run_writes_nothing(realtimekit_emulator):
    _seed(realtimekit_emulator, 3, participants=1)
    call_command("realtimekit_sync", stdout=io.StringIO())

    output = _run("--participants", "--dry-run")

    assert "dry run, nothing written: participants of meeting" not in output  # per meeting only at -v 2
    assert "participants of 3 meetings: 3 complete, 0 incomplete; 3 pages, 3 HTTP requests, 3 created" in (
        output
    )
    assert "Dry run: every change above was rolled back." in output
    assert Participant.objects.count() == 0


@pytest.mark.parametrize(
    ("per_page", "problem"),
    [("0", "must be at least 1"), (str(schema.MAX_PER_PAGE + 1), f"must be at most {schema.MAX_PER_PAGE}")],
)
def test_a_bad_per_page_is_refused(realtimekit_emulator, per_page, problem):
    Meeting.objects.create(id=uuid.uuid4(), app_id=REALTIMEKIT["APP_ID"])

    with pytest.raises(CommandError, match=f"--per-page {problem}"):
        _run("--participants", "--per-page", per_page)

    assert realtimekit_emulator.requests == []
    assert not Meeting.objects.filter(missing_since__isnull=False).exists()


def test_participants_skips_a_meeting_a_worker_is_walking_and_fails(realtimekit_emulator):
    first, second = _seed(realtimekit_emulator, 2, participants=1)
    key = tasks.LOCK_PREFIX + tasks.participants_lock_name(second["id"])
    caches["default"].add(key, "a-worker", 60)
    out = io.StringIO()
    try:
        with pytest.raises(CommandError, match="1 of 3 walks did not complete"):
            call_command("realtimekit_sync", "--participants", stdout=out)
        assert f"participants of meeting {second['id']}: skipped" in out.getvalue()
        assert set(Participant.objects.values_list("meeting_id", flat=True)) == {uuid.UUID(first["id"])}
        assert caches["default"].get(key) == "a-worker"

        _run("--participants", "--break-lock")
        assert Participant.objects.count() == 2
    finally:
        caches["default"].delete(key)


def test_meeting_refuses_to_walk_while_a_worker_holds_that_meetings_lock(realtimekit_emulator):
    (meeting,) = _seed(realtimekit_emulator, 1, participants=1)
    key = tasks.LOCK_PREFIX + tasks.participants_lock_name(meeting["id"])
    caches["default"].add(key, "a-worker", 60)
    try:
        with pytest.raises(CommandError, match="--break-lock"):
            _run("--meeting", meeting["id"])
        assert realtimekit_emulator.requests == []
    finally:
        caches["default"].delete(key)


@override_settings(REALTIMEKIT={**REALTIMEKIT, "MAX_RETRIES": 1})
def test_the_exit_status_is_non_zero_when_500s_outlast_the_retries(realtimekit_emulator, capsys):
    _seed(realtimekit_emulator, 5)
    realtimekit_emulator.faults.fail_next(2, status=500)  # the first attempt and its one retry

    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "realtimekit_sync", "--per-page", "2"])

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "meetings: INCOMPLETE" in captured.out
    assert "1 of 1 walks did not complete" in captured.err
    assert REALTIMEKIT["API_TOKEN"] not in captured.out + captured.err
    assert len(realtimekit_emulator.requests) == 2


@override_settings(REALTIMEKIT={**REALTIMEKIT, "MAX_RETRIES": 0})
def test_a_failed_participant_walk_also_fails_the_command(realtimekit_emulator):
    first, second = _seed(realtimekit_emulator, 2, participants=1)
    call_command("realtimekit_sync", stdout=io.StringIO())

    def fail_second_meetings_participants(record):
        if second["id"] in record.path:
            realtimekit_emulator.faults.fail_next(1, status=503)

    realtimekit_emulator.add_hook(fail_second_meetings_participants)
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 3 walks did not complete"):
        call_command("realtimekit_sync", "--participants", stdout=out)
    assert f"participants of meeting {second['id']}: INCOMPLETE" in out.getvalue()
    assert Participant.objects.filter(meeting_id=first["id"]).count() == 1


def test_success_raises_nothing(realtimekit_emulator):
    _seed(realtimekit_emulator, 1)

    output = _run()  # a walk that did not complete raises CommandError (exit status 1)

    assert "Sync complete (1 walks)." in output
    assert Meeting.objects.count() == 1


def test_the_command_will_not_walk_while_a_worker_holds_the_lock(realtimekit_emulator):
    _seed(realtimekit_emulator, 2)
    key = tasks.LOCK_PREFIX + tasks.meetings_lock_name()
    caches["default"].add(key, "a-worker", 60)
    try:
        with pytest.raises(CommandError, match="--break-lock"):
            _run()
        assert realtimekit_emulator.requests == [] and Meeting.objects.count() == 0
        _run("--break-lock")
        assert Meeting.objects.count() == 2
        assert caches["default"].get(key) is None  # released after the walk
    finally:
        caches["default"].delete(key)


def test_a_meeting_id_that_is_not_a_uuid_is_refused(realtimekit_emulator):
    with pytest.raises(CommandError, match="UUID"):
        _run("--meeting", "not-a-uuid")


# -- a failure is printed once, and says what to look at ---------------------------------------


@contextlib.contextmanager
def no_logging_configured():
    """A site with no logging for the package, where Python's last-resort handler prints warnings
    to stderr. pytest's capture handlers join the root logger only once the test body runs, so
    this is entered in the body."""
    import logging

    kept = logging.root.handlers
    logging.root.handlers = []
    try:
        assert not logging.getLogger("realtimekit_django").hasHandlers()
        yield
    finally:
        logging.root.handlers = kept


def _failed_run(capsys, *args: str) -> tuple[str, str]:
    with no_logging_configured(), pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "realtimekit_sync", *args])
    assert exited.value.code == 1
    captured = capsys.readouterr()
    return captured.out, captured.err


@override_settings(REALTIMEKIT={**REALTIMEKIT, "MAX_RETRIES": 0})
def test_a_failure_is_printed_once(realtimekit_emulator, capsys):
    realtimekit_emulator.faults.fail_next(
        1, status=500, body={"success": False, "errors": [{"code": 7, "message": "boom-once"}]}
    )

    out, err = _failed_run(capsys)

    assert (out + err).count(
        "boom-once"
    ) == 1  # in the walk's summary line, not again in warnings or the error
    assert "meetings: INCOMPLETE" in out
    assert "1 of 1 walks did not complete (see above)" in err


@override_settings(REALTIMEKIT={**REALTIMEKIT, "MAX_RETRIES": 0})
def test_at_verbosity_two_the_warnings_are_printed_too(realtimekit_emulator, capsys):
    realtimekit_emulator.faults.fail_next(
        1, status=500, body={"success": False, "errors": [{"code": 7, "message": "boom-v2"}]}
    )
    out, err = _failed_run(capsys, "-v", "2")
    assert (out + err).count("boom-v2") > 1


@override_settings(
    REALTIMEKIT={
        **REALTIMEKIT,
        "BASE_URL": "http://127.0.0.1:9/client/v4",
        "MAX_RETRIES": 0,
        "CONNECT_TIMEOUT": 2,
    }
)
def test_a_connection_error_names_the_host_of_base_url(capsys):
    out, err = _failed_run(capsys)

    assert "RealtimeKit could not be reached at 127.0.0.1:9: check REALTIMEKIT['BASE_URL']" in err
    assert REALTIMEKIT["API_TOKEN"] not in out + err


@override_settings(REALTIMEKIT={**REALTIMEKIT, "MAX_RETRIES": 0})
def test_a_401_says_the_api_token_was_refused(realtimekit_emulator, capsys):
    realtimekit_emulator.faults.fail_next(1, status=401)

    out, err = _failed_run(capsys)

    assert "RealtimeKit refused the API token (HTTP 401)" in err
    assert "REALTIMEKIT_API_TOKEN" in err
    assert REALTIMEKIT["API_TOKEN"] not in out + err
