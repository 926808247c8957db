"""Page walks that meet a lying or broken listing end incomplete, and say why.

A reconcile flags every stored meeting a *complete* walk did not see, so each listing here that
disagrees with itself (an empty or short page before ``total_count``, ids repeated, a listing
that answers every ``page_no`` with the same page, an ``end_offset`` that stops growing, a page
far larger than asked for, items without ids) must leave the walk incomplete, with a readable
reason, and cost no more requests than it took to notice. ``per_page`` outside the API's 1-100
is refused before any request, at every entry point.
"""

from __future__ import annotations

import json
import math
import uuid

import pytest
import responses
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from realtimekit_django import schema
from realtimekit_django.client import PageWalk, RealtimeKitClient, get_client
from realtimekit_django.exceptions import RateLimited, ValidationError
from realtimekit_django.models import Meeting
from realtimekit_django.sync import reconcile

ACCOUNT, APP, TOKEN = "acc", "app", "paging-test-token"
BASE_URL = "https://rtk.test/client/v4"
MEETINGS_URL = f"{BASE_URL}/accounts/{ACCOUNT}/realtime/kit/{APP}/meetings"
MEETING = "6f1c0b5e-2d4e-4c59-9d4b-6a1d0f6f2a11"


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_client(**options) -> RealtimeKitClient:
    return RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, sleep=lambda seconds: None, **options)


def answer(mock, ids: list, *, end=None, total=None, paging: dict | None = None) -> None:
    """Register one answer of the meetings listing holding ``ids`` (``None`` ids: no id key)."""
    items = [{"id": item_id} if item_id is not None else {"title": "no id"} for item_id in ids]
    if paging is None:
        paging = {
            key: value for key, value in (("end_offset", end), ("total_count", total)) if value is not None
        }
    mock.add("GET", MEETINGS_URL, json={"success": True, "data": items, "paging": paging})


def ids(start: int, count: int) -> list[str]:
    return [str(uuid.UUID(int=n + 1)) for n in range(start, start + count)]


def walk_all(client: RealtimeKitClient, per_page: int = 100) -> tuple[PageWalk, list]:
    walk = client.meetings.walk_meetings(per_page=per_page)
    return walk, list(walk)


# --- lying listings end incomplete --------------------------------------------------------


def test_an_empty_first_page_of_a_listing_of_250_is_incomplete(mocked):
    answer(mocked, [], end=0, total=250)
    client = make_client()
    walk, pages = walk_all(client)
    assert walk.completed is False and client.request_count == 1
    assert "empty before total_count (250)" in walk.incomplete_reason


def test_a_short_second_page_is_incomplete(mocked):
    answer(mocked, ids(0, 100), end=100, total=250)
    answer(mocked, ids(100, 40), end=140, total=250)
    answer(mocked, ids(140, 100), end=240, total=250)
    client = make_client()
    walk, pages = walk_all(client)
    assert walk.completed is False and client.request_count == 2
    assert walk.incomplete_reason.startswith("page 2 was short (40 of 100 items) before total_count (250)")


def test_ids_repeated_across_pages_leave_the_walk_incomplete(mocked):
    # Three full pages reach end_offset 250, but 50 ids of page 2 repeat page 1: 200 distinct.
    answer(mocked, ids(0, 100), end=100, total=250)
    answer(mocked, ids(50, 100), end=200, total=250)
    answer(mocked, ids(150, 50), end=250, total=250)
    client = make_client()
    walk, pages = walk_all(client)
    assert len(pages) == 3 and walk.distinct_ids == 200
    assert walk.completed is False
    assert "total_count (250) was reached (200 seen)" in walk.incomplete_reason


def test_a_listing_that_repeats_itself_stops_after_the_second_page(mocked):
    """A cache that ignores the query string answers every page_no with page 1."""
    mocked.add(
        "GET",
        MEETINGS_URL,
        json={
            "success": True,
            "data": [{"id": i} for i in ids(0, 100)],
            "paging": {"end_offset": 100, "total_count": 10_000},
        },
    )
    client = make_client(max_pages=10_000)
    walk, pages = walk_all(client)
    assert client.request_count == 2 == len(mocked.calls)
    assert walk.completed is False
    assert walk.incomplete_reason == "page 2 brought no new item (the listing repeats itself)"


def test_an_end_offset_that_does_not_advance_is_incomplete(mocked):
    answer(mocked, ids(0, 100), end=100, total=300)
    answer(mocked, ids(100, 100), end=100, total=300)
    answer(mocked, ids(200, 100), end=300, total=300)
    client = make_client()
    walk, pages = walk_all(client)
    assert walk.completed is False and client.request_count == 2
    assert walk.incomplete_reason == "page 2 did not advance end_offset (100 after 100)"


def test_a_page_far_larger_than_asked_for_is_refused_unseen(mocked):
    answer(mocked, ids(0, 20_000), end=20_000, total=20_000)
    client = make_client()
    walk, pages = walk_all(client)
    assert pages == [] and walk.items_seen == 0
    assert walk.completed is False and client.request_count == 1
    assert walk.incomplete_reason == "page 1 held 20000 items, more than the 100 asked for"


