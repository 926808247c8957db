"""The livestream service (``services.livestreams``) and resource through the real HTTP client,
with ``responses`` mocking the SDK's paths (``/accounts/{account}/realtime/kit/{app}/...``).

The emulator tests drive the same code through an in-memory server of our own; these pin what
goes over the wire to what the official ``cloudflare`` SDK sends for the same call (each request
is recorded on both sides and compared), answers in the shapes of the SDK's
``cloudflare.types.realtime_kit.livestream_*`` models, and check that the stream key and the
ingest server reach the caller once and no row, SQL statement, log line or error besides."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import responses
from cloudflare import Cloudflare
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtimekit_django import signals
from realtimekit_django.client import DEFAULT_BASE_URL, RealtimeKitClient
from realtimekit_django.exceptions import (
    AuthenticationError,
    BadRequest,
    Conflict,
    InvalidResponse,
    NotFound,
    RateLimited,
    RealtimeKitError,
    ServerError,
    ValidationError,
)
from realtimekit_django.models import Livestream, LivestreamStatus, Meeting
from realtimekit_django.services import livestreams as service

pytestmark = pytest.mark.django_db

ACCOUNT, APP, TOKEN = "acct-1", "app-1", "token-not-a-secret"
APP_URL = f"{DEFAULT_BASE_URL}/accounts/{ACCOUNT}/realtime/kit/{APP}"
STREAM = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
KEY = "sk_9f2c41d0e7b84a6f9d3e5c1b7a2f8e64d0c9b3a1"
SERVER = "rtmps://ingest.rtk.example:443/live/9f2c41d0"
PLAYBACK = "https://play.rtk.example/9f2c41d0/index.m3u8"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def started_answer(**changes):
    """A ``LivestreamStartLivestreamingAMeetingResponse`` (201)."""
    data = {"id": STREAM, "ingest_server": SERVER, "playback_url": PLAYBACK, "status": "INVOKED",
            "stream_key": KEY}
    data.update(changes)
    return {"success": True, "data": data}


def client(**options):
    options.setdefault("max_retries", 0)
    return RealtimeKitClient(ACCOUNT, APP, TOKEN, **options)


@pytest.fixture
def meeting():
    return Meeting.objects.create(id=uuid.uuid4(), app_id=APP, title="Town hall")


def _request(call):
    """(method, path, query pairs, JSON body) of one ``responses`` call."""
    parts = urlsplit(call.request.url)
    body = json.loads(call.request.body) if call.request.body else None
    return call.request.method, parts.path, parse_qsl(parts.query, keep_blank_values=True), body


def sdk_request(operation, *args, **kwargs):
    """What the official SDK sends for ``realtime_kit.livestreams.<operation>``, in the shape of
    :func:`_request` (its transport answers with an empty success envelope)."""
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"success": True, "data": {}})

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    options = {"api_token": TOKEN, "base_url": DEFAULT_BASE_URL, "max_retries": 0, "http_client": http_client}
    with Cloudflare(**options) as sdk:
        getattr(sdk.realtime_kit.livestreams, operation)(*args, account_id=ACCOUNT, **kwargs)
    [request] = seen
    path, _, query = request.url.raw_path.decode().partition("?")
    body = json.loads(request.content) if request.content else None
    return request.method, path, parse_qsl(query, keep_blank_values=True), body


def _secrets_absent(text: str) -> None:
    assert KEY not in text and SERVER not in text


def _database_text() -> str:
    return " ".join(str(values) for values in Livestream.objects.values_list())


# --- start ----------------------------------------------------------------------------------


def test_start_sends_the_sdks_request_stores_the_row_and_hands_the_secrets_over_once(meeting, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    announced = []

    def receiver(sender, livestream, created, **kwargs):
        announced.append((livestream.pk, created, dict(vars(livestream))))

    signals.livestream_updated.connect(receiver)
    try:
        with responses.RequestsMock() as mock, CaptureQueriesContext(connection) as queries:
            mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=started_answer())
            started = service.start_livestream(
                meeting, name="Town hall live", client=client(), video_config={"width": 1280, "height": 720}
            )
            calls = list(mock.calls)
    finally:
        signals.livestream_updated.disconnect(receiver)

    assert len(calls) == 1
    ours = _request(calls[0])
    theirs = sdk_request(
        "start_livestreaming_a_meeting", str(meeting.pk), app_id=APP, name="Town hall live",
        video_config={"width": 1280, "height": 720},
    )
    assert ours == theirs == (
        "POST",
        f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP}/meetings/{meeting.pk}/livestreams",
        [],
        {"name": "Town hall live", "video_config": {"width": 1280, "height": 720}},
    )
    assert calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"

    assert (started.stream_key, started.ingest_server) == (KEY, SERVER)
    row = Livestream.objects.get()
    assert started.livestream == row
    assert (row.pk, row.meeting_id, row.status, row.playback_url, row.name) == (
        STREAM, meeting.pk, "INVOKED", PLAYBACK, "Town hall live"
    )
    assert row.started_at is not None and row.ended_at is None
    assert [(pk, created) for pk, created, _ in announced] == [(STREAM, True)]

    # The secrets: in the Started alone, and not in its repr, the row, the SQL, the logs or the signal.
    _secrets_absent(repr(started))
    _secrets_absent(repr(row) + str(vars(row)))
    _secrets_absent(_database_text())
    sql = " ".join(str(q["sql"]) for q in queries.captured_queries)
    assert "realtimekit_livestream" in sql  # the capture did see the writes
    _secrets_absent(sql)
    assert any(r.name == "django.db.backends" for r in caplog.records)
    assert any(r.name.startswith("realtimekit_django") for r in caplog.records)
    _secrets_absent(caplog.text)
    _secrets_absent(str(announced))


def test_start_without_options_sends_the_sdks_empty_body(meeting):
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=started_answer())
        service.start_livestream(meeting, client=client())
        ours = _request(mock.calls[0])
    assert ours == sdk_request("start_livestreaming_a_meeting", str(meeting.pk), app_id=APP)
    assert ours[3] == {}


@pytest.mark.parametrize(("given", "kept"), [(None, "Asked for"), ("Platform's", "Platform's")])
def test_the_row_is_named_by_the_answer_or_else_by_the_name_asked_for(meeting, given, kept):
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=started_answer(name=given))
        service.start_livestream(meeting, name="Asked for", client=client())
    assert Livestream.objects.get().name == kept


def test_a_start_answer_after_the_live_push_does_not_move_the_row_back(meeting):
    Livestream.objects.create(id=STREAM, meeting=meeting, status=LivestreamStatus.LIVE, started_at=T0)
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=started_answer())
        started = service.start_livestream(meeting, client=client())
    row = Livestream.objects.get()
    assert (row.status, row.started_at, row.playback_url) == ("LIVE", T0, PLAYBACK)
    assert started.stream_key == KEY


def test_a_start_answer_naming_another_meetings_stream_is_refused_and_changes_nothing(meeting):
    """The answer's id is a stream of another meeting here: handing that row back as this
    meeting's stream (or moving it) would show one meeting's stream under another."""
    other = Meeting.objects.create(id=uuid.uuid4(), app_id=APP, title="Other")
    Livestream.objects.create(id=STREAM, meeting=other, status=LivestreamStatus.LIVE, started_at=T0)
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=started_answer())
        with pytest.raises(InvalidResponse, match="another meeting"):
            service.start_livestream(meeting, client=client())
    row = Livestream.objects.get()
    assert (row.meeting_id, row.status, row.started_at) == (other.pk, "LIVE", T0)


def test_a_start_answer_with_only_its_creation_time_starts_the_row_then(meeting):
    """The SDK's livestream shapes carry ``created_at``, not ``started_at``: the stream began
    when RealtimeKit created it, not when the answer was read."""
    answer = started_answer(created_at="2026-01-05T11:00:00+01:00")
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=answer)
        service.start_livestream(meeting, client=client())
    assert Livestream.objects.get().started_at == T0


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"id": None}, "id"),
        ({"id": ""}, "data.id"),
        ({"id": 42}, "data.id"),
        ({"id": "x" * 101}, "id"),
        ({"status": None}, "status"),
        ({"status": "OFFLINE"}, "data.status"),  # a row status, not one the API sends
        ({"status": "live"}, "data.status"),
        ({"status": 1}, "data.status"),
        ({"stream_key": 12345}, "data.stream_key"),
        ({"ingest_server": ["rtmps://a"]}, "data.ingest_server"),
        ({"name": "Town\x00hall"}, "data.name"),
        ({"playback_url": "https://play.example/\x00"}, "data.playback_url"),
        ({"stream_key": "k" * 10_001}, "data.stream_key"),
        ({"created_at": "yesterday"}, "data.created_at"),
    ],
)
def test_a_start_answer_that_breaks_the_contract_is_refused_and_writes_nothing(
    meeting, caplog, change, where
):
    caplog.set_level(logging.DEBUG)
    answer = started_answer(**change)
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=answer)
        with pytest.raises(InvalidResponse) as caught:
            service.start_livestream(meeting, client=client())
        assert len(mock.calls) == 1
    assert where in str(caught.value)
    assert not Livestream.objects.exists()
    _secrets_absent(str(caught.value) + repr(caught.value) + caplog.text)


@pytest.mark.parametrize(
    "change",
    [
        {"stream_key": None},
        {"stream_key": ""},
        {"stream_key": " "},
        {"ingest_server": None},
        {"ingest_server": "  "},
    ],
)
def test_a_start_answer_without_usable_credentials_is_refused_not_shown_blank(meeting, change):
    """The SDK types both as optional, but a started stream nobody can push to is no start: the
    admin would show a page of empty credentials. Refused before the row is written (the
    platform's status push still records the stream, and stopping it needs no row)."""
    answer = started_answer(**change)
    if next(iter(change.values())) is None:
        del answer["data"][next(iter(change))]
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=answer)
        with pytest.raises(InvalidResponse, match=next(iter(change))) as caught:
            service.start_livestream(meeting, client=client())
        assert len(mock.calls) == 1
    assert not Livestream.objects.exists()
    _secrets_absent(str(caught.value))


