"""The sessions walk: the API's own figures for sessions and who attended them.

Webhooks build :class:`Session` rows as things happen; a lost ``meeting.ended`` would leave a
session LIVE for ever, and webhooks carry no minutes consumed. This walk, run in the budget's
background lane (task ``realtimekit.sync_sessions``), reads the sessions listing of a recent
window and, for each session the API reports ENDED whose attendance is not final yet, its
participants; :mod:`realtimekit_django.services.sessions` merges both into the rows (API wins
for an ended session) and sends ``session_attendance_final`` once.

Then every session still LIVE here, not seen in the listing, whose last event is older than
its meeting's ``session_keep_alive_time_in_secs`` and that nobody is in is asked about (one
GET): closed when the API says it ended, marked ``unknown_to_api_since`` on a 404 (never
deleted).

For each session that becomes final, the artifacts its meeting asks for (chat export,
transcript, summary: ``persist_chat``, ``transcribe_on_end``, ``summarize_on_end``) are
announced, in the same transaction, for the copy task (``realtimekit.copy_artifacts``): a lost
``meeting.transcript`` webhook no longer loses the file, and the walk spends no request on it.

Cost per ended session, bounded: its share of the listing pages, one participants page per
``per_page`` attendees (once: a final session is not read again), and at most one details GET
when it went stale. A listing that lies (an item that does not parse, an identifier no column
takes) or whose participants listing lies is refused with a clear error and nothing of it
is stored, and the walk goes on with the next one (the run ends not completed, its error
naming the first refusal, ``refused`` counting them); each session is stored whole, in its
own transaction, so nothing is half-written. A repeated item is read
once; a listing the page walk finds incomplete (a page that repeats, a ``total_count`` the
pages never reach) ends the run as not completed with the walk's reason, and a session whose
participants listing is incomplete is left as it was (its attendance is not made final from
part of the list).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from ..client import BACKGROUND, RealtimeKitClient, get_client, lane
from ..exceptions import InvalidResponse, NotFound, RealtimeKitError
from ..models import ArtifactKind, Meeting, Session, SessionArtifact, SessionParticipant, SessionStatus
from ..services import artifacts
from ..services import sessions as store

logger = logging.getLogger("realtimekit_django.sessions")

#: How far back the listing is read (sessions started since then).
DEFAULT_WINDOW = timedelta(days=2)
#: The most stale LIVE sessions one run asks about (one GET each).
STALE_CHECKS_PER_RUN = 100


@dataclass
class SessionsReport:
    sessions_seen: int = 0
    duplicates: int = 0
    finalized: int = 0
    stale_checked: int = 0
    stale_closed: int = 0
    marked_unknown: int = 0
    artifacts_announced: int = 0
    refused: int = 0
    completed: bool = False
    error: str = ""
    finalized_ids: list = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_sessions(
    *,
    client: RealtimeKitClient | None = None,
    since: datetime | None = None,
    per_page: int | None = None,
    now: datetime | None = None,
) -> SessionsReport:
    """One walk (see the module's docstring); the report says what it did and why it stopped."""
    api = client or get_client()
    report = SessionsReport()
    now = now or timezone.now()
    since = since or now - DEFAULT_WINDOW
    try:
        with lane(BACKGROUND):
            seen_live, incomplete = _walk_listing(api, report, since=since, per_page=per_page)
            _check_stale(api, report, seen_live=seen_live, now=now)
        if incomplete:
            # The sessions it did read are stored (each whole); the next run reads the rest.
            report.error = incomplete
            logger.warning("sessions walk incomplete: %s", incomplete)
        else:
            report.completed = True
    except RealtimeKitError as err:
        report.error = str(err)
        logger.warning("sessions walk stopped: %s", err)
    return report


def _walk_listing(api: RealtimeKitClient, report: SessionsReport, *, since, per_page) -> tuple[set[str], str]:
    """Store every session of the listing; the ids seen LIVE, and why the listing was not
    complete ("" when it was)."""
    # Oldest first: a session that starts while the walk waits for budget between pages joins
    # the end, where the walk still reads it. Newest first (the API's default), it pushed every
    # other session a page down, the next page came short of total_count and the walk ended
    # incomplete on a busy site every time.
    filters: dict[str, Any] = {"start_time": since.isoformat(), "sort_by": "createdAt", "sort_order": "ASC"}
    if per_page is not None:
        filters["per_page"] = per_page
    seen: set[str] = set()
    live: set[str] = set()
    walk = api.sessions.walk_sessions(**filters)
    refused: list[str] = []
    for page in walk:
        for item in page.items:
            try:
                _fits_columns(item, SESSION_COLUMNS, "session")
                remote = store.parse_session(item)
                if remote.id in seen:
                    report.duplicates += 1
                    continue
                seen.add(remote.id)
                report.sessions_seen += 1
                if remote.status == SessionStatus.LIVE:
                    live.add(remote.id)
                    store.store_session(remote)
                    continue
                _store_ended(api, report, remote, per_page=per_page)
            except InvalidResponse as err:
                # One session that lies is refused alone: the ones after it are still read,
                # so a bad item cannot block the walk at the same place on every run.
                report.refused += 1
                refused.append(str(err))
                logger.warning("sessions walk: refused a session: %s", err)
    reasons = []
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        reasons.append(f"{len(refused)} session(s) refused: {refused[0]}{more}")
    if not walk.completed:
        reasons.append(f"the sessions listing is incomplete: {walk.incomplete_reason}")
    return live, "; ".join(reasons)


def _fits_columns(item: Any, columns: dict[str, int | None], what: str) -> None:
    """Refuse an item whose identifiers no column takes (the parser would cut a long id short,
    and two sessions or peers would then share a row; a meeting id that is not a UUID cannot
    name a meeting); ``None`` as a limit means "a UUID"."""
    if not isinstance(item, dict):
        return  # the parser refuses it with its own words
    name = str(item.get("id"))[:40]
    for key, limit in columns.items():
        value = item.get(key)
        if not isinstance(value, str) or not value:
            continue
        if limit is None:
            try:
                uuid.UUID(value)
            except ValueError:
                why = f"{key} is not a meeting id"
                raise InvalidResponse(f"RealtimeKit's {what} {name} is unusable: {why}") from None
        elif len(value) > limit:
            raise InvalidResponse(f"RealtimeKit's {what} {name} is unusable: {key} is longer than {limit}")


#: The identifiers of a session and of an attendee and what their columns take.
SESSION_COLUMNS: dict[str, int | None] = {"id": 100, "associated_id": None}
ATTENDEE_COLUMNS: dict[str, int | None] = {"id": 100, "user_id": 100, "custom_participant_id": 255}


def _store_ended(api: RealtimeKitClient, report: SessionsReport, remote, *, per_page) -> None:
    """An ended session: its attendees are read once (the whole listing, or nothing is
    written), then the row is final and the artifacts its meeting asks for are announced."""
    final = Session.objects.filter(pk=remote.id, api_confirmed_end_at__isnull=False).exists()
    if final:
        store.store_session(remote)
        return
    kwargs = {"per_page": per_page} if per_page is not None else {}
    walk = api.sessions.walk_session_participants(remote.id, **kwargs)
    items = []
    for page in walk:
        for item in page.items:
            _fits_columns(item, ATTENDEE_COLUMNS, f"participant of session {remote.id[:40]}")
            items.append(item)
    if not walk.completed:
        raise InvalidResponse(
            f"the participants listing of session {remote.id[:40]} is incomplete: {walk.incomplete_reason}"
        )
    attendees = store.parse_participants(items, remote.id)
    with transaction.atomic(using=router.db_for_write(Session)):
        session, final_now = store.store_session(remote, attendees)
        if final_now:
            report.artifacts_announced += _announce_artifacts(session)
    if final_now:
        report.finalized += 1
        report.finalized_ids.append(remote.id)


def _announce_artifacts(session: Session) -> int:
    """The chat export, transcript and summary the session's meeting asked for (its
    ``persist_chat``, ``transcribe_on_end``, ``summarize_on_end``), announced for the copy task
    (``realtimekit.copy_artifacts``), which asks the API for each file's link: the walk itself
    spends no request on them, and a lost webhook no longer loses the file. Once per session
    (when its attendance becomes final); one a webhook announced already is left as it is."""
    meeting = Meeting.objects.filter(pk=session.meeting_id).only(*ARTIFACT_SETTINGS.values()).first()
    if meeting is None:
        return 0
    existing = set(SessionArtifact.objects.filter(session=session).values_list("kind", flat=True))
    count = 0
    for kind, setting in ARTIFACT_SETTINGS.items():
        if getattr(meeting, setting) and kind not in existing:
            artifacts.announce_artifact(session, kind)
            count += 1
    return count


#: Which meeting setting makes RealtimeKit produce which artifact.
ARTIFACT_SETTINGS = {
    ArtifactKind.CHAT: "persist_chat",
    ArtifactKind.TRANSCRIPT: "transcribe_on_end",
    ArtifactKind.SUMMARY: "summarize_on_end",
}


def stale_live_sessions(now: datetime, *, exclude=()) -> list[Session]:
    """LIVE sessions nobody is in whose last event is older than their meeting's keep-alive."""
    candidates = (
        Session.objects.live()
        .filter(unknown_to_api_since__isnull=True)
        .exclude(pk__in=list(exclude))
        .exclude(Exists(SessionParticipant.objects.filter(session=OuterRef("pk"), left_at__isnull=True)))
        .annotate(
            last_join=Max("attendees__joined_at"),
            last_leave=Max("attendees__left_at"),
        )
        .select_related("meeting")
        .order_by("started_at", "pk")
    )
    stale = []
    for session in candidates.iterator(chunk_size=500):
        moments = [m for m in (session.started_at, session.last_join, session.last_leave) if m]
        if not moments:
            continue
        keep_alive = _keep_alive(session)
        if max(moments) + timedelta(seconds=keep_alive) < now:
            stale.append(session)
            if len(stale) >= STALE_CHECKS_PER_RUN:
                break
    return stale


def _keep_alive(session: Session) -> float:
    try:
        return float(session.meeting.session_keep_alive_time_in_secs)
    except Exception:  # the meeting is not mirrored (no constraint): the API's default
        return 60.0


def _check_stale(api: RealtimeKitClient, report: SessionsReport, *, seen_live: set[str], now) -> None:
    for session in stale_live_sessions(now, exclude=seen_live):
        report.stale_checked += 1
        try:
            item = api.sessions.get_session_details(session.pk)
        except NotFound:
            if store.mark_unknown(session.pk):
                report.marked_unknown += 1
            continue
        details = _session_of(item)
        _fits_columns(details, SESSION_COLUMNS, "session")
        remote = store.parse_session(details)
        if remote.status == SessionStatus.ENDED:
            _store_ended(api, report, remote, per_page=None)
            report.stale_closed += 1
        else:
            store.store_session(remote)


def _session_of(answer: Any) -> Any:
    """The session inside a details answer (``data.session`` or the object itself)."""
    if isinstance(answer, dict):
        data = answer.get("data", answer)
        if isinstance(data, dict) and isinstance(data.get("session"), dict):
            return data["session"]
        return data
    return answer


__all__ = ["SessionsReport", "stale_live_sessions", "sync_sessions"]
