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

With ``JOIN_TOKEN_CACHE`` set, the token each add or edit returns is kept (encrypted, see
:mod:`realtimekit_django.token_cache`), and a rejoin whose participant is already what the
policy wants (preset, name, picture) and whose kept token was issued for that preset gets the
kept token: no request. Every other rejoin drops the kept token before it edits, so a token kept
for a preset the policy no longer gives is never handed out. A kept token is handed out only
while RealtimeKit confirmed its participant within ``JOIN_TOKEN_VERIFIED_MAX_AGE`` (the answer
that issued it, or a participant walk), and ``refresh=True`` (the join endpoint's
``{"refresh": true}``, for a client whose kept token the kit refused) drops it and edits.
:func:`prepare_join` runs the same path ahead of an event (provisioning) without handing
anything out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from django.db import IntegrityError
from django.views.decorators.debug import sensitive_variables

from .. import signals, store, token_cache
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


class Prepared(StrEnum):
    """What :func:`prepare_join` did for one person."""

    READY = "ready"  # nothing was needed: no request
    ADDED = "added"  # the remote participant was added
    EDITED = "edited"  # the participant was edited to what the policy wants (a fresh token)


@sensitive_variables()
def issue_join_token(
    meeting: Meeting | uuid.UUID | str,
    user,
    *,
    meetings=None,
    client: RealtimeKitClient | None = None,
    refresh: bool = False,
) -> JoinToken:
    """A join token for ``user``: one HTTP call (none for a kept token), the preset chosen by
    the site's policy.

    ``refresh=True`` asks for a fresh token: the kept one (if any) is dropped first and never
    handed out, so a client whose kept token the kit refused gets a new one (one request).

    ``meeting`` is a ``Meeting`` or its id; either way the meeting is read inside the join from
    ``meetings`` (a queryset; by default ``Meeting.objects.joinable()``: this app's meetings
    that the last complete sync still found remotely). ``Meeting.DoesNotExist`` when it is not
    there; ``MeetingInactive`` or ``JoinRefused`` (no HTTP call) when nobody, or not this
    user, may join.
    """
    _how, issued = _run(meeting, user, meetings, client, preparing=False, refresh=refresh)
    return issued


@sensitive_variables()
def prepare_join(
    meeting: Meeting | uuid.UUID | str,
    user,
    *,
    meetings=None,
    client: RealtimeKitClient | None = None,
) -> Prepared:
    """Make ``user``'s next join cheap, ahead of time: their remote participant exists and, with
    ``JOIN_TOKEN_CACHE``, a token for the policy's preset is kept. The same path, lock and
    refusals as :func:`issue_join_token`, but no token is handed out (and no ``token_issued``).

    At most one request; none when the person is already prepared (so running it twice is
    free). Without the token cache an existing participant is already prepared: its join will
    cost one request whatever is done now.
    """
    how, _nothing_handed_out = _run(meeting, user, meetings, client, preparing=True)
    return how


@sensitive_variables()
def _run(
    meeting, user, meetings, client, *, preparing: bool, refresh: bool = False
) -> tuple[Prepared, JoinToken | None]:
    config = get_settings()
    api = client or get_client()
    custom_id = config.participant_id_function(user)
    meeting_id = meeting.pk if isinstance(meeting, Meeting) else meeting
    candidates = Meeting.objects.joinable() if meetings is None else meetings
    for _attempt in range(_ATTEMPTS):
        try:
            how, issued = _join(
                api, candidates, meeting_id, user, custom_id, config, preparing=preparing, refresh=refresh
            )
        except IntegrityError:
            continue
        if not preparing:
            # After the join's transaction: a failing receiver cannot take back the stored
            # participant of a remote one that stays.
            _announce(issued)
        return how, issued
    raise Conflict("another join of this user to this meeting kept winning the race; try again")


@sensitive_variables()
def _join(
    api, candidates, meeting_id, user, custom_id: str, config, *, preparing: bool, refresh: bool = False
):
    with store.join_lock(meeting_id, custom_id):
        meeting, participant = store.find_join(
            candidates, meeting_id, user_id=getattr(user, "pk", None), custom_participant_id=custom_id
        )
        wanted = {
            "preset_name": _preset_for(meeting, user, config),
            "name": config.display_name_function(user),
            "picture": config.picture_function(user),
        }
        how, issued = Prepared.READY, None
        if participant is not None:
            issued = None if refresh else _kept(meeting, participant, wanted)
            if issued is None and preparing and not token_cache.enabled():
                return Prepared.READY, None
            if issued is None:
                how, issued = Prepared.EDITED, _rejoin(api, meeting, participant, wanted, user)
        if issued is None:
            how, issued = Prepared.ADDED, _first_join(api, meeting, custom_id, wanted, user)
        return how, issued


def _as_wanted(participant: Participant, wanted: dict) -> bool:
    """Whether the participant already is what an edit would make it (preset, name, picture)."""
    return all(
        getattr(participant, key) == value
        for key, value in wanted.items()
        if key == "preset_name" or value is not None
    )


@sensitive_variables()
def _kept(meeting: Meeting, participant: Participant, wanted: dict) -> JoinToken | None:
    """The participant's kept token, when it may be handed out as it is; else None."""
    if not token_cache.enabled() or not _as_wanted(participant, wanted):
        return None
    found = token_cache.kept(participant.pk)
    if found is None or found.preset_name != wanted["preset_name"]:
        return None
    # Confirmed recently by RealtimeKit: the answer that issued it, or the meeting's last complete
    # participant walk (which drops the kept token of a participant it finds changed or gone).
    walked = meeting.participants_synced_at
    if not token_cache.verified_recently(max(found.verified_at, walked.timestamp() if walked else 0.0)):
        return None
    expires_at = datetime.fromtimestamp(found.expires_at, tz=UTC)
    return JoinToken(
        token=found.token, participant=participant, preset_name=found.preset_name, expires_at=expires_at
    )


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


@sensitive_variables()
def _first_join(api, meeting: Meeting, custom_id: str, wanted: dict, user) -> JoinToken:
    envelope = api.meetings.add_participant(
        str(meeting.pk),
        custom_participant_id=custom_id,
        preset_name=wanted["preset_name"],
        **_optional(wanted),
    )
    payload = data_of(envelope, "add participant")
    token = token_of(payload, "add participant")
    participant = keep_added(api, meeting, payload, user=user)
    return _issued(participant, payload, token)


@sensitive_variables()
def _rejoin(api, meeting: Meeting, participant: Participant, wanted: dict, user) -> JoinToken | None:
    """A token for a known participant, edited to what the policy wants; ``None`` when it has
    vanished remotely (the caller adds it anew). The kept token goes first: it may be for a
    preset the policy no longer gives."""
    token_cache.drop(participant.pk)
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
    participant = store.save_participant(
        meeting, payload, user_id=getattr(user, "pk", None), instance=participant
    )
    return _issued(participant, payload, token)


@sensitive_variables()
def _issued(participant: Participant, payload: dict, token: str) -> JoinToken:
    # The preset the API says it granted (row building checked it is there).
    preset_name = payload["preset_name"]
    token_cache.keep(participant.pk, token, preset_name)
    return JoinToken(
        token=token, participant=participant, preset_name=preset_name, expires_at=token_expiry(token)
    )


def _announce(issued: JoinToken) -> None:
    signals.token_issued.send(
        sender=Participant, participant=issued.participant, expires_at=issued.expires_at
    )
