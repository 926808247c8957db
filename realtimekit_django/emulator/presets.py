"""The emulator's presets: an app starts with the two a new RealtimeKit app has.

A preset's id is :meth:`Emulator.preset_id` of its name at creation, so the ``preset_id``
the emulator reports elsewhere (a participant's delete answer) matches. Names are unique per
app (a second preset of the same name is a 409). Adding a participant does not check its
preset, as the real API does not: it refuses an unknown preset only at join time.
"""

from __future__ import annotations

import copy
from typing import Any

from .answers import error as _error
from .answers import ok as _ok
from .answers import page as _page
from .answers import paging_params as _paging_params

SEEDED_PRESETS = ("group_call_host", "group_call_participant")
PRESET_PARTS = ("config", "permissions", "ui")
#: The design-token colours of a new app's presets: every colour the SDK's preset model requires
#: (``ui.design_tokens.colors``: the background and brand scales and the six single colours).
DEFAULT_COLORS = {
    "background": {"600": "#222222", "700": "#1f1f1f", "800": "#1b1b1b", "900": "#181818", "1000": "#141414"},
    "brand": {"300": "#497cfd", "400": "#356efd", "500": "#2160fd", "600": "#0d51fd", "700": "#0b44d4"},
    "danger": "#ff2d2d",
    "success": "#62a504",
    "text": "#eeeeee",
    "text_on_brand": "#eeeeee",
    "video_bg": "#191919",
    "warning": "#ffcd07",
}


def default_preset_parts(host: bool) -> dict[str, Any]:
    """The config, permissions and ui of a seeded group-call preset (the SDK's shape)."""
    allowed = "ALLOWED"
    return {
        "config": {
            "view_type": "GROUP_CALL",
            "max_screenshare_count": 1,
            "max_video_streams": {"desktop": 25, "mobile": 6},
            "media": {
                "video": {"quality": "hd", "frame_rate": 30},
                "screenshare": {"quality": "hd", "frame_rate": 5},
            },
        },
        "permissions": {
            "accept_waiting_requests": host,
            "can_accept_production_requests": host,
            "can_change_participant_permissions": host,
            "can_edit_display_name": True,
            "can_livestream": host,
            "can_record": host,
            "can_spotlight": host,
            "chat": {
                "private": {"can_receive": True, "can_send": True, "files": True, "text": True},
                "public": {"can_send": True, "files": True, "text": True},
            },
            "connected_meetings": {
                "can_alter_connected_meetings": host,
                "can_switch_connected_meetings": host,
                "can_switch_to_parent_meeting": host,
            },
            "disable_participant_audio": host,
            "disable_participant_screensharing": host,
            "disable_participant_video": host,
            "hidden_participant": False,
            "kick_participant": host,
            "media": {
                "audio": {"can_produce": allowed},
                "screenshare": {"can_produce": allowed},
                "video": {"can_produce": allowed},
            },
            "pin_participant": host,
            "plugins": {"can_close": host, "can_edit_config": host, "can_start": host, "config": {}},
            "polls": {"can_create": host, "can_view": True, "can_vote": True},
            "recorder_type": "NONE",
            "show_participant_list": True,
            "waiting_room_type": "SKIP",
        },
        "ui": {
            "design_tokens": {
                "theme": "dark",
                "border_radius": "rounded",
                "border_width": "thin",
                "spacing_base": 4,
                "colors": copy.deepcopy(DEFAULT_COLORS),
            }
        },
    }


