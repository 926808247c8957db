"""Recordings: status from calls, walks and pushes; the copy into the site's storage (streamed,
once, complete or not at all); and the live controls."""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from realtimekit_django import services, tasks
from realtimekit_django.emulator import Emulator, ManualClock, serve
from realtimekit_django.emulator.recordings import recording_chunks
from realtimekit_django.exceptions import (
    BadRequest,
    NotFound,
    RecordingCopyError,
    RecordingUnavailable,
    TransportError,
    ValidationError,
)
from realtimekit_django.models import Recording, RecordingStatus
from realtimekit_django.sync import reconcile

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "test-api-token-s3cr3t-value"
MB = 1024 * 1024


class RefusingStorage(FileSystemStorage):
    """A storage whose disk fills up half way through a write."""

    def _save(self, name, content):
        def half_then_refuse():
            for index, chunk in enumerate(content.chunks()):
                if index == 2:
                    raise OSError(28, "No space left on device")
                yield chunk

        class Short:
            def chunks(self):
                return half_then_refuse()

        return super()._save(name, Short())


@pytest.fixture
def live(tmp_path, settings):
    """The emulator on a loopback port, the app pointed at it, and a storage for recordings."""
    emulator = Emulator(api_token=TOKEN, clock=ManualClock())
    server, thread = serve(emulator, "127.0.0.1", 0)
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "kept")},
        },
        "refusing": {
            "BACKEND": f"{__name__}.RefusingStorage",
            "OPTIONS": {"location": str(tmp_path / "refusing")},
        },
    }
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT,
        "BASE_URL": server.base_url,
        "RECORDING_STORAGE": "recordings",
    }
    yield emulator
    server.shutdown()
    server.server_close()
    thread.join(5)


def uploaded(emulator: Emulator, size: int) -> Recording:
    """A meeting with someone in it, recorded and stopped: an UPLOADED recording of ``size`` bytes."""
    meeting = services.create_meeting(title="Recorded")
    person = emulator.add_participant(
        str(meeting.pk), custom_participant_id="u-1", preset_name="group_call_host"
    )
    emulator.join_session(str(meeting.pk), person["id"])
    recording = services.start_recording(meeting)
    emulator.set_recording_size(str(recording.pk), size)
    services.control_recording(recording, "stop")
    return services.refresh_recording(recording)


def digest_of(path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MB), b""):
            sha.update(block)
    return sha.hexdigest()


def expected_digest(recording_id: str, size: int) -> str:
    sha = hashlib.sha256()
    for chunk in recording_chunks(recording_id, size):
        sha.update(chunk)
    return sha.hexdigest()


def test_a_recording_moves_through_its_statuses_and_never_back(live):
    meeting = services.create_meeting(title="Weekly")
    with pytest.raises(BadRequest, match="no live session"):
        services.start_recording(meeting)
    assert not Recording.objects.exists()
    person = live.add_participant(str(meeting.pk), custom_participant_id="u-1", preset_name="group_call_host")
    live.join_session(str(meeting.pk), person["id"])

    recording = services.start_recording(meeting)
    assert recording.status == RecordingStatus.INVOKED and recording.meeting_id == meeting.pk
    services.refresh_recording(recording)
    assert recording.status == RecordingStatus.RECORDING and recording.started_at is not None
    services.control_recording(recording, "pause")
    assert Recording.objects.get().status == RecordingStatus.PAUSED
    services.control_recording(recording, "stop")
    assert recording.status == RecordingStatus.UPLOADING
    with pytest.raises(ValidationError, match="already stopped"):
        services.control_recording(recording, "stop")

    report = reconcile.reconcile_recordings()
    assert report.completed and report.updated == 1
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.UPLOADED and recording.file_size == live.recording_size
    assert recording.download_url_expiry is not None
    assert "download_url" not in recording.remote_data and "signature" not in str(recording.remote_data)

    # A late push of an earlier status does not move the row back.
    assert (
        services.record_status({"id": str(recording.pk), "status": "RECORDING", "meetingId": str(meeting.pk)})
        is None
    )
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.UPLOADED


