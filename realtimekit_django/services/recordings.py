"""Recordings: start, pause, resume and stop them, mirror their status, and keep their files.

Status comes from three places, all through :func:`store.save_recording_page`, which never
moves a row back: the answers to this module's calls, the recordings walk, and
:func:`record_status`, which the ``recording.statusUpdate`` webhook handler calls.

RealtimeKit deletes a recording after 7 days. :func:`copy_recording` streams an UPLOADED
recording's file into the ``RECORDING_STORAGE`` storage in chunks (constant memory whatever
its size), at most once: a claim on the row keeps two workers apart, a file left by an
interrupted copy is replaced, and the stored name and size go on the row. The download URL is
a bearer link: it is fetched fresh for each use and never stored, logged or shown.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from django.core.files import File
from django.core.files.storage import storages
from django.utils import timezone

from .. import schema, store
from ..client import RealtimeKitClient, get_client
from ..client.recordings import Download
from ..conf import get_settings
from ..exceptions import (
    ConfigurationError,
    InvalidResponse,
    RealtimeKitError,
    RecordingCopyError,
    RecordingUnavailable,
    ValidationError,
)
from ..models import Meeting, Recording, RecordingStatus
from .answers import data_of

logger = logging.getLogger("realtimekit_django.services")

_STOPPED = (RecordingStatus.UPLOADING, RecordingStatus.UPLOADED, RecordingStatus.ERRORED)
#: The webhook's camelCase names for the API's fields.
_WEBHOOK_KEYS = {
    "recordingId": "id",
    "startedTime": "started_time",
    "stoppedTime": "stopped_time",
    "invokedTime": "invoked_time",
    "downloadUrlExpiry": "download_url_expiry",
    "fileSize": "file_size",
    "outputFileName": "output_file_name",
    "recordingDuration": "recording_duration",
    "sessionId": "session_id",
}


def upsert_recordings(payloads, *, app_id: str) -> store.UpsertResult:
    """Store a page of the recordings listing (for the recordings walk)."""
    return store.save_recording_page(payloads, app_id=app_id)


def recordings_to_copy():
    """This app's UPLOADED recordings not yet copied into the site's storage, oldest first."""
    return Recording.objects.filter(
        app_id=get_settings().app_id, status=RecordingStatus.UPLOADED, stored_name=""
    ).order_by("invoked_at", "id")


def _keep(payload: Mapping, *, meeting_id: Any = None) -> Recording | None:
    """Store one recording payload; the row, or None when the payload was behind it."""
    result = store.save_recording_page([payload], app_id=get_settings().app_id, meeting_id=meeting_id)
    if result.rejected:
        raise InvalidResponse(result.rejected[0])
    if result.stale:
        return None
    return Recording.objects.filter(pk__in=result.seen).first()


def _update_in_place(recording: Recording, stored: Recording | None) -> Recording:
    if stored is not None:
        for field in Recording._meta.concrete_fields:
            setattr(recording, field.attname, getattr(stored, field.attname))
    return recording


def start_recording(
    meeting: Meeting, *, client: RealtimeKitClient | None = None, **options: Any
) -> Recording:
    """Start recording the meeting's live session (options as ``start_recordings`` names them).

    The API refuses (``BadRequest``) a meeting nobody is in, and (``Conflict``) a meeting
    already being recorded; nothing is stored then.
    """
    api = client or get_client()
    data = data_of(api.recordings.start_recordings(meeting_id=str(meeting.pk), **options), "start recording")
    return _keep(data, meeting_id=meeting.pk)


def control_recording(
    recording: Recording, action: str, *, client: RealtimeKitClient | None = None
) -> Recording:
    """``pause``, ``resume`` or ``stop`` a recording, updated in place.

    A recording that has stopped is refused before any call (``ValidationError``).
    """
    schema.validate_recording_action(action)
    if recording.status in _STOPPED:
        raise ValidationError([("action", f"the recording has already stopped ({recording.status})")])
    api = client or get_client()
    data = data_of(api.recordings.pause_resume_stop_recording(str(recording.pk), action=action), action)
    return _update_in_place(recording, _keep(data, meeting_id=recording.meeting_id))


def refresh_recording(recording: Recording, *, client: RealtimeKitClient | None = None) -> Recording:
    """Read the recording again, updated in place."""
    api = client or get_client()
    data = data_of(api.recordings.get_one_recording(str(recording.pk)), "get recording")
    return _update_in_place(recording, _keep(data, meeting_id=recording.meeting_id))


def record_status(payload: Mapping) -> Recording | None:
    """Store a recording status pushed by RealtimeKit (the ``recording`` object of a
    ``recording.statusUpdate`` webhook, camelCase, or an API payload). Returns the row, or
    None when the push is older than what is stored. For the webhook handler."""
    if not isinstance(payload, Mapping):
        raise ValidationError([("recording", "must be an object")])
    normal = {_WEBHOOK_KEYS.get(key, key): value for key, value in payload.items()}
    meeting_id = normal.pop("meetingId", None)
    if isinstance(normal.get("file_size"), str) and normal["file_size"].isdigit():
        normal["file_size"] = int(normal["file_size"])
    local = (
        Meeting.objects.filter(pk=meeting_id).values_list("pk", flat=True).first()
        if _is_uuid(meeting_id)
        else None
    )
    return _keep(normal, meeting_id=local)


def _is_uuid(value: Any) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def fresh_download_url(recording: Recording, *, client: RealtimeKitClient | None = None) -> str:
    """A download URL for an UPLOADED recording, asked for now (never stored). Raises
    ``RecordingUnavailable`` when there is none or it has already expired."""
    api = client or get_client()
    data = data_of(api.recordings.get_one_recording(str(recording.pk)), "get recording")
    _update_in_place(recording, _keep(data, meeting_id=recording.meeting_id))
    url = data.get("download_url")
    if recording.status != RecordingStatus.UPLOADED or not isinstance(url, str) or not url:
        raise RecordingUnavailable(f"the recording has no file to download yet ({recording.status})")
    expiry = recording.download_url_expiry
    if expiry is not None and expiry <= timezone.now():
        raise RecordingUnavailable("the recording's download URL has already expired; try again later")
    return url


# -- keeping the files -------------------------------------------------------------------------


class _DownloadFile(File):
    """A download as the ``File`` a storage saves: read in chunks, never whole.

    It raises ``RecordingCopyError`` when the file comes short of its announced size, so a
    storage never keeps a truncated file as if it were whole.
    """

    def __init__(self, download: Download, name: str, expected: int | None) -> None:
        super().__init__(None, name)
        self._download = download
        self._chunks = self._counted()
        self._buffer = b""
        self.expected = expected
        self.written = 0
        if expected is not None:
            self.size = expected

    def _counted(self) -> Iterator[bytes]:
        for chunk in self._download.chunks():
            self.written += len(chunk)
            yield chunk
        if self.expected is not None and self.written != self.expected:
            raise RecordingCopyError(f"the recording file came with {self.written} of {self.expected} bytes")

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from self._chunks

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence in (0, 1) and self.written == 0:
            return 0
        raise io.UnsupportedOperation("a recording download can only be read forwards")

    def tell(self) -> int:
        return self.written - len(self._buffer)

    def close(self) -> None:
        self._download.close()


def stored_name_for(recording: Recording) -> str:
    """Where a recording's copy goes: one name per recording, whatever the run."""
    base = posixpath.basename(recording.output_file_name or "") or f"{recording.pk}.mp4"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base)[:200]
    return f"realtimekit/recordings/{recording.pk}/{safe}"


