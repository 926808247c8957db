"""Listings that lie, repeat themselves or carry poison, against the walks (issue classes 5-10).

Property-based: whatever pages the listing serves (wrong ``paging``, ids repeated across pages,
short and empty pages, NUL characters and lone surrogates, date-times past year 9999, NaN,
infinities), a meetings walk ends with a report, never an exception; every good item is stored;
and nothing that exists remotely is flagged missing, however the listing lied about it.
"""

from __future__ import annotations

import math
import uuid

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtimekit_django import services
from realtimekit_django.client import get_client
from realtimekit_django.models import Meeting
from realtimekit_django.sync.reconcile import reconcile_meetings, reconcile_participants

pytestmark = pytest.mark.django_db

POISON_TEXT = st.sampled_from(["a\x00b", "\ud800", "x\udfffy", "\x00"])
POISON_TIME = st.sampled_from(
    ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-13-01T00:00:00Z", "yesterday"]
)
POISON_NUMBER = st.sampled_from([math.nan, math.inf, -math.inf, 1e308 * 10])


def _poisoned(meeting: dict, draw) -> dict:
    kind = draw(st.sampled_from(["title", "time", "number", "nested", "status", "type"]))
    if kind == "title":
        return {**meeting, "title": draw(POISON_TEXT)}
    if kind == "time":
        return {**meeting, draw(st.sampled_from(["created_at", "updated_at"])): draw(POISON_TIME)}
    if kind == "number":
        return {**meeting, "session_keep_alive_time_in_secs": draw(POISON_NUMBER)}
    if kind == "nested":
        return {**meeting, "ai_config": {"transcription": {"keywords": ["ok", draw(POISON_TEXT)]}}}
    if kind == "status":
        return {**meeting, "status": "EXPLODED"}
    return {**meeting, "record_on_start": "yes"}


@st.composite
def lying_listings(draw, remote: list[dict]):
    """Pages built from the remote meetings, with lies and poison mixed in."""
    pages = []
    per_page = draw(st.sampled_from([2, 3, 5]))
    pool = list(remote)
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        size = draw(st.integers(min_value=0, max_value=per_page))
        items = [dict(draw(st.sampled_from(pool))) for _ in range(size)] if pool else []
        items = [_poisoned(item, draw) if draw(st.integers(0, 4)) == 0 else item for item in items]
        total = draw(st.one_of(st.just(len(remote)), st.integers(min_value=0, max_value=3 * len(remote) + 3)))
        start = draw(st.integers(min_value=0, max_value=10))
        pages.append(
            {
                "success": True,
                "data": items,
                "paging": {"start_offset": start, "end_offset": start + len(items), "total_count": total},
            }
        )
    return per_page, pages


REMOTE_COUNT = 6


@pytest.fixture
def remote(realtimekit_emulator):
    made = [services.create_meeting(title=f"real {n}") for n in range(REMOTE_COUNT)]
    return [realtimekit_emulator.get_meeting(str(m.pk)) for m in made]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_listing_can_make_a_walk_raise_or_flag_what_exists(
    realtimekit_emulator, remote, data, monkeypatch, reliability
):
    Meeting.objects.update(missing_since=None)
    per_page, pages = data.draw(lying_listings(remote))
    client = get_client()
    served = []

    def lying_get(*, page_no=None, per_page=None, **filters):
        served.append(page_no)
        return pages[page_no - 1] if page_no <= len(pages) else pages[-1]

    monkeypatch.setattr(client.meetings, "get", lying_get)
    report = reconcile_meetings(per_page=per_page, client=client)  # never raises

    flagged = set(Meeting.objects.filter(missing_since__isnull=False).values_list("pk", flat=True))
    present = {uuid.UUID(m["id"]) for m in realtimekit_emulator.meetings()}
    assert not flagged & present, report.summary()
    # However the listing repeats itself, a walk stops long before MAX_PAGES.
    assert len(served) <= len(pages) + 1
    assert Meeting.objects.count() == REMOTE_COUNT  # poison never became a row of its own
    for row in Meeting.objects.all():
        assert "\x00" not in (row.title or "") and math.isfinite(row.session_keep_alive_time_in_secs)
    reliability(
        "listing",
        "property: lying paging, repeats, short/empty pages, NUL, surrogates, extreme dates, NaN",
        "a report every time; nothing present remotely flagged; poison rejected per item",
        runs=1,
        lost=len(flagged & present),
    )


