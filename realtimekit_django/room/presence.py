"""Who is in a meeting now, for the room on the emulator: ``GET .../meetings/<id>/present/``.

The emulator has no media server, so the room there cannot show the call; it lists the people in
it instead (URL name ``meeting-present``, polled by ``room.js`` only when ``ROOM_EMULATOR`` is on).
The names come from the mirror's attendance of the meeting's live session, which the webhooks keep
current: RealtimeKit's ``active-session`` answer carries only a count, and a poll every few
seconds per open room must not spend the shared API budget. The answer is the join endpoint's
own verdict (403, 404, 409) for anyone who may not join, holds names only (never a token or an
id), and is never cached.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ..models import SessionParticipant, SessionStatus
from .context import INACTIVE, MISSING, READY, REFUSED, room_state

#: The most names one answer lists (a room is not an attendance report).
MAX_NAMES = 100

_REFUSED = {
    REFUSED: (403, lambda: _("You may not join this meeting.")),
    MISSING: (404, lambda: _("This meeting does not exist (any more).")),
    INACTIVE: (409, lambda: _("This meeting is inactive: nobody can join it until it is activated again.")),
}


def present_names(meeting) -> list[str]:
    """Display names of the people in ``meeting``'s live session now, in the order they came."""
    attendances = SessionParticipant.objects.filter(
        session__meeting=meeting, session__status=SessionStatus.LIVE, left_at__isnull=True
    ).order_by("joined_at", "peer_id")[:MAX_NAMES]
    return [str(attendance) for attendance in attendances]


@require_GET
def meeting_present(request, meeting_id):
    if not request.user.is_authenticated:
        response = JsonResponse({"detail": _("Your session has ended. Sign in again to join.")}, status=403)
    else:
        state, meeting = room_state(request.user, meeting_id)
        if state == READY:
            response = JsonResponse({"present": present_names(meeting)})
        else:
            status, why = _REFUSED[state]
            response = JsonResponse({"detail": why()}, status=status)
    patch_cache_control(response, private=True, no_store=True, no_cache=True, max_age=0)
    return response
