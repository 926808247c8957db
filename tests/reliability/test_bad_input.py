"""Bad input from every side: payloads to the services, the admin's forms, the join endpoint,
and malformed answers from the API itself.

Property-based (hypothesis): whatever is thrown at them, the services answer with a
``ValidationError`` (or succeed and store exactly what the API holds), before any HTTP request
and without writing a row; the admin and the join endpoint answer 4xx (or a re-rendered form),
never a 500. A malformed API answer raises a clear ``RealtimeKitError`` and writes nothing.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtimekit_django import schema, services
from realtimekit_django.admin.forms import CONFIG_FIELDS, MEETING_MODEL_FIELDS
from realtimekit_django.exceptions import RealtimeKitError, ValidationError
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync.reconcile import reconcile_meetings

pytestmark = pytest.mark.django_db

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies -------------------------------------------------------------------------------

#: Strings just past the contract's length limit (hypothesis cannot draw texts that long itself).
oversized = st.tuples(st.characters(exclude_categories=("Cs",)), st.integers(1, 50)).map(
    lambda pair: pair[0] * (schema.MAX_STRING_LENGTH + pair[1])
)
junk_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    oversized,
    st.binary(max_size=10),
)
junk = st.recursive(
    junk_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
MEETING_KEYS = (
    "title",
    "status",
    *schema.MEETING_BOOLEAN_FIELDS,
    "session_keep_alive_time_in_secs",
    "ai_config",
    "recording_config",
)
any_meeting_payload = st.dictionaries(
    st.one_of(st.sampled_from(MEETING_KEYS), st.text(max_size=12)), junk, max_size=5
)


def _set(data: dict, dotted: str, value) -> dict:
    node = data
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return data


@st.composite
def surely_bad_meeting(draw) -> dict:
    """A meeting payload with at least one certain contract violation."""
    kind = draw(st.sampled_from(["bound", "bool", "enum", "long", "unknown", "type"]))
    if kind == "bound":
        path, (low, high) = draw(st.sampled_from(sorted(schema.BOUNDS.items())))
        value = draw(
            st.one_of(
                st.integers(max_value=low - 1),
                *([st.integers(min_value=high + 1)] if high is not None else []),
            )
        )
        return _set({}, path, value)
    if kind == "bool":
        return {
            draw(st.sampled_from(schema.MEETING_BOOLEAN_FIELDS)): draw(
                st.one_of(st.text(max_size=5), st.integers())
            )
        }
    if kind == "enum":
        path = draw(
            st.sampled_from(
                [
                    "ai_config.summarization.summary_type",
                    "recording_config.audio_config.codec",
                    "recording_config.video_config.codec",
                    "ai_config.transcription.language",
                ]
            )
        )
        return _set({}, path, draw(st.text(min_size=1, max_size=12).filter(lambda s: s not in _ENUMS)))
    if kind == "long":
        return {"title": draw(oversized)}
    if kind == "unknown":
        return {draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in MEETING_KEYS)): draw(junk)}
    return {
        draw(st.sampled_from(["ai_config", "recording_config"])): draw(
            st.one_of(st.text(), st.integers(), st.lists(st.integers()))
        )
    }


_ENUMS = (
    set(schema.SUMMARY_TYPES)
    | set(schema.AUDIO_CODECS)
    | set(schema.VIDEO_CODECS)
    | set(schema.TRANSCRIPTION_LANGUAGES)
)


def snapshot():
    return (list(Meeting.objects.order_by("pk").values()), list(Participant.objects.order_by("pk").values()))


# -- services -----------------------------------------------------------------------------------


def test_surely_bad_meeting_payloads_are_refused_before_any_request(realtimekit_emulator, reliability):
    seen = {"examples": 0}

    @EXAMPLES
    @given(payload=surely_bad_meeting())
    def check(payload):
        seen["examples"] += 1
        before, requests_before = snapshot(), len(realtimekit_emulator.requests)
        with pytest.raises(ValidationError) as caught:
            services.create_meeting(**payload)
        assert caught.value.errors and str(caught.value)
        assert snapshot() == before and len(realtimekit_emulator.requests) == requests_before

    check()
    reliability(
        "bad input",
        "out-of-range / wrongly typed / unknown-enum / oversized / unknown-key meeting payloads",
        "ValidationError before any HTTP request; nothing written",
        examples=seen["examples"],
        requests=len(realtimekit_emulator.requests),
    )


def test_arbitrary_meeting_payloads_are_refused_or_stored_exactly(realtimekit_emulator, reliability):
    seen = {"examples": 0, "accepted": 0}
    meeting = services.create_meeting(title="target")

    @EXAMPLES
    @given(payload=any_meeting_payload, update=st.booleans())
    def check(payload, update):
        seen["examples"] += 1
        before, requests_before = snapshot(), len(realtimekit_emulator.requests)
        try:
            row = (
                services.update_meeting(meeting, **payload) if update else services.create_meeting(**payload)
            )
        except ValidationError:
            assert snapshot() == before and len(realtimekit_emulator.requests) == requests_before
            return
        seen["accepted"] += 1
        assert row.remote_data == realtimekit_emulator.get_meeting(str(row.pk))

    check()
    reliability(
        "bad input",
        "arbitrary JSON meeting payloads (create and update)",
        f"ValidationError and nothing written, or ({seen['accepted']}) stored exactly as the API holds them",
        examples=seen["examples"],
        requests=len(realtimekit_emulator.requests),
    )


def test_arbitrary_participant_payloads_are_refused_or_stored_exactly(realtimekit_emulator, reliability):
    seen = {"examples": 0, "accepted": 0}
    meeting = services.create_meeting(title="people")
    text_or_junk = st.one_of(st.text(max_size=20), junk_scalars)

    @EXAMPLES
    @given(custom_id=text_or_junk, preset=text_or_junk, name=text_or_junk, picture=text_or_junk)
    def check(custom_id, preset, name, picture):
        seen["examples"] += 1
        before, requests_before = snapshot(), len(realtimekit_emulator.requests)
        try:
            participant, token = services.add_participant(
                meeting, custom_participant_id=custom_id, preset_name=preset, name=name, picture=picture
            )
        except ValidationError:
            assert snapshot() == before and len(realtimekit_emulator.requests) == requests_before
            return
        seen["accepted"] += 1
        remote = {p["id"]: p for p in realtimekit_emulator.participants(str(meeting.pk))}
        assert participant.remote_data == remote[str(participant.pk)] and token

    check()
    reliability(
        "bad input",
        "arbitrary participant fields (id, preset, name, picture)",
        "refused with ValidationError and nothing written, or stored exactly as the API holds them",
        examples=seen["examples"],
        requests=len(realtimekit_emulator.requests),
    )


# -- malformed API answers ---------------------------------------------------------------------

MALFORMED = {
    "missing data": {"success": True},
    "data of the wrong type": {"success": True, "data": ["not", "an", "object"]},
    "malformed id": {"success": True, "data": {"id": 12345, "title": "x"}},
    "wrong field types": {
        "success": True,
        "data": {"id": str(uuid.uuid4()), "status": 7, "title": ["x"], "record_on_start": "yes"},
    },
    "unknown status": {"success": True, "data": {"id": str(uuid.uuid4()), "status": "EXPLODED"}},
    "bad timestamp": {"success": True, "data": {"id": str(uuid.uuid4()), "updated_at": "yesterday"}},
    "HTML 502 page": "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
    "truncated JSON": '{"success": true, "data": {"id": "',
    "empty 200 body": b"",
    "a JSON list": "[1, 2, 3]",
}


def _status_for(name: str) -> int:
    return 502 if name.startswith("HTML") else 200


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_answers_raise_a_clear_error_and_write_nothing(
    realtimekit_emulator, rk_settings, reliability, name
):
    rk_settings(MAX_RETRIES=0)
    emulator = realtimekit_emulator
    meeting = services.create_meeting(title="existing")
    user_model = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model()
    user = user_model.objects.create_user("malformed")
    operations = {
        "create_meeting": lambda: services.create_meeting(title="new"),
        "refresh_meeting": lambda: services.refresh_meeting(meeting),
        "update_meeting": lambda: services.update_meeting(meeting, title="changed"),
        "add_participant": lambda: services.add_participant(
            meeting, custom_participant_id="p", preset_name="x"
        ),
        "issue_join_token": lambda: services.issue_join_token(meeting, user),
    }
    failures = 0
    for label, operation in operations.items():
        before = snapshot()
        emulator.faults.fail_next(1, status=_status_for(name), body=MALFORMED[name])
        with pytest.raises(RealtimeKitError) as caught:
            operation()
        message = str(caught.value)
        assert (
            caught.value.method and caught.value.path or "meeting" in message or "participant" in message
        ), message
        assert "Traceback" not in message and len(message) < 400
        failures += snapshot() != before
        assert snapshot() == before, f"{label} wrote rows from a malformed answer ({name})"
    # A listing page carrying the malformed item among good ones: that item alone is rejected
    # (and reported), the good ones are stored, nothing is flagged. A listing that is not a
    # list of objects at all writes nothing.
    for n in range(3):
        emulator.create_meeting(title=f"listed {n}")
    listing = emulator.handle(
        "GET",
        "/client/v4/accounts/test-account/realtime/kit/test-app/meetings",
        {"per_page": "100"},
        b"",
        {"authorization": "Bearer test-api-token-s3cr3t-value"},
    ).json()
    item_level = isinstance(MALFORMED[name], dict) and isinstance(MALFORMED[name].get("data"), dict)
    if item_level:
        listing["data"].insert(1, MALFORMED[name]["data"])
        body = listing
    else:
        body = MALFORMED[name]
    before = snapshot()
    emulator.faults.fail_next(1, status=_status_for(name), body=body)
    report = reconcile_meetings()
    if item_level:
        stored_titles = set(Meeting.objects.values_list("title", flat=True))
        failures += not ({"listed 0", "listed 1", "listed 2"} <= stored_titles and report.rejected == 1)
    else:
        failures += snapshot() != before
    reliability(
        "bad input",
        f"malformed API answer: {name}",
        "a clear RealtimeKitError, nothing written; in a listing, that item alone rejected",
        runs=len(operations) + 1,
        faults=len(operations) + 1,
        lost=failures,
    )
    assert report.flagged == 0 and not Meeting.objects.filter(missing_since__isnull=False).exists()
    if item_level:
        assert report.rejected == 1 and report.rejections and report.created == 3
        bad_id = MALFORMED[name]["data"]["id"]
        if isinstance(bad_id, str):
            assert not Meeting.objects.filter(pk=bad_id).exists()
    else:
        assert not report.completed and report.error
        assert snapshot() == before


def test_unknown_extra_keys_on_good_answers_are_kept(realtimekit_emulator, reliability):
    emulator = realtimekit_emulator
    meeting = services.create_meeting(title="future")
    remote = emulator.get_meeting(str(meeting.pk))
    extras = {"breakout_rooms": {"enabled": True, "max": 4}, "region_hint": "weur"}
    emulator.faults.fail_next(1, status=200, body={"success": True, "data": {**remote, **extras}})
    refreshed = services.refresh_meeting(meeting)
    listed = {**emulator.get_meeting(str(meeting.pk)), **extras, "listing_only_field": [1, 2]}
    emulator.faults.fail_next(
        1,
        status=200,
        body={
            "success": True,
            "data": [listed],
            "paging": {"total_count": 1, "start_offset": 1, "end_offset": 1},
        },
    )
    report = reconcile_meetings()
    stored = Meeting.objects.get(pk=meeting.pk).remote_data
    kept = all(stored.get(k) == v for k, v in {**extras, "listing_only_field": [1, 2]}.items())
    reliability(
        "bad input",
        "unknown extra keys on good answers (get and listing)",
        "kept in remote_data",
        runs=2,
        lost=int(not kept),
    )
    assert all(refreshed.remote_data[k] == v for k, v in extras.items())
    assert report.completed and kept


# -- the join endpoint -----------------------------------------------------------------------------


@pytest.fixture
def joiner(django_user_model, settings):
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"realtimekit_join": "100000/min"}}
    cache.clear()
    user = django_user_model.objects.create_user("joiner", password="pw")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_garbage_join_requests_get_4xx_never_500(realtimekit_emulator, joiner, reliability):
    meeting = services.create_meeting(title="joinable")
    statuses: list[int] = []
    content_types = st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=zz",
            "application/xml",
            "",
        ]
    )
    bodies = st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        junk.map(lambda value: json.dumps(value, default=repr)),
    )
    ids = st.one_of(
        st.just(str(meeting.pk)),
        st.uuids().map(str),
        st.text(max_size=40),
        st.just("../../admin"),
        st.just("%00"),
        st.just(str(meeting.pk).upper()),
    )

    @EXAMPLES
    @given(meeting_id=ids, body=bodies, content_type=content_types)
    def check(meeting_id, body, content_type):
        participants_before = Participant.objects.count()
        url = f"/realtimekit/meetings/{meeting_id}/join/"
        response = joiner.post(url, data=body, content_type=content_type)
        statuses.append(response.status_code)
        assert response.status_code < 500, (url, response.status_code)
        if response.status_code != 200:
            assert Participant.objects.count() == participants_before

    check()
    server_errors = sum(1 for s in statuses if s >= 500)
    reliability(
        "bad input",
        "join endpoint: garbage meeting ids, bodies and content types",
        f"answers seen: {sorted(set(statuses))}; never a 500",
        examples=len(statuses),
        requests=len(realtimekit_emulator.requests),
        server_errors=server_errors,
    )
    assert server_errors == 0 and 200 in statuses


def test_garbage_get_requests_to_the_meeting_api_never_500(realtimekit_emulator, joiner, reliability):
    services.create_meeting(title="listed")
    statuses: list[int] = []

    @EXAMPLES
    @given(
        page=st.text(max_size=12),
        page_size=st.one_of(st.text(max_size=8), st.integers().map(str)),
        detail=st.text(max_size=40),
    )
    def check(page, page_size, detail):
        for response in (
            joiner.get("/realtimekit/meetings/", {"page": page, "page_size": page_size}),
            joiner.get(f"/realtimekit/meetings/{detail}/"),
        ):
            statuses.append(response.status_code)
            assert response.status_code < 500

    check()
    reliability(
        "bad input",
        "meeting list/detail: garbage page numbers, page sizes and ids",
        f"answers seen: {sorted(set(statuses))}; never a 500",
        examples=len(statuses) // 2,
        server_errors=sum(1 for s in statuses if s >= 500),
    )


# -- the admin's forms ---------------------------------------------------------------------------


@pytest.fixture
def admin_client_raw(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    return client


#: The inline formset's management form, which every browser POST of the admin page carries.
MANAGEMENT_FORM = {
    "participants-TOTAL_FORMS": "0",
    "participants-INITIAL_FORMS": "0",
    "participants-MIN_NUM_FORMS": "0",
    "participants-MAX_NUM_FORMS": "0",
}
VALID_ADD_FORM = {"title": "ok", "session_keep_alive_time_in_secs": "60", **MANAGEMENT_FORM}
FORM_FIELD_NAMES = tuple(MEETING_MODEL_FIELDS) + tuple(spec.name for spec in CONFIG_FIELDS)
form_values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "on", "true", "unknown", "1e999"]),
    oversized,
)


def test_garbage_posted_to_the_admin_add_view_never_500(realtimekit_emulator, admin_client_raw, reliability):
    statuses: list[int] = []
    created = {"n": 0}

    @EXAMPLES
    @given(
        garbage=st.dictionaries(
            st.one_of(st.sampled_from(FORM_FIELD_NAMES), st.text(max_size=10)), form_values, max_size=4
        ),
        from_valid=st.booleans(),
    )
    def check(garbage, from_valid):
        # Half the examples corrupt a valid form (so each bad field is met alone), half are pure junk.
        data = {**(VALID_ADD_FORM if from_valid else {}), **garbage}
        meetings_before, requests_before = Meeting.objects.count(), len(realtimekit_emulator.requests)
        response = admin_client_raw.post("/admin/realtimekit/meeting/add/", data)
        statuses.append(response.status_code)
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 200:  # the form came back with errors: nothing sent, nothing written
            assert Meeting.objects.count() == meetings_before
            assert not [r for r in realtimekit_emulator.requests[requests_before:] if r.method != "GET"]
        else:  # it was valid: the one new row is what the API holds
            created["n"] += 1
            new = Meeting.objects.order_by("-synced_at").first()
            assert new.remote_data == realtimekit_emulator.get_meeting(str(new.pk))

    check()
    reliability(
        "bad input",
        "admin meeting add form: garbage POSTs",
        f"re-rendered with errors and nothing written, or ({created['n']}) a valid meeting stored exactly",
        examples=len(statuses),
        server_errors=sum(1 for s in statuses if s >= 500),
    )


def test_garbage_posted_to_the_admin_add_participant_view_never_500(
    realtimekit_emulator, admin_client_raw, reliability
):
    meeting = services.create_meeting(title="admin people")
    statuses: list[int] = []
    url = f"/admin/realtimekit/meeting/{meeting.pk}/add-participant/"

    @EXAMPLES
    @given(
        data=st.dictionaries(
            st.sampled_from(["custom_participant_id", "user", "preset_name", "name", "picture", "junk"]),
            form_values,
            max_size=5,
        )
    )
    def check(data):
        before, requests_before = Participant.objects.count(), len(realtimekit_emulator.requests)
        response = admin_client_raw.post(url, data)
        statuses.append(response.status_code)
        assert response.status_code < 500
        added = [r for r in realtimekit_emulator.requests[requests_before:] if r.method == "POST"]
        assert Participant.objects.count() - before == len(added) and len(added) <= 1

    check()
    reliability(
        "bad input",
        "admin add-participant form: garbage POSTs",
        "form errors or one participant added; never a 500",
        examples=len(statuses),
        server_errors=sum(1 for s in statuses if s >= 500),
    )


def test_an_add_refused_for_its_inline_formset_writes_no_meeting(
    realtimekit_emulator, admin_client_raw, reliability
):
    """The admin re-renders the page, "not saved", when the participants inline does not validate
    (here: a POST without the inline's management form). Nothing may have been written then;
    otherwise every re-submit makes one more remote meeting."""
    statuses = []
    for _ in range(3):
        response = admin_client_raw.post(
            "/admin/realtimekit/meeting/add/", {"title": "tampered", "session_keep_alive_time_in_secs": "60"}
        )
        statuses.append(response.status_code)
    remote = len(realtimekit_emulator.meetings())
    reliability(
        "bad input",
        "admin meeting add form without the inline's management form (3 POSTs)",
        f"answers {statuses}; meetings created remotely: {remote}, rows: {Meeting.objects.count()}",
        runs=3,
        duplicates=remote,
        server_errors=sum(1 for s in statuses if s >= 500),
    )
    assert statuses == [200, 200, 200]
    assert remote == 0 and Meeting.objects.count() == 0, (
        "a page re-rendered because its inline formset did not validate has already written the meeting"
    )
