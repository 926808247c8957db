"""Join tokens: the one request a site's user costs when pressing Join.

One path for every join: read the meeting (and this person's participant) inside the join,
take the join lock, then either add the participant or edit the one found. Deciding on the
meeting read here, never on a caller's copy, is what keeps a deactivated or vanished meeting
closed even to a caller holding a stale instance.

A rejoin always *edits* the participant to what the site's policy wants (preset, name,
picture): an edit returns a token together with the participant it grants, so the answer can
never report a preset other than the token's (a refresh would return a bare token for
whatever preset someone set remotely). Both cost one request.

The person's participant is the one linked to the site user, whatever its custom participant
id (an admin may have given it one, or ``SECRET_KEY`` or ``PARTICIPANT_ID_FUNCTION`` may have
changed since): RealtimeKit cannot change a participant's custom id, so the old one stays.
Otherwise it is an unclaimed participant (no site user) with the person's custom id, which the
join then links to the user. A participant linked to another user is never handed out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError
from django.views.decorators.debug import sensitive_variables

from .. import signals, store
from ..client import RealtimeKitClient, get_client
from ..conf import get_settings
from ..exceptions import Conflict, JoinRefused, MeetingInactive, NotFound
from ..models import Meeting, MeetingStatus, Participant
from ..tokens import token_expiry
from .answers import data_of, token_of
from .participants import keep_added
from .presets import require_known_preset

#: A first join that loses a race (another join of the same person stored its participant
#: first; ours was undone) tries once more, and then finds the winner's participant.
_ATTEMPTS = 2


@dataclass(frozen=True)
class JoinToken:
    """What a site hands to a user who may join: the token and what it was issued for."""

    token: str = field(repr=False)
    participant: Participant
    preset_name: str
    expires_at: datetime | None


def issue_join_token(
    meeting: Meeting | uuid.UUID | str,
    user,
    *,
    meetings=None,
    client: RealtimeKitClient | None = None,
) -> JoinToken:
    """A join token for ``user``: one HTTP call, the preset chosen by the site's policy.

    ``meeting`` is a ``Meeting`` or its id; either way the meeting is read inside the join from
    ``meetings`` (a queryset; by default ``Meeting.objects.joinable()``: this app's meetings
    that the last complete sync still found remotely). ``Meeting.DoesNotExist`` when it is not
    there; ``MeetingInactive`` or ``JoinRefused`` (no HTTP call) when nobody, or not this
    user, may join.
    """
    config = get_settings()
    api = client or get_client()
    custom_id = config.participant_id_function(user)
    meeting_id = meeting.pk if isinstance(meeting, Meeting) else meeting
    candidates = Meeting.objects.joinable() if meetings is None else meetings
    for _attempt in range(_ATTEMPTS):
        try:
            return _join(api, candidates, meeting_id, user, custom_id, config)
        except IntegrityError:
            continue
    raise Conflict("another join of this user to this meeting kept winning the race; try again")


def _join(api, candidates, meeting_id, user, custom_id: str, config) -> JoinToken:
    with store.join_lock(meeting_id, custom_id):
        meeting, participant = store.find_join(
            candidates, meeting_id, user_id=getattr(user, "pk", None), custom_participant_id=custom_id
        )
        wanted = {
            "preset_name": _preset_for(meeting, user, config),
            "name": config.display_name_function(user),
            "picture": config.picture_function(user),
        }
        if participant is not None:
            issued = _rejoin(api, meeting, participant, wanted, user)
            if issued is not None:
                return issued
        return _first_join(api, meeting, custom_id, wanted, user)


def _preset_for(meeting: Meeting, user, config) -> str:
    """The preset the policy gives ``user`` in ``meeting``; raises when they may not join."""
    if meeting.status != MeetingStatus.ACTIVE:
        raise MeetingInactive("this meeting is inactive: nobody can join it")
    preset = config.preset_policy(user, meeting)
    if not preset:
        raise JoinRefused("you may not join this meeting")
    return require_known_preset(preset)


def _optional(wanted: dict) -> dict:
    return {key: wanted[key] for key in ("name", "picture") if wanted[key] is not None}


@sensitive_variables("payload", "token")
def _first_join(api, meeting: Meeting, custom_id: str, wanted: dict, user) -> JoinToken:
    envelope = api.meetings.add_participant(
        str(meeting.pk), custom_participant_id=custom_id, preset_name=wanted["preset_name"], **_optional(wanted)
    )
    payload = data_of(envelope, "add participant")
    token = token_of(payload, "add participant")
    participant = keep_added(api, meeting, payload, user=user)
    return _issued(participant, payload, token)


@sensitive_variables("payload", "token")
def _rejoin(api, meeting: Meeting, participant: Participant, wanted: dict, user) -> JoinToken | None:
    """A token for a known participant, edited to what the policy wants; ``None`` when it has
    vanished remotely (the caller adds it anew)."""
    try:
        envelope = api.meetings.edit_participant(
            str(participant.pk),
            meeting_id=str(meeting.pk),
            preset_name=wanted["preset_name"],
            **_optional(wanted),
        )
    except NotFound:
        Participant.objects.filter(pk=participant.pk).delete()
        return None
    payload = data_of(envelope, "edit participant")
    token = token_of(payload, "edit participant")
    participant = store.save_participant(meeting, payload, user_id=getattr(user, "pk", None), instance=participant)
    return _issued(participant, payload, token)


def _issued(participant: Participant, payload: dict, token: str) -> JoinToken:
    expires_at = token_expiry(token)
    signals.token_issued.send(sender=Participant, participant=participant, expires_at=expires_at)
    # The preset the API says it granted (row building checked it is there).
    return JoinToken(token=token, participant=participant, preset_name=payload["preset_name"], expires_at=expires_at)
