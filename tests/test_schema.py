"""Unit tests of realtimekit_django.schema: the contract's fields, bounds, enums and secrets."""

from __future__ import annotations

import copy
import math
import typing
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typing_extensions import is_typeddict

from realtimekit_django import schema
from realtimekit_django.exceptions import RealtimeKitError, ValidationError
from realtimekit_django.schema import (
    BOUNDS,
    MAX_KEYWORDS,
    MAX_STRING_LENGTH,
    MEETING_BOOLEAN_FIELDS,
    MEETING_WRITABLE_FIELDS,
    STORAGE_WRITE_ONLY_KEYS,
    strip_write_only,
    validate_listing_params,
    validate_meeting,
    validate_participant,
)

MODES = ("create", "update", "replace")

# A meeting that uses every field the contract knows, each with a valid value. The SDK drift
# tests below check that this covers every key of the SDK's params, so a new SDK field fails here.
FULL_MEETING = {
    "title": "Weekly standup",
    "status": "ACTIVE",
    "record_on_start": False,
    "live_stream_on_start": False,
    "persist_chat": True,
    "summarize_on_end": False,
    "transcribe_on_end": True,
    "session_keep_alive_time_in_secs": 60,
    "ai_config": {
        "summarization": {"summary_type": "daily_standup", "text_format": "markdown", "word_limit": 150},
        "transcription": {"keywords": ["RealtimeKit", ""], "language": "en-IN", "profanity_filter": False},
    },
    "recording_config": {
        "audio_config": {"channel": "stereo", "codec": "AAC", "export_file": False},
        "video_config": {
            "codec": "VP9",
            "width": 1280,
            "height": 720,
            "export_file": False,
            "watermark": {
                "url": "https://cdn.example.com/logo.png",
                "position": "right bottom",
                "size": {"width": 64, "height": 1},
            },
        },
        "file_name_prefix": "",
        "max_seconds": 86400,
        "live_streaming_config": {"rtmp_url": "rtmp://live.example.com/app/stream-key"},
        "realtimekit_bucket_config": {"enabled": False},
        "storage_config": {
            "type": "sftp",
            "bucket": "recordings",
            "region": "eu-west-1",
            "path": "meetings/",
            "host": "sftp.example.com",
            "port": 22,
            "username": "rtk",
            "auth_method": "KEY",
            "access_key": "AKIA-not-real",
            "secret": "s3cr3t",
            "password": "key-passphrase",
            "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----",
        },
    },
}

ENUMS = {
    "status": schema.MEETING_STATUSES,
    "ai_config.summarization.summary_type": schema.SUMMARY_TYPES,
    "ai_config.summarization.text_format": schema.TEXT_FORMATS,
    "ai_config.transcription.language": schema.TRANSCRIPTION_LANGUAGES,
    "recording_config.audio_config.channel": schema.AUDIO_CHANNELS,
    "recording_config.audio_config.codec": schema.AUDIO_CODECS,
    "recording_config.video_config.codec": schema.VIDEO_CODECS,
    "recording_config.video_config.watermark.position": schema.WATERMARK_POSITIONS,
    "recording_config.storage_config.type": schema.STORAGE_TYPES,
    "recording_config.storage_config.auth_method": schema.STORAGE_AUTH_METHODS,
}

# Required siblings that a payload built around one nested field needs to be valid otherwise.
SIBLINGS = {
    "recording_config.storage_config": {"type": "aws"},
    "recording_config.realtimekit_bucket_config": {"enabled": True},
}


def nest(path: str, value) -> dict:
    """``nest("a.b.c", 1)`` is ``{"a": {"b": {"c": 1}}}``, with any required siblings."""
    keys = path.split(".")
    payload: dict = {}
    node = payload
    for depth, key in enumerate(keys[:-1]):
        node[key] = dict(SIBLINGS.get(".".join(keys[: depth + 1]), {}))
        node = node[key]
    node[keys[-1]] = value
    return payload


def mode_for(path: str) -> str:
    return "update" if path == "status" else "create"


def errors_of(data, mode="create") -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as excinfo:
        validate_meeting(data, mode=mode)
    return excinfo.value.errors


def test_validation_error_is_both_package_and_standard_error():
    with pytest.raises(ValidationError) as excinfo:
        validate_meeting({"title": 1}, mode="create")
    assert isinstance(excinfo.value, RealtimeKitError)
    assert isinstance(excinfo.value, ValueError)
    assert str(excinfo.value) == "title: must be a string"