@pytest.mark.parametrize(
    "answer",
    [
        {"success": True},
        {"success": True, "data": None},
        {"success": True, "data": []},
        {"success": True, "data": "INVOKED"},
        {"success": True, "data": {}},
        [started_answer()["data"]],
    ],
)
def test_a_start_answer_without_a_livestream_is_refused(meeting, answer):
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=answer)
        with pytest.raises(InvalidResponse):
            service.start_livestream(meeting, client=client())
    assert not Livestream.objects.exists()


def test_a_start_answer_that_is_not_json_is_refused(meeting):
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, body=b"<html>oops</html>")
        with pytest.raises(InvalidResponse, match="not JSON"):
            service.start_livestream(meeting, client=client())
    assert not Livestream.objects.exists()


def assert_start_refused(meeting, answer, *, status, match):
    """The start answer is refused with ``InvalidResponse`` (matching ``match``), no row written."""
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=status, json=answer)
        with pytest.raises(InvalidResponse, match=match):
            service.start_livestream(meeting, client=client())
    assert not Livestream.objects.exists()


@pytest.mark.parametrize("value", ["2026-02-30T10:00:00Z", "2026-01-05T10:00:00", "10000-01-01T00:00:00Z"])
def test_an_unusable_time_in_the_answer_is_a_clear_error_not_a_crash(meeting, value):
    """``started_at`` is no field of the SDK's start answer, but ``record_livestream`` reads it
    (the webhook spells it so): a value that is there must be a real, zoned date-time."""
    assert_start_refused(meeting, started_answer(started_at=value), status=201, match="started_at")


