"""Poison values (U+0000, lone surrogates, NaN, infinities, huge ints, deep nesting, edge dates).

They are JSON to Python, but a database, a strict JSON encoder or a page rendering them fails
later. Going out, every validator refuses them by dotted path before any request; coming in,
:func:`schema.unstorable` and :func:`schema.storable_datetime_problem` say what must be skipped.
"""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtimekit_django import schema
from realtimekit_django.client import RealtimeKitClient
from realtimekit_django.exceptions import ValidationError
from realtimekit_django.schema import (
    unstorable,
    validate_listing_params,
    validate_meeting,
    validate_participant,
)

from .test_schema import ENUMS, FULL_MEETING, KNOWN_KEYS

PROPERTY = settings(max_examples=200, database=None, deadline=None)

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
POISON_CHARS = st.just("\x00") | SURROGATES
POISON_STRINGS = st.builds(
    lambda before, poison, after: before + poison + after,
    st.text(max_size=5),
    POISON_CHARS,
    st.text(max_size=5),
)
POISON_NUMBERS = st.sampled_from(
    [math.nan, -math.nan, math.inf, -math.inf, json.loads("1e999"), json.loads("-1e999"), 10**309, -(2**1024)]
) | st.integers(min_value=2**1024, max_value=10**4000)  # hypothesis cannot print more digits
POISON = POISON_STRINGS | POISON_NUMBERS
CLEAN_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20).map(lambda text: text.replace("\x00", ""))  # surrogates are never drawn
    | st.sampled_from([value for values in ENUMS.values() for value in values])
)
SCALARS = CLEAN_SCALARS | POISON
KEYS = st.sampled_from(KNOWN_KEYS) | st.text(max_size=10) | POISON_STRINGS
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


def strings_in(value):
    """Every string in a JSON-like value, keys included (independent of the code under test)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


def assert_storable(value) -> None:
    """What the properties promise of an accepted value: strict JSON, UTF-8, no NUL, finite floats."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError here
    assert not any("\x00" in string for string in strings_in(value))
    json.loads(text, parse_float=lambda number: float(number) if math.isfinite(float(number)) else 1 / 0)
    json.loads(text, parse_int=float)  # every int also fits a float column