def test_a_webhook_payload_is_stored_like_an_answer(live):
    meeting = services.create_meeting(title="Pushed")
    recording_id = "0f0e0d0c-0b0a-4900-8800-070605040302"
    pushed = services.record_status(
        {
            "id": recording_id,
            "recordingId": recording_id,
            "status": "UPLOADED",
            "downloadUrl": "https://bucket.example/file?X-Amz-Signature=secret",
            "downloadUrlExpiry": "2030-01-01T00:00:00.000Z",
            "startedTime": "2029-12-31T23:00:00.000Z",
            "stoppedTime": "2029-12-31T23:30:00.000Z",
            "fileSize": "123456",
            "outputFileName": "pushed.mp4",
            "meetingId": str(meeting.pk),
            "recordingDuration": 1800,
        }
    )
    assert pushed.meeting_id == meeting.pk and pushed.file_size == 123456 and pushed.duration_seconds == 1800
    assert "secret" not in str(pushed.remote_data)


def test_copying_200_mb_streams_with_constant_memory(live, tmp_path):
    size = 200 * MB
    recording = uploaded(live, size)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        services.copy_recording(recording)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (peak - before) < 30 * MB, f"memory grew by {(peak - before) / MB:.1f} MB"
    assert recording.stored_size == size and recording.stored_name.endswith(".mp4")
    path = tmp_path / "kept" / recording.stored_name
    assert path.stat().st_size == size
    assert digest_of(path) == expected_digest(str(recording.pk), size)


def test_an_interrupted_copy_finishes_on_the_next_run_with_one_complete_file(live, tmp_path):
    size = 8 * MB
    recording = uploaded(live, size)
    live.break_next_download_after(3 * MB)
    with pytest.raises(TransportError, match="broke off"):
        services.copy_recording(recording)
    recording.refresh_from_db()
    assert recording.stored_name == "" and recording.copy_error and recording.copy_claimed_at is None
    assert "signature" not in recording.copy_error
    assert recording.copy_tries == 1 and recording.copy_next_attempt_at > timezone.now()
    assert tasks.copy_recordings.apply().get()["copied"] == 0  # backing off: not yet
    Recording.objects.filter(pk=recording.pk).update(copy_next_attempt_at=timezone.now())

    outcome = tasks.copy_recordings.apply().get()
    assert outcome == {"copied": 1, "failed": 0, "skipped": None}
    recording.refresh_from_db()
    files = [p for p in (tmp_path / "kept").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [recording.stored_name.rsplit("/", 1)[1]]
    assert files[0].stat().st_size == size == recording.stored_size
    assert digest_of(files[0]) == expected_digest(str(recording.pk), size)

    downloads = len(live.downloads)
    assert tasks.copy_recordings.apply().get() == {"copied": 0, "failed": 0, "skipped": None}
    services.copy_recording(recording)  # never twice
    assert len(live.downloads) == downloads


def test_a_file_left_by_a_killed_worker_is_replaced_not_duplicated(live, tmp_path):
    recording = uploaded(live, 2 * MB)
    partial = tmp_path / "kept" / services.recordings.stored_name_for(recording)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 1000)
    services.copy_recording(recording)
    files = [p for p in (tmp_path / "kept").rglob("*") if p.is_file()]
    assert files == [partial] and partial.stat().st_size == 2 * MB


def test_a_storage_that_refuses_the_write_keeps_nothing(live, tmp_path):
    recording = uploaded(live, 4 * MB)
    with pytest.raises(RecordingCopyError, match="storage refused the write"):
        services.copy_recording(recording, storage_alias="refusing")
    recording.refresh_from_db()
    assert recording.stored_name == "" and recording.stored_size is None
    assert "storage refused" in recording.copy_error
    assert not [p for p in (tmp_path / "refusing").rglob("*") if p.is_file()]


def test_an_expired_download_url_is_a_clear_error(live):
    recording = uploaded(live, MB)
    url = services.fresh_download_url(recording)
    live.clock.advance(live.download_url_lifetime + 1)
    api = services.recordings.get_client()
    with pytest.raises(RecordingUnavailable, match="expired") as caught:
        api.recordings.download(url)
    assert url not in str(caught.value) and "signature" not in repr(caught.value)


