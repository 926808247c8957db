"""The preset operations, named as in the official SDK (``realtime_kit.presets``).

A preset is an app-level set of permissions and UI that a participant joins with. Presets
change rarely; the site mirrors their names so that a preset is chosen from a list rather
than typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import schema
from .resource import OMIT, Client, _given, _query_order, _seg, _validate_ids

if TYPE_CHECKING:
    from .paging import PageWalk


class PresetsResource:
    """``get``, ``get_preset_by_id``, ``create``, ``update``, ``replace_preset_by_id``, ``delete``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(
        self, *, page_no: int | None = None, per_page: int | None = None, search: str | None = None
    ) -> dict:
        """GET /presets: one page of the app's presets (id, name and times only)."""
        params = schema.validate_listing_params(page_no=page_no, per_page=per_page, search=search)
        return self._client.request(
            "GET", "/presets", params=_query_order(params, ("page_no", "per_page", "search"))
        )

    def get_preset_by_id(self, preset_id: str) -> dict:
        """GET /presets/{preset_id}: the whole preset."""
        return self._client.request("GET", _path(preset_id))

    def create(self, *, config: dict, name: str, permissions: dict, ui: dict) -> dict:
        """POST /presets (201) with the whole preset."""
        body = schema.validate_preset(
            {"config": config, "name": name, "permissions": permissions, "ui": ui}, mode="create"
        )
        return self._client.request("POST", "/presets", json=body)

    def update(
        self,
        preset_id: str,
        *,
        config: dict = OMIT,
        name: str = OMIT,
        permissions: dict = OMIT,
        ui: dict = OMIT,
    ) -> dict:
        """PATCH /presets/{preset_id} with only the parts that change."""
        path = _path(preset_id)
        body = schema.validate_preset(
            _given({}, config=config, name=name, permissions=permissions, ui=ui), mode="update"
        )
        return self._client.request("PATCH", path, json=body)

    def replace_preset_by_id(
        self, preset_id: str, *, config: dict, name: str, permissions: dict, ui: dict
    ) -> dict:
        """PUT /presets/{preset_id} with the whole preset."""
        path = _path(preset_id)
        body = schema.validate_preset(
            {"config": config, "name": name, "permissions": permissions, "ui": ui}, mode="replace"
        )
        return self._client.request("PUT", path, json=body)

    def delete(self, preset_id: str) -> dict:
        """DELETE /presets/{preset_id}; the answer is the deleted preset."""
        return self._client.request("DELETE", _path(preset_id))

    def walk_presets(self, *, per_page: int | None = None) -> PageWalk:
        """Every page of the presets listing."""
        return self._client.walk(lambda page_no, size: self.get(page_no=page_no, per_page=size), per_page)


def _path(preset_id: str) -> str:
    _validate_ids(preset_id=preset_id)
    return f"/presets/{_seg(preset_id)}"
