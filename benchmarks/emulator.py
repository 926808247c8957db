"""The emulator, served on loopback, with a listing that stays cheap at 100,000 meetings.

The stock :class:`~realtimekit_django.emulator.Emulator` sorts every meeting and parses every
``created_at`` on *each* listing request: O(n log n) per page, so one walk costs O(n² log n)
(about 15 ms a page at 10,000 meetings, 150 ms at 100,000). That time would be spent inside the
HTTP call both the project and the floor make, shrinking every ratio towards 1 and hiding what
the database side costs. :class:`BenchEmulator` keeps the sorted order of an app's meetings and
drops it whenever a meeting is created or changed; filtered listings use the stock code.
"""

from __future__ import annotations

from contextlib import contextmanager

from realtimekit_django.emulator import Emulator, serve
from realtimekit_django.emulator import core as emulator_core

API_TOKEN = "bench-api-token-not-a-secret"
ACCOUNT_ID = "bench-account"
APP_ID = "bench-app"
_FILTERS = ("status", "start_time", "end_time", "search")


class BenchEmulator(Emulator):
    def _init_state(self) -> None:
        super()._init_state()
        self._sorted_ids: dict[str, list[str]] = {}

    def _list_meetings(self, app_id: str, query: dict[str, str]):
        if any(query.get(name) not in (None, "") for name in _FILTERS):
            return super()._list_meetings(app_id, query)
        page_no, per_page = emulator_core._paging_params(query)
        meetings = self._app(app_id)["meetings"]
        order = self._sorted_ids.get(app_id)
        if order is None:
            order = [m["id"] for m in self._sorted(list(meetings.values()))]
            self._sorted_ids[app_id] = order
        ids, paging = emulator_core._page(order, page_no, per_page)
        return [self._public_meeting(meetings[i]) for i in ids], paging

    def _create_meeting(self, app_id, body, overrides=None):
        self._sorted_ids.pop(app_id, None)
        return super()._create_meeting(app_id, body, overrides)

    def _update_meeting(self, app_id, meeting_id, body, *, replace):
        self._sorted_ids.clear()
        return super()._update_meeting(app_id, meeting_id, body, replace=replace)


def seed_meetings(emulator: Emulator, count: int, *, offset: int = 0) -> list[str]:
    """``count`` meetings with varied, realistic payloads; returns their ids in listing order."""
    ids = []
    for index in range(offset, offset + count):
        meeting = emulator.create_meeting(
            app_id=APP_ID,
            title=f"Weekly sync #{index}",
            record_on_start=index % 3 == 0,
            persist_chat=index % 2 == 0,
            session_keep_alive_time_in_secs=60 + index % 240,
            ai_config={"summarization": {"word_limit": 150 + index % 200, "summary_type": "general"}},
        )
        ids.append(meeting["id"])
    return ids


def realtimekit_settings(base_url: str) -> dict:
    """The ``REALTIMEKIT`` dict that points the app at an emulator served at ``base_url``."""
    return {
        "ACCOUNT_ID": ACCOUNT_ID,
        "APP_ID": APP_ID,
        "API_TOKEN": API_TOKEN,
        "BASE_URL": base_url,
        "MAX_RETRIES": 0,  # a failed request is a crash to report, not a retry to time
    }


@contextmanager
def served(emulator: Emulator | None = None):
    """An emulator on 127.0.0.1 and the ``REALTIMEKIT`` settings that point the app at it."""
    from django.test import override_settings

    emulator = emulator or BenchEmulator(api_token=API_TOKEN, default_app_id=APP_ID)
    server, thread = serve(emulator)
    try:
        with override_settings(REALTIMEKIT=realtimekit_settings(server.base_url)):
            yield emulator, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
