"""The page upserts reconciliation runs: what they store on each backend, and what an unchanged
page is spared (nothing written, one SELECT).

These run on SQLite by default and on PostgreSQL in CI (``--ds=tests.settings_postgres``): both
must store exactly what the ORM reads back as the row ``rows.meeting_row`` built.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from realtimekit_django import rows, schema, services, store
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


#: The sync scheduler's own column, which no payload sets.
SCHEDULER_COLUMNS = {"participants_synced_at"}


def _stored(model, pk) -> dict:
    row = model.objects.get(pk=pk)
    return {
        f.attname: getattr(row, f.attname)
        for f in model._meta.concrete_fields
        if f.attname not in SCHEDULER_COLUMNS
    }


def _kinds(captured) -> list[str]:
    return [q["sql"].split()[0] for q in captured.captured_queries]


def test_what_is_stored_is_the_row_that_was_built_on_this_backend():
    now = datetime(2026, 5, 6, 7, 8, 9, 101112, tzinfo=UTC)
    built = rows.meeting_row(AWKWARD, app_id=APP, now=now)

    written = store.write_rows(Meeting, rows.MEETING_COLUMNS, [built])

    assert written == 1
    assert _stored(Meeting, built["id"]) == built
    # Timestamps keep their instant whatever offset the API wrote them with.
    assert _stored(Meeting, built["id"])["remote_updated_at"] == datetime(
        2026, 1, 2, 1, 4, 6, 123456, tzinfo=UTC
    )


def test_nulls_and_the_kept_user_survive_the_upsert(django_user_model):
    meeting_row = rows.meeting_row(
        {"id": str(uuid.uuid4()), "title": None, "created_at": None}, app_id=APP, now=timezone.now()
    )
    store.write_rows(Meeting, rows.MEETING_COLUMNS, [meeting_row])
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
    first = rows.participant_row(payload, meeting_id=meeting_row["id"], now=timezone.now(), user_id=user.pk)
    store.write_rows(Participant, rows.PARTICIPANT_COLUMNS, [first], keep_user=True)
    # A later sync knows no user: the row keeps the one it was issued for.
    later = rows.participant_row(
        {**payload, "name": "Named", "updated_at": "2026-01-02T00:00:00Z"},
        meeting_id=meeting_row["id"],
        now=timezone.now(),
    )
    store.write_rows(Participant, rows.PARTICIPANT_COLUMNS, [later], keep_user=True)
    assert _stored(Participant, payload["id"]) == {**later, "user_id": user.pk}


def test_the_guard_refuses_an_older_row_in_the_statement_itself():
    newer = rows.meeting_row(
        {**AWKWARD, "title": "newer", "updated_at": "2026-03-01T00:00:00Z"}, app_id=APP, now=timezone.now()
    )
    older = rows.meeting_row(
        {**AWKWARD, "title": "older", "updated_at": "2026-02-01T00:00:00Z"}, app_id=APP, now=timezone.now()
    )
    assert store.write_rows(Meeting, rows.MEETING_COLUMNS, [newer]) == 1
    assert store.write_rows(Meeting, rows.MEETING_COLUMNS, [older]) == 0
    assert Meeting.objects.get().title == "newer"


def test_a_page_of_many_rows_is_one_insert_statement(realtimekit_emulator):
    payloads = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(250)]
    with CaptureQueriesContext(connection) as captured:
        result = services.upsert_meetings(payloads, app_id=APP)
    assert result.created == 250 and _kinds(captured).count("INSERT") == 1
    assert Meeting.objects.count() == 250


def test_a_page_beyond_one_statements_parameter_limit_is_stored_whole():
    """Whatever a caller hands over, the backend's parameter limit is never hit (SQLite used to
    answer "too many SQL variables" to a page of 20,000)."""
    payloads = [{**AWKWARD, "id": str(uuid.uuid4()), "title": f"m{i}"} for i in range(5000)]
    result = services.upsert_meetings(payloads, app_id=APP)
    assert result.created == 5000 and not result.rejected
    assert Meeting.objects.count() == 5000


# -- what an unchanged page is spared ------------------------------------------------------------


def test_an_unchanged_page_writes_nothing_and_runs_one_select(realtimekit_emulator):
    payloads = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(20)]
    services.upsert_meetings(payloads, app_id=APP)

    with CaptureQueriesContext(connection) as captured:
        result = services.upsert_meetings(payloads, app_id=APP)

    assert (result.created, result.updated, result.unchanged) == (0, 0, 20)
    assert _kinds(captured) == ["SELECT"]


def test_only_the_changed_payloads_of_a_page_are_written(realtimekit_emulator):
    payloads = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(5)]
    services.upsert_meetings(payloads, app_id=APP)
    before = dict(Meeting.objects.values_list("pk", "synced_at"))
    renamed = realtimekit_emulator.update_meeting(payloads[2]["id"], title="renamed")

    result = services.upsert_meetings([*payloads[:2], renamed, *payloads[3:]], app_id=APP)

    assert (result.updated, result.unchanged) == (1, 4)
    after = dict(Meeting.objects.values_list("pk", "synced_at"))
    assert [pk for pk in after if after[pk] != before[pk]] == [uuid.UUID(renamed["id"])]
    assert Meeting.objects.get(pk=renamed["id"]).title == "renamed"


def test_a_meeting_flagged_missing_is_written_even_when_its_payload_is_the_same(realtimekit_emulator):
    payload = realtimekit_emulator.create_meeting(title="back again")
    services.upsert_meetings([payload], app_id=APP)
    Meeting.objects.update(missing_since=timezone.now())

    result = services.upsert_meetings([payload], app_id=APP)

    assert result.updated == 1
    assert Meeting.objects.get().missing_since is None


def test_a_payload_carrying_a_storage_secret_is_stored_without_it(realtimekit_emulator):
    payload = realtimekit_emulator.create_meeting(title="rec")
    services.upsert_meetings([payload], app_id=APP)
    storage = {"type": "aws", "bucket": "b", "access_key": "AKIA-LEAK-ME-NOT", "secret": "LEAK-ME-NOT"}
    with_secret = {
        **payload,
        "recording_config": {**payload.get("recording_config", {}), "storage_config": storage},
    }

    result = services.upsert_meetings([with_secret], app_id=APP)

    assert result.updated == 1
    stored = Meeting.objects.get()
    assert stored.recording_config["storage_config"] == {"type": "aws", "bucket": "b"}
    assert "LEAK-ME-NOT" not in str(stored.remote_data)


def test_the_same_meeting_twice_in_a_page_still_keeps_the_newer(realtimekit_emulator):
    payload = realtimekit_emulator.create_meeting(title="old")
    services.upsert_meetings([payload], app_id=APP)
    newer = {**payload, "title": "new", "updated_at": "2099-01-01T00:00:00Z"}

    result = services.upsert_meetings([newer, payload], app_id=APP)

    assert result.updated == 1 and result.unchanged == 0
    assert Meeting.objects.get().title == "new"


def test_an_unchanged_participant_page_writes_nothing(realtimekit_emulator):
    meeting = services.create_meeting(title="room")
    payloads = [
        realtimekit_emulator.add_participant(str(meeting.pk), custom_participant_id=f"u{i}", preset_name="p")
        for i in range(5)
    ]
    listed = [{k: v for k, v in p.items() if k != "token"} for p in payloads]
    services.upsert_participants(meeting, listed)

    with CaptureQueriesContext(connection) as captured:
        result = services.upsert_participants(meeting, listed)
    assert result.unchanged == 5 and _kinds(captured) == ["SELECT"]
    # A payload with a token is stored without it (tokens are never stored).
    services.upsert_participants(meeting, payloads[:1])
    assert "token" not in Participant.objects.get(pk=payloads[0]["id"]).remote_data


def test_a_page_stores_each_row_as_built_when_rows_share_values_and_differ_in_others():
    """A page prepares a shared timestamp once and sends plain values as they are: every row
    must still come back exactly as it was built (the same instant written with another offset
    included, and a float column given an int)."""
    now = datetime(2026, 5, 6, 7, 8, 9, 101112, tzinfo=UTC)
    payloads = [
        {
            **AWKWARD,
            "id": str(uuid.UUID(int=n + 1)),
            "title": f"page row {n}",
            "session_keep_alive_time_in_secs": 60 + n if n % 2 else 60.5 + n,
            "created_at": f"2026-01-02T03:04:0{n}.000Z",
            "updated_at": "2026-01-02T03:04:06+00:00" if n % 2 else "2026-01-02T05:04:06+02:00",
        }
        for n in range(6)
    ]
    built = [rows.meeting_row(payload, app_id=APP, now=now) for payload in payloads]

    assert store.write_rows(Meeting, rows.MEETING_COLUMNS, built) == 6

    for row in built:
        assert _stored(Meeting, row["id"]) == row


def test_a_payload_is_sent_as_the_text_its_proof_encoded_and_read_back_as_built():
    """The storability proof's JSON text goes to ``remote_data`` instead of a second encoding:
    the row read back, and the column's own text decoded, are the payload as built."""
    now = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    built = rows.meeting_row(AWKWARD, app_id=APP, now=now)
    assert isinstance(built["remote_data"], rows.EncodedPayload)
    assert json.loads(built["remote_data"].json) == built["remote_data"]

    with CaptureQueriesContext(connection) as captured:
        store.write_rows(Meeting, rows.MEETING_COLUMNS, [built])

    (insert,) = [q for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert "会议 🎥" in insert["sql"]  # the text itself, not a re-encoding with escapes
    assert _stored(Meeting, built["id"]) == built
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT remote_data FROM {Meeting._meta.db_table} WHERE title = %s", [AWKWARD["title"]]
        )
        (text,) = cursor.fetchone()
    assert (json.loads(text) if isinstance(text, str) else text) == dict(built["remote_data"])


def test_a_payload_the_proof_cannot_vouch_for_is_encoded_by_the_field_and_stored_as_built():
    """A title of many brackets is storable but past the proof's bracket count: the row keeps a
    plain dict, which the field's own adapter encodes."""
    payload = {**AWKWARD, "title": "[" * (schema.MAX_DEPTH + 5)}
    built = rows.meeting_row(payload, app_id=APP, now=datetime(2026, 5, 6, tzinfo=UTC))
    assert type(built["remote_data"]) is dict

    assert store.write_rows(Meeting, rows.MEETING_COLUMNS, [built]) == 1
    assert _stored(Meeting, built["id"]) == built
