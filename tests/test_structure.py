"""The package's layout holds: public import paths that moved still answer, and data flows one way.

Issue 30 split modules that had grown several jobs; these tests keep the old import paths alive
for sites that use them.
"""

from __future__ import annotations

import importlib

import pytest

# Every top-level name realtimekit_django/schema.py defined before it became a package.
SCHEMA_NAMES = """
__all__ SUMMARY_TYPES TEXT_FORMATS TRANSCRIPTION_LANGUAGES AUDIO_CHANNELS AUDIO_CODECS VIDEO_CODECS
WATERMARK_POSITIONS STORAGE_TYPES STORAGE_AUTH_METHODS MEETING_STATUSES MEETING_BOOLEAN_FIELDS
MEETING_WRITABLE_FIELDS MEETING_READ_ONLY_FIELDS PARTICIPANT_READ_ONLY_FIELDS STORAGE_WRITE_ONLY_KEYS
BOUNDS _START_BOUNDS MAX_STRING_LENGTH MAX_KEYWORDS MAX_PER_PAGE MEETING_MODES PARTICIPANT_MODES Errors
_join MAX_DEPTH MAX_MAGNITUDE STORABLE_YEARS _POSTGRESQL_OFFSET_LIMIT _UNSTORABLE_CHAR unstorable _walk
_key_problem _scalar_problem storable_datetime_problem _utc_problem _Spec _Bool _Str _Enum _Number _Url
_is_absolute_url _StrList _Refused _Object _AI_CONFIG _RECORDING_CONFIG _meeting_spec _MEETING_SPECS
_PARTICIPANT_COMMON _PARTICIPANT_SPECS _validate _poison_not_yet_reported _at_or_under validate_meeting
validate_participant validate_listing_params _as_datetime strip_write_only _plain_copy _without_secrets
PRESET_MODES PRESET_PARTS RECORDING_STATUSES RECORDING_ACTIVE_STATUSES RECORDING_ACTIONS
RECORDING_URL_KEYS MAX_KICK _AnyObject _preset_spec _PRESET_SPECS _RECORDING_START _IdList _KICK
validate_preset validate_recording_start validate_recording_action validate_kick
validate_recording_listing strip_recording_urls
""".split()


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_names_are_still_importable_from_the_package(name):
    schema = importlib.import_module("realtimekit_django.schema")
    assert hasattr(schema, name), f"realtimekit_django.schema.{name} is gone"


def test_schema_public_names_are_the_same_objects_as_in_their_modules():
    from realtimekit_django import schema
    from realtimekit_django.schema import fields, meetings, poison

    assert schema.validate_meeting is meetings.validate_meeting
    assert schema.unstorable is poison.unstorable
    assert schema._Object is fields._Object
    for name in schema.__all__:
        assert hasattr(schema, name)


def test_schema_machinery_knows_no_resource():
    """fields.py and poison.py import no resource module of the schema package."""
    import ast
    from pathlib import Path

    import realtimekit_django.schema as schema

    folder = Path(schema.__file__).parent
    for name in ("fields.py", "poison.py"):
        tree = ast.parse((folder / name).read_text())
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }
        assert imported <= {"poison", "fields"} - {name.removesuffix(".py")}, (name, imported)
