"""Reconciliation walks against the emulator: their cost, their idempotence, and what an
incomplete walk must not do."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from realtimekit_django import signals
from realtimekit_django.client import RealtimeKitClient
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync.reconcile import ReconcileReport, reconcile_meetings, reconcile_participants
from tests.settings import REALTIMEKIT

pytestmark = pytest.mark.django_db

# Per page: the SELECT of what is stored for the page's ids and one INSERT ... ON CONFLICT
# (store.upsert_meeting_page / upsert_participant_page), whatever the page size; a meeting row
# written carries its mark for the scheduler (participants_touched_at) in the same statement.
QUERIES_PER_PAGE = 2
# A page with nothing to write runs its SELECT alone: no INSERT.
QUERIES_PER_UNCHANGED_PAGE = 1
# Once per complete walk: the SELECT of local ids the walk may have missed (none missed: no more).
QUERIES_AFTER_WALK = 1
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _writes(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if WRITE.match(q["sql"])]


def _client(max_retries: int = 2) -> RealtimeKitClient:
    return RealtimeKitClient(
        REALTIMEKIT["ACCOUNT_ID"],
        REALTIMEKIT["APP_ID"],
        REALTIMEKIT["API_TOKEN"],
        REALTIMEKIT["BASE_URL"],
        max_retries=max_retries,
        backoff_base=0,
        backoff_max=0,
    )


def _seed_meetings(emulator, count: int) -> list[dict]:
    return [emulator.create_meeting(title=f"Meeting {n:04d}") for n in range(count)]


def _table_state() -> dict[str, dict]:
    return {str(m.pk): m.remote_data for m in Meeting.objects.all()}


@pytest.mark.parametrize("per_page", [1, 10, 100])
def test_a_thousand_meetings_cost_the_same_queries_per_page_and_one_request_per_page(
    realtimekit_emulator, django_assert_num_queries, per_page, settings
):
    # 1,000 requests in one walk are more than the rate budget's background share of a window.
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": None}
    _seed_meetings(realtimekit_emulator, 1000)
    pages = 1000 // per_page

    with django_assert_num_queries(QUERIES_PER_PAGE * pages + QUERIES_AFTER_WALK):
        report = reconcile_meetings(per_page=per_page)

    assert report.completed and report.error is None
    assert report.pages == pages
    assert report.http_requests == pages
    assert len(realtimekit_emulator.requests) == pages
    assert (report.created, report.updated, report.unchanged, report.flagged) == (1000, 0, 0, 0)
    assert _table_state() == {m["id"]: m for m in realtimekit_emulator.meetings()}


def test_a_second_run_with_nothing_changed_writes_nothing(realtimekit_emulator):
    _seed_meetings(realtimekit_emulator, 250)
    reconcile_meetings(per_page=50)
    before = list(Meeting.objects.values_list("pk", "synced_at").order_by("pk"))

    with CaptureQueriesContext(connection) as captured:
        report = reconcile_meetings(per_page=50)

    assert _writes(captured) == []
    assert len(captured.captured_queries) == QUERIES_PER_UNCHANGED_PAGE * 5 + QUERIES_AFTER_WALK
    assert report.completed
    assert (report.created, report.updated, report.unchanged, report.flagged) == (0, 0, 250, 0)
    assert list(Meeting.objects.values_list("pk", "synced_at").order_by("pk")) == before


def test_a_second_participant_run_with_nothing_changed_writes_nothing(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="Standup")
    for n in range(30):
        realtimekit_emulator.add_participant(meeting["id"], custom_participant_id=f"u{n}", preset_name="p")
    reconcile_meetings()
    reconcile_participants(meeting["id"], per_page=7)

    with CaptureQueriesContext(connection) as captured:
        report = reconcile_participants(meeting["id"], per_page=7)

    # The one write records the verification (Meeting.participants_synced_at), no participant.
    assert [sql.split(" SET ")[1].split(" = ")[0] for sql in _writes(captured)] == [
        '"participants_synced_at"'
    ]
    assert report.completed and report.pages == 5 and report.unchanged == 30


def test_changed_meetings_are_updated_and_only_they_are_written(realtimekit_emulator):
    seeded = _seed_meetings(realtimekit_emulator, 20)
    reconcile_meetings(per_page=10)
    realtimekit_emulator.update_meeting(seeded[3]["id"], title="Renamed", status="INACTIVE")
    touched_before = dict(Meeting.objects.values_list("pk", "participants_touched_at"))

    with CaptureQueriesContext(connection) as captured:
        report = reconcile_meetings(per_page=10)

    assert (report.created, report.updated, report.unchanged) == (0, 1, 19)
    assert len(_writes(captured)) == 1  # the changed row, its mark for the scheduler included
    touched_after = dict(Meeting.objects.values_list("pk", "participants_touched_at"))
    assert [str(pk) for pk in touched_after if touched_after[pk] != touched_before[pk]] == [seeded[3]["id"]]
    renamed = Meeting.objects.get(pk=seeded[3]["id"])
    assert (renamed.title, renamed.status) == ("Renamed", "INACTIVE")


def test_an_item_seen_twice_because_the_listing_shifted_is_harmless(realtimekit_emulator):
    seeded = _seed_meetings(realtimekit_emulator, 10)
    earlier = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    inserted = {}

    def insert_before_page_two(record):
        # A meeting created "earlier" between pages pushes page one's last item onto page two.
        if record.method == "GET" and record.query.get("page_no") == "2" and not inserted:
            inserted.update(realtimekit_emulator.create_meeting(title="Late", created_at=earlier))

    realtimekit_emulator.add_hook(insert_before_page_two)
    report = reconcile_meetings(per_page=5)

    # 10 distinct meetings seen of a listing of 11: the walk cannot vouch for the one it missed.
    assert not report.completed and report.flagged == 0
    assert report.items == 11  # one meeting came twice, another never (this run)
    assert report.created == 10 and report.unchanged == 1
    assert Meeting.objects.filter(pk__in=[m["id"] for m in seeded]).count() == 10
    assert not Meeting.objects.filter(pk=inserted["id"]).exists()
    again = reconcile_meetings(per_page=5)
    assert again.completed and again.created == 1 and Meeting.objects.count() == 11


def test_meetings_absent_remotely_are_flagged_not_deleted(realtimekit_emulator):
    _seed_meetings(realtimekit_emulator, 5)
    reconcile_meetings()
    ghost = Meeting.objects.create(
        id="00000000-0000-4000-8000-000000000001",
        app_id="test-app",
        synced_at=timezone.now() - timedelta(hours=1),
    )
    other_app = Meeting.objects.create(
        id="00000000-0000-4000-8000-000000000002",
        app_id="another-app",
        synced_at=timezone.now() - timedelta(hours=1),
    )

    report = reconcile_meetings()

    assert report.completed and report.flagged == 1
    ghost.refresh_from_db()
    other_app.refresh_from_db()
    assert ghost.missing_since is not None
    assert other_app.missing_since is None
    assert Meeting.objects.count() == 7
    assert Meeting.objects.present_remotely().count() == 6


def test_a_filtered_walk_flags_nothing(realtimekit_emulator):
    _seed_meetings(realtimekit_emulator, 5)
    reconcile_meetings()

    report = reconcile_meetings(search="Meeting 0001")

    assert report.completed and report.items == 1 and report.flagged == 0
    assert Meeting.objects.present_remotely().count() == 5


def test_participants_removed_remotely_disappear_locally_after_a_complete_walk(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="Standup")
    people = [
        realtimekit_emulator.add_participant(meeting["id"], custom_participant_id=f"u{n}", preset_name="p")
        for n in range(12)
    ]
    first = reconcile_participants(meeting["id"], per_page=5)
    assert first.completed and first.created == 12 and Participant.objects.count() == 12
    for person in people[:4]:
        realtimekit_emulator.delete_participant(meeting["id"], person["id"])

    report = reconcile_participants(meeting["id"], per_page=5)

    assert report.completed and report.removed == 4 and report.pages == 2
    assert report.http_requests == 2 + 4  # the pages, then one lookup per participant not seen
    assert set(map(str, Participant.objects.values_list("pk", flat=True))) == {p["id"] for p in people[4:]}


def test_participants_the_shifting_listing_hid_from_the_walk_are_not_deleted(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="Standup")
    people = [
        realtimekit_emulator.add_participant(meeting["id"], custom_participant_id=f"u{n}", preset_name="p")
        for n in range(9)
    ]
    reconcile_participants(meeting["id"], per_page=3)

    def delete_from_page_one_before_page_two(record):
        # Page one was read; deleting two of its people pulls two others back onto it, unseen.
        if record.query.get("page_no") == "2" and len(realtimekit_emulator.participants(meeting["id"])) == 9:
            for person in people[:2]:
                realtimekit_emulator.delete_participant(meeting["id"], person["id"])

    realtimekit_emulator.add_hook(delete_from_page_one_before_page_two)
    report = reconcile_participants(meeting["id"], per_page=3)

    remote = {p["id"] for p in realtimekit_emulator.participants(meeting["id"])}
    local = set(map(str, Participant.objects.values_list("pk", flat=True)))
    assert report.completed and report.items == 7  # people[3] and people[4] were never listed
    assert remote <= local  # ... yet they were kept (looked up: still there)
    assert report.removed == 0  # the deleted two were seen on page one, before their deletion
    settled = reconcile_participants(meeting["id"], per_page=3)
    assert settled.removed == 2
    assert set(map(str, Participant.objects.values_list("pk", flat=True))) == remote


def test_a_participant_stored_after_the_walk_began_is_kept(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="Standup")
    realtimekit_emulator.add_participant(meeting["id"], custom_participant_id="u0", preset_name="p")
    reconcile_meetings()
    local_meeting = Meeting.objects.get(pk=meeting["id"])
    late_id = "00000000-0000-4000-8000-00000000beef"

    def join_during_walk(record):
        # A join stores its participant while the walk is already reading (it will not list it).
        if (
            record.method == "GET"
            and "participants" in record.path
            and not Participant.objects.filter(pk=late_id).exists()
        ):
            Participant.objects.create(
                id=late_id,
                meeting=local_meeting,
                custom_participant_id="late",
                preset_name="p",
                synced_at=timezone.now(),
            )

    realtimekit_emulator.add_hook(join_during_walk)
    report = reconcile_participants(local_meeting)

    assert report.completed and report.removed == 0
    assert Participant.objects.filter(pk=late_id).exists()


@override_settings(REALTIMEKIT={**REALTIMEKIT, "MAX_RETRIES": 0})
def test_a_walk_failing_on_page_three_deletes_and_flags_nothing(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="Standup")
    people = [
        realtimekit_emulator.add_participant(meeting["id"], custom_participant_id=f"u{n}", preset_name="p")
        for n in range(10)
    ]
    _seed_meetings(realtimekit_emulator, 9)
    reconcile_meetings(per_page=2)
    reconcile_participants(meeting["id"], per_page=2)
    ghost = Meeting.objects.create(
        id="00000000-0000-4000-8000-000000000001",
        app_id="test-app",
        synced_at=timezone.now() - timedelta(hours=1),
    )
    for person in people[:5]:
        realtimekit_emulator.delete_participant(meeting["id"], person["id"])

    def fail_page_three(record):
        if record.method == "GET" and record.query.get("page_no") == "3":
            realtimekit_emulator.faults.fail_next(1, status=500)

    realtimekit_emulator.add_hook(fail_page_three)
    meetings_report = reconcile_meetings(per_page=2)
    participants_report = reconcile_participants(meeting["id"], per_page=2)

    for report in (meetings_report, participants_report):
        assert report.completed is False
        assert report.pages == 2 and report.http_requests == 3
        assert "500" in report.error or "Internal Server Error" in report.error
        assert report.flagged == 0 and report.removed == 0
    ghost.refresh_from_db()
    assert ghost.missing_since is None
    assert Participant.objects.count() == 10


def test_a_walk_with_retries_left_survives_a_failing_page(realtimekit_emulator):
    _seed_meetings(realtimekit_emulator, 6)

    def fail_page_three_once(record):
        if record.query.get("page_no") == "3" and not getattr(fail_page_three_once, "done", False):
            fail_page_three_once.done = True
            realtimekit_emulator.faults.fail_next(1, status=503)

    realtimekit_emulator.add_hook(fail_page_three_once)
    report = reconcile_meetings(per_page=2, client=_client(max_retries=1))

    assert report.completed and report.pages == 3 and report.http_requests == 4


def test_a_walk_stopped_by_max_pages_is_incomplete_and_flags_nothing(realtimekit_emulator):
    _seed_meetings(realtimekit_emulator, 5)
    reconcile_meetings()
    ghost = Meeting.objects.create(
        id="00000000-0000-4000-8000-000000000001",
        app_id="test-app",
        synced_at=timezone.now() - timedelta(hours=1),
    )
    client = _client()
    client.max_pages = 2

    report = reconcile_meetings(per_page=2, client=client)

    assert report.completed is False and "MAX_PAGES" in report.error
    ghost.refresh_from_db()
    assert ghost.missing_since is None


def test_dry_run_counts_but_writes_nothing(realtimekit_emulator):
    _seed_meetings(realtimekit_emulator, 7)

    report = reconcile_meetings(per_page=3, dry_run=True)

    assert report.dry_run and report.completed and report.created == 7 and report.pages == 3
    assert Meeting.objects.count() == 0
    assert report.summary().startswith("dry run, nothing written: meetings: complete")


def test_dry_run_of_participants_counts_removals_without_removing(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="Standup")
    person = realtimekit_emulator.add_participant(meeting["id"], custom_participant_id="u", preset_name="p")
    reconcile_participants(meeting["id"])
    realtimekit_emulator.delete_participant(meeting["id"], person["id"])

    report = reconcile_participants(meeting["id"], dry_run=True)

    assert report.removed == 1
    assert Participant.objects.filter(pk=person["id"]).exists()


def test_a_meeting_unknown_locally_is_fetched_before_its_participants(realtimekit_emulator):
    meeting = realtimekit_emulator.create_meeting(title="New")
    realtimekit_emulator.add_participant(meeting["id"], custom_participant_id="u", preset_name="p")

    report = reconcile_participants(meeting["id"])

    assert report.completed and report.created == 1
    assert Meeting.objects.get(pk=meeting["id"]).title == "New"


def test_the_report_is_sent_as_a_signal_and_serialises(realtimekit_emulator):
    _seed_meetings(realtimekit_emulator, 3)
    received: list[ReconcileReport] = []

    def receiver(sender, report, **kwargs):
        received.append(report)

    signals.reconcile_finished.connect(receiver)
    try:
        report = reconcile_meetings()
    finally:
        signals.reconcile_finished.disconnect(receiver)

    assert received == [report]
    data = report.as_dict()
    assert data["kind"] == "meetings" and data["created"] == 3 and data["completed"] is True
    assert "exception" not in data
    assert report.summary().startswith("meetings: complete; 1 pages, 1 HTTP requests, 3 created")


@override_settings(REALTIMEKIT={**REALTIMEKIT, "MAX_RETRIES": 0})
def test_no_secret_reaches_the_report(realtimekit_emulator):
    realtimekit_emulator.faults.fail_next(1, status=401, body={"success": False, "error": {"message": "bad"}})

    report = reconcile_meetings()

    assert report.completed is False
    assert REALTIMEKIT["API_TOKEN"] not in repr(report.as_dict()) + report.summary()
