"""``realtimekit_provision`` refuses unusable --user / --group values with a CommandError, as the
admin forms refuse them, before any query: a NUL byte made PostgreSQL raise a DataError
traceback, and a lone surrogate (an argument that was not valid UTF-8) fails to encode on
every database (issue 29.20). CI runs this on SQLite and on PostgreSQL."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtimekit_django import services

pytestmark = pytest.mark.django_db

UNUSABLE = ["ad\x00min", "\x00", "caf\udce9", "x" * 10_000]


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="All-hands")


@pytest.mark.parametrize("flag", ["--user", "--group"])
@pytest.mark.parametrize("value", UNUSABLE, ids=["nul-inside", "nul", "surrogate", "too-long"])
def test_an_unusable_name_is_a_command_error(meeting, django_user_model, flag, value):
    django_user_model.objects.create_user("admin")
    Group.objects.create(name="staff")
    with CaptureQueriesContext(connection) as queries, pytest.raises(CommandError) as caught:
        call_command("realtimekit_provision", str(meeting.pk), flag, value, stdout=StringIO())
    message = str(caught.value)
    assert flag in message and "\x00" not in message and "\udce9" not in message
    assert len(message) < 300
    assert not any("auth_user" in q["sql"] or "auth_group" in q["sql"] for q in queries.captured_queries)


def test_a_usable_name_beside_an_unusable_one_is_not_prepared_either(
    realtimekit_emulator, meeting, django_user_model
):
    django_user_model.objects.create_user("admin")
    with pytest.raises(CommandError, match="--user"):
        call_command(
            "realtimekit_provision",
            str(meeting.pk),
            "--user",
            "admin",
            "--user",
            "bad\x00",
            stdout=StringIO(),
        )
    assert realtimekit_emulator.participants(str(meeting.pk)) == []


def test_an_unusable_meeting_id_is_a_command_error():
    with pytest.raises(CommandError, match="No joinable meeting"):
        call_command("realtimekit_provision", "\x00\udce9", "--user", "admin", stdout=StringIO())
