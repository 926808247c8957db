"""The stock emulator, served on loopback HTTP (keep-alive), with realistic seeded meetings.

Its listing keeps the sorted order of an app's meetings between requests (sorting on every
page made a walk O(n² log n) and hid the database side's costs inside the HTTP call), so the
benchmarks measure the same emulator users and tests run.
"""

from __future__ import annotations

from contextlib import contextmanager

from realtimekit_django.emulator import Emulator, serve

API_TOKEN = "bench-api-token-not-a-secret"
ACCOUNT_ID = "bench-account"
APP_ID = "bench-app"


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

    emulator = emulator or Emulator(api_token=API_TOKEN, default_app_id=APP_ID)
    server, thread = serve(emulator)
    try:
        with override_settings(REALTIMEKIT=realtimekit_settings(server.base_url)):
            yield emulator, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
