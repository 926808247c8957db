"""The artifacts admin: view permission serves the stored file but not the writing actions
('Copy again', 'Generate summary' need change); the changelists run a bounded number of queries."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import reverse

from realtimekit_django.models import ArtifactKind, ArtifactState, Meeting, Session, SessionArtifact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "kept": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RECORDING_STORAGE": "kept"}


def stored(session_id="s1", kind=ArtifactKind.CHAT):
    meeting = Meeting.objects.create(id=uuid.uuid4(), app_id="test-app", title="m")
    session = Session.objects.create(id=session_id, meeting=meeting, status="ENDED")
    name = storages["kept"].save(f"a/{session_id}.csv", ContentFile(b"who,what\nada,hello\n"))
    return SessionArtifact.objects.create(
        session=session, kind=kind, state=ArtifactState.STORED, stored_name=name
    )


@pytest.fixture
def viewer(client):
    user = get_user_model().objects.create(username="viewer", is_staff=True)
    for codename in ("view_sessionartifact", "view_session"):
        permission = Permission.objects.get(codename=codename, content_type__app_label="realtimekit")
        user.user_permissions.add(permission)
    client.force_login(user)
    return client


def test_view_permission_serves_the_file_but_refuses_the_writing_actions(viewer):
    artifact = stored()
    response = viewer.get(reverse("admin:realtimekit_sessionartifact_file", args=[artifact.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"who,what\nada,hello\n"
    page = viewer.get(reverse("admin:realtimekit_sessionartifact_changelist"))
    assert page.status_code == 200 and "copy_again" not in page.content.decode()
    sessions = viewer.get(reverse("admin:realtimekit_session_changelist"))
    assert sessions.status_code == 200 and "generate_summary" not in sessions.content.decode()
    refused = viewer.post(
        reverse("admin:realtimekit_sessionartifact_changelist"),
        {"action": "copy_again", "_selected_action": [str(artifact.pk)]},
    )
    artifact.refresh_from_db()
    assert refused.status_code in (200, 302) and artifact.state == ArtifactState.STORED


@pytest.mark.parametrize("changelist", ["sessionartifact", "session"])
def test_changelists_run_bounded_queries_with_many_rows(
    admin_client, django_assert_max_num_queries, changelist
):
    meeting = Meeting.objects.create(id=uuid.uuid4(), app_id="test-app", title="m")
    sessions = Session.objects.bulk_create(
        [Session(id=f"s{i}", meeting=meeting, status="ENDED") for i in range(200)]
    )
    SessionArtifact.objects.bulk_create(
        [SessionArtifact(session=s, kind=ArtifactKind.CHAT, state=ArtifactState.ANNOUNCED) for s in sessions]
    )
    url = reverse(f"admin:realtimekit_{changelist}_changelist") + "?all="
    with django_assert_max_num_queries(15):
        response = admin_client.get(url)
    assert response.status_code == 200 and "s199" in response.content.decode()


def test_staff_with_change_permission_do_get_the_actions(admin_client):
    """The refusal above is the permission's doing: a superuser sees both actions."""
    stored()
    page = admin_client.get(reverse("admin:realtimekit_sessionartifact_changelist")).content.decode()
    sessions = admin_client.get(reverse("admin:realtimekit_session_changelist")).content.decode()
    assert "copy_again" in page and "generate_summary" in sessions
