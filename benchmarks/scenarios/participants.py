"""``participants``: ``realtimekit.reconcile_all`` over meetings with many participants.

The task walks the meetings, then fans out one participants walk per meeting; with Celery eager
those run inline, so the timed region is the whole sync a beat tick would trigger. Each round
starts from empty tables; the figures are medians.
"""

from __future__ import annotations

import gc

from realtimekit_django.client import get_client
from realtimekit_django.models import Participant
from realtimekit_django.tasks import reconcile_all

from ..database import reset_tables
from ..emulator import APP_ID, seed_meetings, served
from ..measure import count_queries, median, stopwatch
from ..report import Result

PARTICIPANTS_PER_MEETING = 50


def _seed_participants(emulator, meeting_ids: list[str], per_meeting: int) -> None:
    for meeting_id in meeting_ids:
        for index in range(per_meeting):
            emulator.add_participant(
                meeting_id,
                app_id=APP_ID,
                custom_participant_id=f"user-{index}",
                preset_name="group_call_participant" if index else "group_call_host",
                name=f"Person {index}",
            )


def run(database: str, size: int, rounds: int) -> Result:
    per_meeting = PARTICIPANTS_PER_MEETING
    result = Result("participants", database, size, rounds)
    times = []
    with served() as (emulator, _server):
        meeting_ids = seed_meetings(emulator, size)
        _seed_participants(emulator, meeting_ids, per_meeting)
        api = get_client()
        for _ in range(rounds):
            reset_tables()
            gc.collect()
            before = api.request_count
            with count_queries() as queries, stopwatch() as elapsed:
                outcome = reconcile_all.delay().get()
            times.append(elapsed())
            requests_made = api.request_count - before
            stored = Participant.objects.count()
            if stored != size * per_meeting or outcome.get("participant_tasks") != size:
                raise AssertionError(f"reconcile_all stored {stored} participants; task said {outcome}")
    seconds = median(times)
    result.figures = {
        "seconds": seconds,
        "participants": size * per_meeting,
        "queries_per_meeting": queries.queries / size,
        "statements_per_meeting": queries.total / size,
        "http_requests": requests_made,
        "ms_per_meeting": seconds * 1000 / size,
    }
    result.notes.append(
        f"{size} meetings x {per_meeting} participants, Celery eager (fan-out inline), one client; "
        "queries_per_meeting excludes BEGIN/SAVEPOINT/RELEASE, statements_per_meeting includes them"
    )
    return result