def test_times_the_answer_gives_are_the_rows_and_an_errored_start_is_finished(meeting):
    answer = started_answer(status="ERRORED", started_at="2026-01-05T10:00:00+01:00",
                            ended_at="2026-01-05T10:00:30Z")
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=answer)
        service.start_livestream(meeting, client=client())
    row = Livestream.objects.get()
    assert row.status == "ERRORED"
    assert (row.started_at, row.ended_at) == (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), T0.replace(second=30))


def test_an_over_long_name_or_a_playback_url_no_column_takes_is_not_stored(meeting):
    answer = started_answer(name="n" * 300, playback_url="https://play.example/" + "p" * 2048)
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=answer)
        service.start_livestream(meeting, client=client())
    row = Livestream.objects.get()
    assert row.name == "n" * 255 and row.playback_url == ""
    row.full_clean()  # what was stored fits every column


def test_a_playback_url_that_is_not_https_is_not_stored(meeting):
    answer = started_answer(playback_url="javascript:alert(1)")
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=201, json=answer)
        service.start_livestream(meeting, client=client())
    assert Livestream.objects.get().playback_url == ""


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFound),
        (409, Conflict),
        (422, BadRequest),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
    ],
)
def test_an_api_refusal_of_start_maps_to_the_error_classes_and_writes_nothing(meeting, status, error):
    body = {"success": False, "errors": [{"code": 7001, "message": "no live session"}]}
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/livestreams", status=status, json=body)
        with pytest.raises(error) as caught:
            service.start_livestream(meeting, client=client())
        assert len(mock.calls) == 1
    assert caught.value.status == status and caught.value.method == "POST"
    assert caught.value.path.endswith(f"/meetings/{meeting.pk}/livestreams")
    assert isinstance(caught.value, RealtimeKitError)
    assert not Livestream.objects.exists()


