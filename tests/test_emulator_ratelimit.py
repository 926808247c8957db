"""The emulator's Cloudflare rate limit and its clock, through every way a request can enter it:
the ``realtimekit_emulator`` fixture (the ``responses`` adapter) and the WSGI app on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests

from realtimekit_django.emulator import Emulator, ManualClock, RateLimit, ScaledClock, SystemClock, serve
from realtimekit_django.emulator import clock as clock_module
from realtimekit_django.emulator.__main__ import _clock, build_parser
from realtimekit_django.emulator.responses_adapter import mock_requests
from realtimekit_django.emulator.wsgi import make_wsgi_app

TOKEN = "test-api-token-s3cr3t-value"  # the test settings' API_TOKEN, which the fixture requires
APP = "test-app"
BASE = "https://rtk.test/client/v4"
START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
RATELIMIT = re.compile(r'^"default";r=(\d+);t=(\d+)$')


def url(base: str, path: str = "/meetings") -> str:
    return f"{base}/accounts/test-account/realtime/kit/{APP}{path}"


class Caller:
    """``requests`` calls to one emulator, over one transport, with a bearer token of choice."""

    def __init__(self, emulator: Emulator, base: str) -> None:
        self.emulator = emulator
        self.base = base

    def get(self, path: str = "/meetings", token: str = TOKEN) -> requests.Response:
        return requests.get(url(self.base, path), headers={"Authorization": f"Bearer {token}"}, timeout=10)


def ratelimit(response: requests.Response) -> tuple[int, int]:
    """``(r, t)`` of the ``Ratelimit`` header."""
    match = RATELIMIT.match(response.headers["Ratelimit"])
    assert match, response.headers["Ratelimit"]
    return int(match[1]), int(match[2])


@pytest.fixture(params=["fixture", "wsgi"])
def limited(request):
    """A Caller for an emulator limited to 5 requests per 60 s, on a ManualClock at START."""
    if request.param == "fixture":
        emulator = request.getfixturevalue("realtimekit_emulator")
        emulator.clock = ManualClock(START)
        emulator.set_rate_limit((5, 60))
        yield Caller(emulator, BASE)
        return
    emulator = Emulator(api_token=TOKEN, rate_limit=(5, 60), clock=ManualClock(START))
    server, thread = serve(emulator)
    yield Caller(emulator, server.base_url)
    server.shutdown()
    server.server_close()
    thread.join(5)


# ---------------------------------------------------------------------------- the limit


def test_five_pass_then_every_request_is_429_until_the_lockout_ends(limited):
    passed = [limited.get() for _ in range(5)]
    assert [r.status_code for r in passed] == [200] * 5
    assert [ratelimit(r) for r in passed] == [(4, 60), (3, 60), (2, 60), (1, 60), (0, 60)]
    assert {r.headers["Ratelimit-Policy"] for r in passed} == {'"default";q=5;w=60'}
    assert all("Retry-After" not in r.headers for r in passed)

    sixth = limited.get()
    assert sixth.status_code == 429
    assert sixth.headers["Retry-After"] == "60"
    assert ratelimit(sixth) == (0, 60)
    assert sixth.headers["Ratelimit-Policy"] == '"default";q=5;w=60'
    body = sixth.json()
    assert body["success"] is False and body["error"]["code"] == 429
    assert "5 requests per 60 seconds" in body["error"]["message"]

    clock = limited.emulator.clock
    waits = []
    for step in (20, 20, 19.5):  # refused requests in between do not extend the lockout
        clock.advance(step)
        refused = limited.get()
        assert refused.status_code == 429
        waits.append(refused.headers["Retry-After"])
    assert waits == ["40", "20", "1"]  # whole seconds, rounded up

    clock.advance(0.5)  # exactly one window after the request that went over
    again = limited.get()
    assert again.status_code == 200 and ratelimit(again) == (4, 60)
    assert limited.emulator.rate_limit.lockouts == 1
    assert limited.emulator.rate_limit.refused == 4


def test_the_window_slides(limited):
    clock = limited.emulator.clock
    assert [limited.get().status_code for _ in range(3)] == [200] * 3
    clock.advance(30)
    assert [ratelimit(limited.get()) for _ in range(2)] == [(1, 60), (0, 60)]
    clock.advance(30)  # the first three have left the window, the last two have not
    assert [limited.get().status_code for _ in range(3)] == [200] * 3
    assert limited.get().status_code == 429  # a fixed window would have let five through


def test_errors_carry_the_headers_and_refused_requests_meet_no_fault(limited):
    missing = limited.get("/meetings/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and ratelimit(missing) == (4, 60)
    limited.emulator.faults.fail_next(1, status=503)
    failed = limited.get()
    assert failed.status_code == 503 and ratelimit(failed) == (3, 60)
    for _ in range(3):
        limited.get()
    limited.emulator.faults.fail_next(1, status=500)
    assert limited.get().status_code == 429
    assert limited.emulator.faults.pending == 1


def test_unauthorised_requests_get_no_window_and_spend_nothing(limited):
    wrong = limited.get(token="not-the-token")
    assert wrong.status_code == 401
    assert "Ratelimit" not in wrong.headers and "Ratelimit-Policy" not in wrong.headers
    assert ratelimit(limited.get()) == (4, 60)


def test_reset_forgets_the_windows_but_keeps_the_limit(limited):
    for _ in range(6):
        limited.get()
    limited.emulator.reset()
    fresh = limited.get()
    assert fresh.status_code == 200 and ratelimit(fresh) == (4, 60)
    assert limited.emulator.rate_limit.lockouts == 0


def test_two_tokens_have_separate_windows():
    emulator = Emulator(rate_limit=(5, 60), clock=ManualClock(START))  # any bearer token
    caller = Caller(emulator, BASE)
    with mock_requests(emulator):
        assert [caller.get(token="token-a").status_code for _ in range(6)] == [200] * 5 + [429]
        other = caller.get(token="token-b")
        assert other.status_code == 200 and ratelimit(other) == (4, 60)
        assert caller.get(token="token-a").status_code == 429


def test_limit_can_be_lifted_and_is_off_by_default():
    emulator = Emulator(api_token=TOKEN)
    assert emulator.rate_limit is None
    headers = {"Authorization": f"Bearer {TOKEN}"}
    path = "/client/v4/accounts/a/realtime/kit/app/meetings"
    statuses = set()
    for _ in range(3000):
        response = emulator.handle("GET", path, headers=headers)
        statuses.add(response.status)
        assert not {"ratelimit", "ratelimit-policy", "retry-after"} & set(response.headers)
    assert statuses == {200}

    emulator.set_rate_limit((1, 60))
    assert emulator.handle("GET", path, headers=headers).status == 200
    assert emulator.handle("GET", path, headers=headers).status == 429
    emulator.set_rate_limit(None)
    assert emulator.handle("GET", path, headers=headers).status == 200


def test_the_wsgi_app_answers_with_the_headers():
    emulator = Emulator(api_token=TOKEN, rate_limit=(1, 300), clock=ManualClock(START))
    app = make_wsgi_app(emulator)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/client/v4/accounts/a/realtime/kit/app/meetings",
        "HTTP_AUTHORIZATION": f"Bearer {TOKEN}",
        "wsgi.input": None,
    }
    answers = []
    for _ in range(2):
        app(environ, lambda status, headers: answers.append((status, dict(headers))))
    (first, first_headers), (second, second_headers) = answers
    assert first.startswith("200") and first_headers["ratelimit"] == '"default";r=0;t=300'
    assert second.startswith("429") and second_headers["retry-after"] == "300"


@pytest.mark.parametrize(
    "value",
    [(0, 300), (1200, 0), (-1, 300), (1.5, 300), (True, 300), ("1200", 300), (1200,), "1200/300"],
)
def test_bad_limits_are_refused(value):
    with pytest.raises(ValueError, match="rate limit|rate_limit"):
        Emulator(rate_limit=value)


def test_the_limit_never_shows_a_token():
    emulator = Emulator(rate_limit=(1, 60))
    path = "/accounts/a/realtime/kit/app/meetings"
    emulator.handle("GET", path, headers={"Authorization": "Bearer s3cr3t"})
    assert "s3cr3t" not in repr(emulator.rate_limit)
    assert isinstance(emulator.rate_limit, RateLimit)


# ---------------------------------------------------------------------------- the clock


def test_timestamps_and_token_lifetimes_follow_a_manual_clock():
    clock = ManualClock(START)
    emulator = Emulator(clock=clock)
    first = emulator.create_meeting(title="Monday")
    assert first["created_at"] == "2030-01-01T09:00:00.000Z"
    clock.advance(timedelta(days=1).total_seconds())
    second = emulator.create_meeting(title="Tuesday")
    assert second["created_at"] == "2030-01-02T09:00:00.000Z"
    moved = emulator.update_meeting(first["id"], title="Monday, moved")
    assert moved["updated_at"] == "2030-01-02T09:00:00.001Z"  # the clock stood still: 1 ms on

    person = emulator.add_participant(second["id"], custom_participant_id="u1", preset_name="p")
    claims = emulator.decode_token(person["token"])
    assert claims["iat"] == int(clock.time()) and claims["exp"] - claims["iat"] == 100 * 86400
    clock.advance(100 * 86400 - 1)
    assert emulator.token_is_valid(person["token"])
    clock.advance(1)
    assert not emulator.token_is_valid(person["token"])


def test_a_swapped_clock_drives_timestamps_and_windows():
    emulator = Emulator(rate_limit=(1, 60))
    emulator.clock = ManualClock(START)
    assert emulator.create_meeting()["created_at"].startswith("2030-01-01T09:00:00")
    headers = {"Authorization": "Bearer t"}
    path = "/accounts/a/realtime/kit/app/meetings"
    assert [emulator.handle("GET", path, headers=headers).status for _ in range(2)] == [200, 429]
    emulator.clock.advance(60)
    assert emulator.handle("GET", path, headers=headers).status == 200


def test_a_scaled_clock_runs_n_emulated_seconds_per_real_second(monkeypatch):
    real = [1000.0]
    monkeypatch.setattr(clock_module.time, "monotonic", lambda: real[0])
    clock = ScaledClock(3600, start=START)
    assert clock.now() == START
    real[0] += 24  # 24 real seconds: a day
    assert clock.now() == START + timedelta(days=1)
    clock.advance(60)
    assert clock.now() == START + timedelta(days=1, minutes=1)


def test_every_clock_can_jump_ahead_but_never_back():
    system = SystemClock()
    before = system.time()
    system.advance(3600)
    assert system.time() >= before + 3600
    manual = ManualClock(START)
    manual.set(START + timedelta(hours=1))
    assert manual.now() == START + timedelta(hours=1)
    with pytest.raises(ValueError, match="never go back"):
        manual.advance(-1)
    with pytest.raises(ValueError, match="never go back"):
        manual.set(START)
    with pytest.raises(TypeError):
        manual.advance("10")
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="above 0"):
        ScaledClock(0)
    assert manual.now() == START + timedelta(hours=1)


# ---------------------------------------------------------------------------- the command line


def test_cli_flags_parse():
    args = build_parser().parse_args(["--rate-limit", "1200/300", "--time-scale", "60"])
    assert args.rate_limit == (1200, 300) and args.time_scale == 60.0
    defaults = build_parser().parse_args([])
    assert defaults.rate_limit is None and defaults.time_scale == 1.0
    assert isinstance(_clock(1.0), SystemClock)
    scaled = _clock(60.0)
    assert isinstance(scaled, ScaledClock) and scaled.scale == 60.0


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--rate-limit", "0/300", "two whole numbers above 0 such as 1200/300, not '0/300'"),
        ("--rate-limit", "abc", "two whole numbers above 0 such as 1200/300, not 'abc'"),
        ("--rate-limit", "1200/0", "not '1200/0'"),
        ("--rate-limit", "1200", "not '1200'"),
        ("--time-scale", "0", "above 0"),
        ("--time-scale", "fast", "above 0"),
    ],
)
def test_cli_refuses_bad_values_with_a_clear_message(flag, value, message, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([flag, value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}:" in err and message in err


def test_cli_runs_a_scaled_clock():
    process = subprocess.Popen(
        [sys.executable, "-m", "realtimekit_django.emulator", "--port", "0", "--time-scale", "100000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REALTIMEKIT_API_TOKEN": TOKEN},
    )
    try:
        base = process.stdout.readline().strip().rsplit(" ", 1)[1]
        created = requests.post(
            url(base), json={"title": "later"}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert created.status_code == 201 and "Ratelimit" not in created.headers
    # 10^8 emulated seconds per real second: the microseconds since start are already hours.
    stamp = datetime.strptime(created.json()["data"]["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert stamp.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=1)
    assert process.returncode == 0
    assert "time scale: 1e+08 emulated seconds per real second" in err
    assert TOKEN not in out + err


# ---------------------------------------------------------------------------- the documented example


@pytest.mark.django_db
def test_the_documented_lockout_example(realtimekit_emulator, settings):
    """docs/emulator.md's example, as written there."""
    from realtimekit_django import services
    from realtimekit_django.exceptions import RateLimited

    # The site's own rate budget would refuse the 6th request before sending it.
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": None}
    realtimekit_emulator.clock = ManualClock()
    realtimekit_emulator.set_rate_limit((5, 300))
    meeting = services.create_meeting(title="Standup")
    for _ in range(4):
        services.refresh_meeting(meeting)
    with pytest.raises(RateLimited):
        services.refresh_meeting(meeting)
    assert realtimekit_emulator.rate_limit.lockouts == 1

    realtimekit_emulator.clock.advance(300)
    services.refresh_meeting(meeting)
    assert len(realtimekit_emulator.requests) == 7