# --- the full payload -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_full_meeting_is_accepted_and_copied_exactly(mode):
    data = copy.deepcopy(FULL_MEETING)
    if mode != "update":
        del data["status"]
    result = validate_meeting(data, mode=mode)
    assert result == data
    assert type(result["persist_chat"]) is bool and result["record_on_start"] is False
    assert result["recording_config"]["file_name_prefix"] == ""
    # A new object all the way down: changing the result leaves the input alone.
    assert result is not data
    result["recording_config"]["video_config"]["watermark"]["size"]["width"] = 999
    result["ai_config"]["transcription"]["keywords"].append("extra")
    assert data["recording_config"]["video_config"]["watermark"]["size"]["width"] == 64
    assert data["ai_config"]["transcription"]["keywords"] == ["RealtimeKit", ""]


def test_only_given_keys_are_returned_no_defaults():
    assert validate_meeting({}, mode="create") == {}
    assert validate_meeting({"persist_chat": False}, mode="update") == {"persist_chat": False}
    assert validate_meeting({"recording_config": {}}, mode="replace") == {"recording_config": {}}


def test_false_and_zero_like_values_are_preserved():
    data = {
        "record_on_start": False,
        "title": "",
        "ai_config": {"transcription": {"keywords": [], "profanity_filter": False}},
        "recording_config": {"realtimekit_bucket_config": {"enabled": False}, "file_name_prefix": ""},
    }
    assert validate_meeting(data, mode="create") == data


def test_any_mapping_is_accepted_and_a_plain_dict_returned():
    data = MappingProxyType({"title": "x", "ai_config": MappingProxyType({"summarization": {}})})
    result = validate_meeting(data, mode="create")
    assert result == {"title": "x", "ai_config": {"summarization": {}}}
    assert type(result) is dict and type(result["ai_config"]) is dict


@pytest.mark.parametrize("data", [None, [], "title", 3, [("title", "x")]])
def test_payload_must_be_an_object(data):
    assert errors_of(data) == [("payload", "must be an object")]


@pytest.mark.parametrize("mode", ["post", "", None, "CREATE", "add"])
def test_unknown_mode_is_refused(mode):
    with pytest.raises(ValidationError, match="mode: must be one of: create, update, replace"):
        validate_meeting({}, mode=mode)


# --- bounds -----------------------------------------------------------------------------------


# The contract's bounds, written out again so that a typo in schema.BOUNDS cannot hide.
CONTRACT_BOUNDS = {
    "session_keep_alive_time_in_secs": (60, 600),
    "ai_config.summarization.word_limit": (150, 1000),
    "recording_config.max_seconds": (60, 86400),
    "recording_config.video_config.width": (1, 1920),
    "recording_config.video_config.height": (1, 1920),
    "recording_config.video_config.watermark.size.width": (1, None),
    "recording_config.video_config.watermark.size.height": (1, None),
    "recording_config.storage_config.port": (1, 65535),
}


def test_bounds_table_is_the_contract():
    assert BOUNDS == CONTRACT_BOUNDS


def inside_and_outside():
    for path, (low, high) in CONTRACT_BOUNDS.items():
        yield path, low, None
        yield path, low - 1, f"must be between {low} and {high}" if high else f"must be at least {low}"
        if high is None:
            yield path, 10**9, None
        else:
            yield path, high, None
            yield path, high + 1, f"must be between {low} and {high}"


@pytest.mark.parametrize(("path", "value", "problem"), list(inside_and_outside()))
def test_bounds_inclusive(path, value, problem):
    data = nest(path, value)
    if problem is None:
        assert validate_meeting(data, mode="create") == data
    else:
        assert errors_of(data) == [(path, problem)]


def test_bounds_table_names_reachable_fields():
    # Every bounded path is a field of the full payload, so forms can trust the table.
    for path in BOUNDS:
        node = FULL_MEETING
        for key in path.split("."):
            node = node[key]
        assert isinstance(node, int)


@pytest.mark.parametrize(
    ("path", "inside", "outside"),
    [("session_keep_alive_time_in_secs", 599.5, 600.5), ("recording_config.max_seconds", 60.25, 59.75)],
)
def test_real_number_fields_take_fractions(path, inside, outside):
    assert validate_meeting(nest(path, inside), mode="create") == nest(path, inside)
    assert [p for p, _ in errors_of(nest(path, outside))] == [path]


# Where the SDK says int rather than float.
WHOLE_NUMBER_FIELDS = [
    path for path in BOUNDS if path not in ("session_keep_alive_time_in_secs", "recording_config.max_seconds")
]