def test_a_failed_start_is_not_repeated_but_a_rate_limit_is(meeting):
    """A POST the server may have acted on is sent once (a second start could open a second
    stream); a 429 was refused unheard, so it is sent again."""
    url = f"{APP_URL}/meetings/{meeting.pk}/livestreams"
    with responses.RequestsMock() as mock:
        mock.post(url, status=503, json={"success": False, "errors": [{"message": "down"}]})
        with pytest.raises(ServerError):
            service.start_livestream(meeting, client=client(max_retries=3, sleep=lambda s: None))
        assert len(mock.calls) == 1
    with responses.RequestsMock() as mock:
        mock.post(url, status=429, json={"success": False, "errors": [{"message": "slow"}]},
                  headers={"Retry-After": "1"})
        mock.post(url, status=201, json=started_answer())
        started = service.start_livestream(meeting, client=client(max_retries=3, sleep=lambda s: None))
        assert len(mock.calls) == 2
    assert started.stream_key == KEY and Livestream.objects.get().pk == STREAM


def test_bad_options_are_refused_before_any_request(meeting):
    with responses.RequestsMock() as mock:
        with pytest.raises(ValidationError, match="width"):
            service.start_livestream(meeting, client=client(), video_config={"width": 0})
        with pytest.raises(ValidationError, match="name"):
            service.start_livestream(meeting, client=client(), name="a\x00b")
        assert len(mock.calls) == 0
    assert not Livestream.objects.exists()


# --- stop -----------------------------------------------------------------------------------


