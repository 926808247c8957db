"""Pre-provisioning: an event's invited users prepared ahead (idempotent, in the background lane,
stopping cleanly on the budget), the paced task and its progress, the command and the admin page;
and a prepared join costing no request."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse

from realtimekit_django import services, tasks, token_cache
from realtimekit_django.emulator import ManualClock
from realtimekit_django.exceptions import MeetingInactive, ValidationError
from realtimekit_django.models import Participant
from realtimekit_django.services import Prepared, provisioning
from tests.celery_app import app  # noqa: F401 - the eager Celery app, current for .delay()

pytestmark = pytest.mark.django_db


@pytest.fixture
def kept_tokens(settings):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "default"}


@pytest.fixture
def meeting(realtimekit_emulator):
    return services.create_meeting(title="All-hands")


@pytest.fixture
def invited(django_user_model):
    group = Group.objects.create(name="staff-all-hands")
    users = [django_user_model.objects.create_user(f"person-{i}") for i in range(6)]
    group.user_set.add(*users)
    return users


def participant_requests(emulator) -> list:
    return [r for r in emulator.requests if "/participants" in r.path]


def test_provisioning_adds_one_remote_participant_per_user_and_is_idempotent(
    realtimekit_emulator, meeting, invited
):
    report = services.provision_participants(meeting, invited)
    assert (report.added, report.ready, report.requests, report.completed) == (6, 0, 6, True)
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 6
    before = len(realtimekit_emulator.requests)

    again = services.provision_participants(meeting, invited)

    assert (again.added, again.ready, again.requests) == (0, 6, 0)
    assert len(realtimekit_emulator.requests) == before
    assert Participant.objects.filter(meeting=meeting, user__in=invited).count() == 6


def test_a_prepared_users_join_costs_no_request_with_the_token_cache(
    realtimekit_emulator, kept_tokens, meeting, invited
):
    services.provision_participants(meeting, invited)
    before = len(realtimekit_emulator.requests)

    tokens = [services.issue_join_token(meeting, user) for user in invited]

    assert len(realtimekit_emulator.requests) == before
    assert all(realtimekit_emulator.token_is_valid(issued.token) for issued in tokens)
    assert {issued.participant.user_id for issued in tokens} == {user.pk for user in invited}


def test_without_the_token_cache_a_prepared_join_costs_one_request_and_adds_nobody(
    realtimekit_emulator, meeting, invited
):
    services.provision_participants(meeting, invited)
    before = participant_requests(realtimekit_emulator)

    services.issue_join_token(meeting, invited[0])

    made = participant_requests(realtimekit_emulator)[len(before) :]
    assert [r.method for r in made] == ["PATCH"]  # a token for the existing participant, no add


def test_with_the_cache_on_an_earlier_participant_without_a_kept_token_is_edited_once(
    realtimekit_emulator, meeting, invited, settings
):
    services.issue_join_token(meeting, invited[0])  # joined before the cache was on: nothing kept
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "default"}

    first = services.provision_participants(meeting, invited)
    second = services.provision_participants(meeting, invited)

    assert (first.edited, first.added) == (1, 5)
    assert (second.ready, second.requests) == (6, 0)


def test_users_the_policy_refuses_are_counted_not_added(realtimekit_emulator, meeting, invited, settings):
    refused = {invited[0].pk, invited[1].pk}
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT,
        "PRESET_POLICY": lambda user, meeting: None if user.pk in refused else "group_call_participant",
    }
    report = services.provision_participants(meeting, invited)
    assert (report.refused, report.added) == (2, 4)
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 4


def test_an_inactive_meeting_is_refused_before_any_request(realtimekit_emulator, meeting, invited):
    services.set_meeting_status(meeting, "INACTIVE")
    before = len(realtimekit_emulator.requests)
    with pytest.raises(MeetingInactive):
        services.provision_participants(meeting, invited)
    assert len(realtimekit_emulator.requests) == before


def test_provisioning_stops_cleanly_when_the_api_locks_it_out(
    realtimekit_emulator, meeting, invited, settings
):
    realtimekit_emulator.clock = ManualClock()
    _site_budget_off(settings)  # the API's own lockout is what is tested
    realtimekit_emulator.set_rate_limit((3, 300))

    report = services.provision_participants(meeting, invited)

    assert (report.added, report.stopped, report.completed) == (3, "rate budget", False)
    assert report.retry_after == 300
    assert report.left == [user.pk for user in invited[3:]]
    assert Participant.objects.filter(meeting=meeting).count() == 3
    realtimekit_emulator.clock.advance(300)
    rest = services.provision_participants(meeting, invited)
    assert (rest.ready, rest.added, rest.completed) == (3, 3, True)


def test_every_request_of_a_run_is_made_inside_the_background_lane(
    realtimekit_emulator, meeting, invited, monkeypatch
):
    from contextlib import contextmanager

    lane = {"inside": False}
    outside = []

    @contextmanager
    def background():
        lane["inside"] = True
        try:
            yield
        finally:
            lane["inside"] = False

    monkeypatch.setattr(provisioning, "_background", background)
    realtimekit_emulator.add_hook(lambda record: outside.append(record) if not lane["inside"] else None)
    services.provision_participants(meeting, invited)
    assert outside == [] and len(realtimekit_emulator.participants(str(meeting.pk))) == 6


def test_prepare_join_hands_out_nothing(realtimekit_emulator, meeting, invited):
    from realtimekit_django import signals

    sent = []
    signals.token_issued.connect(receiver := lambda **kw: sent.append(kw), weak=False)
    try:
        assert services.prepare_join(meeting, invited[0]) is Prepared.ADDED
        assert services.prepare_join(meeting, invited[0]) is Prepared.READY
    finally:
        signals.token_issued.disconnect(receiver)
    assert sent == []


# -- invited users -----------------------------------------------------------------------------


def test_invited_users_are_a_groups_and_named_users_once_each(invited, django_user_model):
    extra = django_user_model.objects.create_user("guest")
    found = provisioning.invited_users(groups=["staff-all-hands"], usernames=["guest", "person-0"])
    assert [u.pk for u in found] == sorted([u.pk for u in invited] + [extra.pk])


def test_unknown_groups_and_users_are_named(invited):
    with pytest.raises(ValidationError) as caught:
        provisioning.invited_users(groups=["nope"], usernames=["person-0", "nobody"])
    assert "nope" in str(caught.value) and "nobody" in str(caught.value)


# -- the task --------------------------------------------------------------------------------


def test_the_task_prepares_in_chunks_and_records_progress(realtimekit_emulator, meeting, invited):
    result = tasks.provision_participants.delay(str(meeting.pk), [u.pk for u in invited], batch_size=4).get()

    assert (result["added"], result["left"], result["finished"]) == (4, 2, False)  # the first chunk's
    progress = provisioning.progress_of(meeting.pk)
    assert (progress["total"], progress["done"], progress["added"], progress["finished"]) == (6, 6, 6, True)
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 6


def test_the_task_sends_the_rest_after_the_interval(realtimekit_emulator, meeting, invited, monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks.provision_participants, "apply_async", lambda *args, **kwargs: sent.append((args, kwargs))
    )
    ids = [u.pk for u in invited]
    tasks.provision_participants.run(str(meeting.pk), ids, batch_size=4, interval=30)

    ((args, kwargs),) = sent
    assert args[0] == (str(meeting.pk), ids[4:])
    assert kwargs["countdown"] == 30 and args[1]["batch_size"] == 4
    assert provisioning.progress_of(meeting.pk)["done"] == 4
    assert provisioning.progress_of(meeting.pk)["next_at"] is not None


def test_the_task_waits_out_the_budget_before_going_on(
    realtimekit_emulator, meeting, invited, monkeypatch, settings
):
    realtimekit_emulator.clock = ManualClock()
    _site_budget_off(settings)  # the API's own lockout is what is tested
    realtimekit_emulator.set_rate_limit((3, 300))
    sent = []
    monkeypatch.setattr(
        tasks.provision_participants, "apply_async", lambda *args, **kwargs: sent.append((args, kwargs))
    )
    ids = [u.pk for u in invited]
    tasks.provision_participants.run(str(meeting.pk), ids, batch_size=4)

    ((args, kwargs),) = sent
    assert args[0] == (str(meeting.pk), ids[3:])  # three prepared, the rest after the lockout
    assert kwargs["countdown"] == 300 and args[1]["stalls"] == 1
    assert provisioning.progress_of(meeting.pk)["stopped"] == "rate budget"


def test_a_newer_run_supersedes_an_older_one(realtimekit_emulator, meeting, invited):
    old = provisioning.start_progress(meeting.pk, 6)
    provisioning.start_progress(meeting.pk, 6)
    before = len(realtimekit_emulator.requests)
    result = tasks.provision_participants.run(str(meeting.pk), [u.pk for u in invited], run_id=old)
    assert result["superseded"] and len(realtimekit_emulator.requests) == before


def test_the_task_refuses_a_bad_pace(meeting, invited):
    with pytest.raises(ValidationError, match="batch_size"):
        tasks.provision_participants.run(str(meeting.pk), [invited[0].pk], batch_size=0)


# -- the command -----------------------------------------------------------------------------


def test_the_command_prepares_a_group(realtimekit_emulator, meeting, invited):
    out = StringIO()
    call_command("realtimekit_provision", str(meeting.pk), "--group", "staff-all-hands", stdout=out)
    assert "6 added" in out.getvalue() and "6 requests" in out.getvalue()
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 6


def test_the_command_exits_non_zero_when_the_budget_stops_it(
    realtimekit_emulator, meeting, invited, settings
):
    realtimekit_emulator.clock = ManualClock()
    _site_budget_off(settings)  # the API's own lockout is what is tested
    realtimekit_emulator.set_rate_limit((3, 300))
    with pytest.raises(CommandError, match="3 users left"):
        call_command(
            "realtimekit_provision", str(meeting.pk), "--group", "staff-all-hands", stdout=StringIO()
        )


def test_the_command_names_an_unknown_group(meeting, invited):
    with pytest.raises(CommandError, match="no such group: typo"):
        call_command("realtimekit_provision", str(meeting.pk), "--group", "typo", stdout=StringIO())


# -- the admin -------------------------------------------------------------------------------


def test_the_admin_action_leads_to_the_prepare_page(admin_client, meeting):
    response = admin_client.post(
        reverse("admin:realtimekit_meeting_changelist"),
        {"action": "prepare_action", "_selected_action": [str(meeting.pk)]},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:realtimekit_meeting_prepare", args=[meeting.pk])


def test_the_admin_prepares_a_group_and_shows_progress(realtimekit_emulator, admin_client, meeting, invited):
    url = reverse("admin:realtimekit_meeting_prepare", args=[meeting.pk])
    group = Group.objects.get(name="staff-all-hands")

    response = admin_client.post(url, {"group": group.pk, "usernames": ""}, follow=True)

    assert response.status_code == 200
    assert len(realtimekit_emulator.participants(str(meeting.pk))) == 6
    page = response.content.decode()
    assert "Preparing 6 invited users" in page
    assert "6 / 6" in page and "finished" in page


def test_the_admin_names_unknown_users(admin_client, meeting):
    url = reverse("admin:realtimekit_meeting_prepare", args=[meeting.pk])
    response = admin_client.post(url, {"usernames": "ghost\n"})
    assert response.status_code == 200 and "no such user: ghost" in response.content.decode()
    assert provisioning.progress_of(meeting.pk) is None


def test_kept_tokens_of_a_prepared_meeting_are_dropped_with_their_participants(
    realtimekit_emulator, kept_tokens, meeting, invited
):
    services.provision_participants(meeting, invited[:1])
    participant = Participant.objects.get(meeting=meeting, user=invited[0])
    assert token_cache.kept(participant.pk) is not None
    services.remove_participant(participant)
    assert token_cache.kept(participant.pk) is None
    assert not realtimekit_emulator.participants(str(meeting.pk))


def _site_budget_off(settings):
    """Leave the site's own rate budget out: these tests are about the API locking it out."""
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "RATE_LIMIT_REQUESTS": None}