@pytest.mark.parametrize("path", WHOLE_NUMBER_FIELDS)
def test_whole_number_fields(path):
    low = BOUNDS[path][0]
    assert errors_of(nest(path, low + 0.5)) == [(path, "must be a whole number")]
    result = validate_meeting(nest(path, float(low)), mode="create")
    # Sent as an int: the API's schema says integer.
    assert result == nest(path, low)
    node = result
    for key in path.split("."):
        node = node[key]
    assert type(node) is int


@pytest.mark.parametrize("path", list(BOUNDS))
@pytest.mark.parametrize("value", [True, False, "100", None, [100], {"value": 100}])
def test_non_numbers_are_refused_including_bools(path, value):
    assert errors_of(nest(path, value)) == [(path, "must be a number")]


@pytest.mark.parametrize("path", list(BOUNDS))
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(path, value):
    assert errors_of(nest(path, value)) == [(path, "must be a finite number")]


def test_huge_integers_are_refused_not_crashing():
    assert errors_of(nest("session_keep_alive_time_in_secs", 10**400)) == [
        ("session_keep_alive_time_in_secs", "must be between 60 and 600")
    ]


# --- enums ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(ENUMS))
@pytest.mark.parametrize("value", ["bogus", "", None, 1, True])
def test_enum_wrong_values_are_refused(path, value):
    problem = "must be one of: " + ", ".join(ENUMS[path])
    assert errors_of(nest(path, value), mode=mode_for(path)) == [(path, problem)]


@pytest.mark.parametrize("path", list(ENUMS))
def test_enum_values_are_case_sensitive(path):
    value = ENUMS[path][0]
    other = value.lower() if value != value.lower() else value.upper()
    assert len(errors_of(nest(path, other), mode=mode_for(path))) == 1


@pytest.mark.parametrize(
    ("path", "value"), [(path, value) for path, values in ENUMS.items() for value in values]
)
def test_every_enum_value_is_accepted(path, value):
    data = nest(path, value)
    assert validate_meeting(data, mode=mode_for(path)) == data


def test_vp9_is_accepted_as_in_the_sdk():
    assert "VP9" in schema.VIDEO_CODECS


# --- booleans, strings, lists and URLs --------------------------------------------------------

BOOLEAN_PATHS = [
    *MEETING_BOOLEAN_FIELDS,
    "ai_config.transcription.profanity_filter",
    "recording_config.audio_config.export_file",
    "recording_config.video_config.export_file",
    "recording_config.realtimekit_bucket_config.enabled",
]


@pytest.mark.parametrize("path", BOOLEAN_PATHS)
@pytest.mark.parametrize("value", [0, 1, "true", "false", 0.0, [], {}])
def test_booleans_must_be_real_bools(path, value):
    assert errors_of(nest(path, value)) == [(path, "must be a boolean")]


@pytest.mark.parametrize("path", BOOLEAN_PATHS)
@pytest.mark.parametrize("value", [True, False])
def test_booleans_accept_bools(path, value):
    assert validate_meeting(nest(path, value), mode="update") == nest(path, value)


STRING_PATHS = [
    "title",
    "recording_config.file_name_prefix",
    *(
        f"recording_config.storage_config.{key}"
        for key in ("bucket", "region", "path", "host", "username", *STORAGE_WRITE_ONLY_KEYS)
    ),
]


@pytest.mark.parametrize("path", STRING_PATHS)
def test_strings_must_be_strings(path):
    assert errors_of(nest(path, 5), mode="update") == [(path, "must be a string")]


@pytest.mark.parametrize("path", [*STRING_PATHS, "recording_config.video_config.watermark.url"])
def test_oversized_strings_are_refused(path):
    fits = (
        "https://e.com/" + "a" * (MAX_STRING_LENGTH - 14) if path.endswith("url") else "a" * MAX_STRING_LENGTH
    )
    assert len(fits) == MAX_STRING_LENGTH
    assert validate_meeting(nest(path, fits), mode="update") == nest(path, fits)
    assert errors_of(nest(path, fits + "a"), mode="update") == [
        (path, f"must be at most {MAX_STRING_LENGTH} characters")
    ]


def test_keywords_must_be_a_list_of_strings():
    path = "ai_config.transcription.keywords"
    assert errors_of(nest(path, "one, two")) == [(path, "must be a list of strings")]
    assert errors_of(nest(path, ["ok", 3, None])) == [
        (f"{path}[1]", "must be a string"),
        (f"{path}[2]", "must be a string"),
    ]
    assert validate_meeting(nest(path, ("a", "b")), mode="create") == nest(path, ["a", "b"])


