"""The live-session operations, named as in the official SDK (``realtime_kit.active_session``)."""

from __future__ import annotations

from .. import schema
from .resource import OMIT, Client, _given, _seg, _validate_ids


class ActiveSessionResource:
    """``get_active_session``, ``kick_participants``, ``kick_all_participants``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get_active_session(self, meeting_id: str) -> dict:
        """GET /meetings/{meeting_id}/active-session (404 when nobody is in the meeting)."""
        return self._client.request("GET", _path(meeting_id))

    def kick_participants(
        self, meeting_id: str, *, custom_participant_ids: list[str] = OMIT, participant_ids: list[str] = OMIT
    ) -> dict:
        """POST .../active-session/kick: remove these people from the live meeting."""
        path = _path(meeting_id) + "/kick"
        body = schema.validate_kick(
            _given({}, custom_participant_ids=custom_participant_ids, participant_ids=participant_ids)
        )
        return self._client.request("POST", path, json=body)

    def kick_all_participants(self, meeting_id: str) -> dict:
        """POST .../active-session/kick-all: end the live meeting for everyone."""
        return self._client.request("POST", _path(meeting_id) + "/kick-all")


def _path(meeting_id: str) -> str:
    _validate_ids(meeting_id=meeting_id)
    return f"/meetings/{_seg(meeting_id)}/active-session"