def test_only_an_uploaded_recording_is_copied(live):
    meeting = services.create_meeting(title="Still going")
    person = live.add_participant(str(meeting.pk), custom_participant_id="u-1", preset_name="group_call_host")
    live.join_session(str(meeting.pk), person["id"])
    recording = services.start_recording(meeting)
    with pytest.raises(ValidationError, match="only an UPLOADED recording"):
        services.copy_recording(recording)


def _interleaved(monkeypatch, during):
    """Renew the claim at every chunk, and run ``during()`` once, right after the first renewal:
    a second worker arriving while the first is streaming, at a chosen point, without threads."""
    from realtimekit_django import store
    from realtimekit_django.services import copies

    real_copy, real_renew = copies.copy_into_storage, store.renew_recording_copy
    seen = []

    def renew(*args, **kwargs):
        held = real_renew(*args, **kwargs)
        if not seen:
            seen.append(during())
        return held

    monkeypatch.setattr(store, "renew_recording_copy", renew)
    monkeypatch.setattr(copies, "copy_into_storage", lambda **kw: real_copy(**{**kw, "renew_every": 0.0}))
    return seen


def test_two_workers_copy_a_recording_once(live, monkeypatch, tmp_path):
    recording = uploaded(live, 4 * MB)

    def second_worker():
        return services.copy_recording(Recording.objects.get(pk=recording.pk))

    seen = _interleaved(monkeypatch, second_worker)
    first = services.copy_recording(Recording.objects.get(pk=recording.pk))
    second = seen[0]
    assert second.stored_name == "" and second.copy_claim != ""  # it found the copy taken, left it
    assert first.stored_name and first.stored_size == 4 * MB and first.copy_claim == ""
    assert len(live.downloads) == 1
    assert (tmp_path / "kept" / first.stored_name).stat().st_size == first.stored_size


def test_a_copy_slower_than_the_claim_lifetime_is_not_retaken(live, monkeypatch, tmp_path):
    from datetime import timedelta

    from realtimekit_django import store

    recording = uploaded(live, 2 * MB)

    def slow_then_second_worker():
        # The first worker has streamed for longer than a claim lives...
        Recording.objects.filter(pk=recording.pk).update(copy_claimed_at=timezone.now() - timedelta(hours=1))
        # ...but renews before the second arrives (the renewal runs after this hook, so renew here).
        row = Recording.objects.get(pk=recording.pk)
        Recording.objects.filter(pk=row.pk, copy_claim=row.copy_claim).update(copy_claimed_at=timezone.now())
        taken = services.copy_recording(Recording.objects.get(pk=recording.pk))
        finished = store.finish_recording_copy(row.pk, token="not-the-holder", stored_name="x", stored_size=1)
        return taken, finished

    seen = _interleaved(monkeypatch, slow_then_second_worker)
    done = services.copy_recording(Recording.objects.get(pk=recording.pk))
    taken, finished = seen[0]
    assert taken.stored_name == "" and finished is False
    assert len(live.downloads) == 1
    assert done.stored_size == (tmp_path / "kept" / done.stored_name).stat().st_size == 2 * MB
    assert len(done.stored_sha256) == 64


def test_a_recording_that_cannot_be_copied_is_given_up_after_bounded_tries(live, settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "COPY_MAX_TRIES": 2}
    recording = uploaded(live, MB)
    for _ in range(2):
        live.break_next_download_after(1000)
        with pytest.raises(TransportError):
            services.copy_recording(Recording.objects.get(pk=recording.pk))
        Recording.objects.filter(pk=recording.pk).update(copy_next_attempt_at=None)
    row = Recording.objects.get(pk=recording.pk)
    assert row.copy_tries == 2 and row.copy_failed_at is not None and row.copy_state == "given up"
    downloads = len(live.downloads)
    assert tasks.copy_recordings.apply().get()["copied"] == 0 and len(live.downloads) == downloads
    from realtimekit_django import store

    assert store.retry_recording_copy([row.pk]) == 1
    assert services.copy_recording(Recording.objects.get(pk=recording.pk)).stored_size == MB


