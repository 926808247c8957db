"""``RealtimeKitClient`` against a recorded ``requests`` transport (``responses``).

What is shown here, one concern a section: bad input is refused before any HTTP call, for every
operation; each error body shape of the contract becomes a readable exception of the right type;
the retry policy (what is repeated, how often, how long it waits); the page walkers.
``tests/test_schema.py`` covers the validation rules themselves exhaustively.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import socket
import time
from typing import Any

import pytest
import requests
import responses

from realtimekit_django import __version__
from realtimekit_django.client import RealtimeKitClient
from realtimekit_django.exceptions import (
    APIError,
    AuthenticationError,
    BadRequest,
    Conflict,
    InvalidResponse,
    NotFound,
    RateLimited,
    RealtimeKitError,
    ServerError,
    Timeout,
    TransportError,
    ValidationError,
)

TOKEN = "client-test-token"
ACCOUNT = "acc"
APP = "app"
BASE_URL = "https://rtk.test/client/v4"
APP_URL = f"{BASE_URL}/accounts/{ACCOUNT}/realtime/kit/{APP}"
APP_PATH = f"/accounts/{ACCOUNT}/realtime/kit/{APP}"
MEETING = "6f1c0b5e-2d4e-4c59-9d4b-6a1d0f6f2a11"
PARTICIPANT = "0b0a8a1e-7f55-4c1b-a0b2-1c2d3e4f5a6b"
ANY_URL = re.compile(re.escape(BASE_URL) + r"/.*")
OK = {"success": True, "data": {"id": MEETING}}


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(sleeps: list[float] | None = None, **options: Any) -> RealtimeKitClient:
    recorder = sleeps.append if sleeps is not None else (lambda seconds: None)
    return RealtimeKitClient(ACCOUNT, APP, TOKEN, BASE_URL, sleep=recorder, **options)


@pytest.fixture
def client(sleeps):
    return make_client(sleeps, max_retries=2)


def answer_everything(mock: responses.RequestsMock, status: int = 200, body: Any = OK) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        mock.add(method, ANY_URL, json=body, status=status)


# --- the request itself ---------------------------------------------------------------------


def test_request_carries_auth_user_agent_and_both_timeouts(mocked):
    answer_everything(mocked)
    client = make_client(connect_timeout=1.5, read_timeout=9.0)
    assert client.meetings.get_meeting_by_id(MEETING) == OK
    request = mocked.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith(f"realtimekit-django/{__version__} ")
    assert request.req_kwargs["timeout"] == (1.5, 9.0)
    assert request.url == f"{APP_URL}/meetings/{MEETING}"


def test_one_session_is_reused(mocked):
    answer_everything(mocked)
    client = make_client()
    session = client.session
    client.meetings.get_meeting_by_id(MEETING)
    client.meetings.get_meeting_by_id(MEETING)
    assert client.session is session and client.request_count == 2


# --- validation before HTTP ---------------------------------------------------------------

M = MEETING
P = PARTICIPANT
# (operation, args, kwargs, a field name the message must contain)
INVALID_CALLS: list[tuple[str, tuple, dict, str]] = [
    ("get", (), {"per_page": 0}, "per_page"),
    ("get", (), {"page_no": -1}, "page_no"),
    ("get", (), {"page_no": 1.5}, "page_no"),
    ("get", (), {"status": "DONE"}, "status"),
    ("get", (), {"start_time": "last tuesday"}, "start_time"),
    ("get", (), {"end_time": 1700000000}, "end_time"),
    ("get", (), {"search": 42}, "search"),
    ("create", (), {"session_keep_alive_time_in_secs": 59}, "session_keep_alive_time_in_secs"),
    ("create", (), {"session_keep_alive_time_in_secs": 601}, "session_keep_alive_time_in_secs"),
    ("create", (), {"colour": "blue"}, "colour"),
    ("create", (), {"status": "ACTIVE"}, "status"),
    ("create", (), {"id": M}, "id"),
    ("create", (), {"record_on_start": 1}, "record_on_start"),
    (
        "create",
        (),
        {"ai_config": {"summarization": {"word_limit": 1001}}},
        "ai_config.summarization.word_limit",
    ),
    ("create", (), {"ai_config": {"transcription": {"language": "xx"}}}, "ai_config.transcription.language"),
    (
        "create",
        (),
        {"recording_config": {"video_config": {"width": 1921}}},
        "recording_config.video_config.width",
    ),
    (
        "create",
        (),
        {"recording_config": {"storage_config": {"bucket": "b"}}},
        "recording_config.storage_config.type",
    ),
    (
        "create",
        (),
        {"recording_config": {"realtimekit_bucket_config": {}}},
        "recording_config.realtimekit_bucket_config.enabled",
    ),
    ("get_meeting_by_id", ("",), {}, "meeting_id"),
    ("get_meeting_by_id", (None,), {}, "meeting_id"),
    ("update_meeting_by_id", ("",), {"title": "x"}, "meeting_id"),
    ("update_meeting_by_id", (M,), {"status": "PAUSED"}, "status"),
    ("update_meeting_by_id", (M,), {"title": None}, "title"),
    ("update_meeting_by_id", (M,), {"unknown_key": 1}, "unknown_key"),
    ("replace_meeting_by_id", ("",), {}, "meeting_id"),
    (
        "replace_meeting_by_id",
        (M,),
        {"recording_config": {"max_seconds": 59}},
        "recording_config.max_seconds",
    ),
    ("replace_meeting_by_id", (M,), {"status": "INACTIVE"}, "status"),
    ("get_meeting_participants", ("",), {}, "meeting_id"),
    ("get_meeting_participants", (M,), {"per_page": 0}, "per_page"),
    ("add_participant", ("",), {"custom_participant_id": "u", "preset_name": "p"}, "meeting_id"),
    ("add_participant", (M,), {"custom_participant_id": "", "preset_name": "p"}, "custom_participant_id"),
    ("add_participant", (M,), {"custom_participant_id": "u", "preset_name": "  "}, "preset_name"),
    (
        "add_participant",
        (M,),
        {"custom_participant_id": "u", "preset_name": "p", "picture": "not a url"},
        "picture",
    ),
    ("get_meeting_participant", ("",), {"meeting_id": M}, "participant_id"),
    ("get_meeting_participant", (P,), {"meeting_id": ""}, "meeting_id"),
    ("edit_participant", ("",), {"meeting_id": M, "name": "x"}, "participant_id"),
    ("edit_participant", (P,), {"meeting_id": M, "preset_name": ""}, "preset_name"),
    ("edit_participant", (P,), {"meeting_id": M, "picture": "ftp://example.com/p.png"}, "picture"),
    ("delete_meeting_participant", ("",), {"meeting_id": M}, "participant_id"),
    ("delete_meeting_participant", (P,), {"meeting_id": ""}, "meeting_id"),
    ("refresh_participant_token", ("",), {"meeting_id": M}, "participant_id"),
    ("refresh_participant_token", (P,), {"meeting_id": None}, "meeting_id"),
]


def test_every_operation_has_invalid_cases():
    assert {case[0] for case in INVALID_CALLS} == {
        "get", "create", "get_meeting_by_id", "update_meeting_by_id", "replace_meeting_by_id",
        "get_meeting_participants", "add_participant", "get_meeting_participant", "edit_participant",
        "delete_meeting_participant", "refresh_participant_token",
    }  # fmt: skip


@pytest.mark.parametrize(
    "operation, args, kwargs, field", INVALID_CALLS, ids=[f"{c[0]}-{c[3]}" for c in INVALID_CALLS]
)
def test_invalid_input_is_refused_before_http(mocked, operation, args, kwargs, field):
    answer_everything(mocked)
    client = make_client()
    with pytest.raises(ValueError) as caught:
        getattr(client.meetings, operation)(*args, **kwargs)
    error = caught.value
    assert isinstance(error, ValidationError) and isinstance(error, RealtimeKitError)
    assert any(path == field for path, _ in error.errors), error.errors
    assert field in str(error)
    assert len(mocked.calls) == 0 and client.request_count == 0


def test_bound_message_names_the_full_path(mocked):
    answer_everything(mocked)
    with pytest.raises(ValidationError) as caught:
        make_client().meetings.create(recording_config={"video_config": {"width": 0}})
    assert str(caught.value) == "recording_config.video_config.width: must be between 1 and 1920"
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(
    "walk, kwargs",
    [
        ("walk_meetings", {"per_page": 0}),
        ("walk_meetings", {"status": "DONE"}),
        ("walk_participants", {"meeting_id": "", "per_page": 10}),
    ],
)
def test_walkers_refuse_bad_input_before_http(mocked, walk, kwargs):
    answer_everything(mocked)
    with pytest.raises(ValueError):
        list(getattr(make_client().meetings, walk)(**kwargs))
    assert len(mocked.calls) == 0


def test_client_refuses_empty_credentials_naming_them():
    for position, name in enumerate(("account_id", "app_id", "api_token")):
        values = [ACCOUNT, APP, TOKEN]
        values[position] = ""
        with pytest.raises(ValueError, match=name):
            RealtimeKitClient(*values, BASE_URL)


# --- error bodies -------------------------------------------------------------------------

HTML_502 = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>"
)

# (status, body (str sent raw, dict/list as JSON), content type, class, code, message part)
ERROR_SHAPES = [
    pytest.param(
        404,
        {"success": False, "error": {"code": 404, "message": "Meeting not found"}},
        "application/json",
        NotFound,
        404,
        "Meeting not found",
        id="documented-404",
    ),
    pytest.param(
        400,
        {"success": False, "error": {"code": 400, "message": "title must be a string"}},
        "application/json",
        BadRequest,
        400,
        "title must be a string",
        id="documented-400",
    ),
    pytest.param(
        422,
        {"success": False, "error": {"code": "VALIDATION", "message": "bad preset"}},
        "application/json",
        BadRequest,
        "VALIDATION",
        "bad preset",
        id="documented-422-string-code",
    ),
    pytest.param(
        401,
        {"message": "Unauthorized"},
        "application/json",
        AuthenticationError,
        None,
        "Unauthorized",
        id="message-only-401",
    ),
    pytest.param(
        403,
        {
            "success": False,
            "errors": [{"code": 10000, "message": "Authentication error"}],
            "messages": [],
            "result": None,
        },
        "application/json",
        AuthenticationError,
        10000,
        "Authentication error",
        id="gateway-errors-list",
    ),
    pytest.param(
        409,
        {
            "success": False,
            "errors": [{"code": 7000, "message": "first"}, {"code": 7001, "message": "second"}],
            "messages": [],
            "result": None,
        },
        "application/json",
        Conflict,
        7000,
        "first; second",
        id="gateway-two-errors",
    ),
    pytest.param(502, HTML_502, "text/html", ServerError, None, "HTML page", id="html-502"),
    pytest.param(500, "", "text/plain", ServerError, None, "empty body", id="empty-500"),
    pytest.param(
        503,
        '{"success": false, "error": {"code": 503, "mess',
        "application/json",
        ServerError,
        None,
        "not the API's JSON",
        id="truncated-json-503",
    ),
    pytest.param(418, "I'm a teapot", "text/plain", APIError, None, "teapot", id="other-4xx-text"),
]


@pytest.mark.parametrize("status, body, content_type, cls, code, message", ERROR_SHAPES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_each_error_body_shape_becomes_a_readable_exception(
    mocked, status, body, content_type, cls, code, message, method
):
    raw = body if isinstance(body, str) else json.dumps(body)
    mocked.add(method, ANY_URL, body=raw, status=status, content_type=content_type)
    client = make_client(max_retries=0)
    with pytest.raises(cls) as caught:
        if method == "GET":
            client.meetings.get_meeting_by_id(MEETING)
        else:
            client.meetings.create(title="t")
    error = caught.value
    path = f"{APP_PATH}/meetings/{MEETING}" if method == "GET" else f"{APP_PATH}/meetings"
    assert (error.status, error.method, error.path, error.code) == (status, method, path, code)
    assert message in error.message
    text = str(error)
    assert message in text and f"HTTP {status}" in text and f"{method} {path}" in text
    assert repr(error).startswith(type(error).__name__ + "(")
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    "body, content_type, part",
    [
        pytest.param("", "application/json", "empty body", id="empty-200"),
        pytest.param("<html>ok</html>", "text/html", "not JSON", id="html-200"),
        pytest.param('{"success": true, "da', "application/json", "not JSON", id="truncated-200"),
        pytest.param('{"success": true}', "application/json", "no 'data'", id="no-data-200"),
        pytest.param("[1, 2]", "application/json", "not a JSON object", id="list-200"),
        pytest.param(
            '{"success": false, "error": {"code": 500, "message": "internal"}}',
            "application/json",
            "internal",
            id="success-false-200",
        ),
    ],
)
def test_malformed_success_answers_raise_invalid_response(mocked, body, content_type, part):
    mocked.add("GET", ANY_URL, body=body, status=200, content_type=content_type)
    client = make_client(max_retries=2)
    with pytest.raises(InvalidResponse) as caught:
        client.meetings.get_meeting_by_id(MEETING)
    error = caught.value
    assert (error.status, error.method, error.path) == (200, "GET", f"{APP_PATH}/meetings/{MEETING}")
    assert part in str(error)
    assert len(mocked.calls) == 1


def test_listing_whose_data_is_not_a_list_is_invalid(mocked):
    mocked.add("GET", ANY_URL, json={"success": True, "data": {"oops": 1}, "paging": {}})
    with pytest.raises(InvalidResponse):
        list(make_client().meetings.walk_meetings(per_page=10))


def test_error_classes_are_also_standard_types():
    assert issubclass(NotFound, LookupError)
    assert issubclass(BadRequest, ValueError)
    assert issubclass(ValidationError, ValueError)
    assert issubclass(TransportError, ConnectionError)
    assert issubclass(Timeout, TimeoutError) and issubclass(Timeout, ConnectionError)
    assert issubclass(AuthenticationError, PermissionError)
    for cls in (NotFound, BadRequest, RateLimited, ServerError, InvalidResponse, TransportError, Timeout):
        assert issubclass(cls, RealtimeKitError)


# --- retries ------------------------------------------------------------------------------


def _rate_limited(retry_after: str) -> dict:
    return {
        "status": 429,
        "json": {"success": False, "error": {"code": 429, "message": "Too many requests"}},
        "headers": {"retry-after": retry_after},
    }


def test_429_retry_after_is_waited_out_and_retried_for_get(mocked, client, sleeps):
    mocked.add("GET", ANY_URL, **_rate_limited("2"))
    mocked.add("GET", ANY_URL, json=OK)
    assert client.meetings.get_meeting_by_id(MEETING) == OK
    assert sleeps == [2.0]
    assert len(mocked.calls) == 2 and client.request_count == 2


def test_429_retry_after_is_waited_out_and_retried_even_for_post(mocked, client, sleeps):
    mocked.add("POST", ANY_URL, **_rate_limited("2"))
    mocked.add("POST", ANY_URL, json=OK, status=201)
    assert client.meetings.create(title="once") == OK
    assert sleeps == [2.0]
    assert len(mocked.calls) == 2
    assert [json.loads(call.request.body) for call in mocked.calls] == [{"title": "once"}] * 2


def test_429_retry_after_as_http_date_is_honoured(mocked, client, sleeps):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    mocked.add("GET", ANY_URL, **_rate_limited(when))
    mocked.add("GET", ANY_URL, json=OK)
    client.meetings.get_meeting_by_id(MEETING)
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 2


def test_429_retry_after_as_a_past_http_date_is_not_read_as_no_wait(mocked, client, sleeps):
    # Under a 429 a past date is a skewed clock: the policy's own backoff, never 0 s.
    mocked.add("GET", ANY_URL, **_rate_limited("Thu, 01 Jan 1970 00:00:00 GMT"))
    mocked.add("GET", ANY_URL, json=OK)
    client.meetings.get_meeting_by_id(MEETING)
    assert len(sleeps) == 1 and sleeps[0] > 0


def test_429_retry_after_longer_than_the_maximum_is_not_waited(mocked, sleeps):
    mocked.add("GET", ANY_URL, **_rate_limited("300"))
    mocked.add("GET", ANY_URL, json=OK)
    client = make_client(sleeps, max_retries=2, retry_after_max=60)
    with pytest.raises(RateLimited) as caught:
        client.meetings.get_meeting_by_id(MEETING)
    assert caught.value.retry_after == 300.0 and caught.value.status == 429
    assert sleeps == [] and len(mocked.calls) == 1


def test_429_without_retry_after_uses_backoff_and_gives_up_after_max_retries(mocked, sleeps):
    mocked.add("GET", ANY_URL, status=429, json={"message": "slow down"})
    client = make_client(sleeps, max_retries=3, backoff_base=0.5, backoff_max=8)
    with pytest.raises(RateLimited) as caught:
        client.meetings.get_meeting_by_id(MEETING)
    assert caught.value.retry_after is None
    assert len(mocked.calls) == 4 and len(sleeps) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
@pytest.mark.parametrize("max_retries", [0, 1, 2, 4])
def test_get_is_retried_on_server_errors_up_to_max_retries(mocked, sleeps, status, max_retries):
    mocked.add("GET", ANY_URL, status=status, body="")
    client = make_client(sleeps, max_retries=max_retries)
    with pytest.raises(APIError) as caught:
        client.meetings.get_meeting_by_id(MEETING)
    assert caught.value.status == status
    assert len(mocked.calls) == max_retries + 1 == client.request_count
    assert len(sleeps) == max_retries


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_get_recovers_when_a_retry_succeeds(mocked, client, status):
    mocked.add("GET", ANY_URL, status=status, body="")
    mocked.add("GET", ANY_URL, json=OK)
    assert client.meetings.get_meeting_by_id(MEETING) == OK
    assert len(mocked.calls) == 2


@pytest.mark.parametrize(
    "exception, expected",
    [
        (requests.exceptions.ReadTimeout("read timed out"), Timeout),
        (requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"), TransportError),
    ],
    ids=["read-timeout", "dropped-connection"],
)
@pytest.mark.parametrize("max_retries", [0, 2, 3])
def test_get_is_retried_on_transport_failures(mocked, sleeps, exception, expected, max_retries):
    mocked.add("GET", ANY_URL, body=exception)
    client = make_client(sleeps, max_retries=max_retries)
    with pytest.raises(expected) as caught:
        client.meetings.get(per_page=5)
    assert caught.value.method == "GET" and caught.value.path == f"{APP_PATH}/meetings"
    assert len(mocked.calls) == max_retries + 1 == client.request_count


def test_get_recovers_after_a_read_timeout(mocked, client):
    mocked.add("GET", ANY_URL, body=requests.exceptions.ReadTimeout())
    mocked.add("GET", ANY_URL, json=OK)
    assert client.meetings.get_meeting_by_id(MEETING) == OK
    assert len(mocked.calls) == 2


@pytest.mark.parametrize(
    "operation, args, kwargs",
    [
        ("update_meeting_by_id", (MEETING,), {"title": "t"}),
        ("replace_meeting_by_id", (MEETING,), {"title": "t"}),
        ("edit_participant", (PARTICIPANT,), {"meeting_id": MEETING, "name": "n"}),
        ("delete_meeting_participant", (PARTICIPANT,), {"meeting_id": MEETING}),
    ],
)
def test_idempotent_writes_are_retried(mocked, client, operation, args, kwargs):
    method = {"update_meeting_by_id": "PATCH", "replace_meeting_by_id": "PUT", "edit_participant": "PATCH"}
    verb = method.get(operation, "DELETE")
    mocked.add(verb, ANY_URL, status=503, body="")
    mocked.add(verb, ANY_URL, body=requests.exceptions.ReadTimeout())
    mocked.add(verb, ANY_URL, json=OK)
    assert getattr(client.meetings, operation)(*args, **kwargs) == OK
    assert len(mocked.calls) == 3


POSTS = [
    ("create", (), {"title": "only once"}),
    ("add_participant", (MEETING,), {"custom_participant_id": "u1", "preset_name": "p"}),
    ("refresh_participant_token", (PARTICIPANT,), {"meeting_id": MEETING}),
]


@pytest.mark.parametrize("operation, args, kwargs", POSTS, ids=[p[0] for p in POSTS])
@pytest.mark.parametrize(
    "failure, expected",
    [
        ({"status": 502, "body": HTML_502, "content_type": "text/html"}, ServerError),
        ({"status": 500, "body": ""}, ServerError),
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, Timeout),
        ({"body": requests.exceptions.ConnectionError("Connection aborted")}, TransportError),
    ],
    ids=["502", "500", "read-timeout", "ambiguous-connection-error"],
)
def test_post_is_not_repeated_when_the_server_may_have_acted(
    mocked, sleeps, operation, args, kwargs, failure, expected
):
    mocked.add("POST", ANY_URL, **failure)
    mocked.add("POST", ANY_URL, json=OK, status=201)
    client = make_client(sleeps, max_retries=3)
    with pytest.raises(expected):
        getattr(client.meetings, operation)(*args, **kwargs)
    assert len(mocked.calls) == 1 == client.request_count
    assert sleeps == []


def test_post_is_repeated_after_a_connect_timeout(mocked, sleeps):
    mocked.add("POST", ANY_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    mocked.add("POST", ANY_URL, json=OK, status=201)
    client = make_client(sleeps, max_retries=1)
    assert client.meetings.create(title="t") == OK
    assert len(mocked.calls) == 2 and len(sleeps) == 1


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_post_is_repeated_when_the_connection_was_refused(sleeps):
    port = _closed_loopback_port()
    client = RealtimeKitClient(
        ACCOUNT,
        APP,
        TOKEN,
        f"http://127.0.0.1:{port}/client/v4",
        max_retries=1,
        connect_timeout=2,
        read_timeout=2,
        sleep=sleeps.append,
    )
    with pytest.raises(TransportError) as caught:
        client.meetings.create(title="never arrived")
    assert not isinstance(caught.value, Timeout)
    assert "could not connect" in str(caught.value)
    assert client.request_count == 2 and len(sleeps) == 1
    client.close()


def test_backoff_grows_exponentially_within_jitter_bounds_and_is_capped(mocked, sleeps):
    mocked.add("GET", ANY_URL, status=503, body="")
    client = make_client(sleeps, max_retries=8, backoff_base=0.25, backoff_max=4.0)
    with pytest.raises(ServerError):
        client.meetings.get_meeting_by_id(MEETING)
    ceilings = [min(0.25 * 2**n, 4.0) for n in range(8)]
    assert ceilings == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == 8
    for delay, ceiling in zip(sleeps, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize("draw, share", [(0.0, 0.5), (1.0, 1.0), (0.5, 0.75)])
def test_backoff_jitter_spans_half_to_full_ceiling(mocked, sleeps, monkeypatch, draw, share):
    monkeypatch.setattr(random, "random", lambda: draw)
    mocked.add("GET", ANY_URL, status=500, body="")
    client = make_client(sleeps, max_retries=6, backoff_base=0.5, backoff_max=5.0)
    with pytest.raises(ServerError):
        client.meetings.get_meeting_by_id(MEETING)
    assert sleeps == pytest.approx([share * c for c in (0.5, 1.0, 2.0, 4.0, 5.0, 5.0)])


def test_backoff_is_jittered(mocked, sleeps):
    mocked.add("GET", ANY_URL, status=503, body="")
    client = make_client(sleeps, max_retries=50, backoff_base=1.0, backoff_max=1.0)
    with pytest.raises(ServerError):
        client.meetings.get_meeting_by_id(MEETING)
    assert len(sleeps) == 50 and len(set(sleeps)) > 1 and all(0.5 <= d <= 1.0 for d in sleeps)


def test_a_retry_after_is_not_waited_once_retries_are_spent(mocked, sleeps):
    mocked.add("GET", ANY_URL, **_rate_limited("1"))
    client = make_client(sleeps, max_retries=2)
    with pytest.raises(RateLimited):
        client.meetings.get_meeting_by_id(MEETING)
    assert sleeps == [1.0, 1.0] and len(mocked.calls) == 3


# --- page walkers -------------------------------------------------------------------------


def _listing(
    mock: responses.RequestsMock, pages: list[tuple[int, int | None, int | None]], path: str
) -> None:
    """Registers answers for pages given as (item count, end_offset, total_count)."""
    start = 0
    for number, (count, end, total) in enumerate(pages, start=1):
        paging = {"start_offset": start + 1 if count else 0}
        if end is not None:
            paging["end_offset"] = end
        if total is not None:
            paging["total_count"] = total
        items = [{"id": f"item-{number}-{i}"} for i in range(count)]
        mock.add("GET", f"{APP_URL}{path}", json={"success": True, "data": items, "paging": paging})
        start += count


def _queries(mock: responses.RequestsMock) -> list[dict[str, list[str]]]:
    return [dict(call.request.params) for call in mock.calls]


def test_walk_stops_on_a_short_page(mocked):
    _listing(mocked, [(3, 3, 8), (3, 6, 8), (2, 8, 8), (3, 11, 8)], "/meetings")
    walk = make_client().meetings.walk_meetings(per_page=3)
    pages = list(walk)
    assert [len(page.items) for page in pages] == [3, 3, 2]
    assert [page.page_no for page in pages] == [1, 2, 3]
    assert walk.completed is True and walk.pages == 3 and walk.items_seen == 8
    assert len(mocked.calls) == 3
    assert _queries(mocked) == [{"page_no": str(n), "per_page": "3"} for n in (1, 2, 3)]


def test_walk_stops_when_end_offset_reaches_total_count(mocked):
    _listing(mocked, [(2, 2, 4), (2, 4, 4), (2, 6, 4)], "/meetings")
    walk = make_client().meetings.walk_meetings(per_page=2)
    assert [len(page.items) for page in walk] == [2, 2]
    assert walk.completed is True and walk.total_count == 4
    assert len(mocked.calls) == 2


def test_walk_stops_on_an_empty_page(mocked):
    _listing(mocked, [(2, None, None), (2, None, None), (0, None, None), (2, None, None)], "/meetings")
    walk = make_client().meetings.walk_meetings(per_page=2)
    assert [len(page.items) for page in walk] == [2, 2, 0]
    assert walk.completed is True and len(mocked.calls) == 3


def test_walk_stops_after_max_pages_and_says_it_did_not_complete(mocked, caplog):
    _listing(mocked, [(5, 5 * n, 10_000) for n in range(1, 10)], "/meetings")
    client = make_client(max_pages=4)
    walk = client.meetings.walk_meetings(per_page=5, status="ACTIVE")
    pages = list(walk)
    assert len(pages) == 4 == walk.pages == len(mocked.calls) == client.request_count
    assert walk.completed is False
    assert all(query["status"] == "ACTIVE" for query in _queries(mocked))
    assert "incomplete" in caplog.text


def test_walk_sends_the_client_page_size_when_none_is_given(mocked):
    _listing(mocked, [(7, 7, 9), (2, 9, 9)], f"/meetings/{MEETING}/participants")
    client = make_client(page_size=7)
    walk = client.meetings.walk_participants(MEETING)
    assert [len(page.items) for page in walk] == [7, 2]
    assert walk.completed is True
    assert _queries(mocked) == [{"page_no": "1", "per_page": "7"}, {"page_no": "2", "per_page": "7"}]


def test_walk_sends_per_page_even_at_the_default_page_size(mocked):
    _listing(mocked, [(0, 0, 0)], "/meetings")
    list(make_client().meetings.walk_meetings())
    assert _queries(mocked) == [{"page_no": "1", "per_page": "100"}]


def test_iter_participants_yields_every_item_once_per_page(mocked):
    _listing(mocked, [(2, 2, 5), (2, 4, 5), (1, 5, 5)], f"/meetings/{MEETING}/participants")
    items = list(make_client().meetings.iter_participants(MEETING, per_page=2))
    assert [item["id"] for item in items] == ["item-1-0", "item-1-1", "item-2-0", "item-2-1", "item-3-0"]
    assert len(mocked.calls) == 3


def test_walk_propagates_errors(mocked):
    _listing(mocked, [(2, 2, 10)], "/meetings")
    mocked.add("GET", f"{APP_URL}/meetings", status=404, json={"success": False, "error": {"code": 404}})
    walk = make_client(max_retries=0).meetings.walk_meetings(per_page=2)
    with pytest.raises(NotFound):
        list(walk)
    assert walk.completed is False and walk.pages == 1


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_client_errors_are_never_retried(mocked, sleeps, status):
    """A conflict or a refusal will not go away by asking again (the SDK does retry 409)."""
    mocked.add(responses.GET, re.compile(r".*/meetings/m$"), json={"success": False}, status=status)
    api = make_client(sleeps, max_retries=3)
    with pytest.raises(RealtimeKitError):
        api.meetings.get_meeting_by_id("m")
    assert len(mocked.calls) == 1 and sleeps == []


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", ""])
def test_ids_and_names_that_no_server_could_take_are_refused_before_any_request(bad):
    from realtimekit_django.client import client_from_settings

    meetings = client_from_settings().meetings
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(ValidationError, match="meeting_id"):
            meetings.get_meeting_by_id(bad)
        with pytest.raises(ValidationError, match="participant_id"):
            meetings.refresh_participant_token(bad, meeting_id="m-1")
        if bad:
            with pytest.raises(ValidationError, match="name"):
                meetings.get_meeting_by_id("m-1", name=bad)
        assert len(mocked.calls) == 0