def test_keyword_count_and_size_are_guarded():
    path = "ai_config.transcription.keywords"
    assert validate_meeting(nest(path, ["k"] * MAX_KEYWORDS), mode="create")
    assert errors_of(nest(path, ["k"] * (MAX_KEYWORDS + 1))) == [
        (path, f"must have at most {MAX_KEYWORDS} entries")
    ]
    assert errors_of(nest(path, ["k", "x" * (MAX_STRING_LENGTH + 1)])) == [
        (f"{path}[1]", f"must be at most {MAX_STRING_LENGTH} characters")
    ]


WATERMARK_URL = "recording_config.video_config.watermark.url"
RTMP_URL = "recording_config.live_streaming_config.rtmp_url"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (WATERMARK_URL, "https://cdn.example.com/logo.png"),
        (WATERMARK_URL, "http://localhost:8000/logo.png?v=2"),
        (WATERMARK_URL, "HTTPS://EXAMPLE.COM/a.png"),
        (RTMP_URL, "rtmp://live.example.com/app/key"),
        (RTMP_URL, "rtmps://live.example.com:443/app/key"),
        (RTMP_URL, "https://ingest.example.com/live"),
    ],
)
def test_absolute_urls_are_accepted(path, value):
    assert validate_meeting(nest(path, value), mode="create") == nest(path, value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (WATERMARK_URL, "/static/logo.png"),
        (WATERMARK_URL, "cdn.example.com/logo.png"),
        (WATERMARK_URL, "ftp://cdn.example.com/logo.png"),
        (WATERMARK_URL, "javascript:alert(1)"),
        (WATERMARK_URL, "https:///logo.png"),
        (WATERMARK_URL, "https://exa mple.com/logo.png"),
        (WATERMARK_URL, "http://[::1/logo.png"),
        (WATERMARK_URL, ""),
        (RTMP_URL, "live.example.com/app"),
        (RTMP_URL, "rtmp:/app/key"),
        (RTMP_URL, "rtmp://live.example.com/app\nkey"),
    ],
)
def test_relative_or_malformed_urls_are_refused(path, value):
    [(where, problem)] = errors_of(nest(path, value))
    assert where == path and problem.startswith("must be an absolute URL")


@pytest.mark.parametrize("path", [WATERMARK_URL, RTMP_URL])
def test_urls_must_be_strings(path):
    assert errors_of(nest(path, None)) == [(path, "must be a string")]


# --- objects, unknown and read-only keys -------------------------------------------------------


def test_unknown_top_level_key_is_refused_naming_the_allowed_ones():
    [(path, problem)] = errors_of({"titel": "x"})
    assert path == "titel"
    assert problem.startswith("unknown field (allowed: title, ")
    assert "status" not in problem  # not allowed on create
    [(_, problem)] = errors_of({"titel": "x"}, mode="update")
    assert "status" in problem


@pytest.mark.parametrize(
    "path",
    [
        "ai_config.summary",
        "ai_config.summarization.words",
        "ai_config.transcription.lang",
        "recording_config.max_secs",
        "recording_config.audio_config.bitrate",
        "recording_config.video_config.fps",
        "recording_config.video_config.watermark.opacity",
        "recording_config.video_config.watermark.size.depth",
        "recording_config.live_streaming_config.stream_key",
        "recording_config.realtimekit_bucket_config.region",
        "recording_config.storage_config.endpoint",
    ],
)
def test_unknown_nested_key_is_refused_with_its_full_path(path):
    [(where, problem)] = errors_of(nest(path, "x"))
    assert where == path
    assert problem.startswith("unknown field (allowed: ")


def test_non_string_keys_are_unknown():
    [(where, problem)] = errors_of({1: "x"})
    assert where == "1" and problem.startswith("unknown field")


@pytest.mark.parametrize("key", ["id", "created_at", "updated_at"])
@pytest.mark.parametrize("mode", MODES)
def test_read_only_keys_are_refused(key, mode):
    assert errors_of({key: "2024-01-01T00:00:00Z"}, mode=mode) == [(key, "is read-only")]


OBJECT_PATHS = [
    "ai_config",
    "ai_config.summarization",
    "ai_config.transcription",
    "recording_config",
    "recording_config.audio_config",
    "recording_config.video_config",
    "recording_config.video_config.watermark",
    "recording_config.video_config.watermark.size",
    "recording_config.live_streaming_config",
    "recording_config.realtimekit_bucket_config",
]


