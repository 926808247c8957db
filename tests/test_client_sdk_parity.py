"""Our client and the official ``cloudflare`` SDK, given the same arguments, send the same request.

Each side is recorded at its own transport (the SDK speaks httpx, recorded by an
``httpx.MockTransport``; our client speaks requests, recorded by ``responses``), both answer
with a minimal success envelope, and the two recordings are normalised to one shape: method,
raw path, query (as an ordered list of pairs *and* as the raw string) and parsed JSON body.
Bodies are compared after a canonical re-dump, so ``60`` and ``60.0`` or ``false`` and ``0``
count as different, as they would to a strict server.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import responses
from cloudflare import Cloudflare

from realtimekit_django.client import RealtimeKitClient

TOKEN = "parity-token-not-a-secret"
ACCOUNT = "acct-0123"
APP = "app-4567"
BASE_URL = "https://rtk.test/client/v4"
MEETING = "6f1c0b5e-2d4e-4c59-9d4b-6a1d0f6f2a11"
PARTICIPANT = "0b0a8a1e-7f55-4c1b-a0b2-1c2d3e4f5a6b"

OPERATIONS = {
    "get",
    "create",
    "get_meeting_by_id",
    "update_meeting_by_id",
    "replace_meeting_by_id",
    "get_meeting_participants",
    "add_participant",
    "get_meeting_participant",
    "edit_participant",
    "delete_meeting_participant",
    "refresh_participant_token",
}


class Recorded(NamedTuple):
    method: str
    path: str
    query_pairs: list[tuple[str, str]]
    raw_query: str
    body: str | None  # canonical JSON (sorted keys), or None when no body was sent


def _canonical(raw: bytes | str | None) -> str | None:
    if not raw:
        return None
    return json.dumps(json.loads(raw), sort_keys=True)


def _envelope(method: str, path: str) -> dict:
    """A minimal valid success answer; listings get a list and paging."""
    if method == "GET" and (path.endswith("/meetings") or path.endswith("/participants")):
        return {"success": True, "data": [], "paging": {"start_offset": 0, "end_offset": 0, "total_count": 0}}
    return {"success": True, "data": {}}


def _split(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path, parts.query


def record_sdk(operation: str, args: tuple, kwargs: dict) -> Recorded:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.raw_path.decode().split("?", 1)[0]
        return httpx.Response(200 if request.method != "POST" else 201, json=_envelope(request.method, path))

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    with Cloudflare(api_token=TOKEN, base_url=BASE_URL, max_retries=0, http_client=http_client) as sdk:
        getattr(sdk.realtime_kit.meetings, operation)(*args, account_id=ACCOUNT, app_id=APP, **kwargs)
    assert len(seen) == 1
    request = seen[0]
    path, _, query = request.url.raw_path.decode().partition("?")
    return Recorded(
        request.method, path, parse_qsl(query, keep_blank_values=True), query, _canonical(request.content)
    )


def record_ours(operation: str, args: tuple, kwargs: dict) -> Recorded:
    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add_callback(
                method,
                re.compile(re.escape(BASE_URL) + r"/.*"),
                callback=lambda request: (
                    200,
                    {"content-type": "application/json"},
                    json.dumps(_envelope(request.method, _split(request.url)[0])),
                ),
            )
        getattr(client.meetings, operation)(*args, **kwargs)
        assert len(mock.calls) == 1
        request = mock.calls[0].request
    path, query = _split(request.url)
    return Recorded(
        request.method, path, parse_qsl(query, keep_blank_values=True), query, _canonical(request.body)
    )


FULL_AI_CONFIG = {
    "summarization": {"summary_type": "team_meeting", "text_format": "markdown", "word_limit": 150},
    "transcription": {"keywords": ["RealtimeKit", "Django"], "language": "de", "profanity_filter": False},
}
FULL_RECORDING_CONFIG = {
    "audio_config": {"channel": "mono", "codec": "AAC", "export_file": False},
    "video_config": {
        "codec": "VP8",
        "width": 1,
        "height": 1920,
        "export_file": False,
        "watermark": {
            "url": "https://example.com/mark.png",
            "position": "right bottom",
            "size": {"width": 1, "height": 1},
        },
    },
    "file_name_prefix": "",
    "max_seconds": 60,
    "live_streaming_config": {"rtmp_url": "rtmp://live.example.com/app/key"},
    "realtimekit_bucket_config": {"enabled": False},
    "storage_config": {
        "type": "aws",
        "bucket": "recordings",
        "region": "eu-west-1",
        "path": "meetings/",
        "access_key": "AKIA-EXAMPLE",
        "secret": "storage-secret-value",
        "auth_method": "KEY",
    },
}
SFTP_STORAGE = {
    "storage_config": {
        "type": "sftp",
        "host": "sftp.example.com",
        "port": 22,
        "username": "rec",
        "auth_method": "PASSWORD",
        "password": "pw-example",
        "private_key": "-----BEGIN KEY-----x-----END KEY-----",
    },
}

# (operation, positional args, keyword args). Each operation appears at least once.
CASES: list[tuple[str, tuple, dict[str, Any]]] = [
    # get: the listing and every filter
    ("get", (), {}),
    ("get", (), {"page_no": 1, "per_page": 100}),
    ("get", (), {"page_no": 3, "per_page": 1, "status": "INACTIVE"}),
    ("get", (), {"search": "weekly sync & café/ü+1 = ?", "status": "ACTIVE"}),
    (
        "get",
        (),
        {
            "start_time": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "end_time": datetime(
                2024, 3, 1, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))
            ),
            "per_page": 25,
            "page_no": 2,
            "search": "standup",
            "status": "ACTIVE",
        },
    ),
    ("get", (), {"start_time": datetime(2024, 5, 6, 7, 8, 9), "end_time": "2024-06-01T00:00:00+01:00"}),
    # create
    ("create", (), {}),
    ("create", (), {"title": None}),
    ("create", (), {"title": None, "record_on_start": None, "live_stream_on_start": None}),
    (
        "create",
        (),
        {
            "title": "",
            "record_on_start": False,
            "live_stream_on_start": False,
            "persist_chat": False,
            "summarize_on_end": False,
            "transcribe_on_end": False,
            "session_keep_alive_time_in_secs": 60,
        },
    ),
    ("create", (), {"title": "All on", "persist_chat": True, "session_keep_alive_time_in_secs": 600.0}),
    ("create", (), {"title": "Full", "ai_config": FULL_AI_CONFIG, "recording_config": FULL_RECORDING_CONFIG}),
    ("create", (), {"recording_config": SFTP_STORAGE}),
    ("create", (), {"recording_config": {"storage_config": None, "max_seconds": 86400}}),
    # get_meeting_by_id
    ("get_meeting_by_id", (MEETING,), {}),
    ("get_meeting_by_id", (MEETING,), {"name": "Ada Lovelace"}),
    ("get_meeting_by_id", ("odd id/with?chars#and space",), {}),
    # update_meeting_by_id (PATCH: only what changes)
    ("update_meeting_by_id", (MEETING,), {}),
    ("update_meeting_by_id", (MEETING,), {"status": "INACTIVE"}),
    ("update_meeting_by_id", (MEETING,), {"record_on_start": False, "persist_chat": False, "title": "x"}),
    (
        "update_meeting_by_id",
        (MEETING,),
        {"ai_config": {"transcription": {"profanity_filter": False, "keywords": []}}},
    ),
    ("update_meeting_by_id", (MEETING,), {"recording_config": FULL_RECORDING_CONFIG}),
    # replace_meeting_by_id (PUT: the whole meeting)
    ("replace_meeting_by_id", (MEETING,), {}),
    ("replace_meeting_by_id", (MEETING,), {"title": None, "record_on_start": None}),
    (
        "replace_meeting_by_id",
        (MEETING,),
        {
            "title": "Replaced",
            "record_on_start": False,
            "live_stream_on_start": False,
            "persist_chat": False,
            "summarize_on_end": False,
            "transcribe_on_end": False,
            "session_keep_alive_time_in_secs": 60,
            "ai_config": FULL_AI_CONFIG,
            "recording_config": {**FULL_RECORDING_CONFIG, **SFTP_STORAGE},
        },
    ),
    # get_meeting_participants
    ("get_meeting_participants", (MEETING,), {}),
    ("get_meeting_participants", (MEETING,), {"page_no": 7, "per_page": 3}),
    ("get_meeting_participants", (MEETING,), {"per_page": 100}),
    # add_participant
    ("add_participant", (MEETING,), {"custom_participant_id": "user-1", "preset_name": "group_call_host"}),
    (
        "add_participant",
        (MEETING,),
        {
            "custom_participant_id": "user-2",
            "preset_name": "webinar_viewer",
            "name": "Grace",
            "picture": "https://example.com/g.png",
        },
    ),
    (
        "add_participant",
        (MEETING,),
        {"custom_participant_id": "user-3", "preset_name": "p", "name": None, "picture": None},
    ),
    ("add_participant", (MEETING,), {"custom_participant_id": "0", "preset_name": "p", "name": ""}),
    # get_meeting_participant
    ("get_meeting_participant", (PARTICIPANT,), {"meeting_id": MEETING}),
    # edit_participant
    ("edit_participant", (PARTICIPANT,), {"meeting_id": MEETING}),
    ("edit_participant", (PARTICIPANT,), {"meeting_id": MEETING, "name": "Renamed"}),
    ("edit_participant", (PARTICIPANT,), {"meeting_id": MEETING, "name": None, "picture": None}),
    (
        "edit_participant",
        (PARTICIPANT,),
        {"meeting_id": MEETING, "preset_name": "group_call_host", "picture": "https://example.com/p.jpg"},
    ),
    # delete_meeting_participant / refresh_participant_token
    ("delete_meeting_participant", (PARTICIPANT,), {"meeting_id": MEETING}),
    ("refresh_participant_token", (PARTICIPANT,), {"meeting_id": MEETING}),
]


def _case_id(case: tuple[str, tuple, dict]) -> str:
    operation, _, kwargs = case
    return f"{operation}[{','.join(kwargs) or '-'}]"


def test_every_operation_is_covered():
    assert {operation for operation, _, _ in CASES} == OPERATIONS


@pytest.mark.parametrize("case", CASES, ids=[_case_id(case) for case in CASES])
def test_same_request_as_the_sdk(case):
    operation, args, kwargs = case
    sdk = record_sdk(operation, args, kwargs)
    ours = record_ours(operation, args, kwargs)

    assert ours.method == sdk.method
    assert ours.path == sdk.path
    assert ours.path.startswith(f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP}/meetings")
    assert ours.query_pairs == sdk.query_pairs
    # Byte for byte too: both percent-encode with form rules (space as "+", ":" as "%3A").
    assert ours.raw_query == sdk.raw_query
    assert ours.body == sdk.body


def test_listing_query_is_sent_only_when_given_and_datetimes_are_iso():
    """Guards the parity test against comparing two empty recordings."""
    start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    recorded = record_ours("get", (), {"start_time": start, "per_page": 5, "search": "a b"})
    assert recorded.query_pairs == [("per_page", "5"), ("search", "a b"), ("start_time", start.isoformat())]
    assert record_ours("get", (), {}).raw_query == ""


def test_falsy_values_and_nulls_reach_the_body():
    """``False``, ``0``-like and ``None`` values are sent, not dropped as "not given"."""
    recorded = record_ours(
        "create",
        (),
        {
            "title": None,
            "record_on_start": False,
            "recording_config": {"realtimekit_bucket_config": {"enabled": False}},
        },
    )
    assert json.loads(recorded.body) == {
        "title": None,
        "record_on_start": False,
        "recording_config": {"realtimekit_bucket_config": {"enabled": False}},
    }
    edited = record_ours("edit_participant", (PARTICIPANT,), {"meeting_id": MEETING, "name": None})
    assert json.loads(edited.body) == {"name": None}


def test_storage_secrets_are_sent_like_the_sdk_sends_them():
    recorded = record_ours("create", (), {"recording_config": SFTP_STORAGE})
    storage = json.loads(recorded.body)["recording_config"]["storage_config"]
    assert storage["password"] == "pw-example" and storage["private_key"].startswith("-----BEGIN")


# --- presets, recordings and the live session -------------------------------------------------

PRESET = "3c5b7a1e-0d1f-4e2a-9b3c-4d5e6f708192"
RECORDING = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
PRESET_BODY = {
    "name": "webinar_presenter",
    "config": {"view_type": "WEBINAR", "max_screenshare_count": 1},
    "permissions": {"can_record": True, "kick_participant": False},
    "ui": {"design_tokens": {"theme": "dark"}},
}

MORE_OPERATIONS = {
    "presets": {"get", "get_preset_by_id", "create", "update", "replace_preset_by_id", "delete"},
    "recordings": {
        "start_recordings",
        "get_recordings",
        "get_one_recording",
        "get_active_recordings",
        "pause_resume_stop_recording",
    },
    "active_session": {"get_active_session", "kick_participants", "kick_all_participants"},
}

MORE_CASES: list[tuple[str, str, tuple, dict[str, Any]]] = [
    ("presets", "get", (), {}),
    ("presets", "get", (), {"page_no": 2, "per_page": 50, "search": "host & co"}),
    ("presets", "get_preset_by_id", (PRESET,), {}),
    ("presets", "create", (), PRESET_BODY),
    ("presets", "update", (PRESET,), {"name": "renamed"}),
    ("presets", "update", (PRESET,), {"permissions": {"can_record": False}}),
    ("presets", "replace_preset_by_id", (PRESET,), PRESET_BODY),
    ("presets", "delete", (PRESET,), {}),
    ("recordings", "start_recordings", (), {"meeting_id": MEETING}),
    (
        "recordings",
        "start_recordings",
        (),
        {
            "meeting_id": MEETING,
            "allow_multiple_recordings": False,
            "file_name_prefix": "weekly",
            "max_seconds": 3600,
            "audio_config": {"channel": "stereo", "codec": "AAC", "export_file": True},
            "video_config": {"codec": "H264", "width": 1280, "height": 720},
            "storage_config": {"type": "aws", "bucket": "b", "access_key": "AK", "secret": "S"},
        },
    ),
    ("recordings", "get_recordings", (), {}),
    (
        "recordings",
        "get_recordings",
        (),
        {
            "meeting_id": MEETING,
            "page_no": 1,
            "per_page": 25,
            "status": ["UPLOADED", "ERRORED"],
            "expired": False,
            "sort_by": "invokedTime",
            "sort_order": "DESC",
            "start_time": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        },
    ),
    ("recordings", "get_one_recording", (RECORDING,), {}),
    ("recordings", "get_active_recordings", (MEETING,), {}),
    ("recordings", "pause_resume_stop_recording", (RECORDING,), {"action": "pause"}),
    ("recordings", "pause_resume_stop_recording", (RECORDING,), {"action": "stop"}),
    ("active_session", "get_active_session", (MEETING,), {}),
    ("active_session", "kick_participants", (MEETING,), {"participant_ids": [PARTICIPANT]}),
    ("active_session", "kick_participants", (MEETING,), {"custom_participant_ids": ["u-1", "u-2"]}),
    ("active_session", "kick_all_participants", (MEETING,), {}),
]


def _record(resource: str, operation: str, args: tuple, kwargs: dict) -> tuple[Recorded, Recorded]:
    """Both sides' recording of one call on ``resource`` (the SDK's account and app as keywords)."""
    sdk_seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sdk_seen.append(request)
        return httpx.Response(200, json={"success": True, "data": {}})

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    with Cloudflare(api_token=TOKEN, base_url=BASE_URL, max_retries=0, http_client=http_client) as sdk:
        getattr(getattr(sdk.realtime_kit, resource), operation)(
            *args, account_id=ACCOUNT, app_id=APP, **kwargs
        )
    (request,) = sdk_seen
    path, _, query = request.url.raw_path.decode().partition("?")
    theirs = Recorded(
        request.method, path, parse_qsl(query, keep_blank_values=True), query, _canonical(request.content)
    )

    client = RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, max_retries=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add(method, re.compile(re.escape(BASE_URL) + r"/.*"), json={"success": True, "data": {}})
        getattr(getattr(client, resource), operation)(*args, **kwargs)
        (call,) = mock.calls
    path, query = _split(call.request.url)
    ours = Recorded(
        call.request.method,
        path,
        parse_qsl(query, keep_blank_values=True),
        query,
        _canonical(call.request.body),
    )
    return theirs, ours


def test_every_new_operation_is_covered():
    covered: dict[str, set] = {}
    for resource, operation, _, _ in MORE_CASES:
        covered.setdefault(resource, set()).add(operation)
    assert covered == MORE_OPERATIONS


@pytest.mark.parametrize("case", MORE_CASES, ids=[f"{c[0]}.{_case_id(c[1:])}" for c in MORE_CASES])
def test_same_request_as_the_sdk_for_presets_recordings_and_live_session(case):
    resource, operation, args, kwargs = case
    theirs, ours = _record(resource, operation, args, kwargs)
    assert ours == theirs
    assert ours.path.startswith(f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP}/")


def test_recording_listing_repeats_status_like_the_sdk():
    """Guards the comparison above against two empty queries."""
    _, ours = _record(
        "recordings", "get_recordings", (), {"status": ["UPLOADED", "ERRORED"], "expired": True}
    )
    assert ours.query_pairs == [("expired", "true"), ("status", "UPLOADED"), ("status", "ERRORED")]
