"""The official ``cloudflare`` SDK, pointed at the emulator over loopback, completes all eleven
operations: proof that the emulator speaks the SDK's dialect (paths, bodies, response shapes),
its errors and its rate limit included."""

from __future__ import annotations

import os
import subprocess
import sys

import cloudflare
import pytest
from cloudflare import Cloudflare

from realtimekit_django.emulator import Emulator, decode_token, serve

TOKEN = "sdk-test-token"
ACCOUNT = "sdk-account"
APP = "sdk-app"
IDS = {"account_id": ACCOUNT, "app_id": APP}


@pytest.fixture
def emulator():
    return Emulator(api_token=TOKEN)


@pytest.fixture
def base_url(emulator):
    server, thread = serve(emulator, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.server_address[1]}/client/v4"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def client(base_url):
    with Cloudflare(api_token=TOKEN, base_url=base_url, max_retries=0) as sdk:
        yield sdk


def test_all_eleven_operations(client, emulator):
    meetings = client.realtime_kit.meetings

    # create
    created = meetings.create(
        account_id=ACCOUNT,
        app_id=APP,
        title="SDK meeting",
        record_on_start=True,
        recording_config={
            "storage_config": {"type": "aws", "bucket": "b", "access_key": "AK-1", "secret": "S-1"}
        },
    )
    assert created.success is True
    meeting = created.data
    assert meeting.title == "SDK meeting" and meeting.status == "ACTIVE" and meeting.record_on_start is True
    assert meeting.session_keep_alive_time_in_secs == 60 and meeting.persist_chat is False
    assert meeting.created_at == meeting.updated_at and meeting.created_at.tzinfo is not None
    assert emulator.received_storage_secrets(meeting.id) == {"access_key": "AK-1", "secret": "S-1"}
    assert "S-1" not in created.to_json()

    # get_meeting_by_id
    fetched = meetings.get_meeting_by_id(meeting.id, name="ignored", **IDS).data
    assert fetched.id == meeting.id and fetched.title == "SDK meeting"

    # update_meeting_by_id
    updated = meetings.update_meeting_by_id(meeting.id, title="Renamed", status="INACTIVE", **IDS).data
    assert updated.title == "Renamed" and updated.status == "INACTIVE" and updated.record_on_start is True
    assert updated.updated_at > meeting.updated_at

    # replace_meeting_by_id
    replaced = meetings.replace_meeting_by_id(meeting.id, title="Replaced", persist_chat=True, **IDS).data
    assert replaced.title == "Replaced" and replaced.persist_chat is True
    assert replaced.record_on_start is False and replaced.status == "INACTIVE"
    assert replaced.recording_config is None

    # get (listing)
    listing = meetings.get(per_page=10, page_no=1, search="replaced", **IDS)
    assert [m.id for m in listing.data] == [meeting.id]
    assert (listing.paging.start_offset, listing.paging.end_offset, listing.paging.total_count) == (1, 1, 1)

    # add_participant
    added = meetings.add_participant(
        meeting.id, custom_participant_id="user-7", preset_name="group_call_host", name="Ada", **IDS
    ).data
    assert added.custom_participant_id == "user-7" and added.preset_name == "group_call_host"
    claims = decode_token(added.token)
    assert claims["meetingId"] == meeting.id and claims["participantId"] == added.id

    # get_meeting_participants
    people = meetings.get_meeting_participants(meeting.id, page_no=1, per_page=5, **IDS)
    assert [p.id for p in people.data] == [added.id] and people.paging.total_count == 1

    # get_meeting_participant
    person = meetings.get_meeting_participant(added.id, meeting_id=meeting.id, **IDS).data
    assert person.name == "Ada" and person.created_at == added.created_at

    # edit_participant
    edited = meetings.edit_participant(
        added.id, meeting_id=meeting.id, name="Grace", preset_name="viewer", **IDS
    ).data
    assert edited.name == "Grace" and edited.preset_name == "viewer" and edited.token != added.token

    # refresh_participant_token
    refreshed = meetings.refresh_participant_token(added.id, meeting_id=meeting.id, **IDS)
    assert refreshed.success is True and refreshed.data.token not in (added.token, edited.token)

    # delete_meeting_participant
    deleted = meetings.delete_meeting_participant(added.id, meeting_id=meeting.id, **IDS).data
    assert deleted.custom_participant_id == "user-7"
    assert deleted.preset_id == Emulator.preset_id("viewer")
    assert deleted.updated_at == edited.updated_at

    with pytest.raises(cloudflare.NotFoundError):
        meetings.get_meeting_participant(added.id, meeting_id=meeting.id, **IDS)
    with pytest.raises(cloudflare.NotFoundError):
        meetings.refresh_participant_token(added.id, meeting_id=meeting.id, **IDS)
    with pytest.raises(cloudflare.NotFoundError):
        meetings.delete_meeting_participant(added.id, meeting_id=meeting.id, **IDS)
    assert not emulator.token_is_valid(refreshed.data.token)