def test_a_dot_dot_file_name_is_stored_under_a_safe_name(live, tmp_path):
    recording = uploaded(live, MB)
    Recording.objects.filter(pk=recording.pk).update(output_file_name="..")
    done = services.copy_recording(Recording.objects.get(pk=recording.pk))
    assert done.stored_name.endswith(f"/{recording.pk}.mp4")
    assert (tmp_path / "kept" / done.stored_name).stat().st_size == MB == done.stored_size


def test_an_oversize_recording_leaves_nothing_and_is_given_up(live, settings, tmp_path):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "COPY_MAX_BYTES": MB}
    recording = uploaded(live, 2 * MB)
    from realtimekit_django.exceptions import DownloadTooLarge

    with pytest.raises(DownloadTooLarge):
        services.copy_recording(Recording.objects.get(pk=recording.pk))
    row = Recording.objects.get(pk=recording.pk)
    assert row.copy_state == "given up" and "over the cap" in row.copy_error
    assert not [p for p in (tmp_path / "kept").rglob("*") if p.is_file()]


def test_copy_task_is_off_without_recording_storage(live, settings):
    uploaded(live, MB)
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RECORDING_STORAGE": None}
    assert tasks.copy_recordings.apply().get()["skipped"] == "RECORDING_STORAGE is not set"
    assert live.downloads == []


def test_kick_participants_and_end_the_meeting_for_everyone(live):
    meeting = services.create_meeting(title="Live")
    people = [
        services.add_participant(
            meeting, custom_participant_id=f"u-{n}", preset_name="group_call_participant"
        )[0]
        for n in range(3)
    ]
    with pytest.raises(NotFound):
        services.end_meeting_for_everyone(meeting)
    for person in people:
        live.join_session(str(meeting.pk), str(person.pk))
    assert services.kick_participants(meeting, [people[0]]) == [str(people[0].pk)]
    assert live.live_participants(str(meeting.pk)) == sorted([str(people[1].pk), str(people[2].pk)])
    with pytest.raises(ValidationError):
        services.kick_participants(meeting, [])
    other = services.create_meeting(title="Other")
    with pytest.raises(ValidationError, match="not participants of this meeting"):
        services.kick_participants(other, [people[1]])
    assert services.end_meeting_for_everyone(meeting) == 2
    assert live.live_participants(str(meeting.pk)) == []


def test_recording_admin_stops_only_with_the_control_permission(live, client, django_user_model):
    from django.contrib.auth.models import Permission

    recording = uploaded(live, MB)
    meeting = recording.meeting
    person = live.add_participant(str(meeting.pk), custom_participant_id="u-2", preset_name="group_call_host")
    live.join_session(str(meeting.pk), person["id"])
    running = services.start_recording(meeting)
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_recording"))
    client.force_login(staff)
    url = "/admin/realtimekit/recording/"
    page = client.get(url)
    assert page.status_code == 200 and "stop_recordings" not in page.content.decode()
    assert "signature" not in page.content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="control_recording"))
    response = client.post(
        url, {"action": "stop_recordings", "_selected_action": [str(running.pk), str(recording.pk)]}
    )
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.status == RecordingStatus.UPLOADING
    shown = [str(m) for m in client.get(url).context["messages"]]
    assert any("already stopped" in m for m in shown)


def test_admin_shows_the_copy_state_and_copies_given_up_recordings_again(live, client, django_user_model):
    from django.contrib.auth.models import Permission

    recording = uploaded(live, MB)
    Recording.objects.filter(pk=recording.pk).update(
        copy_failed_at=timezone.now(), copy_tries=8, copy_error="the file is over the cap"
    )
    staff = django_user_model.objects.create_user("ops2", password="pw", is_staff=True)
    for codename in ("view_recording", "control_recording"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(staff)
    url = "/admin/realtimekit/recording/"
    page = client.get(url).content.decode()
    assert "given up: the file is over the cap" in page and "copy_again" in page
    response = client.post(url, {"action": "copy_again", "_selected_action": [str(recording.pk)]})
    assert response.status_code == 302
    row = Recording.objects.get(pk=recording.pk)
    assert row.copy_failed_at is None and row.copy_tries == 0 and row.copy_state == "pending"
