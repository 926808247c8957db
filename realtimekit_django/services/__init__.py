"""The only code that writes mirrored rows from remote data: validate, call, store, signal.

Every public service reads as one pipeline: the client validates the input (before any
request), RealtimeKit is called, the answer is stored through :mod:`realtimekit_django.store`,
and a signal tells other apps. A failed call therefore leaves the database as it was, and a
failed store after a successful remote add undoes the add (no orphan participant with a
working token). Services given a model instance update it in place, as ``Model.save()``
would, and return it.

- :mod:`.meetings`: create, update, replace, (de)activate and refresh meetings.
- :mod:`.participants`: add, edit, remove participants and refresh their tokens.
- :mod:`.joins`: the join token a site hands to its users (and preparing one ahead).
- :mod:`.provisioning`: preparing the joins of an event's invited users before it starts.
- :mod:`.presets`: the presets mirror and the check that a preset name is known.
- :mod:`.recordings`: start, pause, resume, stop, mirror and keep recordings.
- :mod:`.live`: remove people from a live meeting, or end it for everyone.
- the page upserts and missing-row bookkeeping the sync walks use.
"""

from ..store import UpsertResult
from ..tokens import token_expiry
from .joins import JoinToken, Prepared, issue_join_token, prepare_join
from .live import end_meeting_for_everyone, kick_participants
from .meetings import (
    create_meeting,
    flag_missing_meetings,
    refresh_meeting,
    replace_meeting,
    set_meeting_status,
    update_meeting,
    upsert_meetings,
)
from .participants import (
    add_participant,
    edit_participant,
    refresh_participant_token,
    remove_missing_participants,
    remove_participant,
    upsert_participants,
)
from .presets import (
    forget_known_preset_names,
    known_preset_names,
    missing_configured_presets,
    remove_missing_presets,
    require_known_preset,
    upsert_presets,
    warn_about_configured_presets,
)
from .provisioning import ProvisionReport, provision_participants
from .recordings import (
    control_recording,
    copy_recording,
    fresh_download_url,
    record_status,
    recordings_to_copy,
    refresh_recording,
    start_recording,
    upsert_recordings,
)

__all__ = [
    "JoinToken",
    "Prepared",
    "ProvisionReport",
    "UpsertResult",
    "add_participant",
    "control_recording",
    "copy_recording",
    "create_meeting",
    "edit_participant",
    "end_meeting_for_everyone",
    "flag_missing_meetings",
    "forget_known_preset_names",
    "fresh_download_url",
    "issue_join_token",
    "prepare_join",
    "kick_participants",
    "known_preset_names",
    "missing_configured_presets",
    "record_status",
    "recordings_to_copy",
    "refresh_meeting",
    "refresh_participant_token",
    "refresh_recording",
    "remove_missing_presets",
    "remove_missing_participants",
    "provision_participants",
    "remove_participant",
    "replace_meeting",
    "require_known_preset",
    "set_meeting_status",
    "start_recording",
    "token_expiry",
    "update_meeting",
    "upsert_meetings",
    "upsert_participants",
    "upsert_presets",
    "upsert_recordings",
    "warn_about_configured_presets",
]