def test_paging_over_three_pages(client, emulator):
    meetings = client.realtime_kit.meetings
    ids = [meetings.create(title=f"Page test {i}", **IDS).data.id for i in range(8)]
    seen, offsets, page = [], [], 1
    while True:
        result = meetings.get(page_no=page, per_page=3, **IDS)
        if not result.data:
            break
        seen += [m.id for m in result.data]
        offsets.append((result.paging.start_offset, result.paging.end_offset, result.paging.total_count))
        page += 1
    assert seen == ids
    assert offsets == [(1, 3, 8), (4, 6, 8), (7, 8, 8)]

    meeting_id = ids[0]
    people = [
        meetings.add_participant(meeting_id, custom_participant_id=f"u{i}", preset_name="p", **IDS).data.id
        for i in range(7)
    ]
    walked = []
    for page in (1, 2, 3):
        walked += [
            p.id for p in meetings.get_meeting_participants(meeting_id, page_no=page, per_page=3, **IDS).data
        ]
    assert walked == people


def test_errors_map_to_sdk_exceptions(client, base_url, emulator):
    meetings = client.realtime_kit.meetings
    with pytest.raises(cloudflare.NotFoundError):
        meetings.get_meeting_by_id("00000000-0000-4000-8000-000000000000", **IDS)
    with pytest.raises(cloudflare.BadRequestError):
        meetings.create(session_keep_alive_time_in_secs=1, **IDS)
    with Cloudflare(api_token="wrong", base_url=base_url, max_retries=0) as intruder:
        with pytest.raises(cloudflare.AuthenticationError):
            intruder.realtime_kit.meetings.get(**IDS)
    emulator.faults.fail_next(1, status=429)
    with pytest.raises(cloudflare.RateLimitError) as caught:
        meetings.get(**IDS)
    assert caught.value.response.headers["retry-after"] == "1"
    emulator.faults.fail_next(1, status=502)
    with pytest.raises(cloudflare.InternalServerError):
        meetings.get(**IDS)
    emulator.faults.fail_next(1, drop=True)
    with pytest.raises(cloudflare.APIConnectionError):
        meetings.get(**IDS)
    assert meetings.get(**IDS).paging.total_count == 0


def test_sdk_retries_recover_from_injected_faults(base_url, emulator):
    emulator.faults.fail_next(1, status=503)
    emulator.faults.fail_next(1, drop=True)
    with Cloudflare(api_token=TOKEN, base_url=base_url, max_retries=2) as sdk:
        result = sdk.realtime_kit.meetings.get(**IDS)
    assert result.success is True
    assert [r.method for r in emulator.requests] == ["GET", "GET", "GET"]


@pytest.fixture
def limited_cli_base_url():
    """The emulator CLI on a free loopback port with Cloudflare's limit at 2 requests per 300 s."""
    process = subprocess.Popen(
        [sys.executable, "-m", "realtimekit_django.emulator", "--port", "0", "--rate-limit", "2/300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REALTIMEKIT_API_TOKEN": TOKEN},
    )
    try:
        yield process.stdout.readline().strip().rsplit(" ", 1)[1]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "rate limit: 2 requests per 300 s per API token" in err and TOKEN not in err


def test_the_emulated_rate_limit_is_the_sdks_rate_limit_error(limited_cli_base_url):
    with Cloudflare(api_token=TOKEN, base_url=limited_cli_base_url, max_retries=0) as sdk:
        meetings = sdk.realtime_kit.meetings
        first = meetings.with_raw_response.get(**IDS)
        assert first.headers["ratelimit"] == '"default";r=1;t=300'
        assert first.headers["ratelimit-policy"] == '"default";q=2;w=300'
        assert meetings.get(**IDS).success is True
        with pytest.raises(cloudflare.RateLimitError) as caught:
            meetings.get(**IDS)
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["retry-after"] == "300"
    assert response.headers["ratelimit"] == '"default";r=0;t=300'
    assert caught.value.body["error"]["code"] == 429