def test_an_empty_page_claiming_250_flags_nothing(realtimekit_emulator, remote, monkeypatch):
    client = get_client()
    empty = {"success": True, "data": [], "paging": {"start_offset": 0, "end_offset": 0, "total_count": 250}}
    monkeypatch.setattr(client.meetings, "get", lambda **kw: empty)
    report = reconcile_meetings(client=client)
    assert report.flagged == 0 and not Meeting.objects.filter(missing_since__isnull=False).exists()


def test_a_listing_that_repeats_every_page_stops_at_once(realtimekit_emulator, remote, monkeypatch):
    client = get_client()
    page = {
        "success": True,
        "data": remote[:2],
        "paging": {"start_offset": 1, "end_offset": 2, "total_count": 200},
    }
    calls = []
    monkeypatch.setattr(client.meetings, "get", lambda **kw: calls.append(kw) or page)
    report = reconcile_meetings(per_page=2, client=client)
    assert not report.completed and report.flagged == 0
    assert len(calls) <= 2  # not MAX_PAGES (10,000) requests


def test_one_poisoned_meeting_does_not_stop_the_walk(realtimekit_emulator, remote, monkeypatch):
    client = get_client()
    items = [*remote[:2], {**remote[2], "title": "a\x00b"}, *remote[3:]]
    page = {
        "success": True,
        "data": items,
        "paging": {"start_offset": 1, "end_offset": len(items), "total_count": len(items)},
    }
    renamed = [
        {**item, "title": f"renamed {n}", "updated_at": "2099-01-01T00:00:00Z"}
        for n, item in enumerate(items)
    ]
    page["data"] = [renamed[0], renamed[1], items[2], *renamed[3:]]
    monkeypatch.setattr(client.meetings, "get", lambda **kw: page)
    report = reconcile_meetings(client=client)
    assert report.rejected == 1 and "'title'" in report.rejections[0]
    titles = set(Meeting.objects.values_list("title", flat=True))
    assert {"renamed 0", "renamed 1", "renamed 3", "renamed 4", "renamed 5"} <= titles
    assert report.flagged == 0


def test_a_timestamp_past_9999_is_refused_and_pages_keep_rendering(
    realtimekit_emulator, remote, monkeypatch, admin_client
):
    client = get_client()
    bad = {**remote[0], "updated_at": "9999-12-31T23:59:59-01:00"}
    page = {"success": True, "data": [bad], "paging": {"start_offset": 1, "end_offset": 1, "total_count": 1}}
    monkeypatch.setattr(client.meetings, "get", lambda **kw: page)
    report = reconcile_meetings(client=client, status="ACTIVE")  # filtered: flags nothing
    assert report.rejected == 1
    assert admin_client.get(reverse("admin:realtimekit_meeting_changelist")).status_code == 200


def test_participant_walks_reject_poison_per_item(realtimekit_emulator, remote, monkeypatch):
    meeting = Meeting.objects.first()
    good = realtimekit_emulator.add_participant(str(meeting.pk), custom_participant_id="ok", preset_name="p")
    bad = {**good, "id": str(uuid.uuid4()), "custom_participant_id": "x" * 300}
    nul = {**good, "id": str(uuid.uuid4()), "name": "a\x00"}
    client = get_client()
    page = {
        "success": True,
        "data": [good, bad, nul],
        "paging": {"start_offset": 1, "end_offset": 3, "total_count": 3},
    }
    monkeypatch.setattr(client.meetings, "get_meeting_participants", lambda *a, **kw: page)
    report = reconcile_participants(meeting, client=client)
    assert report.rejected == 2 and report.created == 1
