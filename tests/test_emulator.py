"""The emulator, over both of its transports: the ``responses`` adapter (the ``realtimekit_emulator``
fixture, no socket) and the WSGI app served on loopback."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from realtimekit_django.emulator import Emulator, Faults, decode_token, serve
from realtimekit_django.emulator.pytest_plugin import emulator_settings
from realtimekit_django.emulator.responses_adapter import mock_requests

TOKEN = "test-api-token-s3cr3t-value"
APP = "test-app"
ACCOUNT = "test-account"
BASE = "https://rtk.test/client/v4"
TIMESTAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
BOOLEANS = (
    "record_on_start",
    "live_stream_on_start",
    "persist_chat",
    "summarize_on_end",
    "transcribe_on_end",
)
STORAGE = {
    "type": "aws",
    "bucket": "recordings",
    "region": "eu-west-1",
    "access_key": "AKIA-EMULATOR-ACCESS",
    "secret": "very-secret-key-value",
}


class Api:
    """A tiny ``requests`` wrapper around one emulator, reached through ``base_url``."""

    def __init__(self, emulator: Emulator, base_url: str, transport: str) -> None:
        self.emulator = emulator
        self.base_url = base_url
        self.transport = transport
        self.token = TOKEN

    def url(self, path: str, app: str = APP) -> str:
        return f"{self.base_url}/accounts/{ACCOUNT}/realtime/kit/{app}{path}"

    def call(self, method: str, path: str, *, app: str = APP, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        headers.setdefault("Authorization", f"Bearer {token or self.token}")
        return requests.request(method, self.url(path, app), headers=headers, timeout=10, **kwargs)

    def ok(self, method: str, path: str, expected: int = 200, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code == expected, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["success"] is True
        return body

    def create(self, **fields) -> dict:
        return self.ok("POST", "/meetings", 201, json=fields)["data"]

    def add(self, meeting_id: str, **fields) -> dict:
        fields.setdefault("custom_participant_id", "user-1")
        fields.setdefault("preset_name", "group_call_participant")
        return self.ok("POST", f"/meetings/{meeting_id}/participants", 201, json=fields)["data"]


@pytest.fixture
def served():
    emulator = Emulator(api_token=TOKEN, default_app_id=APP)
    server, thread = serve(emulator, "127.0.0.1", 0)
    yield emulator, server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(params=["responses", "wsgi"])
def api(request):
    if request.param == "responses":
        return Api(request.getfixturevalue("realtimekit_emulator"), BASE, "responses")
    emulator, server = request.getfixturevalue("served")
    return Api(emulator, server.base_url, "wsgi")


def assert_error(response, status: int, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == status
    if message is not None:
        assert body["error"]["message"] == message
    return body


def walk(api: Api, path: str, per_page: int) -> list[dict]:
    items, page = [], 1
    while True:
        body = api.ok("GET", path, params={"page_no": page, "per_page": per_page})
        items.extend(body["data"])
        if not body["data"] or body["paging"]["end_offset"] >= body["paging"]["total_count"]:
            return items
        page += 1


# ---------------------------------------------------------------------------- auth and routing


def test_fixture_takes_token_and_app_from_django_settings(realtimekit_emulator):
    assert realtimekit_emulator.default_app_id == APP
    api = Api(realtimekit_emulator, BASE, "responses")
    assert_error(api.call("GET", "/meetings", token="wrong-token"), 401, "Unauthorized")
    assert_error(api.call("GET", "/meetings", headers={"Authorization": ""}), 401, "Unauthorized")
    meeting = api.create(title="Stand-up")
    assert realtimekit_emulator.meetings() == [meeting]


def test_settings_fallback_to_environment(settings, monkeypatch):
    settings.REALTIMEKIT = {"APP_ID": "other-app"}
    monkeypatch.setenv("REALTIMEKIT_API_TOKEN", "from-env")
    assert emulator_settings() == {"api_token": "from-env", "app_id": "other-app", "base_url": None}


def test_missing_authorization_header_is_401_and_any_token_mode(api):
    response = requests.get(api.url("/meetings"), timeout=10)
    assert_error(response, 401, "Unauthorized")
    open_emulator = Emulator(api_token=None)
    assert open_emulator.handle("GET", "/accounts/a/realtime/kit/b/meetings", {}, b"", {}).status == 401
    anything = {"Authorization": "Bearer anything-at-all"}
    assert open_emulator.handle("GET", "/accounts/a/realtime/kit/b/meetings", {}, b"", anything).status == 200


def test_any_prefix_any_account_and_apps_are_isolated():
    emulator = Emulator(api_token="t")
    auth = {"authorization": "Bearer t"}
    created = emulator.handle(
        "POST", "/x/y/accounts/acc1/realtime/kit/app-a/meetings", {}, b'{"title": "A"}', auth
    )
    assert created.status == 201
    meeting_id = created.json()["data"]["id"]
    same_app = emulator.handle(
        "GET", f"/accounts/acc2/realtime/kit/app-a/meetings/{meeting_id}", {}, b"", auth
    )
    assert same_app.status == 200
    other_app = emulator.handle(
        "GET", f"/accounts/acc1/realtime/kit/app-b/meetings/{meeting_id}", {}, b"", auth
    )
    assert other_app.status == 404
    assert other_app.json()["error"]["message"] == "Meeting not found"
    assert emulator.meetings("app-b") == []
    assert [m["id"] for m in emulator.meetings("app-a")] == [meeting_id]


def test_unknown_routes_and_methods(api):
    meeting = api.create()
    assert_error(api.call("GET", "/presets-not-emulated"), 404)
    assert_error(api.call("DELETE", f"/meetings/{meeting['id']}"), 405, "Method not allowed")
    assert_error(api.call("DELETE", "/meetings"), 405)
    assert_error(api.call("GET", f"/meetings/{meeting['id']}/participants/p/token"), 405)


# ---------------------------------------------------------------------------- meetings


def test_create_defaults_and_envelope(api):
    response = api.call("POST", "/meetings", json={})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"success", "data"}
    meeting = body["data"]
    assert meeting["title"] is None
    assert meeting["status"] == "ACTIVE"
    assert all(meeting[name] is False for name in BOOLEANS)
    assert meeting["session_keep_alive_time_in_secs"] == 60
    assert meeting["created_at"] == meeting["updated_at"]
    assert re.match(TIMESTAMP, meeting["created_at"])
    assert len(meeting["id"]) == 36


def test_create_keeps_given_fields(api):
    ai = {
        "summarization": {"summary_type": "lecture", "word_limit": 300},
        "transcription": {"language": "de"},
    }
    meeting = api.create(title="Board", persist_chat=True, session_keep_alive_time_in_secs=120, ai_config=ai)
    assert meeting["title"] == "Board"
    assert meeting["persist_chat"] is True
    assert meeting["session_keep_alive_time_in_secs"] == 120
    assert meeting["ai_config"] == ai


def test_create_validation_errors_are_400(api):
    body = assert_error(
        api.call(
            "POST", "/meetings", json={"session_keep_alive_time_in_secs": 5, "status": "ACTIVE", "bogus": 1}
        ),
        400,
    )
    message = body["error"]["message"]
    assert "session_keep_alive_time_in_secs: must be between 60 and 600" in message
    assert "status:" in message and "bogus: unknown field" in message
    assert_error(
        api.call("POST", "/meetings", data="{not json", headers={"Content-Type": "application/json"}), 400
    )
    assert_error(api.call("POST", "/meetings", json=[1, 2]), 400, "Request body must be a JSON object")
    assert api.emulator.meetings() == []


def test_get_meeting_ignores_name_and_404s(api):
    meeting = api.create(title="Retro")
    assert api.ok("GET", f"/meetings/{meeting['id']}", params={"name": "whoever"})["data"] == meeting
    assert_error(api.call("GET", "/meetings/00000000-0000-4000-8000-000000000000"), 404, "Meeting not found")


def test_patch_merges_and_updated_at_strictly_increases(api):
    meeting = api.create(title="Old", record_on_start=True, recording_config={"max_seconds": 600})
    stamps = [meeting["updated_at"]]
    patched = api.ok("PATCH", f"/meetings/{meeting['id']}", json={"title": "New"})["data"]
    assert patched["title"] == "New"
    assert patched["record_on_start"] is True
    assert patched["recording_config"] == {"max_seconds": 600}
    stamps.append(patched["updated_at"])
    for _ in range(5):  # several changes within the same millisecond still move updated_at on
        stamps.append(
            api.ok("PATCH", f"/meetings/{meeting['id']}", json={"persist_chat": True})["data"]["updated_at"]
        )
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # A nested object given in a PATCH replaces the stored one whole.
    replaced = api.ok(
        "PATCH", f"/meetings/{meeting['id']}", json={"recording_config": {"file_name_prefix": "x"}}
    )
    assert replaced["data"]["recording_config"] == {"file_name_prefix": "x"}
    inactive = api.ok("PATCH", f"/meetings/{meeting['id']}", json={"status": "INACTIVE"})["data"]
    assert inactive["status"] == "INACTIVE"
    assert inactive["created_at"] == meeting["created_at"]
    assert_error(api.call("PATCH", f"/meetings/{meeting['id']}", json={"id": "x"}), 400, "id: is read-only")
    assert_error(api.call("PATCH", "/meetings/nope", json={"title": "x"}), 404, "Meeting not found")


def test_put_replaces_all_writable_fields(api):
    meeting = api.create(title="Old", persist_chat=True, session_keep_alive_time_in_secs=300)
    api.ok("PATCH", f"/meetings/{meeting['id']}", json={"status": "INACTIVE"})
    replaced = api.ok("PUT", f"/meetings/{meeting['id']}", json={"title": "Fresh", "record_on_start": True})[
        "data"
    ]
    assert replaced["id"] == meeting["id"] and replaced["created_at"] == meeting["created_at"]
    assert replaced["title"] == "Fresh" and replaced["record_on_start"] is True
    assert replaced["persist_chat"] is False and replaced["session_keep_alive_time_in_secs"] == 60
    assert replaced["status"] == "INACTIVE"  # PATCH-only, so PUT keeps it
    assert replaced["updated_at"] > meeting["updated_at"]
    assert_error(api.call("PUT", f"/meetings/{meeting['id']}", json={"status": "ACTIVE"}), 400)
    assert_error(api.call("PUT", "/meetings/nope", json={}), 404)


def test_listing_paging_offsets_over_three_pages(api):
    created = [api.create(title=f"Meeting {i}") for i in range(7)]
    pages = [api.ok("GET", "/meetings", params={"page_no": n, "per_page": 3}) for n in (1, 2, 3, 4)]
    assert [p["paging"] for p in pages] == [
        {"start_offset": 1, "end_offset": 3, "total_count": 7},
        {"start_offset": 4, "end_offset": 6, "total_count": 7},
        {"start_offset": 7, "end_offset": 7, "total_count": 7},
        {"start_offset": 10, "end_offset": 7, "total_count": 7},  # past the end: no data
    ]
    assert [m["id"] for p in pages for m in p["data"]] == [m["id"] for m in created]
    assert pages[3]["data"] == []
    assert walk(api, "/meetings", 2) == created


def test_listing_defaults_clamp_and_bad_params(api):
    empty = api.ok("GET", "/meetings")
    assert empty["data"] == [] and empty["paging"] == {"start_offset": 0, "end_offset": 0, "total_count": 0}
    for i in range(105):
        api.emulator.create_meeting(title=f"m{i}")
    default = api.ok("GET", "/meetings")
    assert len(default["data"]) == 20 and default["paging"]["end_offset"] == 20
    clamped = api.ok("GET", "/meetings", params={"per_page": 500})
    assert len(clamped["data"]) == 100 and clamped["paging"] == {
        "start_offset": 1,
        "end_offset": 100,
        "total_count": 105,
    }
    assert (
        api.ok("GET", "/meetings", params={"per_page": "5.0", "page_no": "2"})["paging"]["start_offset"] == 6
    )
    for params in ({"per_page": 0}, {"page_no": 0}, {"per_page": "abc"}, {"page_no": "1.5"}):
        assert_error(api.call("GET", "/meetings", params=params), 400)


def test_listing_order_is_created_at_then_id(api):
    stamp = "2026-01-01T00:00:00.000Z"
    later = api.emulator.create_meeting(title="later", created_at="2026-02-01T00:00:00.000Z")
    second = api.emulator.create_meeting(
        title="tie b", id="bbbbbbbb-0000-4000-8000-000000000000", created_at=stamp
    )
    first = api.emulator.create_meeting(
        title="tie a", id="aaaaaaaa-0000-4000-8000-000000000000", created_at=stamp
    )
    listed = api.ok("GET", "/meetings")["data"]
    assert [m["id"] for m in listed] == [first["id"], second["id"], later["id"]]


def test_listing_filters(api):
    jan = api.emulator.create_meeting(title="Weekly SYNC", created_at="2026-01-10T10:00:00.000Z")
    feb = api.emulator.create_meeting(title="Retro", created_at="2026-02-10T10:00:00.000Z")
    mar = api.emulator.create_meeting(title="Syncing up", created_at="2026-03-10T10:00:00.000Z")
    api.emulator.update_meeting(mar["id"], status="INACTIVE")

    def ids(**params):
        return [m["id"] for m in api.ok("GET", "/meetings", params=params)["data"]]

    assert ids(search="sync") == [jan["id"], mar["id"]]
    assert ids(search=feb["id"]) == [feb["id"]]
    assert ids(search=feb["id"][:8]) == []  # ids match exactly, titles by substring
    assert ids(status="INACTIVE") == [mar["id"]]
    assert ids(status="ACTIVE") == [jan["id"], feb["id"]]
    assert ids(start_time="2026-02-01T00:00:00Z") == [feb["id"], mar["id"]]
    assert ids(end_time="2026-02-10T10:00:00+00:00") == [jan["id"], feb["id"]]
    assert ids(start_time="2026-02-01T00:00:00", end_time="2026-02-28T00:00:00Z", search="retro") == [
        feb["id"]
    ]
    assert api.ok("GET", "/meetings", params={"search": "sync", "per_page": 1})["paging"]["total_count"] == 2
    assert_error(api.call("GET", "/meetings", params={"status": "DONE"}), 400)
    assert_error(api.call("GET", "/meetings", params={"start_time": "yesterday"}), 400)


# ---------------------------------------------------------------------------- write-only secrets


def test_storage_secrets_reach_the_emulator_but_are_never_echoed(api, tmp_path):
    config = {"storage_config": STORAGE, "max_seconds": 3600}
    created = api.call("POST", "/meetings", json={"title": "Recorded", "recording_config": config})
    meeting_id = created.json()["data"]["id"]
    assert created.json()["data"]["recording_config"]["storage_config"] == {
        "type": "aws",
        "bucket": "recordings",
        "region": "eu-west-1",
    }
    assert api.emulator.received_storage_secrets(meeting_id) == {
        "access_key": "AKIA-EMULATOR-ACCESS",
        "secret": "very-secret-key-value",
    }
    sftp = {
        "type": "sftp",
        "host": "h",
        "username": "u",
        "auth_method": "PASSWORD",
        "password": "pw-123-secret",
    }
    responses_seen = [
        created,
        api.call("GET", f"/meetings/{meeting_id}"),
        api.call("GET", "/meetings"),
        api.call("PATCH", f"/meetings/{meeting_id}", json={"recording_config": {"storage_config": sftp}}),
        api.call("PUT", f"/meetings/{meeting_id}", json={"recording_config": {"storage_config": STORAGE}}),
        api.call("GET", "/meetings", params={"search": "Recorded"}),
    ]
    for response in responses_seen:
        assert response.status_code in (200, 201)
        for secret in ("AKIA-EMULATOR-ACCESS", "very-secret-key-value", "pw-123-secret"):
            assert secret not in response.text
        for key in ("access_key", '"secret"', "password", "private_key"):
            assert key not in response.text
    assert api.emulator.received_storage_secrets(meeting_id)["secret"] == "very-secret-key-value"
    assert "very-secret-key-value" not in json.dumps(api.emulator.meetings())
    assert api.emulator.received_storage_secrets("unknown") == {}


# ---------------------------------------------------------------------------- participants


def test_add_participant_shape_and_404(api):
    meeting = api.create()
    response = api.call(
        "POST",
        f"/meetings/{meeting['id']}/participants",
        json={"custom_participant_id": "u-42", "preset_name": "group_call_host", "name": "Ada"},
    )
    assert response.status_code == 201
    person = response.json()["data"]
    assert set(person) == {
        "id",
        "created_at",
        "updated_at",
        "custom_participant_id",
        "preset_name",
        "name",
        "picture",
        "token",
    }
    assert person["custom_participant_id"] == "u-42" and person["preset_name"] == "group_call_host"
    assert person["name"] == "Ada" and person["picture"] is None
    assert person["token"] in api.emulator.issued_tokens
    missing = api.call(
        "POST", "/meetings/nope/participants", json={"custom_participant_id": "u", "preset_name": "p"}
    )
    assert_error(missing, 404, "Meeting not found")
    body = assert_error(api.call("POST", f"/meetings/{meeting['id']}/participants", json={"name": "x"}), 400)
    assert "custom_participant_id: is required" in body["error"]["message"]
    bad_picture = {"custom_participant_id": "u", "preset_name": "p", "picture": "not a url"}
    assert_error(api.call("POST", f"/meetings/{meeting['id']}/participants", json=bad_picture), 400)


def test_same_custom_participant_id_twice_makes_two_participants(api):
    meeting = api.create()
    one = api.add(meeting["id"], custom_participant_id="same")
    two = api.add(meeting["id"], custom_participant_id="same")
    assert one["id"] != two["id"]
    assert [p["custom_participant_id"] for p in api.emulator.participants(meeting["id"])] == ["same", "same"]


def test_participant_listing_get_edit_refresh_delete(api):
    meeting = api.create()
    people = [api.add(meeting["id"], custom_participant_id=f"u{i}") for i in range(7)]
    pages = [
        api.ok("GET", f"/meetings/{meeting['id']}/participants", params={"page_no": n, "per_page": 3})
        for n in (1, 2, 3)
    ]
    assert [p["paging"]["start_offset"] for p in pages] == [1, 4, 7]
    assert [p["paging"]["end_offset"] for p in pages] == [3, 6, 7]
    listed = [p for page in pages for p in page["data"]]
    assert [p["id"] for p in listed] == [p["id"] for p in people]
    assert all("token" not in p for p in listed)
    assert_error(api.call("GET", "/meetings/nope/participants"), 404, "Meeting not found")

    target = people[0]
    path = f"/meetings/{meeting['id']}/participants/{target['id']}"
    fetched = api.ok("GET", path)["data"]
    assert fetched == {k: v for k, v in target.items() if k != "token"}

    edited = api.ok("PATCH", path, json={"name": "Grace", "preset_name": "group_call_host"})["data"]
    assert edited["name"] == "Grace" and edited["preset_name"] == "group_call_host"
    assert edited["token"] != target["token"] and edited["updated_at"] > target["updated_at"]
    assert_error(api.call("PATCH", path, json={"custom_participant_id": "other"}), 400)

    refreshed = api.ok("POST", path + "/token")
    assert set(refreshed["data"]) == {"token"}
    assert refreshed["data"]["token"] not in (target["token"], edited["token"])
    # Refreshing does not revoke earlier tokens.
    assert api.emulator.token_is_valid(target["token"]) and api.emulator.token_is_valid(
        refreshed["data"]["token"]
    )

    deleted = api.ok("DELETE", path)["data"]
    assert set(deleted) == {"created_at", "updated_at", "custom_participant_id", "preset_id"}
    assert deleted["custom_participant_id"] == "u0"
    assert deleted["preset_id"] == Emulator.preset_id("group_call_host")
    assert deleted["preset_id"] != Emulator.preset_id("group_call_participant")
    # Deleting revokes every token of the participant.
    assert not api.emulator.token_is_valid(target["token"])
    assert not api.emulator.token_is_valid(refreshed["data"]["token"])
    assert api.emulator.token_is_valid(people[1]["token"])
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/token")):
        assert_error(api.call(method, path + suffix, json={}), 404, "Participant not found")
    assert_error(api.call("GET", f"/meetings/nope/participants/{people[1]['id']}"), 404, "Meeting not found")
    assert len(api.emulator.participants(meeting["id"])) == 6


def test_tokens_are_jwt_shaped_unique_and_live_100_days(api):
    meeting = api.create()
    person = api.add(meeting["id"])
    tokens = [person["token"]]
    path = f"/meetings/{meeting['id']}/participants/{person['id']}/token"
    tokens += [api.ok("POST", path)["data"]["token"] for _ in range(3)]
    assert len(set(tokens)) == 4
    assert api.emulator.issued_tokens == tokens
    for token in tokens:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
        assert header == {"alg": "RS256", "typ": "JWT"}
        payload = decode_token(token)
        assert payload["meetingId"] == meeting["id"] and payload["participantId"] == person["id"]
        assert payload["exp"] - payload["iat"] == 100 * 24 * 3600
        assert abs(payload["iat"] - time.time()) < 60
        assert payload["jti"]
        assert len(base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))) == 256
    # Nobody can join an INACTIVE meeting.
    api.ok("PATCH", f"/meetings/{meeting['id']}", json={"status": "INACTIVE"})
    assert not api.emulator.token_is_valid(tokens[0])
    assert not api.emulator.token_is_valid("not-a-token")


# ---------------------------------------------------------------------------- Python helpers


def test_python_helpers():
    emulator = Emulator()
    meeting = emulator.create_meeting(title="Seeded")
    assert emulator.meetings() == [meeting]  # the default app is "emulator-app"
    assert emulator.meetings("emulator-app") == [meeting]
    person = emulator.add_participant(meeting["id"], custom_participant_id="u", preset_name="p", name="N")
    assert person["token"] in emulator.issued_tokens
    assert emulator.participants(meeting["id"]) == [{k: v for k, v in person.items() if k != "token"}]
    assert emulator.get_meeting(meeting["id"]) == meeting
    assert emulator.update_meeting(meeting["id"], title="Renamed")["title"] == "Renamed"
    assert emulator.delete_participant(meeting["id"], person["id"])["custom_participant_id"] == "u"
    assert emulator.participants(meeting["id"]) == []
    with pytest.raises(LookupError):
        emulator.add_participant("missing", custom_participant_id="u", preset_name="p")
    with pytest.raises(ValueError, match="session_keep_alive"):
        emulator.create_meeting(session_keep_alive_time_in_secs=1)

    # With no default app, "the only app used so far".
    only = Emulator(api_token="t")
    only.handle("GET", "/accounts/a/realtime/kit/the-app/meetings", {}, b"", {"Authorization": "Bearer t"})
    assert only.create_meeting(title="x") == only.meetings("the-app")[0]
    only.create_meeting(app_id="second-app")
    with pytest.raises(ValueError, match="several apps"):
        only.meetings()


def test_reset_forgets_everything(api):
    meeting = api.create(recording_config={"storage_config": STORAGE})
    api.add(meeting["id"])
    api.emulator.add_hook(lambda info: None)
    api.emulator.faults.latency = 0.5
    api.emulator.reset()
    assert api.emulator.meetings() == []
    assert api.emulator.requests == [] and api.emulator.issued_tokens == []
    assert api.emulator.received_storage_secrets(meeting["id"]) == {}
    assert api.emulator.faults.latency == 0
    assert_error(api.call("GET", f"/meetings/{meeting['id']}"), 404)


# ---------------------------------------------------------------------------- state file


def test_state_file_survives_a_restart(tmp_path):
    state = tmp_path / "state" / "emulator.json"
    first = Emulator(api_token=TOKEN, state_file=state)
    server, thread = serve(first)
    try:
        api = Api(first, server.base_url, "wsgi")
        meeting = api.create(title="Persistent", recording_config={"storage_config": STORAGE})
        kept = api.add(meeting["id"], custom_participant_id="kept")
        gone = api.add(meeting["id"], custom_participant_id="gone")
        api.ok("DELETE", f"/meetings/{meeting['id']}/participants/{gone['id']}")
        patched = api.ok("PATCH", f"/meetings/{meeting['id']}", json={"title": "Persistent 2"})["data"]
    finally:
        server.shutdown()
        server.server_close()
    assert state.exists()
    assert os.listdir(state.parent) == ["emulator.json"]  # written atomically: no temp file left
    text = state.read_text()
    assert "very-secret-key-value" not in text and "AKIA" not in text and kept["token"] not in text

    second = Emulator(api_token=TOKEN, state_file=state)
    server, thread = serve(second)
    try:
        api = Api(second, server.base_url, "wsgi")
        assert api.ok("GET", f"/meetings/{meeting['id']}", app=APP)["data"] == patched
        people = api.ok("GET", f"/meetings/{meeting['id']}/participants")["data"]
        assert [p["id"] for p in people] == [kept["id"]]
        # The clock carries on after the newest stored timestamp.
        again = api.ok("PATCH", f"/meetings/{meeting['id']}", json={"title": "3"})["data"]
        assert again["updated_at"] > patched["updated_at"]
    finally:
        server.shutdown()
        server.server_close()
    assert json.loads(state.read_text())["apps"][APP]["meetings"][meeting["id"]]["title"] == "3"


# ---------------------------------------------------------------------------- faults


def test_latency_fault(api):
    api.emulator.faults.latency = 0.2
    started = time.monotonic()
    api.ok("GET", "/meetings")
    assert time.monotonic() - started >= 0.2


def test_error_rate_fault_gives_realistic_5xx_and_is_seeded(api):
    api.emulator.faults.seed = 7
    api.emulator.faults.error_rate = 1.0
    responses_seen = [api.call("GET", "/meetings") for _ in range(40)]
    statuses = [r.status_code for r in responses_seen]
    assert set(statuses) == {500, 502, 503}
    html = [r for r in responses_seen if r.headers["content-type"] == "text/html"]
    assert html and all("502 Bad Gateway" in r.text and r.text.lstrip().startswith("<html>") for r in html)
    gateway = [r.json() for r in responses_seen if r.headers["content-type"] == "application/json"]
    assert any(b.get("errors") and b["errors"][0]["code"] == 10000 and b["result"] is None for b in gateway)
    assert any(b.get("error", {}).get("code") == 500 for b in gateway)

    def run(seed):
        faults = Faults(seed=seed, error_rate=0.5)
        emulator = Emulator(faults=faults)
        auth = {"Authorization": "Bearer x"}
        return [
            emulator.handle("GET", "/accounts/a/realtime/kit/b/meetings", {}, b"", auth).status
            for _ in range(30)
        ]

    assert run(3) == run(3)
    assert 200 in run(3) and any(s >= 500 for s in run(3))
    api.emulator.faults.error_rate = 0
    api.ok("GET", "/meetings")


def test_rate_limit_burst_fault(api):
    api.emulator.faults.rate_limit_burst = 2
    api.emulator.faults.retry_after = 3
    for _ in range(2):
        response = api.call("POST", "/meetings", json={})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert response.json()["success"] is False
    assert api.create()
    assert len(api.emulator.meetings()) == 1  # the refused creates did nothing


def test_drop_rate_fault(api):
    api.emulator.faults.drop_rate = 1.0
    with pytest.raises(requests.exceptions.ConnectionError):
        api.call("POST", "/meetings", json={"title": "lost"})
    api.emulator.faults.drop_rate = 0
    assert api.emulator.meetings() == []
    api.ok("GET", "/meetings")


def test_fail_next_queue(api):
    faults = api.emulator.faults
    faults.fail_next(1, status=503)
    faults.fail_next(1, status=500, body={"message": "Unauthorized"})
    faults.fail_next(1, status=502, body="")
    faults.fail_next(1, drop=True)
    faults.fail_next(1, status=429)
    assert faults.pending == 5
    first = api.call("GET", "/meetings")
    assert first.status_code == 503 and first.json()["errors"][0]["code"] == 10000
    second = api.call("GET", "/meetings")
    assert second.status_code == 500 and second.json() == {"message": "Unauthorized"}
    third = api.call("GET", "/meetings")
    assert third.status_code == 502 and third.content == b""
    with pytest.raises(requests.exceptions.ConnectionError):
        api.call("GET", "/meetings")
    fifth = api.call("GET", "/meetings")
    assert fifth.status_code == 429 and fifth.headers["retry-after"] == "1"
    assert faults.pending == 0
    api.ok("GET", "/meetings")


# ---------------------------------------------------------------------------- hooks and request log


def test_hook_mutates_state_between_pages_and_request_log(api):
    for i in range(4):
        api.emulator.create_meeting(title=f"m{i}", created_at=f"2026-01-0{i + 1}T00:00:00.000Z")
    seen = []

    @api.emulator.add_hook
    def insert_ahead(info):
        seen.append((info.method, info.path, dict(info.query)))
        if info.query.get("page_no") == "2":
            # Inserted ahead of the walk's position: the walk will see m1 twice.
            api.emulator.create_meeting(title="early", created_at="2025-12-31T00:00:00.000Z")

    titles = [m["title"] for m in walk(api, "/meetings", 2)]
    assert titles == ["m0", "m1", "m1", "m2", "m3"]
    assert seen[0] == (
        "GET",
        f"/accounts/{ACCOUNT}/realtime/kit/{APP}/meetings",
        {"page_no": "1", "per_page": "2"},
    )
    api.emulator.remove_hook(insert_ahead)

    api.create(title="logged")
    method, path, query, body = api.emulator.requests[-1]
    assert (method, path, query, body) == (
        "POST",
        f"/accounts/{ACCOUNT}/realtime/kit/{APP}/meetings",
        {},
        {"title": "logged"},
    )
    assert TOKEN not in repr(api.emulator.requests)
    assert TOKEN not in repr(api.emulator)


# ---------------------------------------------------------------------------- transports


def test_loopback_passes_through_the_fixture(realtimekit_emulator, served):
    """With the fixture active, a live server on 127.0.0.1 is still reached over its socket."""
    live_emulator, server = served
    Api(live_emulator, server.base_url, "wsgi").create(title="live")
    Api(realtimekit_emulator, BASE, "responses").create(title="in memory")
    assert [m["title"] for m in live_emulator.meetings()] == ["live"]
    assert [m["title"] for m in realtimekit_emulator.meetings()] == ["in memory"]


def test_mock_requests_context_manager_with_a_loopback_base_url():
    emulator = Emulator(api_token=TOKEN, default_app_id=APP)
    base = "http://127.0.0.1:9/client/v4"  # nothing listens there: only the mock can answer
    with mock_requests(emulator, base_url=base):
        api = Api(emulator, base, "responses")
        meeting = api.create(title="no socket")
        api.add(meeting["id"])
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get("https://elsewhere.test/other", timeout=5)
    assert len(emulator.participants(meeting["id"])) == 1


def test_concurrent_requests_are_safe(served):
    emulator, server = served
    api = Api(emulator, server.base_url, "wsgi")
    meeting = api.create()
    errors = []

    def worker(n):
        try:
            for i in range(5):
                api.add(meeting["id"], custom_participant_id=f"{n}-{i}")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    people = emulator.participants(meeting["id"])
    assert len(people) == 40
    assert len({p["created_at"] for p in people}) == 40  # the clock never repeats itself


def test_wsgi_app_under_a_foreign_server_raises_on_drop():
    from io import BytesIO

    from realtimekit_django.emulator import ConnectionDropped, make_wsgi_app

    emulator = Emulator(api_token="t")
    app = make_wsgi_app(emulator)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/client/v4/accounts/a/realtime/kit/b/meetings",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": "2",
        "wsgi.input": BytesIO(b"{}"),
        "HTTP_AUTHORIZATION": "Bearer t",
    }
    captured = {}
    body = b"".join(app(environ, lambda status, headers: captured.update(status=status, headers=headers)))
    assert captured["status"] == "201 Created" and json.loads(body)["success"] is True
    emulator.faults.fail_next(1, drop=True)
    with pytest.raises(ConnectionDropped):
        app({**environ, "wsgi.input": BytesIO(b"{}")}, lambda *a: None)


def test_cli_serves_and_never_prints_the_token(tmp_path):
    secret = "cli-secret-token-value"
    env = {**os.environ, "REALTIMEKIT_API_TOKEN": secret}
    state = tmp_path / "cli.json"
    args = [
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state-file",
        str(state),
        "--seed",
        "1",
        "--retry-after",
        "2",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "realtimekit_django.emulator", *args, "--rate-limit-burst", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("RealtimeKit emulator listening on http://127.0.0.1:")
        assert line.endswith("/client/v4")
        base = line.rsplit(" ", 1)[1]
        api = Api(Emulator(), base, "cli")
        api.token = secret
        limited = api.call("GET", "/meetings")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert_error(api.call("GET", "/meetings", token="wrong"), 401)
        api.create(title="from cli")
        assert json.loads(state.read_text())["apps"][APP]["meetings"]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert secret not in line + out + err


def test_cli_rejects_bad_fault_values():
    result = subprocess.run(
        [sys.executable, "-m", "realtimekit_django.emulator", "--error-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "between 0 and 1" in result.stderr


def test_timestamps_are_utc_milliseconds():
    emulator = Emulator()
    meeting = emulator.create_meeting()
    parsed = datetime.strptime(meeting["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=1)