@pytest.mark.parametrize("path", OBJECT_PATHS)
@pytest.mark.parametrize("value", [None, [], "x", 1, True])
@pytest.mark.parametrize("mode", MODES)
def test_nested_objects_must_be_objects(path, value, mode):
    assert errors_of(nest(path, value), mode=mode) == [(path, "must be an object")]


@pytest.mark.parametrize("mode", MODES)
def test_storage_config_may_be_null_as_in_the_sdk(mode):
    data = {"recording_config": {"storage_config": None}}
    assert validate_meeting(data, mode=mode) == data
    path = "recording_config.storage_config"
    assert errors_of(nest(path, ["aws"]), mode=mode) == [(path, "must be an object")]


def test_bucket_config_enabled_is_required():
    data = {"recording_config": {"realtimekit_bucket_config": {}}}
    assert errors_of(data) == [("recording_config.realtimekit_bucket_config.enabled", "is required")]
    data = {"recording_config": {"realtimekit_bucket_config": {"enabled": None}}}
    assert errors_of(data) == [("recording_config.realtimekit_bucket_config.enabled", "must be a boolean")]


def test_storage_type_is_required():
    data = {"recording_config": {"storage_config": {"bucket": "b", "access_key": "k"}}}
    assert errors_of(data) == [("recording_config.storage_config.type", "is required")]


def test_every_problem_is_reported_at_once():
    data = {
        "title": 42,
        "status": "ACTIVE",
        "persist_chat": 1,
        "session_keep_alive_time_in_secs": 30,
        "colour": "blue",
        "id": "abc",
        "ai_config": {"summarization": {"word_limit": 50.5, "text_format": "html"}},
        "recording_config": {
            "video_config": {"width": 4000, "height": True, "watermark": {"url": "logo.png"}},
            "storage_config": {"port": 70000},
            "realtimekit_bucket_config": {},
        },
    }
    with pytest.raises(ValidationError) as excinfo:
        validate_meeting(data, mode="create")
    paths = [path for path, _ in excinfo.value.errors]
    assert paths == [
        "title",
        "status",
        "persist_chat",
        "session_keep_alive_time_in_secs",
        "colour",
        "id",
        "ai_config.summarization.word_limit",
        "ai_config.summarization.text_format",
        "recording_config.video_config.width",
        "recording_config.video_config.height",
        "recording_config.video_config.watermark.url",
        "recording_config.storage_config.port",
        "recording_config.storage_config.type",
        "recording_config.realtimekit_bucket_config.enabled",
    ]
    message = str(excinfo.value)
    assert "recording_config.video_config.width: must be between 1 and 1920" in message
    assert "status: can only be changed with update_meeting_by_id (PATCH)" in message
    assert message.count(";") == len(paths) - 1


# --- mode rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["create", "replace"])
def test_status_is_only_for_update(mode):
    assert errors_of({"status": "INACTIVE"}, mode=mode) == [
        ("status", "can only be changed with update_meeting_by_id (PATCH)")
    ]


@pytest.mark.parametrize("status", ["ACTIVE", "INACTIVE"])
def test_status_on_update(status):
    assert validate_meeting({"status": status}, mode="update") == {"status": status}


@pytest.mark.parametrize("key", ["title", "record_on_start", "live_stream_on_start"])
@pytest.mark.parametrize("mode", ["create", "replace"])
def test_sdk_optional_fields_accept_null_on_create_and_replace(key, mode):
    assert validate_meeting({key: None}, mode=mode) == {key: None}


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("title", "must be a string"),
        ("record_on_start", "must be a boolean"),
        ("live_stream_on_start", "must be a boolean"),
        ("persist_chat", "must be a boolean"),
        ("session_keep_alive_time_in_secs", "must be a number"),
    ],
)
def test_null_is_refused_on_update(key, problem):
    assert errors_of({key: None}, mode="update") == [(key, problem)]


@pytest.mark.parametrize("key", ["persist_chat", "summarize_on_end", "transcribe_on_end"])
def test_non_optional_booleans_refuse_null_everywhere(key):
    for mode in MODES:
        assert errors_of({key: None}, mode=mode) == [(key, "must be a boolean")]


# --- write-only storage secrets ------------------------------------------------------------------


def test_write_only_keys_are_kept_by_validation():
    data = {
        "recording_config": {
            "storage_config": {"type": "aws", **{k: k.upper() for k in STORAGE_WRITE_ONLY_KEYS}}
        }
    }
    result = validate_meeting(data, mode="create")
    assert result == data


