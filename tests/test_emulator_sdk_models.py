"""Every emulator route the official SDK has answers what the SDK's generated model requires.

The SDK parses answers leniently (a missing field is simply absent), so a route of the
emulator can drift from the API's shape unseen until a user's code reads the missing field.
Here each answer is validated *strictly* against the response model the SDK method is typed to
return (``cloudflare.types.realtime_kit.*Response``, pydantic): every required field, every
enum value, every nested object.

The table is the whole contract:

- ``ROUTES``: one :class:`Route` per SDK method the emulator serves, with the arguments it is
  called with (a function of the :class:`World` every test starts from). Adding a route is
  one line: ``Route("sessions.get_sessions", lambda w: {})``.
- ``NOT_SERVED``: the SDK methods the emulator does not serve (yet). Each is called too and
  must get the router's own "Not found" / "Method not allowed", so a route the emulator
  starts to serve fails here until it moves to ``ROUTES``.
- the two together must be exactly the SDK's methods, so an SDK upgrade that adds one fails
  here until it is placed.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cloudflare
import pytest
from cloudflare import Cloudflare

from realtimekit_django.emulator import Emulator, ManualClock, serve
from realtimekit_django.emulator.presets import default_preset_parts

TOKEN = "sdk-models-token"
ACCOUNT = "sdk-account"
APP = "sdk-app"
IDS = {"account_id": ACCOUNT, "app_id": APP}
RESOURCES = (
    "apps",
    "meetings",
    "presets",
    "sessions",
    "recordings",
    "webhooks",
    "active_session",
    "livestreams",
    "analytics",
)


@dataclass
class World:
    """What every route test starts from: a meeting with a live session, two participants in
    it (one host), a preset of its own, a running recording and a webhook."""

    sdk: Any
    emulator: Emulator
    meeting: str
    participant: str
    other_participant: str
    session: str
    preset: str
    recording: str
    webhook: str

    def stopped_recording(self) -> str:
        """The recording, stopped and uploaded (its download fields set)."""
        self.sdk.recordings.pause_resume_stop_recording(self.recording, action="stop", **IDS)
        self.emulator.clock.advance(1)
        return self.recording

    def ended_with_files(self) -> str:
        """The session, ended in a meeting whose settings ask for a chat export, a transcript
        and a summary (so each has its file)."""
        self.emulator.update_meeting(
            self.meeting, app_id=APP, persist_chat=True, transcribe_on_end=True, summarize_on_end=True
        )
        self.emulator.end_session(self.meeting)
        return self.session

    def livestream(self) -> str:
        """A livestream of the meeting, started (and LIVE) now."""
        return self.sdk.livestreams.start_livestreaming_a_meeting(self.meeting, name="World", **IDS).data.id

    def livestream_session(self) -> str:
        found = self.sdk.livestreams.get_livestream_session_for_livestream_id(self.livestream(), **IDS)
        return found.data.session.id

    def running_meeting_livestream(self) -> str:
        self.livestream()
        return self.meeting

    def with_livestream(self, arguments: dict) -> dict:
        """``arguments``, once the meeting is being livestreamed (for listings and figures)."""
        self.livestream()
        self.emulator.clock.advance(5)
        return arguments


@dataclass(frozen=True)
class Route:
    """An SDK method (``resource.method``) and the arguments it is called with."""

    method: str
    arguments: Callable[[World], dict]

    def __str__(self) -> str:
        return self.method


def _preset_body(name: str) -> dict:
    return {"name": name, **default_preset_parts(False)}


_WEBHOOK = {"name": "World hook", "url": "https://hooks.example.test/rtk", "events": ["meeting.started"]}

ROUTES = [
    Route("meetings.create", lambda w: {"title": "Created"}),
    Route("meetings.get", lambda w: {"per_page": 5}),
    Route("meetings.get_meeting_by_id", lambda w: {"meeting_id": w.meeting}),
    Route("meetings.update_meeting_by_id", lambda w: {"meeting_id": w.meeting, "title": "Updated"}),
    Route("meetings.replace_meeting_by_id", lambda w: {"meeting_id": w.meeting, "title": "Replaced"}),
    Route(
        "meetings.add_participant",
        lambda w: {"meeting_id": w.meeting, "custom_participant_id": "new", "preset_name": "group_call_host"},
    ),
    Route("meetings.get_meeting_participants", lambda w: {"meeting_id": w.meeting}),
    Route(
        "meetings.get_meeting_participant",
        lambda w: {"meeting_id": w.meeting, "participant_id": w.participant},
    ),
    Route(
        "meetings.edit_participant",
        lambda w: {"meeting_id": w.meeting, "participant_id": w.participant, "name": "Edited"},
    ),
    Route(
        "meetings.refresh_participant_token",
        lambda w: {"meeting_id": w.meeting, "participant_id": w.participant},
    ),
    Route(
        "meetings.delete_meeting_participant",
        lambda w: {"meeting_id": w.meeting, "participant_id": w.participant},
    ),
    Route("presets.create", lambda w: _preset_body("created")),
    Route("presets.get", lambda w: {}),
    Route("presets.get_preset_by_id", lambda w: {"preset_id": w.preset}),
    Route("presets.get_preset_by_id", lambda w: {"preset_id": Emulator.preset_id("group_call_host")}),
    Route("presets.get_preset_by_id", lambda w: {"preset_id": Emulator.preset_id("group_call_participant")}),
    Route("presets.update", lambda w: {"preset_id": w.preset, "name": "renamed"}),
    Route("presets.replace_preset_by_id", lambda w: {"preset_id": w.preset, **_preset_body("replaced")}),
    Route("presets.delete", lambda w: {"preset_id": w.preset}),
    Route(
        "recordings.start_recordings", lambda w: {"meeting_id": w.meeting, "allow_multiple_recordings": True}
    ),
    Route("recordings.get_recordings", lambda w: {}),
    Route("recordings.get_one_recording", lambda w: {"recording_id": w.recording}),
    Route("recordings.get_one_recording", lambda w: {"recording_id": w.stopped_recording()}),
    Route("recordings.get_active_recordings", lambda w: {"meeting_id": w.meeting}),
    Route(
        "recordings.pause_resume_stop_recording", lambda w: {"recording_id": w.recording, "action": "pause"}
    ),
    Route(
        "recordings.pause_resume_stop_recording", lambda w: {"recording_id": w.recording, "action": "stop"}
    ),
    Route("active_session.get_active_session", lambda w: {"meeting_id": w.meeting}),
    Route(
        "active_session.kick_participants",
        lambda w: {"meeting_id": w.meeting, "participant_ids": [w.participant]},
    ),
    Route("active_session.kick_all_participants", lambda w: {"meeting_id": w.meeting}),
    Route("webhooks.create_webhook", lambda w: _WEBHOOK),
    Route("webhooks.get_webhooks", lambda w: {}),
    Route("webhooks.get_webhook_by_id", lambda w: {"webhook_id": w.webhook}),
    Route("webhooks.edit_webhook", lambda w: {"webhook_id": w.webhook, "name": "Edited hook"}),
    Route("webhooks.replace_webhook", lambda w: {"webhook_id": w.webhook, **_WEBHOOK}),
    Route("webhooks.delete_webhook", lambda w: {"webhook_id": w.webhook}),
    Route(
        "livestreams.start_livestreaming_a_meeting",
        lambda w: {"meeting_id": w.meeting, "name": "Hall", "video_config": {"width": 1280, "height": 720}},
    ),
    Route(
        "livestreams.stop_livestreaming_a_meeting", lambda w: {"meeting_id": w.running_meeting_livestream()}
    ),
    Route(
        "livestreams.get_meeting_active_livestreams", lambda w: {"meeting_id": w.running_meeting_livestream()}
    ),
    Route("livestreams.get_all_livestreams", lambda w: w.with_livestream({"per_page": 1})),
    Route(
        "livestreams.get_all_livestreams",
        lambda w: w.with_livestream({"status": "LIVE", "sort_order": "DSC"}),
    ),
    Route("livestreams.get_all_livestreams", lambda w: {"exclude_meetings": True}),
    Route(
        "livestreams.get_livestream_session_for_livestream_id", lambda w: {"livestream_id": w.livestream()}
    ),
    Route(
        "livestreams.get_active_livestreams_for_livestream_id", lambda w: {"livestream_id": w.livestream()}
    ),
    Route(
        "livestreams.get_livestream_session_details_for_session_id",
        lambda w: {"livestream_session_id": w.livestream_session()},
    ),
    Route(
        "livestreams.get_livestream_analytics_complete",
        lambda w: w.with_livestream({"start_time": 0, "filters": "any"}),
    ),
    Route("livestreams.get_livestream_analytics_daywise", lambda w: w.with_livestream({})),
    Route("sessions.get_sessions", lambda w: {"status": "LIVE", "sort_by": "minutesConsumed", "per_page": 5}),
    Route(
        "sessions.get_session_details", lambda w: {"session_id": w.session, "include_breakout_rooms": True}
    ),
    Route(
        "sessions.get_session_participants",
        lambda w: {"session_id": w.session, "include_peer_events": True, "view": "consolidated"},
    ),
    Route(
        "sessions.get_session_participant_details",
        lambda w: {"participant_id": w.participant, "session_id": w.session, "include_peer_events": True},
    ),
    Route("sessions.get_session_chat", lambda w: {"session_id": w.ended_with_files()}),
    Route(
        "sessions.get_session_transcripts", lambda w: {"session_id": w.ended_with_files(), "format": "CSV"}
    ),
    Route("sessions.get_session_summary", lambda w: {"session_id": w.ended_with_files()}),
    Route("sessions.generate_summary_of_transcripts", lambda w: {"session_id": w.ended_with_files()}),
]

#: SDK methods the emulator does not serve: each must get the router's own 404 / 405.
#: ``analytics.get_org_analytics`` and ``livestreams.get_org_analytics`` (both GET
#: ``/analytics/daywise``) report minutes a day across the organisation, and
#: ``sessions.get_participant_data_from_peer_id`` a peer's network and device report: the
#: package reads none of them, so the emulator does not invent them.
NOT_SERVED = {
    "apps.get",
    "apps.post",
    "analytics.get_org_analytics",
    "active_session.create_poll",
    "recordings.start_track_recording",
    "sessions.get_participant_data_from_peer_id",
    "livestreams.get_org_analytics",
}


def _sdk_methods(sdk) -> dict[str, Callable]:
    found = {}
    for resource in RESOURCES:
        owner = getattr(sdk.realtime_kit, resource)
        for name, method in inspect.getmembers(owner, inspect.ismethod):
            if not name.startswith("_") and name not in ("with_raw_response", "with_streaming_response"):
                found[f"{resource}.{name}"] = method
    return found


def _raw(sdk, dotted: str) -> Callable:
    resource, name = dotted.split(".")
    return getattr(getattr(sdk.realtime_kit, resource).with_raw_response, name)


def _response_model(sdk, dotted: str):
    resource, name = dotted.split(".")
    return typing.get_type_hints(getattr(getattr(sdk.realtime_kit, resource), name))["return"]


@pytest.fixture
def emulator():
    return Emulator(api_token=TOKEN, clock=ManualClock())


@pytest.fixture
def sdk(emulator):
    server, thread = serve(emulator, "127.0.0.1", 0)
    with Cloudflare(api_token=TOKEN, base_url=server.base_url, max_retries=0) as client:
        yield client
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def world(sdk, emulator) -> World:
    rk = sdk.realtime_kit
    meeting = rk.meetings.create(title="World", **IDS).data.id
    host = rk.meetings.add_participant(
        meeting, custom_participant_id="host", preset_name="group_call_host", **IDS
    ).data.id
    guest = rk.meetings.add_participant(
        meeting, custom_participant_id="guest", preset_name="group_call_participant", **IDS
    ).data.id
    emulator.join_session(meeting, host, app_id=APP)
    session = emulator.join_session(meeting, guest, app_id=APP)["id"]
    preset = rk.presets.create(**_preset_body("world"), **IDS).data.id
    recording = rk.recordings.start_recordings(meeting_id=meeting, **IDS).data.id
    webhook = rk.webhooks.create_webhook(**_WEBHOOK, **IDS).data.id
    return World(rk, emulator, meeting, host, guest, session, preset, recording, webhook)


def test_every_sdk_method_is_placed_once(sdk):
    served = {route.method for route in ROUTES}
    assert served.isdisjoint(NOT_SERVED)
    assert served | NOT_SERVED == set(_sdk_methods(sdk))


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_answer_is_valid_for_the_sdks_model(route, sdk, world):
    model = _response_model(sdk, route.method)
    answer = _raw(sdk, route.method)(**route.arguments(world), **IDS)
    assert 200 <= answer.status_code < 300
    body = answer.http_response.json()
    parsed = model.model_validate(body)  # strict: raises on any missing or mistyped field
    assert parsed.success is True
    assert getattr(parsed, "data", None) is not None


def _probe_arguments(method: Callable, world: World) -> dict:
    """Something for each required argument: the world's ids where the name says which."""
    known = {
        "meeting_id": world.meeting,
        "session_id": world.session,
        "participant_id": world.participant,
        "peer_id": world.participant,
        "recording_id": world.recording,
        "livestream_id": "00000000-0000-4000-8000-000000000001",
        "livestream_session_id": "00000000-0000-4000-8000-000000000002",
        "options": ["yes", "no"],
    }
    arguments = {}
    for parameter in inspect.signature(method).parameters.values():
        if parameter.default is inspect.Parameter.empty and parameter.kind != parameter.VAR_KEYWORD:
            if parameter.name not in IDS:
                arguments[parameter.name] = known.get(parameter.name, "probe")
    return arguments


@pytest.mark.parametrize("dotted", sorted(NOT_SERVED))
def test_a_method_listed_as_not_served_is_not_served(dotted, sdk, world):
    method = _sdk_methods(sdk)[dotted]
    arguments = {
        "account_id": ACCOUNT,
        **({"app_id": APP} if "app_id" in inspect.signature(method).parameters else {}),
    }
    with pytest.raises(cloudflare.APIStatusError) as caught:
        method(**_probe_arguments(method, world), **arguments)
    error = caught.value
    message = (error.body or {}).get("error", {}).get("message") if isinstance(error.body, dict) else None
    assert (error.status_code, message) in ((404, "Not found"), (405, "Method not allowed")), (
        f"the emulator now serves {dotted}: move it from NOT_SERVED to ROUTES"
    )
