"""Walks over a listing that changes between its pages (an emulator hook runs before each request).

Offset paging shifts under inserts and deletes: a meeting created before the walk's position
pushes an item onto the next page (seen twice), a participant deleted before it pulls one back
onto a page already read (never seen). The promise: after the next run nothing is missed, and
nothing that is present remotely is ever deleted or flagged locally, not even by the walk that
was fooled by the shift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from realtimekit_django import services
from realtimekit_django.models import Meeting, Participant
from realtimekit_django.sync.reconcile import reconcile_meetings, reconcile_participants
from tests.reliability.conftest import APP_ID, meeting_diff, participant_diff

pytestmark = pytest.mark.django_db

PER_PAGE = 10


def _listing_page(record, suffix: str) -> int | None:
    if record.method == "GET" and record.path.endswith(suffix):
        return int(record.query.get("page_no", 1))
    return None


@pytest.mark.parametrize("where", ["before the walk's position", "after it"])
def test_meetings_created_mid_walk_are_all_stored_by_the_next_run(realtimekit_emulator, reliability, where):
    emulator = realtimekit_emulator
    for n in range(45):
        emulator.create_meeting(title=f"Meeting {n:03d}")
    reconcile_meetings(per_page=PER_PAGE)
    earliest = datetime.now(UTC) - timedelta(days=365)
    created = []

    def create_between_pages(record):
        page = _listing_page(record, "/meetings")
        if page in (2, 4):
            for n in range(3):
                if where == "after it":
                    created.append(emulator.create_meeting(title=f"late {page}-{n}"))
                else:  # an earlier created_at sorts before every page already read
                    stamp = (earliest + timedelta(minutes=len(created))).isoformat().replace("+00:00", "Z")
                    created.append(
                        emulator.create_meeting(title=f"early {page}-{n}", created_at=stamp, updated_at=stamp)
                    )

    emulator.add_hook(create_between_pages)
    moving = reconcile_meetings(per_page=PER_PAGE)
    flagged_while_moving = Meeting.objects.filter(missing_since__isnull=False).count()
    emulator.remove_hook(create_between_pages)
    settled = reconcile_meetings(per_page=PER_PAGE)

    diff = meeting_diff(emulator)
    reliability(
        "listing",
        f"6 meetings created mid-walk, {where}",
        "the next run stored every meeting; no meeting present remotely was flagged",
        runs=2,
        requests=len(emulator.requests),
        lost=diff["lost"] + diff["wrong"] + flagged_while_moving,
        duplicates=diff["extra"],
    )
    # Meetings inserted ahead of the walk's position push others forward: the moving walk sees
    # fewer distinct meetings than the listing counts, so it may not call itself complete.
    assert settled.completed and moving.completed is (where == "after it")
    assert flagged_while_moving == 0 and moving.flagged == 0
    assert diff == {"lost": 0, "wrong": 0, "extra": 0}
    assert len(created) == 6


@pytest.mark.parametrize("deleted_from_page", [1, 2])
def test_participants_deleted_mid_walk_never_delete_present_ones_locally(
    realtimekit_emulator, reliability, django_user_model, deleted_from_page
):
    """Deleting on a page already read shifts the rest left: the walk skips live participants.
    A walk that cannot vouch for what it did not see must not delete them (nor lose the site
    user a joined participant is linked to)."""
    emulator = realtimekit_emulator
    meeting = services.create_meeting(title="Moving")
    mid = str(meeting.pk)
    users = [django_user_model.objects.create_user(f"user{n}") for n in range(35)]
    for user in users:  # joined through the site: each row is linked to its user
        services.issue_join_token(meeting, user)
    assert reconcile_participants(meeting, per_page=PER_PAGE).completed
    linked_before = Participant.objects.filter(meeting=meeting, user__isnull=False).count()

    doomed = [p["id"] for p in emulator.participants(mid)[(deleted_from_page - 1) * PER_PAGE :][:3]]
    deleted_remotely = []

    def delete_between_pages(record):
        if _listing_page(record, "/participants") == deleted_from_page + 1 and not deleted_remotely:
            for pid in doomed:
                emulator.delete_participant(mid, pid)
                deleted_remotely.append(pid)

    emulator.add_hook(delete_between_pages)
    moving = reconcile_participants(meeting, per_page=PER_PAGE)
    emulator.remove_hook(delete_between_pages)

    remote_ids = {p["id"] for p in emulator.participants(mid)}
    local_ids = {str(pk) for pk in Participant.objects.filter(meeting=meeting).values_list("pk", flat=True)}
    wrongly_deleted = len(remote_ids - local_ids)
    settled = reconcile_participants(meeting, per_page=PER_PAGE)
    diff = participant_diff(emulator, mid)
    links_lost = (
        linked_before
        - len(deleted_remotely)
        - Participant.objects.filter(meeting=meeting, user__isnull=False).count()
    )

    reliability(
        "listing",
        f"3 participants deleted remotely mid-walk (from page {deleted_from_page})",
        "no participant present remotely was deleted locally; the next run matched the remote exactly",
        runs=2,
        incomplete=int(not moving.completed),
        requests=len(emulator.requests),
        lost=wrongly_deleted + diff["lost"] + diff["wrong"] + links_lost,
        duplicates=diff["duplicates"] + diff["extra"],
    )
    assert len(deleted_remotely) == 3
    assert wrongly_deleted == 0, (
        f"the walk skipped {wrongly_deleted} participant(s) the listing shifted onto a page it had read, "
        f"and deleted them locally although they are present remotely"
    )
    assert links_lost == 0, "participants re-imported after a wrong delete lose their site user"
    assert settled.completed
    assert diff == {"lost": 0, "wrong": 0, "extra": 0, "duplicates": 0}
    assert not Participant.objects.filter(pk__in=deleted_remotely).exists()


def test_participants_added_mid_walk_by_joins_are_kept(realtimekit_emulator, reliability, django_user_model):
    """A join during the walk writes a row the walk cannot have seen: it must survive the walk."""
    emulator = realtimekit_emulator
    meeting = services.create_meeting(title="Busy")
    for n in range(25):
        emulator.add_participant(
            str(meeting.pk), custom_participant_id=f"p{n:02d}", preset_name="group_call_participant"
        )
    latecomers = [django_user_model.objects.create_user(f"late{n}") for n in range(3)]
    joined = []

    def join_between_pages(record):
        if _listing_page(record, "/participants") == 2 and not joined:
            for user in latecomers:
                joined.append(services.issue_join_token(meeting, user).participant.pk)

    emulator.add_hook(join_between_pages)
    moving = reconcile_participants(meeting, per_page=PER_PAGE)
    emulator.remove_hook(join_between_pages)
    survived = Participant.objects.filter(pk__in=joined, user__isnull=False).count()
    settled = reconcile_participants(meeting, per_page=PER_PAGE)
    diff = participant_diff(emulator, str(meeting.pk))
    reliability(
        "listing",
        "3 participants joined through the site mid-walk",
        "the rows written by the joins survived the walk, still linked to their users",
        runs=2,
        requests=len(emulator.requests),
        lost=(3 - survived) + diff["lost"] + diff["wrong"],
        duplicates=diff["duplicates"] + diff["extra"],
    )
    assert moving.completed and settled.completed
    assert survived == 3
    assert diff == {"lost": 0, "wrong": 0, "extra": 0, "duplicates": 0}
    assert Meeting.objects.filter(app_id=APP_ID).count() == 1