def test_strip_write_only_removes_secrets_without_mutating_its_input():
    data = copy.deepcopy(FULL_MEETING)
    data["remote_only_field"] = {"kept": True}
    data["recording_config"]["storage_config"]["future_key"] = "kept"
    before = copy.deepcopy(data)
    stripped = strip_write_only(data)
    assert data == before
    storage = stripped["recording_config"]["storage_config"]
    assert not set(STORAGE_WRITE_ONLY_KEYS) & set(storage)
    assert storage["future_key"] == "kept" and storage["type"] == "sftp" and storage["port"] == 22
    assert stripped["remote_only_field"] == {"kept": True}
    assert stripped["ai_config"] == data["ai_config"]
    # A deep copy: changing it leaves the input alone.
    stripped["ai_config"]["transcription"]["keywords"].append("x")
    assert data == before


def test_strip_write_only_accepts_a_bare_recording_config():
    recording = {"max_seconds": 60, "storage_config": {"type": "gcs", "secret": "s", "bucket": "b"}}
    assert strip_write_only(recording) == {
        "max_seconds": 60,
        "storage_config": {"type": "gcs", "bucket": "b"},
    }
    assert recording["storage_config"]["secret"] == "s"


@pytest.mark.parametrize(
    "meeting",
    [
        {},
        {"title": "x"},
        {"recording_config": None},
        {"recording_config": {"storage_config": None}},
        {"recording_config": "garbage"},
        {"recording_config": {"storage_config": ["garbage"]}},
    ],
)
def test_strip_write_only_leaves_payloads_without_secrets_alone(meeting):
    assert strip_write_only(meeting) == meeting


def test_strip_write_only_returns_plain_dicts():
    meeting = MappingProxyType(
        {
            "recording_config": MappingProxyType(
                {"storage_config": MappingProxyType({"type": "aws", "secret": "s"})}
            )
        }
    )
    assert strip_write_only(meeting) == {"recording_config": {"storage_config": {"type": "aws"}}}


def test_strip_write_only_refuses_non_objects():
    with pytest.raises(ValidationError, match="payload: must be an object"):
        strip_write_only(["recording_config"])


# --- participants -----------------------------------------------------------------------------


def participant_errors(data, mode):
    with pytest.raises(ValidationError) as excinfo:
        validate_participant(data, mode=mode)
    return excinfo.value.errors


def test_participant_add_full_and_minimal():
    data = {
        "custom_participant_id": "user-42",
        "preset_name": "group_call_host",
        "name": "Ada",
        "picture": "https://example.com/ada.png",
    }
    assert validate_participant(data, mode="add") == data
    minimal = {"custom_participant_id": "user-42", "preset_name": "group_call_participant"}
    assert validate_participant(minimal, mode="add") == minimal
    with_nulls = {**minimal, "name": None, "picture": None}
    assert validate_participant(with_nulls, mode="add") == with_nulls


def test_participant_add_requires_id_and_preset():
    assert participant_errors({}, "add") == [
        ("custom_participant_id", "is required"),
        ("preset_name", "is required"),
    ]


@pytest.mark.parametrize("key", ["custom_participant_id", "preset_name"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        ("  ", "must not be empty"),
        (None, "must be a string"),
        (7, "must be a string"),
    ],
)
def test_participant_ids_must_be_non_empty_strings(key, value, problem):
    data = {"custom_participant_id": "u", "preset_name": "p", key: value}
    assert participant_errors(data, "add") == [(key, problem)]


def test_participant_edit_rules():
    assert validate_participant({}, mode="edit") == {}
    data = {"preset_name": "webinar_viewer", "name": None, "picture": None}
    assert validate_participant(data, mode="edit") == data
    assert participant_errors({"custom_participant_id": "u2"}, "edit") == [
        ("custom_participant_id", "cannot be changed once the participant is added")
    ]
    assert participant_errors({"preset_name": ""}, "edit") == [("preset_name", "must not be empty")]


@pytest.mark.parametrize("mode", ["add", "edit"])
def test_participant_picture_and_name(mode):
    base = {"custom_participant_id": "u", "preset_name": "p"} if mode == "add" else {}
    for picture in ("ftp://example.com/a.png", "/a.png", "example.com/a.png", 3):
        [(path, problem)] = participant_errors({**base, "picture": picture}, mode)
        assert path == "picture"
        assert problem in ("must be an absolute URL (http or https)", "must be a string")
    assert participant_errors({**base, "name": 3}, mode) == [("name", "must be a string")]
    assert participant_errors({**base, "name": "n" * (MAX_STRING_LENGTH + 1)}, mode) == [
        ("name", f"must be at most {MAX_STRING_LENGTH} characters")
    ]