class PresetsMixin:
    """Preset state and operations of :class:`~realtimekit_django.emulator.core.Emulator`."""

    def _presets(self, app_id: str) -> dict[str, dict]:
        app = self._app(app_id)
        if "presets" not in app:
            app["presets"] = {}
            for name in SEEDED_PRESETS:
                self._store_preset(app_id, {"name": name, **default_preset_parts(name.endswith("host"))})
        return app["presets"]

    def _store_preset(self, app_id: str, body: dict) -> dict:
        now = self._now()
        preset = {
            "id": self.preset_id(body["name"]),
            "name": body["name"],
            "created_at": now,
            "updated_at": now,
        }
        preset.update({part: copy.deepcopy(body[part]) for part in PRESET_PARTS})
        self._app(app_id).setdefault("presets", {})[preset["id"]] = preset
        return preset

    def _find_preset(self, app_id: str, preset_id: str) -> dict:
        preset = self._presets(app_id).get(preset_id)
        if preset is None:
            raise self._api_error(404, "Preset not found")
        return preset

    def _preset_named(self, app_id: str, name: str) -> dict | None:
        return next((p for p in self._presets(app_id).values() if p["name"] == name), None)

    def _checked_preset_body(
        self, app_id: str, body: dict, *, mode: str, preset_id: str | None = None
    ) -> dict:
        from realtimekit_django import schema

        checked = schema.validate_preset(body, mode=mode)
        name = checked.get("name")
        other = self._preset_named(app_id, name) if name else None
        if other is not None and other["id"] != preset_id:
            raise self._api_error(409, f"A preset named {name!r} already exists")
        return checked

    def _create_preset(self, app_id: str, body: dict) -> dict:
        self._presets(app_id)
        return copy.deepcopy(
            self._store_preset(app_id, self._checked_preset_body(app_id, body, mode="create"))
        )

    def _change_preset(self, app_id: str, preset_id: str, body: dict, *, replace: bool) -> dict:
        preset = self._find_preset(app_id, preset_id)
        mode = "replace" if replace else "update"
        checked = self._checked_preset_body(app_id, body, mode=mode, preset_id=preset_id)
        preset.update(copy.deepcopy(checked))
        preset["updated_at"] = self._now()
        return copy.deepcopy(preset)

    def _delete_preset(self, app_id: str, preset_id: str) -> dict:
        self._find_preset(app_id, preset_id)
        return self._presets(app_id).pop(preset_id)

    def _list_presets(self, app_id: str, query: dict[str, str]) -> tuple[list[dict], dict]:
        page_no, per_page = _paging_params(query)
        search = (query.get("search") or "").strip().lower()
        items = [
            {key: preset[key] for key in ("id", "name", "created_at", "updated_at")}
            for preset in self._sorted(list(self._presets(app_id).values()))
            if search in preset["name"].lower()
        ]
        return _page(items, page_no, per_page)

    def _route_presets(self, method: str, app_id: str, route: list[str], query: dict, body: Any):
        if len(route) == 1:
            if method == "GET":
                data, paging = self._list_presets(app_id, query)
                return _ok(data, paging=paging)
            if method == "POST":
                return _ok(self._create_preset(app_id, self._object(body)), status=201)
        elif len(route) == 2:
            preset_id = route[1]
            if method == "GET":
                return _ok(copy.deepcopy(self._find_preset(app_id, preset_id)))
            if method in ("PATCH", "PUT"):
                return _ok(
                    self._change_preset(app_id, preset_id, self._object(body), replace=method == "PUT")
                )
            if method == "DELETE":
                return _ok(self._delete_preset(app_id, preset_id))
        else:
            return _error(404, "Not found")
        return _error(405, "Method not allowed")

    # Python helpers ----------------------------------------------------------------------

    def presets(self, app_id: str | None = None) -> list[dict]:
        """Every preset of an app (the seeded two included), oldest first."""
        with self._lock:
            return copy.deepcopy(self._sorted(list(self._presets(self._resolve_app_id(app_id)).values())))

    def create_preset(self, name: str, app_id: str | None = None, **parts: Any) -> dict:
        """Add a preset directly (parts not given are a participant's defaults)."""
        body = {"name": name, **default_preset_parts(False), **parts}
        with self._lock:
            app = self._resolve_app_id(app_id)
            self._presets(app)
            preset = self._store_preset(app, self._checked_preset_body(app, body, mode="create"))
            self._save_state()
            return copy.deepcopy(preset)
