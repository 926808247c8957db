"""The sessions and livestreams resources: the SDK's request for the same arguments, every
argument checked before a request, every answer checked after it, walks on the background lane,
and no download link or stream key in an error's text."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import responses
from cloudflare import Cloudflare

from realtimekit_django.client import RealtimeKitClient, budget
from realtimekit_django.exceptions import InvalidResponse, ValidationError
from realtimekit_django.schema.livestreams import strip_livestream_secrets
from realtimekit_django.schema.sessions import strip_session_urls

TOKEN = "parity-token-not-a-secret"
ACCOUNT = "acct-0123"
APP = "app-4567"
BASE_URL = "https://rtk.test/client/v4"
SESSION = "5e1d7c3a-9b2f-4e6d-8a1c-0f2e3d4c5b6a"
MEETING = "6f1c0b5e-2d4e-4c59-9d4b-6a1d0f6f2a11"
PARTICIPANT = "0b0a8a1e-7f55-4c1b-a0b2-1c2d3e4f5a6b"
LIVESTREAM = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
STREAM_KEY = "sk-very-secret-stream-key"
INGEST = "rtmps://ingest.secret.example/live"
DOWNLOAD = "https://files.example/chat.csv?X-Amz-Signature=secret-signature"
T = "2026-12-07T01:02:03.000Z"

SESSION_ROW = {
    "id": SESSION,
    "associated_id": MEETING,
    "created_at": T,
    "live_participants": 0,
    "max_concurrent_participants": 3,
    "meeting_display_name": "Weekly",
    "minutes_consumed": 42.5,
    "organization_id": "org-1",
    "started_at": T,
    "status": "ENDED",
    "type": "meeting",
    "updated_at": T,
    "ended_at": T,
}
PARTICIPANT_ROW = {
    "id": PARTICIPANT,
    "custom_participant_id": "user-7",
    "display_name": "Ada",
    "duration": 12.5,
    "joined_at": T,
    "left_at": T,
    "peer_events": [{"event_name": "PEER_JOINING", "created_at": T}],
}
LIVESTREAM_ROW = {
    "id": LIVESTREAM,
    "meeting_id": MEETING,
    "status": "LIVE",
    "playback_url": "https://play.example/x.m3u8",
    "stream_key": STREAM_KEY,
    "ingest_server": INGEST,
}
LIVESTREAM_SESSION_ROW = {"id": "ls-1", "livestream_id": LIVESTREAM, "ingest_seconds": 60, "viewer_seconds": 600}


def answer(path: str) -> dict:
    """A valid answer for the operation at ``path`` (a fresh copy: tests mutate it)."""
    return copy.deepcopy(_answer(path))


def _answer(path: str) -> dict:
    tail = path.split(f"/kit/{APP}", 1)[1]
    paging = {"start_offset": 0, "end_offset": 1, "total_count": 1}
    if tail == "/sessions":
        return {"success": True, "data": {"sessions": [SESSION_ROW]}, "paging": paging}
    if re.fullmatch(r"/sessions/[^/]+/participants", tail):
        return {"success": True, "data": {"participants": [PARTICIPANT_ROW]}}
    if re.fullmatch(r"/sessions/[^/]+/participants/[^/]+", tail):
        return {"success": True, "data": {"participant": PARTICIPANT_ROW}}
    if tail.endswith("/chat"):
        return {"success": True, "data": {"chat_download_url": DOWNLOAD, "chat_download_url_expiry": T}}
    if tail.endswith("/transcript"):
        data = {"sessionId": SESSION, "transcript_download_url": DOWNLOAD, "transcript_download_url_expiry": T}
        return {"success": True, "data": data}
    if tail.endswith("/summary"):
        data = {"sessionId": SESSION, "summaryDownloadUrl": DOWNLOAD, "summaryDownloadUrlExpiry": T}
        return {"success": True, "data": data}
    if tail.startswith("/sessions/peer-report/"):
        return {"success": True, "data": {"participant": {}}}
    if re.fullmatch(r"/sessions/[^/]+", tail):
        return {"success": True, "data": SESSION_ROW}
    if tail.startswith("/livestreams/sessions/"):
        return {"success": True, "data": LIVESTREAM_SESSION_ROW}
    if tail.endswith("/active-livestream-session") or re.fullmatch(r"/livestreams/[^/]+", tail):
        return {"success": True, "data": {"livestream": LIVESTREAM_ROW, "session": LIVESTREAM_SESSION_ROW}}
    if tail.endswith("/stop"):
        return {"success": True, "data": {"message": "stopped"}}
    return {"success": True, "data": LIVESTREAM_ROW}


def _recorded(method, raw_path_and_query, body):
    path, _, query = raw_path_and_query.partition("?")
    return (method, path, parse_qsl(query, keep_blank_values=True), query, json.loads(body) if body else None)


def record_sdk(resource, operation, args, kwargs):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer(request.url.path))

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    with Cloudflare(api_token=TOKEN, base_url=BASE_URL, max_retries=0, http_client=http_client) as sdk:
        getattr(getattr(sdk.realtime_kit, resource), operation)(*args, account_id=ACCOUNT, app_id=APP, **kwargs)
    (request,) = seen
    return _recorded(request.method, request.url.raw_path.decode(), request.content)


def record_ours(resource, operation, args, kwargs, respond=answer):
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST"):
            mock.add_callback(
                method,
                re.compile(re.escape(BASE_URL) + r"/.*"),
                callback=lambda request: (200, {}, json.dumps(respond(urlsplit(request.url).path))),
            )
        result = getattr(getattr(client, resource), operation)(*args, **kwargs)
        (call,) = mock.calls
    parts = urlsplit(call.request.url)
    raw = parts.path + (f"?{parts.query}" if parts.query else "")
    return _recorded(call.request.method, raw, call.request.body), result


WHEN = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
CASES = [
    ("sessions", "get_sessions", (), {}),
    (
        "sessions",
        "get_sessions",
        (),
        {
            "associated_id": MEETING,
            "end_time": WHEN,
            "page_no": 2,
            "participants": "user-7",
            "per_page": 25,
            "search": "weekly & co",
            "sort_by": "minutesConsumed",
            "sort_order": "DESC",
            "start_time": "2026-01-01T00:00:00+00:00",
            "status": "ENDED",
        },
    ),
    ("sessions", "get_session_details", (SESSION,), {}),
    ("sessions", "get_session_details", (SESSION,), {"include_breakout_rooms": True}),
    ("sessions", "get_session_participants", (SESSION,), {}),
    (
        "sessions",
        "get_session_participants",
        (SESSION,),
        {
            "include_peer_events": True,
            "page_no": 3,
            "per_page": 100,
            "search": "Ada",
            "sort_by": "joinedAt",
            "sort_order": "ASC",
            "view": "consolidated",
        },
    ),
    ("sessions", "get_session_participants", (SESSION,), {"include_peer_events": False, "view": "raw"}),
    ("sessions", "get_session_participant_details", (PARTICIPANT,), {"session_id": SESSION}),
    (
        "sessions",
        "get_session_participant_details",
        (PARTICIPANT,),
        {"session_id": SESSION, "include_peer_events": True},
    ),
    ("sessions", "get_participant_data_from_peer_id", ("peer-1",), {"filters": "events", "include_peer_events": True}),
    ("sessions", "get_session_chat", (SESSION,), {}),
    ("sessions", "get_session_transcripts", (SESSION,), {}),
    ("sessions", "get_session_transcripts", (SESSION,), {"format": "VTT"}),
    ("sessions", "get_session_summary", (SESSION,), {}),
    ("sessions", "generate_summary_of_transcripts", (SESSION,), {}),
    ("livestreams", "start_livestreaming_a_meeting", (MEETING,), {}),
    (
        "livestreams",
        "start_livestreaming_a_meeting",
        (MEETING,),
        {"name": "Town hall", "video_config": {"width": 1280, "height": 720}},
    ),
    ("livestreams", "start_livestreaming_a_meeting", (MEETING,), {"name": None}),
    ("livestreams", "stop_livestreaming_a_meeting", (MEETING,), {}),
    ("livestreams", "get_meeting_active_livestreams", (MEETING,), {}),
    ("livestreams", "get_all_livestreams", (), {}),
    (
        "livestreams",
        "get_all_livestreams",
        (),
        {
            "end_time": WHEN,
            "exclude_meetings": True,
            "page_no": 1,
            "per_page": 10,
            "sort_order": "DSC",
            "start_time": WHEN,
            "status": "LIVE",
        },
    ),
    ("livestreams", "get_livestream_session_for_livestream_id", (LIVESTREAM,), {"page_no": 2, "per_page": 5}),
    ("livestreams", "get_active_livestreams_for_livestream_id", (LIVESTREAM,), {}),
    ("livestreams", "get_livestream_session_details_for_session_id", ("ls-1",), {}),
]


def test_every_operation_is_covered():
    covered = {(resource, operation) for resource, operation, _, _ in CASES}
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL)
    for resource in ("sessions", "livestreams"):
        public = {
            name
            for name in dir(getattr(client, resource))
            if not name.startswith(("_", "walk_", "iter_"))
        }
        assert public == {operation for r, operation in covered if r == resource}


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_same_request_as_the_sdk(case):
    resource, operation, args, kwargs = case
    theirs = record_sdk(resource, operation, args, kwargs)
    ours, _ = record_ours(resource, operation, args, kwargs)
    assert ours == theirs
    assert ours[1].startswith(f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP}/")


def test_the_comparison_sees_the_query_and_the_body():
    ours, _ = record_ours("sessions", "get_session_participants", (SESSION,), {"include_peer_events": True})
    assert ours[2] == [("include_peer_events", "true")]
    ours, _ = record_ours("livestreams", "start_livestreaming_a_meeting", (MEETING,), {"name": "x"})
    assert ours[4] == {"name": "x"}


BAD_ARGUMENTS = [
    ("sessions", "get_sessions", (), {"status": "live"}, "status"),
    ("sessions", "get_sessions", (), {"sort_by": "duration"}, "sort_by"),
    ("sessions", "get_sessions", (), {"sort_order": "DSC"}, "sort_order"),
    ("sessions", "get_sessions", (), {"per_page": 101}, "per_page"),
    ("sessions", "get_sessions", (), {"page_no": 0}, "page_no"),
    ("sessions", "get_sessions", (), {"start_time": "yesterday"}, "start_time"),
    ("sessions", "get_sessions", (), {"associated_id": ""}, "associated_id"),
    ("sessions", "get_sessions", (), {"search": "a\x00b"}, "search"),
    ("sessions", "get_session_details", ("",), {}, "session_id"),
    ("sessions", "get_session_details", (SESSION,), {"include_breakout_rooms": 1}, "include_breakout_rooms"),
    ("sessions", "get_session_participants", (SESSION,), {"view": "merged"}, "view"),
    ("sessions", "get_session_participants", (SESSION,), {"sort_by": "createdAt"}, "sort_by"),
    ("sessions", "get_session_participants", (SESSION,), {"include_peer_events": "yes"}, "include_peer_events"),
    ("sessions", "get_session_participant_details", (PARTICIPANT,), {"session_id": "a\x00"}, "session_id"),
    ("sessions", "get_session_transcripts", (SESSION,), {"format": "TXT"}, "format"),
    ("sessions", "get_participant_data_from_peer_id", ("p",), {"filters": "all"}, "filters"),
    ("livestreams", "start_livestreaming_a_meeting", (MEETING,), {"video_config": {"width": 0}}, "width"),
    ("livestreams", "start_livestreaming_a_meeting", (MEETING,), {"video_config": {"depth": 3}}, "depth"),
    ("livestreams", "start_livestreaming_a_meeting", ("",), {}, "meeting_id"),
    ("livestreams", "get_all_livestreams", (), {"sort_order": "DESC"}, "sort_order"),
    ("livestreams", "get_all_livestreams", (), {"status": "OFFLINE"}, "status"),
    ("livestreams", "get_all_livestreams", (), {"exclude_meetings": "true"}, "exclude_meetings"),
    ("livestreams", "get_livestream_session_for_livestream_id", (LIVESTREAM,), {"per_page": 1000}, "per_page"),
]


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=[f"{c[1]}-{c[4]}" for c in BAD_ARGUMENTS])
def test_bad_arguments_are_refused_before_any_request(case):
    resource, operation, args, kwargs, field = case
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    with responses.RequestsMock() as mock:
        with pytest.raises(ValidationError) as caught:
            getattr(getattr(client, resource), operation)(*args, **kwargs)
        assert not mock.calls
    assert field in str(caught.value)


def _bad(mutate):
    def respond(path):
        envelope = answer(path)
        mutate(envelope["data"])
        return envelope

    return respond


BAD_ANSWERS = [
    ("get_session_details", (SESSION,), {}, lambda d: d.update(minutes_consumed=-1), "minutes_consumed"),
    ("get_session_details", (SESSION,), {}, lambda d: d.update(minutes_consumed=float("inf")), "minutes_consumed"),
    ("get_session_details", (SESSION,), {}, lambda d: d.update(status="OPEN"), "status"),
    ("get_session_details", (SESSION,), {}, lambda d: d.update(started_at="noon"), "started_at"),
    ("get_session_details", (SESSION,), {}, lambda d: d.update(ended_at="2026-12-07T01:02:03"), "ended_at"),
    ("get_session_details", (SESSION,), {}, lambda d: d.pop("id"), "id"),
    ("get_session_details", (SESSION,), {}, lambda d: d.update(max_concurrent_participants=2.5), "max_concurrent"),
    ("get_session_details", (SESSION,), {}, lambda d: d.update(meeting_display_name="a\x00"), "meeting_display_name"),
    ("get_session_details", (SESSION,), {}, lambda d: d.update(extra={"deep": "\x00"}), "extra.deep"),
    (
        "get_session_participants",
        (SESSION,),
        {},
        lambda d: d["participants"].append({"display_name": "no id"}),
        "participants[1].id",
    ),
    (
        "get_session_participants",
        (SESSION,),
        {},
        lambda d: d["participants"][0].update(duration=-3),
        "duration",
    ),
    ("get_sessions", (), {}, lambda d: d.update(sessions="many"), "sessions"),
]


@pytest.mark.parametrize("case", BAD_ANSWERS, ids=[f"{c[0]}-{c[4]}" for c in BAD_ANSWERS])
def test_an_answer_that_breaks_the_contract_is_refused(case):
    operation, args, kwargs, mutate, where = case
    with pytest.raises(InvalidResponse) as caught:
        record_ours("sessions", operation, args, kwargs, respond=_bad(mutate))
    assert where in str(caught.value)


@pytest.mark.parametrize(
    ("resource", "operation", "args", "mutate"),
    [
        ("sessions", "get_session_chat", (SESSION,), lambda d: d.update(chat_download_url=DOWNLOAD + " x")),
        ("sessions", "get_session_chat", (SESSION,), lambda d: d.update(chat_download_url_expiry=DOWNLOAD)),
        (
            "livestreams",
            "start_livestreaming_a_meeting",
            (MEETING,),
            lambda d: d.update(stream_key=STREAM_KEY + "\x00", ingest_server=INGEST + "\x00", status=STREAM_KEY),
        ),
    ],
)
def test_a_refused_answer_names_no_secret(resource, operation, args, mutate):
    with pytest.raises(InvalidResponse) as caught:
        record_ours(resource, operation, args, {}, respond=_bad(mutate))
    text = str(caught.value) + repr(caught.value)
    for secret in (DOWNLOAD, "secret-signature", STREAM_KEY, INGEST):
        assert secret not in text


def test_the_secrets_reach_the_caller_once_and_strip_away():
    _, result = record_ours("livestreams", "start_livestreaming_a_meeting", (MEETING,), {})
    assert result["data"]["stream_key"] == STREAM_KEY
    kept = strip_livestream_secrets(result)
    assert "stream_key" not in kept["data"] and "ingest_server" not in kept["data"]
    assert kept["data"]["playback_url"] == LIVESTREAM_ROW["playback_url"]
    _, chat = record_ours("sessions", "get_session_chat", (SESSION,), {})
    assert strip_session_urls(chat["data"]) == {"chat_download_url_expiry": T}


def test_unknown_keys_of_an_answer_are_kept():
    _, result = record_ours("sessions", "get_session_details", (SESSION,), {}, respond=_bad(lambda d: d.update(new=1)))
    assert result["data"]["new"] == 1


# --- walks ------------------------------------------------------------------------------


def _session(index):
    return {**SESSION_ROW, "id": f"s-{index:04d}"}


def test_walk_sessions_reads_every_page_on_the_background_lane():
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    lanes = []
    client.before_attempt.append(lambda method, path: lanes.append(budget.current_lane()))
    total = 5

    def respond(request):
        query = dict(parse_qsl(urlsplit(request.url).query))
        page, size = int(query["page_no"]), int(query["per_page"])
        assert query["status"] == "ENDED"
        items = [_session(i) for i in range((page - 1) * size, min(page * size, total))]
        paging = {"start_offset": (page - 1) * size, "end_offset": (page - 1) * size + len(items), "total_count": total}
        return 200, {}, json.dumps({"success": True, "data": {"sessions": items}, "paging": paging})

    with responses.RequestsMock() as mock:
        mock.add_callback("GET", re.compile(re.escape(BASE_URL) + r"/.*/sessions\?.*"), callback=respond)
        walk = client.sessions.walk_sessions(per_page=2, status="ENDED")
        ids = [item["id"] for page in walk for item in page.items]
    assert ids == [f"s-{i:04d}" for i in range(total)]
    assert walk.completed and walk.pages == 3
    assert lanes == [budget.BACKGROUND] * 3
    assert budget.current_lane() == budget.INTERACTIVE


def test_a_sessions_listing_that_repeats_itself_leaves_the_walk_incomplete():
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    page = {"success": True, "data": {"sessions": [_session(0), _session(1)]}, "paging": {"total_count": 10}}
    with responses.RequestsMock() as mock:
        mock.add("GET", re.compile(re.escape(BASE_URL) + r"/.*"), json=page)
        walk = client.sessions.walk_sessions(per_page=2)
        list(walk)
    assert not walk.completed
    assert "repeats" in walk.incomplete_reason


def test_walk_session_participants_passes_its_filters_and_ends_on_a_short_page():
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    with responses.RequestsMock() as mock:
        mock.add(
            "GET",
            re.compile(re.escape(BASE_URL) + r"/.*/sessions/[^/]+/participants\?.*"),
            json={"success": True, "data": {"participants": [PARTICIPANT_ROW]}},
        )
        people = list(client.sessions.iter_session_participants(SESSION, per_page=10, include_peer_events=True, view="consolidated"))
        query = urlsplit(mock.calls[0].request.url).query
    assert [p["id"] for p in people] == [PARTICIPANT]
    assert parse_qsl(query) == [
        ("include_peer_events", "true"), ("page_no", "1"), ("per_page", "10"), ("view", "consolidated")
    ]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.walk_sessions(colour="red"), "colour"),
        (lambda s: s.walk_sessions(status="OPEN"), "status"),
        (lambda s: s.walk_sessions(page_no=2), "page_no"),
        (lambda s: s.walk_sessions(per_page=500), "per_page"),
        (lambda s: s.walk_session_participants("", view="raw"), "session_id"),
        (lambda s: s.walk_session_participants(SESSION, view="flat"), "view"),
    ],
)
def test_a_walk_refuses_bad_filters_at_the_call(call, field):
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    with responses.RequestsMock() as mock:
        with pytest.raises(ValidationError) as caught:
            call(client.sessions)
        assert not mock.calls
    assert field in str(caught.value)
