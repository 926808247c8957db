"""The service layer against the emulator: the right HTTP call, the row as the API returned
it, and on any failure nothing written."""

import uuid
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtimekit_django import rows, services, signals, store
from realtimekit_django.conf import get_settings
from realtimekit_django.exceptions import (
    BadRequest,
    JoinRefused,
    MeetingInactive,
    NotFound,
    ServerError,
    ValidationError,
)
from realtimekit_django.models import Meeting, MeetingStatus, Participant

pytestmark = pytest.mark.django_db

SECRETS = {"access_key": "AKIA-LEAK-ME-NOT", "secret": "s3cr3t-LEAK-ME-NOT"}


def last_call(emulator):
    record = emulator.requests[-1]
    return record.method, record.path.split("/kit/test-app", 1)[1], record.json


@contextmanager
def statements():
    """The SQL a block runs, without transaction control (BEGIN, SAVEPOINT, RELEASE, COMMIT),
    which depends on whether the caller is already inside a transaction, not on the code."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    with CaptureQueriesContext(connection) as captured:
        result = SimpleNamespace(sql=[])
        yield result
    result.sql = [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(control)]


# On PostgreSQL a join first takes an advisory lock, a statement of its own.
POSTGRES = connection.vendor == "postgresql"
LOCK = ["SELECT pg_advisory_xact_lock"] if POSTGRES else []


def kinds(sql: list[str]) -> list[str]:
    """Each statement reduced to what it is: the lock, a SELECT, an INSERT ..."""
    return [
        "SELECT pg_advisory_xact_lock" if "pg_advisory_xact_lock" in statement else statement.split()[0]
        for statement in sql
    ]


def snapshot():
    return (
        list(Meeting.objects.order_by("pk").values()),
        list(Participant.objects.order_by("pk").values()),
    )


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="Standup")


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(
        "alice", password="pw", first_name="Alice", last_name="Liddell"
    )


# -- meetings -----------------------------------------------------------------------------


def test_create_meeting_posts_and_stores_what_the_api_returned(realtimekit_emulator):
    meeting = services.create_meeting(
        title="Board", record_on_start=True, ai_config={"summarization": {"word_limit": 150}}
    )
    assert last_call(realtimekit_emulator) == (
        "POST",
        "/meetings",
        {"title": "Board", "record_on_start": True, "ai_config": {"summarization": {"word_limit": 150}}},
    )
    remote = realtimekit_emulator.get_meeting(str(meeting.pk))
    row = Meeting.objects.get()
    assert row.pk == meeting.pk and str(row.pk) == remote["id"]
    assert row.title == "Board" and row.record_on_start is True and row.persist_chat is False
    assert row.ai_config == {"summarization": {"word_limit": 150}}
    assert row.remote_data == remote
    assert row.app_id == "test-app" and row.synced_at is not None
    assert row.remote_updated_at.isoformat().startswith(remote["updated_at"][:19])


def test_storage_secrets_reach_the_api_but_never_the_database(realtimekit_emulator):
    config = {"storage_config": {"type": "aws", "bucket": "rec", **SECRETS}}
    meeting = services.create_meeting(title="Recorded", recording_config=config)
    assert realtimekit_emulator.received_storage_secrets(str(meeting.pk)) == SECRETS
    out = StringIO()
    call_command("dumpdata", "realtimekit", stdout=out)
    dumped = out.getvalue()
    assert '"bucket": "rec"' in dumped or '"bucket":"rec"' in dumped.replace(" ", "")
    for secret in SECRETS.values():
        assert secret not in dumped
    assert Meeting.objects.get().recording_config == {"storage_config": {"type": "aws", "bucket": "rec"}}


def test_update_meeting_sends_only_the_changes(realtimekit_emulator, meeting):
    updated = services.update_meeting(meeting, persist_chat=False, title="Retro")
    assert last_call(realtimekit_emulator) == (
        "PATCH",
        f"/meetings/{meeting.pk}",
        {"persist_chat": False, "title": "Retro"},
    )
    assert updated.title == "Retro" and Meeting.objects.get().title == "Retro"


def test_update_with_no_changes_makes_no_call(realtimekit_emulator, meeting):
    before = len(realtimekit_emulator.requests)
    assert services.update_meeting(meeting) is meeting
    assert len(realtimekit_emulator.requests) == before


def test_replace_meeting_puts_the_whole_meeting(realtimekit_emulator, meeting):
    services.update_meeting(meeting, record_on_start=True)
    replaced = services.replace_meeting(meeting, title="Fresh")
    assert last_call(realtimekit_emulator) == ("PUT", f"/meetings/{meeting.pk}", {"title": "Fresh"})
    assert replaced.record_on_start is False and Meeting.objects.get().record_on_start is False


def test_set_meeting_status(realtimekit_emulator, meeting):
    services.set_meeting_status(meeting, MeetingStatus.INACTIVE)
    assert last_call(realtimekit_emulator)[2] == {"status": "INACTIVE"}
    assert Meeting.objects.get().status == "INACTIVE"


def test_refresh_meeting_imports_remote_changes(realtimekit_emulator, meeting):
    realtimekit_emulator.update_meeting(str(meeting.pk), title="Changed remotely")
    refreshed = services.refresh_meeting(meeting)
    assert last_call(realtimekit_emulator)[:2] == ("GET", f"/meetings/{meeting.pk}")
    assert refreshed.title == "Changed remotely" == Meeting.objects.get().title


def test_refresh_meeting_by_id_imports_an_unknown_meeting(realtimekit_emulator):
    remote = realtimekit_emulator.create_meeting(title="Made elsewhere")
    services.refresh_meeting(remote["id"])
    assert Meeting.objects.get().title == "Made elsewhere"


@pytest.mark.parametrize(
    "call",
    [
        lambda m: services.update_meeting(m, title="x"),
        lambda m: services.replace_meeting(m, title="x"),
        lambda m: services.set_meeting_status(m, "INACTIVE"),
        lambda m: services.refresh_meeting(m),
        lambda m: services.add_participant(m, custom_participant_id="c", preset_name="p"),
    ],
    ids=["update", "replace", "status", "refresh", "add"],
)
def test_api_errors_leave_the_database_untouched(realtimekit_emulator, meeting, call):
    before = snapshot()
    realtimekit_emulator.faults.fail_next(5, status=500)
    with pytest.raises(ServerError):
        call(meeting)
    assert snapshot() == before


def test_create_meeting_failure_writes_nothing(realtimekit_emulator):
    realtimekit_emulator.faults.fail_next(1, status=502)
    with pytest.raises(ServerError) as info:
        services.create_meeting(title="Never")
    assert info.value.status == 502 and info.value.method == "POST"
    assert Meeting.objects.count() == 0
    assert len(realtimekit_emulator.meetings()) == 0  # and a POST is not repeated after a 502
    assert len(realtimekit_emulator.requests) == 1


def test_bad_input_is_refused_before_any_call(realtimekit_emulator, meeting):
    before = len(realtimekit_emulator.requests)
    with pytest.raises(ValidationError) as info:
        services.update_meeting(meeting, session_keep_alive_time_in_secs=5)
    assert "session_keep_alive_time_in_secs" in str(info.value)
    with pytest.raises(ValueError):
        services.create_meeting(recording_config={"video_config": {"width": 5000}})
    assert len(realtimekit_emulator.requests) == before
    assert Meeting.objects.count() == 1


def test_a_stale_payload_never_overwrites_a_newer_row(realtimekit_emulator, meeting):
    older = meeting.remote_data["updated_at"]
    newer = realtimekit_emulator.update_meeting(str(meeting.pk), title="Newer")
    services.refresh_meeting(meeting)
    stale = {**newer, "title": "Older", "updated_at": older}
    result = services.upsert_meetings([stale])
    assert result.stale == 1 and result.updated == 0
    assert Meeting.objects.get().title == "Newer"
    # The guard also holds in the upsert statement itself, not only in the pre-check.
    store.write_rows(
        Meeting, rows.MEETING_COLUMNS, [rows.meeting_row(stale, app_id="test-app", now=meeting.synced_at)]
    )
    assert Meeting.objects.get().title == "Newer"


def test_upsert_meetings_counts_created_updated_unchanged(realtimekit_emulator):
    first = [realtimekit_emulator.create_meeting(title=f"m{i}") for i in range(3)]
    assert services.upsert_meetings(first).created == 3
    assert services.upsert_meetings(first).unchanged == 3
    changed = realtimekit_emulator.update_meeting(first[0]["id"], title="renamed")
    result = services.upsert_meetings([changed, first[1], first[1]])
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Meeting.objects.get(pk=first[0]["id"]).title == "renamed"


def test_upsert_keeps_unknown_remote_keys_and_drops_removed_configs(realtimekit_emulator):
    remote = realtimekit_emulator.create_meeting(title="t", ai_config={"summarization": {"word_limit": 200}})
    services.upsert_meetings([{**remote, "brand_new_field": {"x": 1}}])
    row = Meeting.objects.get()
    assert row.remote_data["brand_new_field"] == {"x": 1}
    # A listing item is the whole meeting: a config it no longer carries was removed remotely
    # (a PUT without it), so the row loses it too.
    removed = {k: v for k, v in remote.items() if k != "ai_config"}
    services.upsert_meetings([{**removed, "title": "t2", "updated_at": "2099-01-01T00:00:00.000Z"}])
    row.refresh_from_db()
    assert row.title == "t2" and row.ai_config == {} and "ai_config" not in row.remote_data


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "no id"},
        {"id": "not-a-uuid"},
        {"id": "0b7c3d1e-8a1b-4c8e-9d2f-1a2b3c4d5e6f", "status": "MAYBE"},
        {"id": "0b7c3d1e-8a1b-4c8e-9d2f-1a2b3c4d5e6f", "record_on_start": "yes"},
        {"id": "0b7c3d1e-8a1b-4c8e-9d2f-1a2b3c4d5e6f", "updated_at": "yesterday"},
        "a string",
    ],
)
def test_a_malformed_item_is_rejected_alone_and_the_rest_of_its_page_stored(realtimekit_emulator, payload):
    good = realtimekit_emulator.create_meeting(title="good")
    result = services.upsert_meetings([good, payload])
    assert len(result.rejected) == 1 and result.created == 1
    assert list(Meeting.objects.values_list("title", flat=True)) == ["good"]
    # An item whose id could be read exists remotely: it counts as seen (never flagged).
    identifiable = isinstance(payload, dict) and payload.get("id", "").count("-") == 4
    assert (uuid.UUID("0b7c3d1e-8a1b-4c8e-9d2f-1a2b3c4d5e6f") in result.seen) == identifiable


# -- participants -------------------------------------------------------------------------------


def test_add_participant_returns_the_token_and_stores_no_token(realtimekit_emulator, meeting, user):
    participant, token = services.add_participant(
        meeting, custom_participant_id="cp-1", preset_name="group_call_host", name="Al", user=user
    )
    assert last_call(realtimekit_emulator) == (
        "POST",
        f"/meetings/{meeting.pk}/participants",
        {"custom_participant_id": "cp-1", "preset_name": "group_call_host", "name": "Al"},
    )
    assert token in realtimekit_emulator.issued_tokens
    row = Participant.objects.get()
    assert (row.pk, row.user, row.preset_name, row.name) == (participant.pk, user, "group_call_host", "Al")
    assert "token" not in row.remote_data
    out = StringIO()
    call_command("dumpdata", "realtimekit", stdout=out)
    assert token not in out.getvalue()


def test_edit_participant(realtimekit_emulator, meeting, user):
    participant, _ = services.add_participant(meeting, custom_participant_id="cp", preset_name="a", user=user)
    edited = services.edit_participant(participant, name="New name")
    assert last_call(realtimekit_emulator) == (
        "PATCH",
        f"/meetings/{meeting.pk}/participants/{participant.pk}",
        {"name": "New name"},
    )
    assert edited.name == "New name" and Participant.objects.get().user == user


def test_remove_participant_deletes_remote_then_row(realtimekit_emulator, meeting):
    participant, token = services.add_participant(meeting, custom_participant_id="cp", preset_name="a")
    received = []
    signals.participant_removed.connect(
        lambda **kw: received.append(kw), weak=False, dispatch_uid="t-removed"
    )
    try:
        services.remove_participant(participant)
    finally:
        signals.participant_removed.disconnect(dispatch_uid="t-removed")
    assert last_call(realtimekit_emulator)[:2] == (
        "DELETE",
        f"/meetings/{meeting.pk}/participants/{participant.pk}",
    )
    assert Participant.objects.count() == 0 and realtimekit_emulator.participants(str(meeting.pk)) == []
    assert not realtimekit_emulator.token_is_valid(token)
    assert received[0]["participant_id"] == participant.pk and "token" not in received[0]


def test_remove_participant_failure_keeps_the_row(realtimekit_emulator, meeting):
    participant, _ = services.add_participant(meeting, custom_participant_id="cp", preset_name="a")
    realtimekit_emulator.faults.fail_next(5, status=503)
    with pytest.raises(ServerError):
        services.remove_participant(participant)
    assert Participant.objects.filter(pk=participant.pk).exists()


def test_remove_participant_already_gone_remotely(realtimekit_emulator, meeting):
    participant, _ = services.add_participant(meeting, custom_participant_id="cp", preset_name="a")
    realtimekit_emulator.delete_participant(str(meeting.pk), str(participant.pk))
    services.remove_participant(participant)
    assert Participant.objects.count() == 0


def test_refresh_participant_token(realtimekit_emulator, meeting):
    participant, first = services.add_participant(meeting, custom_participant_id="cp", preset_name="a")
    second = services.refresh_participant_token(participant)
    assert last_call(realtimekit_emulator)[:2] == (
        "POST",
        f"/meetings/{meeting.pk}/participants/{participant.pk}/token",
    )
    assert second != first and realtimekit_emulator.token_is_valid(first)  # refresh does not revoke


def test_participant_not_found_raises(realtimekit_emulator, meeting):
    participant, _ = services.add_participant(meeting, custom_participant_id="cp", preset_name="a")
    realtimekit_emulator.delete_participant(str(meeting.pk), str(participant.pk))
    with pytest.raises(NotFound):
        services.refresh_participant_token(participant)


def test_add_participant_refuses_bad_input_before_any_call(realtimekit_emulator, meeting):
    before = len(realtimekit_emulator.requests)
    with pytest.raises(ValidationError):
        services.add_participant(meeting, custom_participant_id="", preset_name="p")
    with pytest.raises(ValidationError):
        services.add_participant(meeting, custom_participant_id="c", preset_name="p", picture="not a url")
    assert len(realtimekit_emulator.requests) == before and Participant.objects.count() == 0


# -- join tokens ------------------------------------------------------------------------------------


def test_first_join_adds_one_participant_with_one_call(realtimekit_emulator, meeting, user):
    before = len(realtimekit_emulator.requests)
    services.known_preset_names()  # kept in the cache, as on a site that has served a join
    with statements() as run:
        joined = services.issue_join_token(meeting, user)
    # (PostgreSQL: the lock,) the meeting with the person's participant, the INSERT; the
    # policy's preset is checked against the kept preset names, with no query.
    assert kinds(run.sql) == [*LOCK, "SELECT", "INSERT"]
    assert len(realtimekit_emulator.requests) == before + 1
    remote = realtimekit_emulator.participants(str(meeting.pk))
    assert len(remote) == 1 and remote[0]["id"] == str(joined.participant.pk)
    assert remote[0]["preset_name"] == "group_call_participant" == joined.preset_name
    assert remote[0]["name"] == "Alice Liddell"
    assert joined.participant.user == user and joined.token in realtimekit_emulator.issued_tokens
    from realtimekit_django.emulator import decode_token

    assert joined.expires_at.timestamp() == decode_token(joined.token)["exp"]
    assert joined.expires_at - joined.participant.remote_created_at > timedelta(days=99)
    assert joined.token not in repr(joined)


def test_returning_user_gets_a_token_with_one_call(realtimekit_emulator, meeting, user):
    first = services.issue_join_token(meeting, user)
    before = len(realtimekit_emulator.requests)
    with statements() as run:
        again = services.issue_join_token(meeting, user)
    # (the lock,) the lookup, and the upsert of what the edit answered.
    assert kinds(run.sql) == [*LOCK, "SELECT", "INSERT"]
    assert len(realtimekit_emulator.requests) == before + 1
    # An edit: its answer states the preset the new token grants.
    assert realtimekit_emulator.requests[-1].method == "PATCH"
    assert again.participant.pk == first.participant.pk and again.token != first.token
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 1


def test_custom_participant_id_is_opaque_and_stable(realtimekit_emulator, meeting, user):
    joined = services.issue_join_token(meeting, user)
    custom_id = joined.participant.custom_participant_id
    assert custom_id == get_settings().participant_id_function(user)
    assert str(user.pk) != custom_id and "alice" not in custom_id.lower()


def test_policy_refusing_costs_no_call(realtimekit_emulator, meeting, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": lambda user, meeting: None}
    from django.contrib.auth.models import AnonymousUser

    before = len(realtimekit_emulator.requests)
    with pytest.raises(JoinRefused) as info:
        services.issue_join_token(meeting, AnonymousUser())
    from django.core.exceptions import PermissionDenied

    assert isinstance(info.value, PermissionDenied)
    assert len(realtimekit_emulator.requests) == before and Participant.objects.count() == 0


def test_inactive_meeting_refused_before_any_call(realtimekit_emulator, meeting, user):
    inactive = services.set_meeting_status(meeting, "INACTIVE")
    before = len(realtimekit_emulator.requests)
    with pytest.raises(MeetingInactive):
        services.issue_join_token(inactive, user)
    assert len(realtimekit_emulator.requests) == before


def test_policy_picks_the_preset_and_a_change_edits_the_participant(
    realtimekit_emulator, meeting, user, settings
):
    first = services.issue_join_token(meeting, user)
    user.is_staff = True
    user.save()
    before = len(realtimekit_emulator.requests)
    promoted = services.issue_join_token(meeting, user)
    assert len(realtimekit_emulator.requests) == before + 1
    assert realtimekit_emulator.requests[-1].method == "PATCH"
    assert promoted.preset_name == "group_call_host" == Participant.objects.get().preset_name
    assert promoted.participant.pk == first.participant.pk


def test_join_adds_again_when_the_remote_participant_vanished(realtimekit_emulator, meeting, user):
    first = services.issue_join_token(meeting, user)
    realtimekit_emulator.delete_participant(str(meeting.pk), str(first.participant.pk))
    again = services.issue_join_token(meeting, user)
    assert again.participant.pk != first.participant.pk
    assert list(Participant.objects.values_list("pk", flat=True)) == [again.participant.pk]


def test_join_failure_writes_nothing(realtimekit_emulator, meeting, user):
    realtimekit_emulator.faults.fail_next(1, status=400)
    with pytest.raises(BadRequest):
        services.issue_join_token(meeting, user)
    assert Participant.objects.count() == 0


def test_token_issued_signal_never_carries_the_token(realtimekit_emulator, meeting, user):
    received = []
    signals.token_issued.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t-issued")
    try:
        joined = services.issue_join_token(meeting, user)
    finally:
        signals.token_issued.disconnect(dispatch_uid="t-issued")
    assert received and all(joined.token not in repr(kwargs) for kwargs in received)
    assert received[0]["expires_at"] == joined.expires_at


def test_add_participant_refuses_a_second_participant_for_the_same_user(realtimekit_emulator, meeting, user):
    services.add_participant(meeting, custom_participant_id="cp", preset_name="a", user=user)
    before = len(realtimekit_emulator.requests)
    with pytest.raises(ValidationError, match="user: already has a participant"):
        services.add_participant(meeting, custom_participant_id="cp2", preset_name="a", user=user)
    assert len(realtimekit_emulator.requests) == before


def test_add_participant_losing_a_race_leaves_no_remote_orphan(
    realtimekit_emulator, meeting, user, monkeypatch
):
    services.add_participant(meeting, custom_participant_id="cp", preset_name="a", user=user)
    exists = Participant.objects.filter(meeting=meeting, user=user).exists
    # As if the other add committed between our check and our insert.
    monkeypatch.setattr(
        Participant.objects, "filter", lambda **kw: type("Q", (), {"exists": lambda s: False})()
    )
    with pytest.raises(ValidationError):
        services.add_participant(meeting, custom_participant_id="cp2", preset_name="a", user=user)
    monkeypatch.undo()
    assert exists()
    assert [p["custom_participant_id"] for p in realtimekit_emulator.participants(str(meeting.pk))] == ["cp"]


def test_join_by_id_reads_meeting_and_participant_in_one_query(realtimekit_emulator, meeting, user):
    first = services.issue_join_token(meeting.pk, user)
    with statements() as run:
        again = services.issue_join_token(str(meeting.pk), user)
    assert kinds(run.sql) == [*LOCK, "SELECT", "INSERT"]
    assert "LEFT OUTER JOIN" in run.sql[len(LOCK)]  # the meeting and the participant together
    assert again.participant.pk == first.participant.pk and again.participant.user_id == user.pk
    assert again.participant.meeting == meeting


def test_join_by_id_honours_the_queryset_it_is_given(realtimekit_emulator, meeting, user):
    before = len(realtimekit_emulator.requests)
    with pytest.raises(Meeting.DoesNotExist):
        services.issue_join_token(meeting.pk, user, meetings=Meeting.objects.filter(app_id="another-app"))
    with pytest.raises(MeetingInactive):
        services.issue_join_token(services.set_meeting_status(meeting, "INACTIVE").pk, user)
    assert len(realtimekit_emulator.requests) == before + 1  # only the status PATCH


def test_join_by_id_finds_only_this_apps_meetings_still_present_remotely(realtimekit_emulator, meeting, user):
    Meeting.objects.filter(pk=meeting.pk).update(missing_since=meeting.synced_at)
    with pytest.raises(Meeting.DoesNotExist):
        services.issue_join_token(meeting.pk, user)
    Meeting.objects.filter(pk=meeting.pk).update(missing_since=None, app_id="another-app")
    with pytest.raises(Meeting.DoesNotExist):
        services.issue_join_token(meeting.pk, user)
    with pytest.raises(Meeting.DoesNotExist):
        services.issue_join_token("not-a-uuid", user)
    Meeting.objects.filter(pk=meeting.pk).update(app_id="test-app")
    joined = services.issue_join_token(meeting.pk, user)
    again = services.issue_join_token(meeting.pk, user)  # found by the one-query lookup
    assert again.participant.pk == joined.participant.pk
    # Values come back converted (UUIDs, aware datetimes, decoded JSON), not as raw columns.
    assert again.participant.meeting.pk == meeting.pk and again.participant.meeting.ai_config == {}
    assert isinstance(again.participant.pk, uuid.UUID)
    assert again.participant.remote_created_at == joined.participant.remote_created_at
    assert again.participant.meeting.remote_created_at.tzinfo is not None


# -- the kept preset names ----------------------------------------------------------------------


def no_such_preset_policy(user, meeting):
    return "no_such_preset"


def test_the_first_join_after_a_presets_walk_refuses_an_unknown_preset(
    realtimekit_emulator, meeting, user, settings
):
    from realtimekit_django.sync import reconcile

    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "PRESET_POLICY": no_such_preset_policy}
    assert services.known_preset_names() == []  # nothing mirrored yet, and that is kept too
    assert reconcile.reconcile_presets().completed
    requests = len(realtimekit_emulator.requests)
    with pytest.raises(ValidationError, match="'no_such_preset' is not a preset of this app"):
        services.issue_join_token(meeting, user)
    assert len(realtimekit_emulator.requests) == requests  # refused before any call
    assert not Participant.objects.filter(meeting=meeting).exists()


def test_a_preset_removed_remotely_is_refused_at_the_first_join_after_the_walk(
    realtimekit_emulator, meeting, user
):
    from realtimekit_django.client import get_client
    from realtimekit_django.sync import reconcile

    assert reconcile.reconcile_presets().completed
    assert "group_call_participant" in services.known_preset_names()  # kept from here on
    gone = next(p["id"] for p in realtimekit_emulator.presets() if p["name"] == "group_call_participant")
    get_client().presets.delete(gone)
    assert reconcile.reconcile_presets().completed
    requests = len(realtimekit_emulator.requests)
    with pytest.raises(ValidationError, match="'group_call_participant' is not a preset of this app"):
        services.issue_join_token(meeting, user)
    assert len(realtimekit_emulator.requests) == requests
    assert not Participant.objects.filter(meeting=meeting, user=user).exists()