@pytest.mark.parametrize("mode", ["add", "edit"])
def test_participant_unknown_and_read_only_keys(mode):
    base = {"custom_participant_id": "u", "preset_name": "p"} if mode == "add" else {}
    errors = participant_errors({**base, "email": "a@b.c", "token": "jwt", "id": "x", "preset_id": "y"}, mode)
    assert [path for path, _ in errors] == ["email", "token", "id", "preset_id"]
    assert errors[0][1].startswith("unknown field (allowed: ")
    assert errors[1][1] == errors[2][1] == "is read-only"


def test_participant_payload_and_mode_are_checked():
    assert participant_errors(None, "add") == [("payload", "must be an object")]
    assert participant_errors({}, "create") == [("mode", "must be one of: add, edit")]


# --- listing parameters -----------------------------------------------------------------------


def listing_errors(**params):
    with pytest.raises(ValidationError) as excinfo:
        validate_listing_params(**params)
    return excinfo.value.errors


def test_listing_params_only_given_ones():
    assert validate_listing_params() == {}
    assert validate_listing_params(page_no=1, per_page=20) == {"page_no": 1, "per_page": 20}
    assert validate_listing_params(search="", status="INACTIVE") == {"search": "", "status": "INACTIVE"}


def test_listing_page_numbers():
    assert validate_listing_params(page_no=2.0, per_page=100) == {"page_no": 2, "per_page": 100}
    assert type(validate_listing_params(page_no=2.0)["page_no"]) is int
    assert listing_errors(page_no=0) == [("page_no", "must be at least 1")]
    assert listing_errors(per_page=0) == [("per_page", "must be at least 1")]
    assert listing_errors(per_page=101) == [("per_page", "must be at most 100")]
    for bad in (True, "2", 1.5, math.nan, math.inf, [1]):
        assert listing_errors(page_no=bad) == [("page_no", "must be a whole number")]


def test_listing_datetimes_are_formatted_as_the_sdk_does():
    from cloudflare._utils import maybe_transform
    from cloudflare.types.realtime_kit.meeting_get_params import MeetingGetParams

    aware = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    params = validate_listing_params(start_time=aware, end_time=naive)
    assert params == {"start_time": "2024-05-06T07:08:09+02:00", "end_time": "2024-05-06T07:08:09.123456"}
    assert params == maybe_transform({"start_time": aware, "end_time": naive}, MeetingGetParams)


@pytest.mark.parametrize("value", ["2024-05-06T07:08:09Z", "2024-05-06T07:08:09+00:00", "2024-05-06"])
def test_listing_iso_strings_pass_unchanged(value):
    assert validate_listing_params(start_time=value) == {"start_time": value}


def test_listing_errors_are_all_reported():
    errors = listing_errors(
        page_no=-1, per_page="20", search=5, status="active", start_time="yesterday", end_time=1714980000
    )
    assert errors == [
        ("page_no", "must be at least 1"),
        ("per_page", "must be a whole number"),
        ("search", "must be a string"),
        ("status", "must be one of: ACTIVE, INACTIVE"),
        ("start_time", "must be a datetime or an ISO 8601 date-time string"),
        ("end_time", "must be a datetime or an ISO 8601 date-time string"),
    ]


# --- the SDK is the second source of truth: our fields must not drift from it --------------------

SDK_PARAMS = {
    "create": ("meeting_create_params", "MeetingCreateParams"),
    "update": ("meeting_update_meeting_by_id_params", "MeetingUpdateMeetingByIDParams"),
    "replace": ("meeting_replace_meeting_by_id_params", "MeetingReplaceMeetingByIDParams"),
}
PATH_PARAMS = {"account_id", "app_id"}  # sent in the URL, not the body


def sdk_params(mode):
    import importlib

    module_name, class_name = SDK_PARAMS[mode]
    module = importlib.import_module(f"cloudflare.types.realtime_kit.{module_name}")
    return getattr(module, class_name)