def test_stop_sends_the_sdks_request_and_finishes_the_running_rows(meeting, caplog):
    caplog.set_level(logging.DEBUG)
    Livestream.objects.create(id=STREAM, meeting=meeting, status=LivestreamStatus.LIVE, started_at=T0)
    Livestream.objects.create(id="old", meeting=meeting, status=LivestreamStatus.OFFLINE, started_at=T0,
                              ended_at=T0)
    other = Meeting.objects.create(id=uuid.uuid4(), app_id=APP, title="Other")
    Livestream.objects.create(id="elsewhere", meeting=other, status=LivestreamStatus.LIVE, started_at=T0)
    answer = {"success": True, "data": {"message": "Livestream stopped"}}
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/active-livestream/stop", json=answer)
        stopped = service.stop_livestream(meeting, client=client())
        calls = list(mock.calls)
    assert len(calls) == 1
    ours = _request(calls[0])
    assert ours == sdk_request("stop_livestreaming_a_meeting", str(meeting.pk), app_id=APP)
    assert ours[:2] == ("POST", f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP}/meetings/{meeting.pk}"
                                "/active-livestream/stop")
    assert ours[3] is None  # no body, as the SDK
    assert [s.pk for s in stopped] == [STREAM]
    row = Livestream.objects.get(pk=STREAM)
    assert row.status == "OFFLINE" and row.ended_at is not None
    assert Livestream.objects.get(pk="old").ended_at == T0
    assert Livestream.objects.get(pk="elsewhere").status == "LIVE"


@pytest.mark.parametrize(
    ("status", "error"), [(404, NotFound), (401, AuthenticationError), (500, ServerError)]
)
def test_a_refused_stop_maps_to_the_error_classes_and_leaves_the_rows(meeting, status, error):
    Livestream.objects.create(id=STREAM, meeting=meeting, status=LivestreamStatus.LIVE, started_at=T0)
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/active-livestream/stop", status=status,
                  json={"success": False, "errors": [{"message": "no"}]})
        with pytest.raises(error):
            service.stop_livestream(meeting, client=client(max_retries=2, sleep=lambda s: None))
        assert len(mock.calls) == 1  # a POST, not repeated
    row = Livestream.objects.get()
    assert row.status == "LIVE" and row.ended_at is None


@pytest.mark.parametrize(
    "answer",
    [
        {"success": True, "data": {"message": 5}},
        {"success": True, "data": {"message": "a\x00"}},
        {"success": True},
    ],
)
def test_a_stop_answer_that_breaks_the_contract_leaves_the_rows(meeting, answer):
    Livestream.objects.create(id=STREAM, meeting=meeting, status=LivestreamStatus.LIVE, started_at=T0)
    with responses.RequestsMock() as mock:
        mock.post(f"{APP_URL}/meetings/{meeting.pk}/active-livestream/stop", json=answer)
        with pytest.raises(InvalidResponse):
            service.stop_livestream(meeting, client=client())
    assert Livestream.objects.get().status == "LIVE"


# --- the resource's reads -------------------------------------------------------------------


def _listing_row(**changes):
    row = {"id": STREAM, "created_at": "2026-01-05T10:00:00.000Z", "disabled": "false",
           "ingest_server": SERVER,
           "meeting_id": "m-1", "name": "Town hall", "playback_url": PLAYBACK, "status": "LIVE",
           "stream_key": KEY, "updated_at": "2026-01-05T10:01:00.000Z",
           "paging": {"start_offset": 0, "end_offset": 0, "total_count": 1}}
    row.update(changes)
    return row


READS = [
    ("get_meeting_active_livestreams", ("m-1",), {}, "/meetings/m-1/active-livestream"),
    ("get_all_livestreams", (), {}, "/livestreams"),
    (
        "get_all_livestreams",
        (),
        {"end_time": "2026-01-06T00:00:00Z", "exclude_meetings": True, "page_no": 2, "per_page": 5,
         "sort_order": "DSC", "start_time": "2026-01-05T00:00:00Z", "status": "LIVE"},
        "/livestreams",
    ),
    ("get_all_livestreams", (), {"exclude_meetings": False, "sort_order": "ASC"}, "/livestreams"),
    (
        "get_all_livestreams",
        (),
        {"start_time": T0, "end_time": datetime(2026, 1, 6, 12, 30, 5, 250000, tzinfo=UTC)},
        "/livestreams",
    ),
    ("get_livestream_session_for_livestream_id", (STREAM,), {"page_no": 1, "per_page": 10},
     f"/livestreams/{STREAM}"),
    ("get_active_livestreams_for_livestream_id", (STREAM,), {},
     f"/livestreams/{STREAM}/active-livestream-session"),
    ("get_livestream_session_details_for_session_id", ("ls-1",), {}, "/livestreams/sessions/ls-1"),
]


