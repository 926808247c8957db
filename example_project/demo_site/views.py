"""The demo's pages: the meetings the signed-in user may join, each with a Join link and who is
in it now, and a meeting's page, which is the package's room (``{% realtimekit_room meeting %}``)
inside the site's own layout. On the emulator, a button makes emulated people join and leave, so
the pages move with the webhooks the emulator delivers (and the room lists who is in), and
another ends the meeting: its attendance and its transcript are then one click away."""

import random

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from realtimekit_django.api.permissions import visible_meetings
from realtimekit_django.client.webhooks import WEBHOOK_EVENTS
from realtimekit_django.models import (
    ArtifactKind,
    ArtifactState,
    Session,
    SessionArtifact,
    SessionParticipant,
    SessionStatus,
)

#: A peer leaves instead of a newcomer joining this often, once a few people are in.
LEAVE_CHANCE = 0.4


@login_required
@ensure_csrf_cookie
def meetings(request):
    # The same filter as GET /realtimekit/meetings/, so the page and the API never disagree.
    shown = list(visible_meetings(request.user).order_by("title")[:100])
    in_now = SessionParticipant.objects.filter(
        session__meeting__in=shown, session__status=SessionStatus.LIVE, left_at__isnull=True
    ).order_by("joined_at", "peer_id")
    people: dict = {}
    for attendance in in_now:
        people.setdefault(attendance.session.meeting_id, []).append(str(attendance))
    rows = [(meeting, people.get(meeting.pk, [])) for meeting in shown]
    # And its transcript, once copied, for staff who may read it in the admin.
    transcripts: dict = {}
    if request.user.is_staff and request.user.has_perm("realtimekit.view_sessionartifact"):
        stored = SessionArtifact.objects.filter(
            session__meeting__in=shown, kind=ArtifactKind.TRANSCRIPT, state=ArtifactState.STORED
        ).order_by("session__meeting_id", "-session__started_at")
        for artifact in stored.only("pk", "session__meeting_id"):
            transcripts.setdefault(artifact.session.meeting_id, artifact.pk)
    rows = [(meeting, people_in, transcripts.get(meeting.pk)) for meeting, people_in in rows]
    # After a meeting ends, its attendance is one click away (for those allowed to see it).
    ended = set()
    if request.user.has_perm("realtimekit.view_sessionparticipant"):
        ended = set(
            Session.objects.filter(meeting__in=shown, status=SessionStatus.ENDED).values_list(
                "meeting_id", flat=True
            )
        )
    return render(
        request,
        "demo_site/meetings.html",
        {"rows": rows, "meetings": shown, "ended": ended, "uses_emulator": settings.DEMO_USES_EMULATOR},
    )


@login_required
@never_cache
@ensure_csrf_cookie
def meeting(request, meeting_id):
    """The room, in the demo's layout: the tag decides what it shows (the join's own policy)."""
    shown = visible_meetings(request.user).filter(pk=meeting_id).first()
    return render(
        request,
        "demo_site/meeting.html",
        {"meeting_id": meeting_id, "meeting": shown, "uses_emulator": settings.DEMO_USES_EMULATOR},
    )


@login_required
@require_POST
def people_move(request, meeting_id):
    """Someone joins the meeting's emulated session (started if needed), or someone leaves."""
    if not settings.DEMO_USES_EMULATOR:
        raise Http404("only the emulator has emulated people")
    from .emulator_mount import demo_emulator

    emulator = demo_emulator()
    _ensure_webhook(emulator)
    session_id = emulator.sessions.live_session(str(meeting_id))
    if session_id is None:
        try:
            session_id = emulator.sessions.start(str(meeting_id))
        except LookupError:
            raise Http404("no such meeting on the emulator")
    peers = next(s["peers"] for s in emulator.sessions.sessions() if s["id"] == session_id)
    if len(peers) >= 3 and random.random() < LEAVE_CHANCE:
        emulator.sessions.leave(session_id, random.choice(list(peers)))
    else:
        guest = f"guest-{random.randint(1000, 9999)}"
        name = guest.replace("-", " ").title()
        # Only a participant of the meeting can join (as on the platform): add the guest first.
        emulator.add_participant(
            str(meeting_id), custom_participant_id=guest, name=name, preset_name="group_call_participant"
        )
        emulator.sessions.join(session_id, guest, name)
    return redirect("meetings")


@login_required
@require_POST
def end_meeting(request, meeting_id):
    """The host ends the emulated session: everyone leaves, and the files the meeting's
    settings ask for (chat, transcript, summary) are announced and copied to the site."""
    if not settings.DEMO_USES_EMULATOR:
        raise Http404("only the emulator has emulated sessions")
    from .emulator_mount import demo_emulator

    emulator = demo_emulator()
    _ensure_webhook(emulator)
    session_id = emulator.sessions.live_session(str(meeting_id))
    if session_id is not None:
        emulator.sessions.end(session_id)
    return redirect("meetings")


def _ensure_webhook(emulator) -> None:
    """The emulator does not keep webhooks across restarts: register the site's receiver once."""
    app_id = settings.REALTIMEKIT["APP_ID"]
    if not any(w["url"] == settings.DEMO_WEBHOOK_URL for w in emulator.webhooks.list_webhooks(app_id)):
        emulator.webhooks.create(
            app_id,
            {
                "name": "demo site",
                "url": settings.DEMO_WEBHOOK_URL,
                "events": list(WEBHOOK_EVENTS),  # every event: the receiver handles each
            },
        )
