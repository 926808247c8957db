"""What the room shows one person: decided here, on the server, by the join endpoint's rules.

The order is the join's own (``services.joins``): a meeting that is not this app's or that the
last complete sync no longer found is missing (404); an inactive meeting is closed to everyone
(shown, with no join attempt); then the site's preset policy (403, saying why). Only a room in
state ``ready`` gets the join URL its module POSTs to. Nothing here issues or reads a token.
With ``ROOM_EMULATOR`` on (``BASE_URL`` is this package's emulator, which has no media server) the
room is marked ``data-emulator="true"`` and gets the ``meeting-present`` URL: its module joins,
says that video needs the real API and lists who is in, and loads no kit.
"""

from __future__ import annotations

import json

from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from ..api.permissions import candidate_meetings
from ..conf import get_settings
from ..models import Meeting, MeetingStatus
from .kit import kit_files

READY, INACTIVE, REFUSED, MISSING = "ready", "inactive", "refused", "missing"
STATUS = {READY: 200, INACTIVE: 200, REFUSED: 403, MISSING: 404}


def safe_next(request, default: str = "/") -> str:
    """``?next=`` when Django says it stays on this site, else ``default``."""
    wanted = request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


def room_state(user, meeting_id) -> tuple[str, Meeting | None]:
    meeting = candidate_meetings().filter(pk=meeting_id).first()
    if meeting is None:
        return MISSING, None
    if meeting.status != MeetingStatus.ACTIVE:
        return INACTIVE, meeting
    if not getattr(user, "is_authenticated", False) or not get_settings().preset_policy(user, meeting):
        return REFUSED, meeting
    return READY, meeting


def messages() -> dict[str, str]:
    """The module's sentences, translated here and handed over as one data attribute."""
    return {
        "joining": _("Joining the meeting…"),
        "loading_kit": _("Loading the meeting…"),
        "kit_failed": _(
            "The meeting software could not be loaded. You may be offline, or a browser extension "
            "may be blocking it."
        ),
        "retry": _("Try again"),
        "busy": _("Many people are joining right now: trying again in {seconds} s (attempt {attempt} of {attempts})."),
        "gave_up": _("The meeting could not be joined right now. Please try again in a few minutes."),
        "refused": _("You may not join this meeting."),
        "missing": _("This meeting does not exist (any more)."),
        "inactive": _("This meeting is inactive: nobody can join it until it is activated again."),
        "failed": _("The meeting could not be joined. Please try again later."),
        "signed_out": _("Your session has ended. Sign in again to join."),
        "token_refused": _("The meeting did not accept this page's access. Please reload the page."),
        "ended": _("The meeting has ended."),
        "removed": _("You were removed from the meeting."),
        "disconnected": _("The connection to the meeting was lost."),
        "rejoin": _("Rejoin"),
        "back": _("Back"),
        "joined_without_kit": _("You have joined. The meeting UI is not shown on this page."),
        "emulator_note": _(
            "You have joined. This site runs on the RealtimeKit emulator, which has no media server: "
            "video and audio need the real RealtimeKit API."
        ),
        "present_title": _("In the meeting now"),
        "nobody_in": _("Nobody is in the meeting right now."),
        "present_failed": _("Who is in could not be fetched: trying again in {seconds} s."),
    }


def room_context(request, meeting, *, load_kit: bool = True, back_url: str | None = None) -> dict:
    """The template's context for ``meeting`` (a Meeting or its id) and ``request.user``."""
    meeting_id = meeting.pk if isinstance(meeting, Meeting) else meeting
    state, found = room_state(request.user, meeting_id)
    client, ui = kit_files()
    config = get_settings()
    emulator = config.room_emulator
    return {
        "room_state": state,
        "room_status": STATUS[state],
        "meeting": found,
        "join_url": reverse("realtimekit:meeting-join", args=[meeting_id]) if state == READY else "",
        "back_url": safe_next(request, back_url or "/"),
        "kit_client": client,
        "kit_ui": ui,
        "load_kit": load_kit and not emulator,
        "on_emulator": emulator,
        "present_url": (
            reverse("realtimekit:meeting-present", args=[meeting_id]) if emulator and state == READY else ""
        ),
        "room_defaults": json.dumps(config.room_defaults),
        "room_max_attempts": config.room_join_max_attempts,
        "room_messages": json.dumps(messages()),
        # django-csp's nonce where it is installed (its middleware sets request.csp_nonce).
        "csp_nonce": str(getattr(request, "csp_nonce", "") or ""),
    }