@pytest.mark.parametrize(("operation", "args", "kwargs", "tail"), READS)
def test_each_read_sends_exactly_the_sdks_request_once(operation, args, kwargs, tail):
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}{tail}", json={"success": True, "data": {}})
        getattr(client().livestreams, operation)(*args, **kwargs)
        assert len(mock.calls) == 1
        ours = _request(mock.calls[0])
    if operation == "get_all_livestreams":  # the SDK takes app_id positionally here
        theirs = sdk_request(operation, APP, **kwargs)
    else:
        theirs = sdk_request(operation, *args, app_id=APP, **kwargs)
    assert ours == theirs
    assert ours[1] == f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP}{tail}"


def test_the_listing_answer_comes_back_with_its_secrets_to_the_caller_only(caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}/livestreams", json={"success": True, "data": _listing_row()})
        answer = client().livestreams.get_all_livestreams(status="LIVE")
    assert answer["data"]["stream_key"] == KEY and answer["data"]["paging"]["total_count"] == 1
    _secrets_absent(caplog.text)
    assert not Livestream.objects.exists()  # a read stores nothing


@pytest.mark.parametrize(
    ("operation", "args", "data", "where"),
    [
        ("get_all_livestreams", (), _listing_row(status="STOPPED"), "data.status"),
        ("get_all_livestreams", (), _listing_row(paging={"total_count": -1}), "data.paging.total_count"),
        ("get_meeting_active_livestreams", ("m-1",), _listing_row(stream_key="a\x00b"), "data.stream_key"),
        ("get_livestream_session_details_for_session_id", ("ls-1",), {"ingest_seconds": "lots"},
         "data.ingest_seconds"),
        ("get_active_livestreams_for_livestream_id", (STREAM,),
         {"livestream": _listing_row(id=7), "session": {}}, "data.livestream.id"),
    ],
)
def test_a_read_answer_that_breaks_the_contract_is_refused_without_its_secrets(operation, args, data, where):
    tails = {"get_all_livestreams": "/livestreams",
             "get_meeting_active_livestreams": "/meetings/m-1/active-livestream",
             "get_livestream_session_details_for_session_id": "/livestreams/sessions/ls-1",
             "get_active_livestreams_for_livestream_id": f"/livestreams/{STREAM}/active-livestream-session"}
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}{tails[operation]}", json={"success": True, "data": data})
        with pytest.raises(InvalidResponse) as caught:
            getattr(client().livestreams, operation)(*args)
    assert where in str(caught.value)
    _secrets_absent(str(caught.value))
    assert "a\x00b" not in str(caught.value)


def test_a_read_that_is_refused_is_repeated_within_the_retry_budget():
    """GETs are idempotent: a 503 is tried again, and the count of requests shows it."""
    with responses.RequestsMock() as mock:
        for _ in range(3):
            mock.get(f"{APP_URL}/meetings/m-1/active-livestream", status=503,
                     json={"success": False, "errors": [{"message": "down"}]})
        with pytest.raises(ServerError):
            client(max_retries=2, sleep=lambda s: None).livestreams.get_meeting_active_livestreams("m-1")
        assert len(mock.calls) == 3
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}/meetings/m-1/active-livestream", status=404,
                 json={"success": False, "errors": [{"message": "no active livestream"}]})
        with pytest.raises(NotFound):
            client(max_retries=2, sleep=lambda s: None).livestreams.get_meeting_active_livestreams("m-1")
        assert len(mock.calls) == 1


def test_a_path_argument_is_one_escaped_segment():
    with responses.RequestsMock() as mock:
        mock.get(f"{APP_URL}/livestreams/a%2Fb%3F", json={"success": True, "data": {}})
        client().livestreams.get_livestream_session_for_livestream_id("a/b?")
        ours = _request(mock.calls[0])
    assert ours[1].endswith("/livestreams/a%2Fb%3F")
    with responses.RequestsMock() as mock, pytest.raises(ValidationError):
        client().livestreams.get_livestream_session_for_livestream_id("a\x00")