def leaf_paths(value, path=""):
    """(dotted path, key chain) of every leaf of ``value``, in the validators' path notation."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaf_paths(item, f"{path}[{index}]")
    else:
        yield path


def replaced(payload, path: str, new):
    """A deep copy of ``payload`` with the leaf at ``path`` (validator notation) set to ``new``."""
    payload = copy.deepcopy(payload)
    steps = [int(step) if step.isdigit() else step for step in re.findall(r"[^.\[\]]+", path)]
    node = payload
    for step in steps[:-1]:
        node = node[step]
    node[steps[-1]] = new
    return payload


UPDATE_MEETING = FULL_MEETING  # status is only for update (PATCH)
MEETING_LEAVES = sorted(leaf_paths(UPDATE_MEETING))


# --- going out: the validators ---------------------------------------------------------------


@PROPERTY
@given(path=st.sampled_from(MEETING_LEAVES), poison=POISON)
def test_poison_anywhere_in_a_meeting_is_refused_by_its_path(path, poison):
    with pytest.raises(ValidationError) as excinfo:
        validate_meeting(replaced(UPDATE_MEETING, path, poison), mode="update")
    assert path in [where for where, _ in excinfo.value.errors]


def test_the_example_classes_are_refused_naming_the_field():
    cases = {
        "title": "a\x00b",
        "recording_config.file_name_prefix": "a\ud800b",
        "ai_config.transcription.keywords[0]": "\udc00",
        "session_keep_alive_time_in_secs": json.loads("1e999"),
        "recording_config.max_seconds": math.nan,
        "recording_config.video_config.watermark.size.width": 10**400,  # no upper bound here
        "recording_config.storage_config.password": "hunter2\x00",
    }
    for path, value in cases.items():
        with pytest.raises(ValidationError) as excinfo:
            validate_meeting(replaced(UPDATE_MEETING, path, value), mode="update")
        assert [where for where, _ in excinfo.value.errors] == [path]
        assert "\x00" not in str(excinfo.value) and "hunter2" not in str(excinfo.value)


def test_a_poisoned_unknown_key_is_reported_without_the_poison_in_the_message():
    with pytest.raises(ValidationError) as excinfo:
        validate_meeting({"ti\x00tle": "x", "ai_config": {"\ud800": 1}}, mode="create")
    message = str(excinfo.value)
    message.encode("utf-8")
    assert "\x00" not in message
    assert [where for where, _ in excinfo.value.errors] == ["'ti\\x00tle'", "ai_config.'\\ud800'"]


@PROPERTY
@given(
    data=st.dictionaries(st.sampled_from(schema.MEETING_WRITABLE_FIELDS) | KEYS, JSON_LIKE),
    mode=st.sampled_from(schema.MEETING_MODES),
)
def test_any_meeting_payload_is_accepted_clean_or_refused(data, mode):
    try:
        result = validate_meeting(data, mode=mode)
    except ValidationError as error:
        assert error.errors
        str(error).encode("utf-8")
    else:
        assert_storable(result)


PARTICIPANT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "custom_participant_id": SCALARS,
        "preset_name": SCALARS,
        "name": SCALARS,
        "picture": SCALARS | st.sampled_from(["https://example.com/a.png"]),
    },
)


@PROPERTY
@given(data=PARTICIPANT_FIELDS, mode=st.sampled_from(schema.PARTICIPANT_MODES))
def test_any_participant_payload_is_accepted_clean_or_refused(data, mode):
    try:
        result = validate_participant(data, mode=mode)
    except ValidationError as error:
        assert error.errors
    else:
        assert_storable(result)


@pytest.mark.parametrize("field", ["custom_participant_id", "preset_name", "name"])
@given(poison=POISON_STRINGS)
@PROPERTY
def test_poisoned_participant_strings_are_refused(field, poison):
    data = {"custom_participant_id": "u-1", "preset_name": "host", field: poison}
    with pytest.raises(ValidationError) as excinfo:
        validate_participant(data, mode="add")
    assert [where for where, _ in excinfo.value.errors] == [field]


# --- going out: the listing's query parameters ------------------------------------------------

ZONES = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
ANY_DATETIMES = st.datetimes() | st.datetimes(timezones=ZONES)
EDGE_DATETIMES = st.sampled_from(
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.999999-00:01",
        "2024-02-30T00:00:00Z",
        "2024-13-01",
        "2024-01-01T25:00:00",
    ]
)
LISTING_VALUES = SCALARS | ANY_DATETIMES | ANY_DATETIMES.map(datetime.isoformat) | EDGE_DATETIMES


def utc_of(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.utcoffset() is not None:
        value.astimezone(UTC)  # raises OverflowError past year 9999 or before year 1


@PROPERTY
@given(
    params=st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ["page_no", "per_page", "search", "status", "start_time", "end_time"], LISTING_VALUES
        ),
    )
)
def test_any_listing_params_are_accepted_clean_or_refused(params):
    try:
        result = validate_listing_params(**params)
    except ValidationError as error:
        assert {where for where, _ in error.errors} <= set(params)
    else:
        assert_storable(result)
        for name in ("start_time", "end_time"):
            if name in result:
                utc_of(result[name])


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+00:01",
        datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    ],
)
def test_listing_datetimes_past_the_calendar_in_utc_are_refused(value):
    with pytest.raises(ValidationError) as excinfo:
        validate_listing_params(start_time=value)
    assert excinfo.value.errors == [("start_time", "must be within years 1 to 9999 in UTC")]


def test_naive_listing_datetimes_are_sent_as_today():
    assert validate_listing_params(end_time="9999-12-31T23:59:59") == {"end_time": "9999-12-31T23:59:59"}
    assert validate_listing_params(end_time=datetime(9999, 12, 31)) == {"end_time": "9999-12-31T00:00:00"}


def test_huge_page_numbers_are_refused():
    with pytest.raises(ValidationError) as excinfo:
        validate_listing_params(page_no=10**5000, search="a\x00")
    assert [where for where, _ in excinfo.value.errors] == ["page_no", "search"]


# --- going out: a refused payload costs no request ---------------------------------------------

BASE_URL = "https://rtk.test/client/v4"


@PROPERTY
@given(
    path=st.sampled_from(MEETING_LEAVES), poison=POISON, call=st.sampled_from(["create", "update", "replace"])
)
def test_no_request_is_made_for_a_poisoned_meeting(path, poison, call):
    client = RealtimeKitClient("acc", "app", "tok-not-real", BASE_URL, sleep=lambda seconds: None)
    payload = replaced(UPDATE_MEETING, path, poison)
    if call != "update":
        payload.pop("status")
        if path == "status":
            payload["title"] = poison
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            mock.add(method, re.compile(re.escape(BASE_URL) + "/.*"), json={"success": True, "data": {}})
        with pytest.raises(ValidationError):
            if call == "create":
                client.meetings.create(**payload)
            else:
                getattr(client.meetings, f"{call}_meeting_by_id")("m-1", **payload)
        assert len(mock.calls) == 0


@PROPERTY
@given(poison=POISON_STRINGS, field=st.sampled_from(["custom_participant_id", "preset_name", "name"]))
def test_no_request_is_made_for_a_poisoned_participant_or_listing(poison, field):
    client = RealtimeKitClient("acc", "app", "tok-not-real", BASE_URL, sleep=lambda seconds: None)
    fields = {"custom_participant_id": "u-1", "preset_name": "host", field: poison}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add("POST", re.compile(re.escape(BASE_URL) + "/.*"), json={"success": True, "data": {}})
        mock.add("GET", re.compile(re.escape(BASE_URL) + "/.*"), json={"success": True, "data": []})
        with pytest.raises(ValidationError):
            client.meetings.add_participant("m-1", **fields)
        with pytest.raises(ValidationError):
            client.meetings.get(search=poison)
        assert len(mock.calls) == 0


@pytest.mark.django_db
def test_create_meeting_with_a_nul_title_makes_no_request_and_no_row(realtimekit_emulator):
    from realtimekit_django import services
    from realtimekit_django.models import Meeting

    with pytest.raises(ValidationError) as excinfo:
        services.create_meeting(title="a\x00b")
    assert excinfo.value.errors == [("title", "must not contain U+0000 or a lone surrogate")]
    assert realtimekit_emulator.requests == []
    assert not Meeting.objects.exists()


# --- coming in: unstorable() -------------------------------------------------------------------

NON_JSON = st.sampled_from([object(), Decimal("1.5"), b"bytes", {1, 2}, date(2024, 1, 1), 1j])


def nested(depth: int):
    value: object = "leaf"
    for _ in range(depth):
        value = {"a": [value]}
    return value


@PROPERTY
@given(
    value=st.recursive(
        SCALARS | NON_JSON,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(KEYS | st.integers() | st.none(), children, max_size=5)
        ),
        max_leaves=25,
    )
)
def test_unstorable_finds_everything_a_column_or_strict_json_would_refuse(value):
    problems = unstorable(value)
    assert all(isinstance(path, str) and problem for path, problem in problems)
    for path, _ in problems:
        path.encode("utf-8")  # a path never carries the poison it reports
        assert "\x00" not in path
    if not problems:
        assert_storable(value)


PLAIN_KEYS = st.from_regex(r"[a-z]{1,5}", fullmatch=True)
CLEAN_CONTAINERS = st.recursive(
    CLEAN_SCALARS,
    lambda children: (
        st.lists(children, min_size=1, max_size=4)
        | st.dictionaries(PLAIN_KEYS, children, min_size=1, max_size=5)
    ),
    max_leaves=25,
).filter(lambda value: isinstance(value, dict | list))


@PROPERTY
@given(value=CLEAN_CONTAINERS, data=st.data())
def test_unstorable_reports_an_injected_poison_at_its_path(value, data):
    assert unstorable(value) == []
    path = data.draw(st.sampled_from(sorted(leaf_paths(value))))
    assert path in [where for where, _ in unstorable(replaced(value, path, data.draw(POISON)))]


def test_unstorable_names_each_problem_by_path_with_a_prefix():
    value = {
        "title": "a\x00b",
        "n\ud800": 1,
        "nums": [1.5, math.nan, 10**400, -math.inf, 2**53],
        "deep": nested(70),
        "when": date(2024, 1, 1),
        3: "x",
    }
    assert unstorable(value, "meetings[2]") == [
        ("meetings[2].title", "must not contain U+0000 or a lone surrogate"),
        ("meetings[2].'n\\ud800'", "key must not contain U+0000 or a lone surrogate"),
        ("meetings[2].nums[1]", "must be a finite number"),
        ("meetings[2].nums[2]", "must be a number of magnitude at most 1.7976931348623157e+308"),
        ("meetings[2].nums[3]", "must be a finite number"),
        ("meetings[2].deep" + ".a[0]" * 31 + ".a", "nests deeper than 64 levels"),
        ("meetings[2].when", "must be a JSON value (object, array, string, number, boolean or null)"),
        ("meetings[2].3", "key must be a string"),
    ]
    assert unstorable({"ok": ["fine", 1, 2.5, None, True, {"x": nested(30)}]}) == []


def test_unstorable_takes_what_json_loads_makes_even_at_the_edges():
    text = '{"a": "\\u0000", "b": "\\ud800", "c": 1e999, "d": NaN, "e": 1e308, "f": "\\ud83d\\ude00"}'
    assert unstorable(json.loads(text)) == [
        ("a", "must not contain U+0000 or a lone surrogate"),
        ("b", "must not contain U+0000 or a lone surrogate"),
        ("c", "must be a finite number"),
        ("d", "must be a finite number"),
    ]


# --- coming in: storable_datetime_problem() -----------------------------------------------------


@settings(max_examples=300, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=ANY_DATETIMES)
def test_a_storable_datetime_renders_in_every_zone_and_survives_calendar_steps(value):
    problem = schema.storable_datetime_problem(value)
    if value.tzinfo is None:
        assert problem == "must be aware (carry a time zone)"
        return
    if problem is not None:
        assert isinstance(problem, str)
        return
    for minutes in (-(24 * 60 - 1), -12 * 60, 0, 14 * 60, 24 * 60 - 1):
        shown = value.astimezone(timezone(timedelta(minutes=minutes)))
        shown.replace(year=shown.year + 1, month=1, day=1)  # the admin's date hierarchy: next year
        shown.replace(year=shown.year - 1, month=1, day=1)
        shown + timedelta(days=32)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), "must be within years 2 to 9998 in UTC"),
        (
            datetime(9998, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-2))),
            "must be within years 2 to 9998 in UTC",
        ),
        (datetime(1, 6, 1, tzinfo=UTC), "must be within years 2 to 9998 in UTC"),
        (
            datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),
            "must be within years 1 to 9999 in UTC",
        ),
        (datetime(2024, 1, 1), "must be aware (carry a time zone)"),
        (
            datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-16))),
            "must have a UTC offset of whole seconds under 16 hours",
        ),
        (
            datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1, microseconds=1))),
            "must have a UTC offset of whole seconds under 16 hours",
        ),
        (datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=15, minutes=59, seconds=59))), None),
        ("2024-01-01T00:00:00Z", "must be a datetime"),
        (datetime(2, 1, 1, tzinfo=UTC), None),
        (datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None),
        (datetime(2024, 5, 6, 7, 8, tzinfo=timezone(timedelta(hours=14))), None),
    ],
)
def test_storable_datetime_problem(value, problem):
    assert schema.storable_datetime_problem(value) == problem


# --- what unstorable() and storable_datetime_problem() accept, the database takes ---------------

NUMBERS = st.integers(min_value=-(10**308), max_value=10**308) | st.floats(
    allow_nan=False, allow_infinity=False
)
STORED_VALUES = st.recursive(
    CLEAN_SCALARS | NUMBERS | POISON,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=20,
)
STORED_DATETIMES = st.datetimes(timezones=ZONES | st.timezones()) | st.sampled_from(
    [
        datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=timezone(-timedelta(hours=15, minutes=59, seconds=59))),
    ]
)


def numbers_in(value):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from numbers_in(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def as_floats(value):
    """``value`` with every number a float: jsonb reads 6.8e16 back as the int 68423208240667770."""
    return json.loads(json.dumps(value), parse_int=float)


@pytest.mark.django_db
@settings(max_examples=100, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=STORED_VALUES, when=STORED_DATETIMES)
def test_what_is_called_storable_is_stored_and_read_back(value, when):
    """On SQLite by default, on PostgreSQL in the PostgreSQL leg: text, float, JSON, date-time columns."""
    import uuid

    from realtimekit_django.models import Meeting

    if unstorable(value) or schema.storable_datetime_problem(when):
        return
    numbers = list(numbers_in(value))
    meeting = Meeting.objects.create(
        id=uuid.uuid4(),
        app_id="app",
        title="".join(strings_in(value)),
        session_keep_alive_time_in_secs=float(max(numbers, key=abs)) if numbers else 60,
        remote_data={"value": value},
        remote_updated_at=when,
    )
    stored = Meeting.objects.get(pk=meeting.pk)
    assert stored.title == meeting.title
    assert as_floats(stored.remote_data) == as_floats({"value": value})
    # In UTC: Python finds a time in a DST gap or fold unequal to every other zone's (PEP 495).
    assert stored.remote_updated_at == when.astimezone(UTC)
    stored.delete()
