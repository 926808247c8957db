"""The page upserts reconciliation runs: what they store on each backend, and what an unchanged
page is spared (no row built, nothing written, one SELECT).

These run on SQLite by default and on PostgreSQL in CI (``--ds=tests.settings_postgres``),
where the rows travel as one JSON document (``json_populate_recordset``) instead of
``VALUES``: both must store exactly what the ORM reads back as the row ``meeting_row`` built.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from realtimekit_django import services
from realtimekit_django.models import Meeting, Participant

pytestmark = pytest.mark.django_db

APP = "test-app"

AWKWARD = {
    "id": "5f0e6a2c-2b1d-4c3e-9f8a-7b6c5d4e3f2a",
    "title": "Ünïcode — 'quotes' \"double\" \\ back\\slash %s %(name)s ; DROP TABLE x; 会议 🎥",
    "status": "INACTIVE",
    "record_on_start": True,
    "live_stream_on_start": False,
    "persist_chat": True,
    "summarize_on_end": False,
    "transcribe_on_end": True,
    "session_keep_alive_time_in_secs": 123.5,
    "ai_config": {
        "summarization": {"word_limit": 321, "summary_type": "team_meeting"},
        "nested": [1, None, "x"],
    },
    "recording_config": {"max_seconds": 3600, "file_name_prefix": "línea\nnueva\ttab"},
    "created_at": "2026-01-02T03:04:05.678Z",
    "updated_at": "2026-01-02T03:04:06.123456+02:00",
    "some_future_field": {"deep": {"deeper": [True, False, 1.5e-7]}},
}


def _stored(model, pk) -> dict:
    row = model.objects.get(pk=pk)
    return {f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields}


def test_what_is_stored_is_the_row_that_was_built_on_this_backend():
    now = datetime(2026, 5, 6, 7, 8, 9, 101112, tzinfo=UTC)
    built = services.meeting_row(AWKWARD, app_id=APP, now=now)

    written = services._upsert(Meeting, services.MEETING_COLUMNS, [built])

    assert written == 1
    assert _stored(Meeting, built["id"]) == built
    # Timestamps keep their instant whatever offset the API wrote them with.
    assert _stored(Meeting, built["id"])["remote_updated_at"] == datetime(
        2026, 1, 2, 1, 4, 6, 123456, tzinfo=UTC
    )


def test_nulls_and_the_kept_user_survive_the_upsert(django_user_model):
    meeting_row = services.meeting_row(
        {"id": str(uuid.uuid4()), "title": None, "created_at": None}, app_id=APP, now=timezone.now()
    )
    services._upsert(Meeting, services.MEETING_COLUMNS, [meeting_row])
    assert _stored(Meeting, meeting_row["id"]) == meeting_row

    user = django_user_model.objects.create_user("kept")
    payload = {
        "id": str(uuid.uuid4()),
        "custom_participant_id": "cp",
        "preset_name": "host",
        "name": None,
        "picture": None,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    first = services.participant_row(
        payload, meeting_id=meeting_row["id"], now=timezone.now(), user_id=user.pk
    )
    services._upsert(Participant, services.PARTICIPANT_COLUMNS, [first], keep=services._KEEP_USER)
    # A later sync knows no user: the row keeps the one it was issued for.
    later = services.participant_row(
        {**payload, "name": "Named", "updated_at": "2026-01-02T00:00:00Z"},
        meeting_id=meeting_row["id"],
        now=timezone.now(),
    )
    services._upsert(Participant, services.PARTICIPANT_COLUMNS, [later], keep=services._KEEP_USER)
    assert _stored(Participant, payload["id"]) == {**later, "user_id": user.pk}


def test_a_page_of_many_rows_is_one_insert_statement(realtimekit_emulator):
    payloads = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(250)]
    with CaptureQueriesContext(connection) as captured:
        result = services.upsert_meetings(payloads, app_id=APP)
    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert result.created == 250 and len(inserts) == 1
    if connection.vendor == "postgresql":
        # The rows travel as one JSON parameter, not as 250 x 17 placeholders.
        assert "json_populate_recordset" in inserts[0] and "VALUES" not in inserts[0]
    assert Meeting.objects.count() == 250


# -- what an unchanged page is spared ------------------------------------------------------------


@pytest.fixture
def built(monkeypatch):
    """Counts the payloads turned into rows (the validation an unchanged payload skips)."""
    calls = []
    original = services.meeting_row

    def counting(payload, **kwargs):
        calls.append(payload.get("id"))
        return original(payload, **kwargs)

    monkeypatch.setattr(services, "meeting_row", counting)
    return calls


def test_an_unchanged_page_builds_no_row_and_runs_one_select(realtimekit_emulator, built):
    payloads = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(20)]
    services.upsert_meetings(payloads, app_id=APP)
    assert len(built) == 20
    built.clear()

    with CaptureQueriesContext(connection) as captured:
        result = services.upsert_meetings(payloads, app_id=APP)

    assert (result.created, result.updated, result.unchanged) == (0, 0, 20)
    assert built == []
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT"]


def test_only_the_changed_payloads_of_a_page_are_built_and_written(realtimekit_emulator, built):
    payloads = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(5)]
    services.upsert_meetings(payloads, app_id=APP)
    built.clear()
    renamed = realtimekit_emulator.update_meeting(payloads[2]["id"], title="renamed")

    result = services.upsert_meetings([*payloads[:2], renamed, *payloads[3:]], app_id=APP)

    assert (result.updated, result.unchanged) == (1, 4)
    assert built == [renamed["id"]]
    assert Meeting.objects.get(pk=renamed["id"]).title == "renamed"


def test_a_summary_that_agrees_with_the_stored_payload_is_unchanged(realtimekit_emulator, built):
    full = realtimekit_emulator.create_meeting(title="t", ai_config={"summarization": {"word_limit": 200}})
    services.upsert_meetings([full], app_id=APP)
    built.clear()
    summary = {key: value for key, value in full.items() if key != "ai_config"}

    result = services.upsert_meetings([summary], app_id=APP)

    assert result.unchanged == 1 and built == []
    assert Meeting.objects.get().ai_config == {"summarization": {"word_limit": 200}}


def test_a_meeting_flagged_missing_is_written_even_when_its_payload_is_the_same(realtimekit_emulator):
    payload = realtimekit_emulator.create_meeting(title="back again")
    services.upsert_meetings([payload], app_id=APP)
    Meeting.objects.update(missing_since=timezone.now())

    result = services.upsert_meetings([payload], app_id=APP)

    assert result.updated == 1
    assert Meeting.objects.get().missing_since is None


def test_a_payload_carrying_a_storage_secret_is_never_taken_for_unchanged(realtimekit_emulator, built):
    payload = realtimekit_emulator.create_meeting(title="rec")
    services.upsert_meetings([payload], app_id=APP)
    built.clear()
    storage = {"type": "aws", "bucket": "b", "access_key": "AKIA-LEAK-ME-NOT", "secret": "LEAK-ME-NOT"}
    with_secret = {
        **payload,
        "recording_config": {**payload.get("recording_config", {}), "storage_config": storage},
    }

    result = services.upsert_meetings([with_secret], app_id=APP)

    assert built == [payload["id"]] and result.updated == 1
    stored = Meeting.objects.get()
    assert stored.recording_config["storage_config"] == {"type": "aws", "bucket": "b"}
    assert "LEAK-ME-NOT" not in str(stored.remote_data)


def test_the_same_meeting_twice_in_a_page_still_keeps_the_newer(realtimekit_emulator, built):
    payload = realtimekit_emulator.create_meeting(title="old")
    services.upsert_meetings([payload], app_id=APP)
    newer = {**payload, "title": "new", "updated_at": "2099-01-01T00:00:00Z"}

    result = services.upsert_meetings([newer, payload], app_id=APP)

    assert result.updated == 1 and result.unchanged == 0
    assert Meeting.objects.get().title == "new"


def test_an_unchanged_participant_page_builds_no_row(realtimekit_emulator, monkeypatch):
    meeting = services.create_meeting(title="room")
    payloads = [
        realtimekit_emulator.add_participant(str(meeting.pk), custom_participant_id=f"u{i}", preset_name="p")
        for i in range(5)
    ]
    listed = [{k: v for k, v in p.items() if k != "token"} for p in payloads]
    services.upsert_participants(meeting, listed)
    calls = []
    original = services.participant_row
    monkeypatch.setattr(services, "participant_row", lambda p, **kw: calls.append(p) or original(p, **kw))

    result = services.upsert_participants(meeting, listed)
    assert result.unchanged == 5 and calls == []
    # A payload with a token is never "the same" as a stored one (tokens are never stored).
    result = services.upsert_participants(meeting, payloads[:1])
    assert len(calls) == 1 and "token" not in Participant.objects.get(pk=payloads[0]["id"]).remote_data


def test_the_compiled_page_select_reads_what_the_orm_reads(realtimekit_emulator):
    payloads = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(7)]
    services.upsert_meetings(payloads, app_id=APP)
    Meeting.objects.filter(pk=payloads[0]["id"]).update(missing_since=timezone.now())
    ids = {uuid.UUID(p["id"]) for p in payloads[:5]} | {uuid.uuid4()}  # one unknown id
    orm = {
        pk: (updated, data, missing)
        for pk, updated, data, missing in Meeting.objects.filter(pk__in=ids).values_list(
            "pk", "remote_updated_at", "remote_data", "missing_since"
        )
    }
    lookup = services._StoredRows.for_model(Meeting)

    with CaptureQueriesContext(connection) as captured:
        fetched = lookup.fetch(ids)

    assert len(captured.captured_queries) == 1
    assert set(fetched) == set(orm) and len(fetched) == 5
    for pk, (raw_updated, data, raw_missing) in fetched.items():
        updated, orm_data, missing = orm[pk]
        assert lookup.updated_at(raw_updated) == updated and data == orm_data
        assert (raw_missing is None) == (missing is None)
    # Other databases take the ORM's query: same answer.
    lookup.sql = None
    try:
        assert lookup.fetch(ids) == orm
    finally:
        services._compiled.__dict__.clear()