def test_a_200_that_says_it_failed_is_refused(meeting):
    body = {"success": False, "errors": [{"code": 9, "message": "meeting has no live session"}]}
    assert_start_refused(meeting, body, status=200, match="no live session")


def test_the_offline_push_that_beats_the_stop_answer_keeps_its_end_time(meeting):
    """The platform's OFFLINE push can arrive while the stop request is under way: the row it
    finished is not finished a second time (its end time and signal stay the push's)."""
    Livestream.objects.create(id=STREAM, meeting=meeting, status=LivestreamStatus.LIVE, started_at=T0)
    announced = []

    def push_then_answer(request):
        service.record_livestream({"id": STREAM, "status": "OFFLINE", "ended_at": "2026-01-05T11:00:00Z"})
        return 200, {}, json.dumps({"success": True, "data": {"message": "stopped"}})

    def receiver(sender, livestream, created, **kwargs):
        announced.append(livestream.status)

    with responses.RequestsMock() as mock:
        mock.add_callback("POST", f"{APP_URL}/meetings/{meeting.pk}/active-livestream/stop", push_then_answer)
        signals.livestream_updated.connect(receiver)
        try:
            stopped = service.stop_livestream(meeting, client=client())
        finally:
            signals.livestream_updated.disconnect(receiver)
        assert len(mock.calls) == 1
    assert [(s.pk, s.status) for s in stopped] == [(STREAM, "OFFLINE")]
    assert Livestream.objects.get().ended_at == datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    assert announced == ["OFFLINE"]


# --- the admin's actions, through the client the settings build ------------------------------

SITE_URL = "https://rtk.test/client/v4/accounts/test-account/realtime/kit/test-app"


@pytest.fixture
def staff(admin_client):
    from django.core.cache import cache

    cache.clear()  # the rate budget starts full
    yield admin_client
    cache.clear()


def test_the_admins_start_and_stop_one_request_per_meeting(staff, meeting, caplog):
    from django.urls import reverse

    caplog.set_level(logging.DEBUG)
    quiet = Meeting.objects.create(id=uuid.uuid4(), app_id="test-app", title="Nobody here")
    changelist = reverse("admin:realtimekit_meeting_changelist")
    with responses.RequestsMock() as mock:
        mock.post(f"{SITE_URL}/meetings/{meeting.pk}/livestreams", status=201, json=started_answer())
        mock.post(f"{SITE_URL}/meetings/{quiet.pk}/livestreams", status=400,
                  json={"success": False, "errors": [{"message": "no live session"}]})
        chosen = {"action": "start_livestream", "_selected_action": [meeting.pk, quiet.pk]}
        shown = staff.post(changelist, chosen)
        assert len(mock.calls) == 2
        assert {_request(c)[3] == {} for c in mock.calls} == {True}
    page = shown.content.decode()
    assert shown.status_code == 200 and "no-cache" in shown["Cache-Control"]
    assert KEY in page and SERVER in page and page.count(KEY) == 1
    row = Livestream.objects.get()
    assert (row.pk, row.meeting_id, row.status) == (STREAM, meeting.pk, "INVOKED")
    listing = staff.get(reverse("admin:realtimekit_livestream_changelist"), follow=True).content.decode()
    assert STREAM in listing and f"{quiet.pk}: BadRequest" in listing
    _secrets_absent(listing)

    with responses.RequestsMock() as mock:
        mock.post(f"{SITE_URL}/meetings/{meeting.pk}/active-livestream/stop",
                  json={"success": True, "data": {"message": "stopped"}})
        staff.post(changelist, {"action": "stop_livestream", "_selected_action": [meeting.pk]})
        assert len(mock.calls) == 1
    assert Livestream.objects.get().status == "OFFLINE"
    _secrets_absent(_database_text() + caplog.text)
