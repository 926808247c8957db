"""The official ``cloudflare`` SDK, pointed at the emulator over loopback, completes the preset,
recording and active-session operations, errors included."""

from __future__ import annotations

import cloudflare
import httpx
import pytest
from cloudflare import Cloudflare

from realtimekit_django.emulator import Emulator, ManualClock, serve
from realtimekit_django.emulator.recordings import recording_chunks
from tests.emulator_cli import running_emulator_cli

TOKEN = "sdk-live-token"
IDS = {"account_id": "sdk-account", "app_id": "sdk-app"}


@pytest.fixture
def emulator():
    return Emulator(api_token=TOKEN, clock=ManualClock())


@pytest.fixture
def sdk(emulator):
    server, thread = serve(emulator, "127.0.0.1", 0)
    with Cloudflare(api_token=TOKEN, base_url=server.base_url, max_retries=0) as client:
        yield client.realtime_kit
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_presets_seeded_listed_created_changed_and_deleted(sdk):
    listing = sdk.presets.get(per_page=10, app_id=IDS["app_id"], account_id=IDS["account_id"])
    assert sorted(p.name for p in listing.data) == ["group_call_host", "group_call_participant"]
    assert listing.paging.total_count == 2
    host = next(p for p in listing.data if p.name == "group_call_host")
    full = sdk.presets.get_preset_by_id(host.id, **IDS).data
    assert full.permissions.kick_participant is True and full.config.view_type == "GROUP_CALL"

    parts = {
        "config": full.config.to_dict(),
        "permissions": full.permissions.to_dict(),
        "ui": full.ui.to_dict(),
    }
    created = sdk.presets.create(name="webinar_viewer", **parts, **IDS).data
    assert created.name == "webinar_viewer" and created.id
    with pytest.raises(cloudflare.ConflictError):
        sdk.presets.create(name="webinar_viewer", **parts, **IDS)
    renamed = sdk.presets.update(created.id, name="webinar_attendee", **IDS).data
    assert renamed.name == "webinar_attendee" and renamed.updated_at > created.updated_at
    replaced = sdk.presets.replace_preset_by_id(created.id, name="webinar_viewer", **parts, **IDS).data
    assert replaced.name == "webinar_viewer"
    deleted = sdk.presets.delete(created.id, **IDS).data
    assert deleted.id == created.id
    with pytest.raises(cloudflare.NotFoundError):
        sdk.presets.get_preset_by_id(created.id, **IDS)
    with pytest.raises(cloudflare.BadRequestError):
        sdk.presets.create(name="", **parts, **IDS)


def test_a_recording_through_its_statuses_and_its_download(sdk, emulator):
    meeting = sdk.meetings.create(title="Recorded", **IDS).data
    person = sdk.meetings.add_participant(
        meeting.id, custom_participant_id="u-1", preset_name="group_call_host", **IDS
    ).data
    with pytest.raises(cloudflare.BadRequestError):  # nobody is in the meeting yet
        sdk.recordings.start_recordings(meeting_id=meeting.id, **IDS)
    emulator.join_session(meeting.id, person.id)

    started = sdk.recordings.start_recordings(meeting_id=meeting.id, file_name_prefix="weekly", **IDS).data
    assert started.status == "INVOKED" and started.output_file_name.startswith("weekly")
    with pytest.raises(cloudflare.ConflictError):
        sdk.recordings.start_recordings(meeting_id=meeting.id, **IDS)
    active = sdk.recordings.get_active_recordings(meeting.id, **IDS).data
    assert active.id == started.id and active.status == "RECORDING"
    paused = sdk.recordings.pause_resume_stop_recording(started.id, action="pause", **IDS).data
    assert paused.status == "PAUSED"
    resumed = sdk.recordings.pause_resume_stop_recording(started.id, action="resume", **IDS).data
    assert resumed.status == "RECORDING"
    emulator.set_recording_size(started.id, 300_000)
    emulator.clock.advance(90)
    stopped = sdk.recordings.pause_resume_stop_recording(started.id, action="stop", **IDS).data
    assert stopped.status == "UPLOADING" and stopped.download_url is None
    with pytest.raises(cloudflare.BadRequestError):
        sdk.recordings.pause_resume_stop_recording(started.id, action="stop", **IDS)
    with pytest.raises(cloudflare.NotFoundError):
        sdk.recordings.get_active_recordings(meeting.id, **IDS)

    done = sdk.recordings.get_one_recording(started.id, **IDS).data
    assert done.status == "UPLOADED" and done.file_size == 300_000 and done.recording_duration == 90
    assert done.download_url_expiry is not None and done.download_url
    listed = sdk.recordings.get_recordings(meeting_id=meeting.id, status=["UPLOADED"], **IDS)
    assert [r.id for r in listed.data] == [started.id] and listed.data[0].meeting.id == meeting.id

    body = httpx.get(done.download_url).content  # a signed link: no API token
    assert len(body) == 300_000 and body == b"".join(recording_chunks(started.id, 300_000))
    tail = httpx.get(done.download_url, headers={"Range": "bytes=299990-"})
    assert tail.status_code == 206 and tail.content == body[-10:]
    emulator.clock.advance(emulator.download_url_lifetime + 1)
    assert httpx.get(done.download_url).status_code == 403
    fresh = sdk.recordings.get_one_recording(started.id, **IDS).data
    assert fresh.download_url != done.download_url and httpx.get(fresh.download_url).status_code == 200


