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

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.core.files.storage import storages
from django.db.models import Q
from django.utils import timezone

from .. import schema, store
from ..client import RealtimeKitClient, get_client
from ..conf import get_settings
from ..exceptions import (
    ConfigurationError,
    CopyClaimLost,
    CopyError,
    DownloadRefused,
    DownloadTooLarge,
    InvalidResponse,
    RealtimeKitError,
    RecordingCopyError,
    RecordingUnavailable,
    ValidationError,
)
from ..models import Meeting, Recording, RecordingStatus
from . import copies
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
    now = timezone.now()
    due = Q(copy_next_attempt_at__isnull=True) | Q(copy_next_attempt_at__lte=now)
    return Recording.objects.filter(
        due, app_id=get_settings().app_id, status=RecordingStatus.UPLOADED, stored_name="", copy_failed_at__isnull=True
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


def stored_name_for(recording: Recording) -> str:
    """Where a recording's copy goes: one name per recording, whatever the run (never ``.``
    or ``..``: an unusable file name becomes ``<id>.mp4``)."""
    safe = copies.safe_file_name(recording.output_file_name, fallback=f"{recording.pk}.mp4")
    return copies.check_storage_name(f"realtimekit/recordings/{recording.pk}/{safe}")


def recording_storage(alias: str | None = None):
    alias = alias or get_settings().recording_storage
    if not alias:
        raise ConfigurationError("RECORDING_STORAGE is not set: recordings are not copied")
    return storages[alias]


def copy_recording(
    recording: Recording, *, client: RealtimeKitClient | None = None, storage_alias: str | None = None
) -> Recording:
    """Copy an UPLOADED recording's file into the site's storage, at most once; the row (in
    place) gets ``stored_name``, ``stored_size`` (read back from the storage) and
    ``stored_sha256``. Returns the recording unchanged when it is already copied, given up,
    waiting for its next try, or another worker holds the copy.

    The claim is a token on the row, renewed while streaming; only its holder may finish, so a
    slow copy is never retaken and a second worker's outcome never overwrites the first's.
    A failure counts a try: the next waits (backoff), and after ``COPY_MAX_TRIES`` the copy
    is given up (``copy_failed_at``); a file that can never be copied (too large, a refused
    host) is given up at once. Raises the failure (``RecordingUnavailable``,
    ``DownloadError``, ``RecordingCopyError``); no file is left then.
    """
    if recording.stored_name:
        return recording
    if recording.status != RecordingStatus.UPLOADED:
        raise ValidationError(
            [("recording", f"only an UPLOADED recording can be copied, not {recording.status}")]
        )
    storage = recording_storage(storage_alias)
    token = secrets.token_hex(16)
    now = timezone.now()
    stale = now - timedelta(seconds=CLAIM_LIFETIME)
    if not store.claim_recording_copy(recording.pk, token=token, stale_before=stale, now=now):
        recording.refresh_from_db()
        return recording

    def renew() -> None:
        if not store.renew_recording_copy(recording.pk, token=token, now=timezone.now()):
            raise CopyClaimLost("another worker holds this recording's copy now")

    try:
        url = fresh_download_url(recording, client=client or get_client())
        kept = copies.copy_into_storage(
            url=url,
            storage=storage,
            name=stored_name_for(recording),
            max_bytes=copies.copy_max_bytes(),
            renew_claim=renew,
            replace=True,
            renew_every=CLAIM_LIFETIME / 4,
        )
        if recording.file_size is not None and kept.size != recording.file_size:
            storage.delete(kept.name)
            raise RecordingCopyError(f"the recording file came with {kept.size} of {recording.file_size} bytes")
    except CopyClaimLost:
        recording.refresh_from_db()
        return recording
    except Exception as exc:
        message = (
            exc.message
            if isinstance(exc, RealtimeKitError)
            else f"the storage refused the write ({type(exc).__name__})"
        )
        _count_failure(recording, token, message, final=isinstance(exc, DownloadRefused | DownloadTooLarge))
        recording.refresh_from_db()
        if isinstance(exc, RealtimeKitError) and not type(exc) is CopyError:
            raise
        raise RecordingCopyError(message) from None
    if not store.finish_recording_copy(
        recording.pk, token=token, stored_name=kept.name, stored_size=kept.size, stored_sha256=kept.sha256
    ):
        logger.warning("recording %s: another worker took the copy over; its outcome counts", recording.pk)
    recording.refresh_from_db()
    return recording


#: Seconds a claim lives without renewal (a copy renews it every quarter of this).
CLAIM_LIFETIME = 120.0


def _count_failure(recording: Recording, token: str, message: str, *, final: bool) -> None:
    now = timezone.now()
    tries = recording.copy_tries + 1
    given_up = final or copies.tries_exhausted(tries)
    store.finish_recording_copy(
        recording.pk,
        token=token,
        error=message,
        next_attempt_at=None if given_up else copies.next_attempt_at(tries, now),
        given_up_at=now if given_up else None,
    )


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
