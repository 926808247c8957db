"""The meeting and participant operations, named as in the official ``cloudflare`` SDK.

Same method and keyword names, and the same method, path, query string and JSON body for the
same arguments (``tests/test_client_sdk_parity.py`` compares them byte for byte), minus
``account_id`` / ``app_id``, which come from configuration. Every payload is validated by
:mod:`~realtimekit_django.schema` before a request is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import schema
from ..exceptions import ValidationError
from .paging import PageWalk
from .resource import OMIT, Client, _given, _query_order, _seg, _validate_ids


class MeetingsResource:
    """The eleven meeting and participant operations, named as in the official SDK."""

    def __init__(self, client: Client) -> None:
        self._client = client

    _validate_ids = staticmethod(_validate_ids)
    _seg = staticmethod(_seg)

    # meetings ------------------------------------------------------------------------------

    def get(
        self,
        *,
        page_no: int | None = None,
        per_page: int | None = None,
        search: str | None = None,
        status: str | None = None,
        start_time: Any = None,
        end_time: Any = None,
    ) -> dict:
        """GET /meetings: one page of the app's meetings."""
        params = schema.validate_listing_params(
            page_no=page_no,
            per_page=per_page,
            search=search,
            status=status,
            start_time=start_time,
            end_time=end_time,
        )
        return self._client.request("GET", "/meetings", params=_query_order(params, _MEETING_QUERY_ORDER))

    def create(self, **meeting: Any) -> dict:
        """POST /meetings (201). Only the given fields are sent."""
        body = schema.validate_meeting(meeting, mode="create")
        return self._client.request("POST", "/meetings", json=body)

    def get_meeting_by_id(self, meeting_id: str, *, name: str | None = None) -> dict:
        """GET /meetings/{meeting_id}."""
        self._validate_ids(meeting_id=meeting_id)
        if name is not None:
            problems = (
                schema.unstorable(name, "name") if isinstance(name, str) else [("name", "must be a string")]
            )
            if problems:
                raise ValidationError(problems)
        params = {"name": name} if name is not None else None
        return self._client.request("GET", f"/meetings/{self._seg(meeting_id)}", params=params)

    def update_meeting_by_id(self, meeting_id: str, **partial: Any) -> dict:
        """PATCH /meetings/{meeting_id} with only the fields that change."""
        self._validate_ids(meeting_id=meeting_id)
        body = schema.validate_meeting(partial, mode="update")
        return self._client.request("PATCH", f"/meetings/{self._seg(meeting_id)}", json=body)

    def replace_meeting_by_id(self, meeting_id: str, **meeting: Any) -> dict:
        """PUT /meetings/{meeting_id} with the whole meeting."""
        self._validate_ids(meeting_id=meeting_id)
        body = schema.validate_meeting(meeting, mode="replace")
        return self._client.request("PUT", f"/meetings/{self._seg(meeting_id)}", json=body)

    # participants --------------------------------------------------------------------------

    def get_meeting_participants(
        self, meeting_id: str, *, page_no: int | None = None, per_page: int | None = None
    ) -> dict:
        """GET /meetings/{meeting_id}/participants: one page."""
        self._validate_ids(meeting_id=meeting_id)
        params = schema.validate_listing_params(page_no=page_no, per_page=per_page)
        return self._client.request(
            "GET",
            f"/meetings/{self._seg(meeting_id)}/participants",
            params=_query_order(params, ("page_no", "per_page")),
        )

    def add_participant(
        self,
        meeting_id: str,
        *,
        custom_participant_id: str,
        preset_name: str,
        name: str | None = OMIT,
        picture: str | None = OMIT,
    ) -> dict:
        """POST /meetings/{meeting_id}/participants (201); the answer carries the token."""
        self._validate_ids(meeting_id=meeting_id)
        fields = {"custom_participant_id": custom_participant_id, "preset_name": preset_name}
        body = schema.validate_participant(_given(fields, name=name, picture=picture), mode="add")
        return self._client.request("POST", f"/meetings/{self._seg(meeting_id)}/participants", json=body)

    def get_meeting_participant(self, participant_id: str, *, meeting_id: str) -> dict:
        """GET /meetings/{meeting_id}/participants/{participant_id}."""
        self._validate_ids(meeting_id=meeting_id, participant_id=participant_id)
        return self._client.request("GET", self._participant_path(meeting_id, participant_id))

    def edit_participant(
        self,
        participant_id: str,
        *,
        meeting_id: str,
        name: str | None = OMIT,
        picture: str | None = OMIT,
        preset_name: str | None = OMIT,
    ) -> dict:
        """PATCH a participant's name, picture or preset; the answer carries a new token."""
        self._validate_ids(meeting_id=meeting_id, participant_id=participant_id)
        changes = _given({}, name=name, picture=picture, preset_name=preset_name)
        body = schema.validate_participant(changes, mode="edit")
        return self._client.request("PATCH", self._participant_path(meeting_id, participant_id), json=body)

    def delete_meeting_participant(self, participant_id: str, *, meeting_id: str) -> dict:
        """DELETE a participant, which revokes every token it was ever given."""
        self._validate_ids(meeting_id=meeting_id, participant_id=participant_id)
        return self._client.request("DELETE", self._participant_path(meeting_id, participant_id))

    def refresh_participant_token(self, participant_id: str, *, meeting_id: str) -> dict:
        """POST .../token: a new token (earlier ones stay valid until the participant is deleted)."""
        self._validate_ids(meeting_id=meeting_id, participant_id=participant_id)
        return self._client.request("POST", self._participant_path(meeting_id, participant_id) + "/token")

    def _participant_path(self, meeting_id: str, participant_id: str) -> str:
        return f"/meetings/{self._seg(meeting_id)}/participants/{self._seg(participant_id)}"

    # walkers ------------------------------------------------------------------------------

    def walk_meetings(self, *, per_page: int | None = None, **filters: Any) -> PageWalk:
        """Every page of the meetings listing (see :class:`PageWalk`); bad filters are refused now."""
        unknown = sorted(set(filters) - set(MEETING_FILTERS))
        if unknown:
            known = ", ".join(MEETING_FILTERS)
            raise ValidationError(
                [(name, f"is not a meeting listing filter (known: {known})") for name in unknown]
            )
        schema.validate_listing_params(**filters)
        return self._client.walk(
            lambda page_no, size: self.get(page_no=page_no, per_page=size, **filters), per_page
        )

    def walk_participants(self, meeting_id: str, *, per_page: int | None = None) -> PageWalk:
        """Every page of one meeting's participants."""
        self._validate_ids(meeting_id=meeting_id)
        return self._client.walk(
            lambda page_no, size: self.get_meeting_participants(meeting_id, page_no=page_no, per_page=size),
            per_page,
        )

    def iter_meetings(self, *, per_page: int | None = None, **filters: Any) -> Iterator[dict]:
        """Every meeting, page after page (the arguments are checked at the call, not at first use)."""
        return _items(self.walk_meetings(per_page=per_page, **filters))

    def iter_participants(self, meeting_id: str, *, per_page: int | None = None) -> Iterator[dict]:
        """Every participant of a meeting, page after page."""
        return _items(self.walk_participants(meeting_id, per_page=per_page))


def _items(walk: PageWalk) -> Iterator[dict]:
    for page in walk:
        yield from page.items


#: The keyword filters of the meetings listing, besides paging.
MEETING_FILTERS = ("search", "status", "start_time", "end_time")

# The SDK builds its query dict in this (alphabetical) key order; sending the same order
# gives byte-identical query strings, which the parity tests compare.
_MEETING_QUERY_ORDER = ("end_time", "page_no", "per_page", "search", "start_time", "status")