def test_live_session_kick_one_then_everyone(sdk, emulator):
    meeting = sdk.meetings.create(title="Live", **IDS).data
    people = [
        sdk.meetings.add_participant(
            meeting.id, custom_participant_id=f"u-{n}", preset_name="group_call_participant", **IDS
        ).data
        for n in range(3)
    ]
    with pytest.raises(cloudflare.NotFoundError):
        sdk.active_session.get_active_session(meeting.id, **IDS)
    for person in people:
        emulator.join_session(meeting.id, person.id)
    session = sdk.active_session.get_active_session(meeting.id, **IDS).data
    assert session.status == "LIVE" and session.live_participants == 3 and session.associated_id == meeting.id

    kicked = sdk.active_session.kick_participants(meeting.id, participant_ids=[people[0].id], **IDS).data
    assert [p.id for p in kicked.participants] == [people[0].id]
    by_custom = sdk.active_session.kick_participants(meeting.id, custom_participant_ids=["u-1"], **IDS).data
    assert [p.id for p in by_custom.participants] == [people[1].id]
    assert emulator.live_participants(meeting.id) == [people[2].id]

    recording = sdk.recordings.start_recordings(meeting_id=meeting.id, **IDS).data
    everyone = sdk.active_session.kick_all_participants(meeting.id, **IDS).data
    assert everyone.kicked_participants_count == 1
    with pytest.raises(cloudflare.NotFoundError):
        sdk.active_session.get_active_session(meeting.id, **IDS)
    assert sdk.recordings.get_one_recording(recording.id, **IDS).data.status == "UPLOADED"
    with pytest.raises(cloudflare.NotFoundError):
        sdk.active_session.kick_all_participants(meeting.id, **IDS)


@pytest.fixture
def cli_base_url():
    """The emulator CLI in a process of its own, as a developer runs it."""
    with running_emulator_cli(TOKEN) as base_url:
        yield base_url


def test_presets_recordings_and_the_live_session_complete_against_the_emulator_cli(cli_base_url):
    """The SDK's presets, recordings and active-session calls against the CLI; people join
    through the CLI's session simulator (its HTTP routes), as a developer would drive it."""
    app = f"{cli_base_url}/accounts/{IDS['account_id']}/realtime/kit/{IDS['app_id']}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with Cloudflare(api_token=TOKEN, base_url=cli_base_url, max_retries=0) as client:
        sdk = client.realtime_kit
        names = sorted(p.name for p in sdk.presets.get(per_page=10, **IDS).data)
        assert names == ["group_call_host", "group_call_participant"]
        meeting = sdk.meetings.create(title="Over the CLI", **IDS).data
        for n in range(2):
            sdk.meetings.add_participant(
                meeting.id, custom_participant_id=f"u-{n}", preset_name="group_call_host", **IDS
            )
        started = httpx.post(f"{app}/emulator/meetings/{meeting.id}/sessions", json={}, headers=auth)
        assert started.status_code == 201, started.text
        session_id = started.json()["data"]["session_id"]
        for n in range(2):
            joined = httpx.post(
                f"{app}/emulator/sessions/{session_id}/participants",
                json={"custom_participant_id": f"u-{n}"},
                headers=auth,
            )
            assert joined.status_code == 201, joined.text

        assert sdk.active_session.get_active_session(meeting.id, **IDS).data.live_participants == 2
        recording = sdk.recordings.start_recordings(meeting_id=meeting.id, **IDS).data
        assert sdk.recordings.get_active_recordings(meeting.id, **IDS).data.id == recording.id
        stopped = sdk.recordings.pause_resume_stop_recording(recording.id, action="stop", **IDS).data
        assert stopped.status == "UPLOADING"
        kicked = sdk.active_session.kick_participants(meeting.id, custom_participant_ids=["u-0"], **IDS).data
        assert [p.custom_participant_id for p in kicked.participants] == ["u-0"]
        assert sdk.active_session.kick_all_participants(meeting.id, **IDS).data.kicked_participants_count == 1
        assert sdk.recordings.get_one_recording(recording.id, **IDS).data.status == "UPLOADED"