def sdk_shape(typed_dict, prefix=""):
    """{dotted path: set of Literal choices (empty when not an enum)} for every SDK key, recursively."""
    shape: dict[str, set] = {}
    for key, hint in typing.get_type_hints(typed_dict).items():
        path = f"{prefix}{key}"
        members = typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)
        choices = shape.setdefault(path, set())
        for member in members:
            if is_typeddict(member):
                for sub_path, sub_choices in sdk_shape(member, f"{path}.").items():
                    shape.setdefault(sub_path, set()).update(sub_choices)
            elif typing.get_origin(member) is typing.Literal:
                choices.update(typing.get_args(member))
    return shape


def full_paths(node, prefix=""):
    paths = set()
    for key, value in node.items():
        paths.add(f"{prefix}{key}")
        if isinstance(value, dict):
            paths |= full_paths(value, f"{prefix}{key}.")
    return paths


@pytest.mark.parametrize("mode", MODES)
def test_every_sdk_top_level_key_is_accepted(mode):
    keys = set(sdk_params(mode).__annotations__) - PATH_PARAMS
    for key in sorted(keys):
        assert validate_meeting({key: FULL_MEETING[key]}, mode=mode) == {key: FULL_MEETING[key]}
    # And the other way round: we accept nothing at the top level the SDK does not know.
    expected = set(MEETING_WRITABLE_FIELDS) - ({"status"} if mode != "update" else set())
    assert keys == expected


@pytest.mark.parametrize("mode", MODES)
def test_sdk_nested_keys_and_enums_match_ours(mode):
    shape = {
        path: choices
        for path, choices in sdk_shape(sdk_params(mode)).items()
        if path.split(".")[0] not in PATH_PARAMS
    }
    ours = full_paths(FULL_MEETING) - ({"status"} if mode != "update" else set())
    assert set(shape) == ours
    for path, choices in shape.items():
        if choices:
            assert choices == set(ENUMS[path]), path
    assert {path for path, choices in shape.items() if choices} == set(ENUMS) - (
        {"status"} if mode != "update" else set()
    )


@pytest.mark.parametrize("mode", MODES)
def test_sdk_optional_top_level_fields_match_ours(mode):
    hints = typing.get_type_hints(sdk_params(mode))
    sdk_nullable = {
        key for key, hint in hints.items() if type(None) in typing.get_args(hint) and key not in PATH_PARAMS
    }
    for key in sdk_nullable:
        assert validate_meeting({key: None}, mode=mode) == {key: None}
    for key in set(hints) - sdk_nullable - PATH_PARAMS:
        if key != "status" or mode == "update":
            assert errors_of({key: None}, mode=mode)[0][0] == key


def test_sdk_participant_keys_are_accepted():
    from cloudflare.types.realtime_kit.meeting_add_participant_params import MeetingAddParticipantParams
    from cloudflare.types.realtime_kit.meeting_edit_participant_params import MeetingEditParticipantParams

    values = {"custom_participant_id": "u", "preset_name": "p", "name": "n", "picture": "https://e.com/p.png"}
    add_keys = set(MeetingAddParticipantParams.__annotations__) - PATH_PARAMS
    assert validate_participant({k: values[k] for k in add_keys}, mode="add") == values
    edit_keys = set(MeetingEditParticipantParams.__annotations__) - PATH_PARAMS - {"meeting_id"}
    assert validate_participant({k: values[k] for k in edit_keys}, mode="edit") == {
        k: values[k] for k in edit_keys
    }


# --- property: whatever JSON arrives, the only failure is a ValidationError ----------------------


def _key_names(node):
    names = set()
    for key, value in node.items():
        names.add(key)
        if isinstance(value, dict):
            names |= _key_names(value)
    return names


KNOWN_KEYS = sorted(_key_names(FULL_MEETING) | {"id", "created_at", "updated_at"})
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from([value for values in ENUMS.values() for value in values])
)
JSON_KEYS = st.sampled_from(KNOWN_KEYS) | st.text(max_size=10)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(JSON_KEYS, children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, database=None, deadline=None)
@given(
    data=st.dictionaries(
        st.sampled_from([*MEETING_WRITABLE_FIELDS, "id"]) | st.text(max_size=8), JSON_VALUES
    ),
    mode=st.sampled_from(MODES),
)
def test_random_json_only_ever_raises_validation_error(data, mode):
    try:
        result = validate_meeting(data, mode=mode)
    except ValidationError as error:
        assert error.errors and all(isinstance(path, str) and problem for path, problem in error.errors)
    else:
        assert result == data
        storage = strip_write_only(result).get("recording_config", {}).get("storage_config") or {}
        assert not set(STORAGE_WRITE_ONLY_KEYS) & set(storage)
