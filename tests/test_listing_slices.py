"""The whole meetings listing, walked a slice a scheduled run: all of it every
``FULL_SYNC_INTERVAL_SECONDS``, a few pages at a time, never flagging anything."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.test.utils import override_settings
from django.utils import timezone

from realtimekit_django import tasks
from realtimekit_django.client.meetings import MeetingsResource
from realtimekit_django.emulator import ManualClock
from realtimekit_django.models import Meeting
from realtimekit_django.sync import schedule
from tests.settings import REALTIMEKIT

pytestmark = pytest.mark.django_db

#: 10 a page; the whole listing every two runs' worth of time (so about half of it a run).
SLICED = {**REALTIMEKIT, "MAX_RETRIES": 0, "PAGE_SIZE": 10, "FULL_SYNC_INTERVAL_SECONDS": 600}
APP = REALTIMEKIT["APP_ID"]


@pytest.fixture
def old_meetings(realtimekit_emulator):
    """25 meetings created three days ago: only the slices, not the recent walk, see them."""
    clock = ManualClock(start=time.time() - 3 * 86_400)
    realtimekit_emulator.clock = clock
    ids = [realtimekit_emulator.create_meeting(title=f"Old {n}")["id"] for n in range(25)]
    clock.set(time.time())
    return ids


def scheduled_run() -> dict:
    caches["default"].delete(tasks.LAST_RUN_PREFIX + APP)  # each call is the next beat's run
    return tasks.reconcile_all.delay(interval=300).get()


def listing_gets(emulator) -> list[dict]:
    return [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/meetings")]


@override_settings(REALTIMEKIT=SLICED)
def test_the_runs_walk_the_whole_listing_a_slice_at_a_time(realtimekit_emulator, old_meetings):
    slices = []
    for _ in range(10):
        before = len(listing_gets(realtimekit_emulator))
        result = scheduled_run()
        assert result["completed"] is True and result["meetings_walk"] == "recent"
        slices.append(result["meetings_listing"])
        # The recent walk (one empty page) and the slice: nothing else.
        assert len(listing_gets(realtimekit_emulator)) - before == 1 + result["meetings_listing"]["pages"]
        if result["meetings_listing"]["next_page"] == 1:
            break
    assert [s["first_page"] for s in slices] == [1, 2, 3]  # pages per run grow with what is stored
    assert [s["pages"] for s in slices] == [1, 1, 1]
    assert sum(s["pages"] for s in slices) == 3 and slices[-1]["next_page"] == 1
    assert Meeting.objects.filter(pk__in=old_meetings).count() == 25

    # A remote change to an old meeting is adopted within one more pass over the listing.
    realtimekit_emulator.clock.advance(5)
    realtimekit_emulator.update_meeting(old_meetings[0], title="Renamed remotely")
    for _ in range(4):
        scheduled_run()
    assert Meeting.objects.get(pk=old_meetings[0]).title == "Renamed remotely"


@override_settings(REALTIMEKIT=SLICED)
def test_pages_per_run_spread_the_listing_over_the_full_sync_interval(old_meetings):
    assert schedule.listing_pages_per_run(APP, interval=300, per_page=10) == 1  # nothing stored: 1 page
    Meeting.objects.bulk_create([Meeting(id=uuid.uuid4(), app_id=APP) for _ in range(95)])
    # ceil((ceil(95 / 10) + 1) * 300 / 600) = ceil(11 / 2)
    assert schedule.listing_pages_per_run(APP, interval=300, per_page=10) == 6
    with override_settings(REALTIMEKIT={**SLICED, "FULL_SYNC_INTERVAL_SECONDS": 86_400}):
        assert schedule.listing_pages_per_run(APP, interval=300, per_page=100) == 1


@override_settings(REALTIMEKIT=SLICED)
def test_a_slice_never_flags_and_a_sync_by_hand_does(realtimekit_emulator, old_meetings):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    gone = Meeting.objects.create(
        id=uuid.uuid4(), app_id=APP, title="Not in the listing", synced_at=an_hour_ago
    )
    for _ in range(8):
        scheduled_run()
    gone.refresh_from_db()
    assert gone.missing_since is None
    assert tasks.reconcile_all.delay().get()["flagged"] == 1  # one complete walk, by hand


@override_settings(REALTIMEKIT=SLICED)
def test_a_lying_page_stops_the_slice_and_the_next_run_tries_it_again(realtimekit_emulator, old_meetings,
                                                                      monkeypatch):
    real_get = MeetingsResource.get
    lying = {"on": True}

    def get(self, **params):
        if lying["on"] and params.get("page_no") == 1 and "start_time" not in params:
            return {"data": [{"id": str(uuid.uuid4())} for _ in range(11)], "paging": {}}
        return real_get(self, **params)

    monkeypatch.setattr(MeetingsResource, "get", get)
    result = scheduled_run()
    part = result["meetings_listing"]
    assert part["completed"] is False and "at most 10 items" in part["error"]
    assert part["next_page"] == 1 and Meeting.objects.count() == 0  # nothing of the page stored
    assert result["completed"] is True and "participant_tasks" in result  # the run went on

    lying["on"] = False
    assert scheduled_run()["meetings_listing"]["first_page"] == 1
    assert Meeting.objects.count() == 10