@pytest.mark.parametrize(
    "items",
    [
        pytest.param(["not an object", 7, None, [MEETING]], id="not-objects"),
        pytest.param([{"id": ""}, {"id": 42}, {"id": None}, {"title": "no id"}], id="no-usable-id"),
    ],
)
def test_items_without_a_usable_id_are_yielded_and_make_the_walk_unprovable(mocked, items):
    good = [{"id": i} for i in ids(0, 3)]
    mocked.add(
        "GET",
        MEETINGS_URL,
        json={"success": True, "data": good + items, "paging": {"end_offset": 7, "total_count": 7}},
    )
    walk = make_client().meetings.walk_meetings(per_page=10)
    pages = list(walk)
    assert pages[0].items == good + items  # the store reports and skips them, not the walk
    assert walk.unidentifiable == 4 and walk.completed is False
    assert walk.incomplete_reason == "4 items had no usable id: the walk cannot prove it saw them all"


@pytest.mark.parametrize("bad", ["250", math.nan, -1, 2.5, True, {"n": 1}], ids=repr)
def test_an_unusable_total_count_is_incomplete_not_a_crash(mocked, bad):
    body = json.dumps({"success": True, "data": [], "paging": {"end_offset": 0, "total_count": bad}})
    mocked.add("GET", MEETINGS_URL, body=body, content_type="application/json")
    walk = make_client().meetings.walk_meetings(per_page=10)
    assert list(walk) == []
    assert walk.completed is False and walk.incomplete_reason == "page 1 has an unusable paging.total_count"


def test_an_incomplete_walk_flags_no_stored_meeting(mocked, db):
    """The reconcile side of a lying listing: 3 meetings stored, an empty listing of 3."""
    stamp = "2024-01-01T00:00:00.000Z"
    honest = [{"id": i, "status": "ACTIVE", "created_at": stamp, "updated_at": stamp} for i in ids(0, 3)]
    mocked.add(
        "GET",
        MEETINGS_URL,
        json={"success": True, "data": honest, "paging": {"end_offset": 3, "total_count": 3}},
    )
    client = make_client()
    assert reconcile.reconcile_meetings(client=client).completed is True
    assert Meeting.objects.count() == 3

    mocked.replace(
        "GET", MEETINGS_URL, json={"success": True, "data": [], "paging": {"end_offset": 0, "total_count": 3}}
    )
    report = reconcile.reconcile_meetings(client=client)
    assert report.completed is False and report.flagged == 0
    assert not Meeting.objects.filter(missing_since__isnull=False).exists()


# --- honest listings complete -------------------------------------------------------------


def test_an_honest_listing_of_250_completes_in_3_requests(realtimekit_emulator, settings):
    emulator_app = settings.REALTIMEKIT["APP_ID"]
    for n in range(250):
        realtimekit_emulator.create_meeting(app_id=emulator_app, title=f"meeting {n}")
    client = get_client()
    walk = client.meetings.walk_meetings(per_page=100)
    pages = list(walk)
    assert [len(page.items) for page in pages] == [100, 100, 50]
    assert walk.completed is True and walk.incomplete_reason is None
    assert walk.distinct_ids == 250 == walk.total_count and client.request_count == 3


def test_an_empty_listing_is_complete(mocked):
    answer(mocked, [], end=0, total=0)
    walk, pages = walk_all(make_client())
    assert walk.completed is True and walk.incomplete_reason is None


def test_a_walk_not_yet_finished_says_so(mocked):
    answer(mocked, ids(0, 2), end=2, total=4)
    walk = make_client().meetings.walk_meetings(per_page=2)
    next(iter(walk))
    assert (
        walk.completed is False
        and walk.incomplete_reason == "the walk has not reached the end of the listing"
    )


# --- per_page outside 1..100 is refused before any request --------------------------------


def _entry_points(client: RealtimeKitClient, per_page: int):
    meetings = client.meetings
    return {
        "client.walk": lambda: client.walk(lambda page_no, size: {}, per_page),
        "PageWalk": lambda: PageWalk(fetch=lambda page_no, size: {}, per_page=per_page, max_pages=1),
        "walk_meetings": lambda: meetings.walk_meetings(per_page=per_page),
        "walk_participants": lambda: meetings.walk_participants(MEETING, per_page=per_page),
        "iter_meetings": lambda: meetings.iter_meetings(per_page=per_page),
        "iter_participants": lambda: meetings.iter_participants(MEETING, per_page=per_page),
        "get": lambda: meetings.get(per_page=per_page),
        "get_meeting_participants": lambda: meetings.get_meeting_participants(MEETING, per_page=per_page),
        "constructor page_size": lambda: make_client(page_size=per_page),
    }