def recording_storage(alias: str | None = None):
    alias = alias or get_settings().recording_storage
    if not alias:
        raise ConfigurationError("RECORDING_STORAGE is not set: recordings are not copied")
    return storages[alias]


def copy_recording(
    recording: Recording, *, client: RealtimeKitClient | None = None, storage_alias: str | None = None
) -> Recording:
    """Copy an UPLOADED recording's file into the site's storage, at most once; the row (in
    place) gets ``stored_name`` and ``stored_size``. Returns the recording unchanged when it
    is already copied or another worker holds the copy.

    Raises ``ValidationError`` for a recording not UPLOADED, ``RecordingUnavailable`` for a
    file that cannot be fetched, and ``RecordingCopyError`` when the storage refuses the
    write or the file comes short; then no file is left and the next run starts again.
    """
    if recording.stored_name:
        return recording
    if recording.status != RecordingStatus.UPLOADED:
        raise ValidationError(
            [("recording", f"only an UPLOADED recording can be copied, not {recording.status}")]
        )
    storage = recording_storage(storage_alias)
    stale = timezone.now() - timedelta(seconds=get_settings().task_time_limit)
    if not store.claim_recording_copy(recording.pk, stale_before=stale):
        recording.refresh_from_db()
        return recording
    try:
        name, size = _copy(recording, storage, client or get_client())
    except Exception as exc:
        message = (
            exc.message
            if isinstance(exc, RealtimeKitError)
            else f"the storage refused the write ({type(exc).__name__})"
        )
        store.finish_recording_copy(recording.pk, error=message)
        recording.refresh_from_db()
        if isinstance(exc, RealtimeKitError):
            raise
        raise RecordingCopyError(message) from None
    store.finish_recording_copy(recording.pk, stored_name=name, stored_size=size)
    recording.refresh_from_db()
    return recording


def _copy(recording: Recording, storage, api: RealtimeKitClient) -> tuple[str, int]:
    url = fresh_download_url(recording, client=api)
    name = stored_name_for(recording)
    expected = recording.file_size
    if storage.exists(name):
        if expected is not None and storage.size(name) == expected:
            return name, expected  # stored by a run that died before it could say so
        storage.delete(name)  # left by an interrupted copy
    with api.recordings.download(url) as download:
        if expected is None:
            expected = download.length
        content = _DownloadFile(download, name, expected)
        try:
            saved = storage.save(name, content)
        except BaseException:
            _remove_quietly(storage, name)
            raise
    return saved, content.written


def _remove_quietly(storage, name: str) -> None:
    try:
        if storage.exists(name):
            storage.delete(name)
    except Exception:  # the copy's own error is the one worth raising
        logger.warning("a partial recording copy could not be removed from the storage")


def copy_uploaded_recordings() -> dict[str, Any]:
    """Copy every UPLOADED recording not yet kept into ``RECORDING_STORAGE`` (off when unset).

    The work of the ``realtimekit.copy_recordings`` task. Each copy is claimed on its row, so
    two runs never copy one recording twice; a copy that fails is left for the next run (its
    reason is on the row's ``copy_error``).
    """
    if not get_settings().recording_storage:
        return {"copied": 0, "failed": 0, "skipped": "RECORDING_STORAGE is not set"}
    copied = failed = 0
    for recording in recordings_to_copy().iterator(chunk_size=100):
        try:
            copy_recording(recording)
        except RealtimeKitError as exc:
            failed += 1
            logger.warning("recording %s was not copied: %s", recording.pk, exc.message)
        else:
            copied += bool(recording.stored_name)
    return {"copied": copied, "failed": failed, "skipped": None}
