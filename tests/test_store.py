"""The store refuses a database it cannot guard writes on, instead of writing without the guard."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from realtimekit_django import checks, rows, store
from realtimekit_django.models import Meeting

pytestmark = pytest.mark.django_db


def test_a_supported_database_passes_the_check():
    assert [m for m in checks.check_database() if m.id == "realtimekit.E010"] == []


def test_mariadb_is_refused_by_the_check_and_by_every_write(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "mysql")
    [error] = checks.check_database()
    assert error.id == "realtimekit.E010" and "mysql" in error.msg and "PostgreSQL and SQLite" in error.msg
    row = rows.meeting_row({"id": "0b7c3d1e-8a1b-4c8e-9d2f-1a2b3c4d5e6f"}, app_id="a", now=timezone.now())
    with pytest.raises(ImproperlyConfigured, match="realtimekit.E010"):
        store.write_rows(Meeting, rows.MEETING_COLUMNS, [row])
    monkeypatch.undo()
    assert not Meeting.objects.exists()


def test_the_join_lock_key_is_the_same_for_every_spelling_of_a_meeting_id():
    spellings = ["0B7C3D1E-8A1B-4C8E-9D2F-1A2B3C4D5E6F", "0b7c3d1e-8a1b-4c8e-9d2f-1a2b3c4d5e6f"]
    assert len({store.join_lock_key(spelling, "person") for spelling in spellings}) == 1
    assert store.join_lock_key(spellings[0], "person") != store.join_lock_key(spellings[0], "other")
