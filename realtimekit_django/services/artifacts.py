"""Session artifacts (chat export, transcript, summary): announce them, copy them, ask for a summary.

A webhook (``meeting.chatSynced``, ``meeting.transcript``, ``meeting.summary``) announces an
artifact: :func:`announce_artifact` makes its row. :func:`copy_artifact` copies the file into the
site's storage (``RECORDING_STORAGE``, the recordings' machinery in :mod:`.copies`: the
``COPY_MAX_BYTES`` cap, the kind's content types, checksum and size on the row), at most once
(a claim token on the row), with bounded tries and backoff (``COPY_MAX_TRIES``). The download
URL is a bearer link that expires: it is never stored, logged or put in an error; each copy
asks the API for a fresh one, and a URL found expired while copying is asked for once more
before the try counts as a failure.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import signals
from ..client import RealtimeKitClient, get_client
from ..exceptions import (
    CopyClaimLost,
    CopyError,
    DownloadRefused,
    DownloadTooLarge,
    DownloadUnavailable,
    RealtimeKitError,
    ValidationError,
)
from ..models import ArtifactKind, ArtifactState, Session, SessionArtifact
from . import copies
from .answers import data_of
from .recordings import recording_storage

logger = logging.getLogger("realtimekit_django.services")

#: Seconds a claim lives without renewal (a copy renews it every quarter of this).
CLAIM_LIFETIME = 120.0

#: The media types kept for each kind (anything else is refused and given up).
CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    ArtifactKind.CHAT: ("text/csv", "text/plain", "application/json", "application/csv"),
    ArtifactKind.TRANSCRIPT: (
        "text/csv",
        "text/plain",
        "text/vtt",
        "application/x-subrip",
        "application/json",
        "application/csv",
    ),
    ArtifactKind.SUMMARY: ("text/plain", "text/markdown", "application/json"),
}

#: The API call giving a fresh URL, and the answer's field names (they differ by endpoint).
_SOURCES: dict[str, tuple[str, str, str]] = {
    ArtifactKind.CHAT: ("get_session_chat", "chat_download_url", "chat_download_url_expiry"),
    ArtifactKind.TRANSCRIPT: (
        "get_session_transcripts",
        "transcript_download_url",
        "transcript_download_url_expiry",
    ),
    ArtifactKind.SUMMARY: ("get_session_summary", "summaryDownloadUrl", "summaryDownloadUrlExpiry"),
}

_EXTENSIONS = {ArtifactKind.CHAT: "csv", ArtifactKind.TRANSCRIPT: "csv", ArtifactKind.SUMMARY: "txt"}

#: The webhook events announcing each kind.
EVENT_KINDS = {
    "meeting.chatSynced": ArtifactKind.CHAT,
    "meeting.transcript": ArtifactKind.TRANSCRIPT,
    "meeting.summary": ArtifactKind.SUMMARY,
}


def _check_kind(kind: Any) -> str:
    if kind not in ArtifactKind.values:
        raise ValidationError([("kind", f"must be one of {', '.join(ArtifactKind.values)}")])
    return str(kind)


def announce_artifact(session: Session, kind: str) -> SessionArtifact:
    """The session's artifact of this kind, made ``announced`` when new. A new announcement of
    one given up or failed makes it due again (the API has a file again); a stored one stays."""
    kind = _check_kind(kind)
    artifact, created = SessionArtifact.objects.get_or_create(session=session, kind=kind)
    if not created and artifact.state in (ArtifactState.FAILED, ArtifactState.GIVEN_UP):
        SessionArtifact.objects.filter(pk=artifact.pk, state=artifact.state).update(
            state=ArtifactState.ANNOUNCED, tries=0, next_attempt_at=None, updated_at=timezone.now()
        )
        artifact.refresh_from_db()
    return artifact


def artifacts_to_copy():
    """Artifacts waiting for a copy whose next try is due, oldest first."""
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    stale = Q(state=ArtifactState.COPYING, claimed_at__lt=now - timedelta(seconds=CLAIM_LIFETIME))
    waiting = Q(state__in=(ArtifactState.ANNOUNCED, ArtifactState.FAILED)) & due
    return SessionArtifact.objects.filter(waiting | stale).order_by("announced_at", "pk")


def fresh_download_url(artifact: SessionArtifact, *, client: RealtimeKitClient | None = None) -> str:
    """A download URL for the artifact, asked for now (never stored). Raises
    ``DownloadUnavailable`` when the API has none or it has already expired."""
    method, url_key, expiry_key = _SOURCES[artifact.kind]
    api = client or get_client()
    data = data_of(getattr(api.sessions, method)(str(artifact.session_id)), method)
    url = data.get(url_key)
    if not isinstance(url, str) or not url:
        what = artifact.get_kind_display().lower()
        raise DownloadUnavailable(f"the API has no {what} file for this session yet")
    raw = data.get(expiry_key)
    expiry = parse_datetime(raw) if isinstance(raw, str) else None
    if expiry is not None and expiry <= timezone.now():
        raise DownloadUnavailable("the artifact's download URL has already expired; try again later")
    return url


def stored_name_for(artifact: SessionArtifact) -> str:
    safe = copies.safe_file_name(str(artifact.session_id), fallback=f"session-{artifact.pk}")
    leaf = f"{artifact.kind}.{_EXTENSIONS[artifact.kind]}"
    return copies.check_storage_name(f"realtimekit/artifacts/{safe}/{leaf}")


def _claim(artifact: SessionArtifact, token: str) -> bool:
    now = timezone.now()
    stale = now - timedelta(seconds=CLAIM_LIFETIME)
    free = Q(state__in=(ArtifactState.ANNOUNCED, ArtifactState.FAILED)) | Q(
        state=ArtifactState.COPYING, claimed_at__lt=stale
    )
    return bool(
        SessionArtifact.objects.filter(free, pk=artifact.pk).update(
            state=ArtifactState.COPYING, claim_token=token, claimed_at=now, updated_at=now
        )
    )


def _mine(artifact: SessionArtifact, token: str):
    return SessionArtifact.objects.filter(pk=artifact.pk, claim_token=token, state=ArtifactState.COPYING)


def copy_artifact(
    artifact: SessionArtifact, *, client: RealtimeKitClient | None = None, storage_alias: str | None = None
) -> SessionArtifact:
    """Copy the artifact's file into the site's storage; the row (in place) gets its stored name,
    size, SHA-256 and content type and the state ``stored``. Returns it unchanged when it is
    already stored, given up, or another worker holds the copy.

    A failure counts a try and leaves nothing in storage: the next waits (backoff) in state
    ``failed``; after ``COPY_MAX_TRIES``, or at once for a file that can never be kept (over the
    cap, a refused host or content type), the state is ``given up``. The reason is on the row
    (never the URL). Raises the failure (a ``DownloadError``).
    """
    if artifact.state in (ArtifactState.STORED, ArtifactState.GIVEN_UP):
        return artifact
    storage = recording_storage(storage_alias)
    token = secrets.token_hex(16)
    if not _claim(artifact, token):
        artifact.refresh_from_db()
        return artifact

    def renew() -> None:
        if not _mine(artifact, token).update(claimed_at=timezone.now()):
            raise CopyClaimLost("another worker holds this artifact's copy now")

    api = client or get_client()

    def attempt(url: str):
        return copies.copy_into_storage(
            url=url,
            storage=storage,
            name=stored_name_for(artifact),
            max_bytes=copies.copy_max_bytes(),
            content_types=CONTENT_TYPES[artifact.kind],
            renew_claim=renew,
            replace=True,
            renew_every=CLAIM_LIFETIME / 4,
        )

    try:
        url = fresh_download_url(artifact, client=api)
        try:
            kept = attempt(url)
        except DownloadUnavailable:
            # The link expired between the API's answer and the download: one fresh one.
            kept = attempt(fresh_download_url(artifact, client=api))
    except CopyClaimLost:
        artifact.refresh_from_db()
        return artifact
    except Exception as exc:
        message = (
            exc.message
            if isinstance(exc, RealtimeKitError)
            else f"the storage refused the write ({type(exc).__name__})"
        )
        _count_failure(artifact, token, message, final=isinstance(exc, DownloadRefused | DownloadTooLarge))
        artifact.refresh_from_db()
        logger.warning("artifact %s (%s) was not copied: %s", artifact.pk, artifact.kind, message)
        if isinstance(exc, RealtimeKitError) and type(exc) is not CopyError:
            raise
        raise CopyError(message) from None
    now = timezone.now()
    done = _mine(artifact, token).update(
        state=ArtifactState.STORED,
        stored_name=kept.name,
        stored_size=kept.size,
        stored_sha256=kept.sha256,
        content_type=kept.content_type[:100],
        stored_at=now,
        failure_reason="",
        next_attempt_at=None,
        claim_token="",
        updated_at=now,
    )
    artifact.refresh_from_db()
    if done:
        signals.artifact_stored.send(sender=SessionArtifact, artifact=artifact)
    else:
        logger.warning("artifact %s: another worker took the copy over; its outcome counts", artifact.pk)
    return artifact


def _count_failure(artifact: SessionArtifact, token: str, message: str, *, final: bool) -> None:
    now = timezone.now()
    tries = artifact.tries + 1
    given_up = final or copies.tries_exhausted(tries)
    _mine(artifact, token).update(
        state=ArtifactState.GIVEN_UP if given_up else ArtifactState.FAILED,
        tries=tries,
        failure_reason=message[:500],
        next_attempt_at=None if given_up else copies.next_attempt_at(tries, now),
        claim_token="",
        updated_at=now,
    )


def copy_due_artifacts() -> dict[str, Any]:
    """Copy every artifact whose copy is due (the work of ``realtimekit.copy_artifacts``)."""
    from ..conf import get_settings

    if not get_settings().recording_storage:
        return {"copied": 0, "failed": 0, "skipped": "RECORDING_STORAGE is not set"}
    copied = failed = 0
    for artifact in artifacts_to_copy().iterator(chunk_size=100):
        try:
            copy_artifact(artifact)
        except RealtimeKitError:
            failed += 1
        else:
            copied += artifact.state == ArtifactState.STORED
    return {"copied": copied, "failed": failed, "skipped": None}


def copy_artifact_by_id(pk: int) -> str:
    """Copy one artifact by its primary key (for the ``realtimekit.copy_artifact`` task)."""
    artifact = SessionArtifact.objects.filter(pk=pk).first()
    if artifact is None:
        return "missing"
    try:
        copy_artifact(artifact)
    except RealtimeKitError:
        pass
    return artifact.state


def generate_summary(session: Session, *, client: RealtimeKitClient | None = None) -> SessionArtifact:
    """Ask the API to summarise the session's transcript; the summary artifact is announced
    (its ``meeting.summary`` webhook, or the next copy run, brings the file)."""
    api = client or get_client()
    api.sessions.generate_summary_of_transcripts(str(session.pk))
    return announce_artifact(session, ArtifactKind.SUMMARY)