@pytest.mark.parametrize("per_page", [0, schema.MAX_PER_PAGE + 1, 1000])
@pytest.mark.parametrize("entry", list(_entry_points(make_client(), 1)))
def test_per_page_outside_the_api_range_is_refused_at_every_entry_point(mocked, entry, per_page):
    mocked.add("GET", MEETINGS_URL, json={"success": True, "data": [], "paging": {}})
    client = make_client()
    with pytest.raises(ValidationError) as caught:
        _entry_points(client, per_page)[entry]()  # refused at the call, not at first iteration
    assert isinstance(caught.value, ValueError) and "per_page" in str(caught.value)
    assert len(mocked.calls) == 0 and client.request_count == 0


def test_the_page_size_maximum_is_the_apis():
    assert schema.MAX_PER_PAGE == 100


def test_an_unknown_meeting_filter_is_refused_naming_it(mocked):
    with pytest.raises(ValidationError, match="colour"):
        make_client().meetings.walk_meetings(colour="blue")
    assert len(mocked.calls) == 0


# --- every attempt passes through one place -----------------------------------------------


def test_every_attempt_retries_included_passes_the_attempt_hooks(mocked):
    mocked.add("GET", MEETINGS_URL + f"/{MEETING}", status=503, body="")
    mocked.add("GET", MEETINGS_URL + f"/{MEETING}", status=429, json={}, headers={"retry-after": "0"})
    mocked.add("GET", MEETINGS_URL + f"/{MEETING}", json={"success": True, "data": {"id": MEETING}})
    client = make_client(max_retries=2)
    seen: list = []
    client.before_attempt.append(lambda method, path: seen.append(("before", method, path)))
    client.after_attempt.append(lambda method, path, response: seen.append(("after", response.status_code)))
    client.meetings.get_meeting_by_id(MEETING)
    path = f"/accounts/{ACCOUNT}/realtime/kit/{APP}/meetings/{MEETING}"
    assert seen == [("before", "GET", path), ("after", 503)] + [("before", "GET", path), ("after", 429)] + [
        ("before", "GET", path),
        ("after", 200),
    ]
    assert client.request_count == 3


def test_an_attempt_that_got_no_answer_reaches_the_after_hook_with_none(mocked):
    import requests

    mocked.add("GET", MEETINGS_URL + f"/{MEETING}", body=requests.exceptions.ReadTimeout())
    client = make_client(max_retries=0)
    answers: list = []
    client.after_attempt.append(lambda method, path, response: answers.append(response))
    with pytest.raises(TimeoutError):
        client.meetings.get_meeting_by_id(MEETING)
    assert answers == [None]


def test_a_before_hook_can_refuse_an_attempt(mocked):
    """What a shared rate budget will do when it is spent: refuse before anything is sent."""
    client = make_client()

    def budget_spent(method, path):
        raise RateLimited("the shared budget is spent", method=method, path=path, status=429)

    client.before_attempt.append(budget_spent)
    with pytest.raises(RateLimited):
        client.meetings.get_meeting_by_id(MEETING)
    assert len(mocked.calls) == 0 and client.request_count == 0


def test_full_pages_that_reach_total_count_with_repeated_ids_are_incomplete(mocked):
    answer(mocked, ids(0, 100), end=100, total=300)
    answer(mocked, ids(50, 100), end=200, total=300)
    answer(mocked, ids(150, 100), end=300, total=300)
    walk, pages = walk_all(make_client())
    assert len(pages) == 3 and walk.completed is False
    assert walk.incomplete_reason == "the listing reports total_count 300 but the walk saw 250 distinct items"


# --- any listing at all: a walk never crashes, and never calls a lie complete ---------------

_json_scalars = (
    st.none() | st.booleans() | st.integers(-5, 400) | st.floats(allow_nan=True) | st.text(max_size=3)
)
_items = st.lists(
    st.one_of(
        st.builds(lambda n: {"id": str(uuid.UUID(int=n + 1))}, st.integers(0, 40)),
        _json_scalars,
        st.dictionaries(st.sampled_from(["id", "title"]), _json_scalars, max_size=2),
    ),
    max_size=8,
)
_paging = st.dictionaries(st.sampled_from(["start_offset", "end_offset", "total_count"]), _json_scalars)


@hypothesis_settings(max_examples=300, deadline=None)
@given(pages=st.lists(st.tuples(_items, _paging), min_size=1, max_size=6))
def test_any_listing_ends_in_a_verdict_never_a_crash(pages):
    """A complete verdict implies every item had an id and the ids seen number total_count."""
    answers = iter(pages)

    def fetch(page_no: int, per_page: int) -> dict:
        items, paging = next(answers, ([], {}))
        return {"success": True, "data": items, "paging": paging}

    walk = PageWalk(fetch=fetch, per_page=5, max_pages=10)
    yielded = [page.items for page in walk]
    assert all(len(items) <= 5 for items in yielded)
    if walk.completed:
        assert walk.incomplete_reason is None and walk.unidentifiable == 0
        assert walk.total_count is None or walk.distinct_ids == walk.total_count
        assert len(yielded[-1]) < 5 or walk.total_count is not None
    else:
        assert walk.incomplete_reason
