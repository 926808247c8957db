"""Who may get a token, see a meeting, or press an admin button.

Anonymous visitors and users the site's policy refuses get no token and see no hidden meeting
(and cost no RealtimeKit request); nobody picks their own preset; every admin action needs its
permission *and* a CSRF token. Each refusal is checked for its side effects too: no HTTP call,
no row, no remote change.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client

from realtimekit_django import services
from realtimekit_django.models import Meeting, MeetingStatus, Participant

pytestmark = pytest.mark.django_db

HIDDEN_PREFIX = "staff only"


def members_policy(user, meeting):
    """The test site's policy: only active users named member*, and no one sees 'staff only'
    meetings except staff; staff are hosts."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_staff:
        return "group_call_host"
    if not user.username.startswith("member") or (meeting.title or "").startswith(HIDDEN_PREFIX):
        return None
    return "group_call_participant"


@pytest.fixture
def site(realtimekit_emulator, rk_settings, settings, django_user_model):
    rk_settings(PRESET_POLICY=members_policy)
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"realtimekit_join": "1000/min"}}
    cache.clear()
    open_meeting = services.create_meeting(title="open house")
    hidden = services.create_meeting(title=f"{HIDDEN_PREFIX} board")
    closed = services.create_meeting(title="closed")
    closed = services.set_meeting_status(closed, MeetingStatus.INACTIVE)
    return {
        "emulator": realtimekit_emulator,
        "open": open_meeting,
        "hidden": hidden,
        "closed": closed,
        "member": django_user_model.objects.create_user("member1", password="pw"),
        "outsider": django_user_model.objects.create_user("outsider", password="pw"),
    }


def _client(user=None, **kwargs) -> Client:
    client = Client(raise_request_exception=False, **kwargs)
    if user is not None:
        client.force_login(user)
    return client


def _writes(emulator, since: int) -> list:
    return [r for r in emulator.requests[since:] if r.method != "GET"]


def test_anonymous_and_refused_users_get_no_token_and_cost_nothing(site, reliability):
    emulator = site["emulator"]
    attempts = []
    cases = [
        ("anonymous", _client(), site["open"], (401, 403)),
        ("policy-refused user", _client(site["outsider"]), site["open"], (403,)),
        ("member on a hidden meeting", _client(site["member"]), site["hidden"], (403, 404)),
        ("member on an inactive meeting", _client(site["member"]), site["closed"], (409,)),
    ]
    refused_right = []
    for label, client, meeting, expected in cases:
        for _ in range(3):
            before, requests_before = Participant.objects.count(), len(emulator.requests)
            response = client.post(
                f"/realtimekit/meetings/{meeting.pk}/join/", {"preset_name": "group_call_host"}
            )
            attempt = (
                label,
                response.status_code,
                "token" in response.content.decode(),
                len(emulator.requests) - requests_before,
                Participant.objects.count() - before,
            )
            attempts.append(attempt)
            if attempt[1] in expected and attempt[2:] == (False, 0, 0):
                refused_right.append(attempt)
    reliability(
        "access",
        "join by anonymous, policy-refused, hidden-meeting and inactive-meeting callers",
        "refused (401/403/404/409) with no token, no RealtimeKit request, no row",
        runs=len(attempts),
        lost=len(attempts) - len(refused_right),
        server_errors=sum(1 for a in attempts if a[1] >= 500),
    )
    assert len(refused_right) == len(attempts), attempts


def test_hidden_meetings_are_not_listed_or_shown(site, reliability):
    views = {
        "anonymous": _client(),
        "outsider": _client(site["outsider"]),
        "member": _client(site["member"]),
    }
    seen = {}
    for who, client in views.items():
        listing = client.get("/realtimekit/meetings/")
        ids = {m["id"] for m in listing.json()["results"]} if listing.status_code == 200 else set()
        detail = client.get(f"/realtimekit/meetings/{site['hidden'].pk}/").status_code
        seen[who] = (listing.status_code, ids, detail)
    hidden = str(site["hidden"].pk)
    exposed = sum(1 for status, ids, detail in seen.values() if hidden in ids or detail == 200)
    reliability(
        "access",
        "meeting list/detail for anonymous, refused and member users",
        "hidden meetings neither listed nor shown (404); anonymous refused",
        runs=len(views) * 2,
        lost=exposed,
    )
    assert seen["anonymous"][0] in (401, 403) and seen["anonymous"][2] in (401, 403)
    assert seen["outsider"][1] == set() and seen["outsider"][2] == 404
    assert str(site["open"].pk) in seen["member"][1] and hidden not in seen["member"][1]
    assert seen["member"][2] == 404
    assert exposed == 0


@pytest.mark.parametrize(
    "body",
    [
        {"preset_name": "group_call_host"},
        {"preset": "group_call_host", "preset_name": "admin"},
        '{"preset_name": "group_call_host", "user": 1}',
    ],
)
def test_nobody_picks_their_own_preset(site, reliability, body):
    client = _client(site["member"])
    kwargs = {"content_type": "application/json"} if isinstance(body, str) else {}
    response = client.post(f"/realtimekit/meetings/{site['open'].pk}/join/", body, **kwargs)
    remote = site["emulator"].participants(str(site["open"].pk))
    escalated = sum(1 for p in remote if p["preset_name"] != "group_call_participant")
    reliability(
        "access",
        "join body asking for a host preset",
        "ignored: the policy's preset is used",
        runs=1,
        lost=escalated,
    )
    assert response.status_code == 200
    assert response.json()["preset_name"] == "group_call_participant"
    assert escalated == 0 and len(remote) == 1


@pytest.fixture
def staff(django_user_model):
    def make(name, *perms):
        user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="realtimekit", codename__in=perms)
        )
        return django_user_model.objects.get(pk=user.pk)  # drop the permission cache

    return make


ACTIONS = [
    ("meeting", "deactivate", "change_meeting"),
    ("meeting", "sync_selected", "change_meeting"),
    ("participant", "refresh_token", "change_participant"),
    ("participant", "remove_participants", "delete_participant"),
]


def _action_post(model, action, pk, csrf=None):
    data = {"action": action, "_selected_action": [str(pk)], "index": "0", "post": "yes"}
    if csrf:
        data["csrfmiddlewaretoken"] = csrf
    return f"/admin/realtimekit/{model}/", data


def _state(site):
    meeting = Meeting.objects.get(pk=site["open"].pk)
    return meeting.status, Participant.objects.count(), len(site["emulator"].issued_tokens)


@pytest.mark.parametrize(("model", "action", "perm"), ACTIONS)
def test_admin_actions_need_their_permission_and_csrf(site, staff, reliability, model, action, perm):
    emulator = site["emulator"]
    participant, _ = services.add_participant(
        site["open"], custom_participant_id="admin-target", preset_name="group_call_participant"
    )
    target = site["open"].pk if model == "meeting" else participant.pk
    outcomes = []

    def attempt(user, csrf_checks: bool, with_token: bool):
        client = _client(user, enforce_csrf_checks=csrf_checks)
        csrf = None
        if with_token:
            client.get(f"/admin/realtimekit/{model}/")
            csrf = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else None
        before, requests_before = _state(site), len(emulator.requests)
        url, data = _action_post(model, action, target, csrf)
        response = client.post(url, data)
        # "acted": anything changed, or RealtimeKit was asked anything at all (sync is a GET).
        changed = _state(site) != before or len(emulator.requests) > requests_before
        outcomes.append((user.username, csrf_checks, with_token, response.status_code, changed))
        return response, changed

    viewer = staff(f"viewer-{action}", "view_meeting", "view_participant")
    doer = staff(f"doer-{action}", "view_meeting", "view_participant", perm)
    _, viewer_changed = attempt(viewer, True, True)  # no permission, valid CSRF
    no_csrf, csrf_changed = attempt(doer, True, False)  # permission, no CSRF token
    _, allowed_changed = attempt(doer, True, True)  # permission and CSRF: the positive control
    reliability(
        "access",
        f"admin action '{action}' without permission / without CSRF",
        "refused and nothing changed; with both it works",
        runs=len(outcomes),
        lost=int(viewer_changed) + int(csrf_changed),
        server_errors=sum(1 for o in outcomes if o[3] >= 500),
    )
    assert not viewer_changed, outcomes
    assert no_csrf.status_code == 403 and not csrf_changed, outcomes
    assert allowed_changed, outcomes


def test_admin_extra_views_need_change_permission_and_csrf(site, staff, reliability):
    emulator = site["emulator"]
    viewer = staff("viewer-extra", "view_meeting")
    doer = staff("doer-extra", "view_meeting", "change_meeting")
    add_url = f"/admin/realtimekit/meeting/{site['open'].pk}/add-participant/"
    body = {"custom_participant_id": "sneaky", "preset_name": "group_call_host"}
    results = []
    for user, csrf_checks in ((viewer, False), (doer, True)):
        client = _client(user, enforce_csrf_checks=csrf_checks)
        requests_before = len(emulator.requests)
        for url, data in ((add_url, body), ("/admin/realtimekit/meeting/sync-all/", {})):
            response = client.post(url, data)
            results.append(
                (user.username, url, response.status_code, len(_writes(emulator, requests_before)))
            )
    reliability(
        "access",
        "admin add-participant and sync-all views without permission / without CSRF",
        "403, no participant added, nothing queued",
        runs=len(results),
        lost=sum(1 for r in results if r[2] != 403 or r[3]),
        server_errors=sum(1 for r in results if r[2] >= 500),
    )
    assert all(status == 403 and writes == 0 for _, _, status, writes in results), results
    assert not Participant.objects.filter(custom_participant_id="sneaky").exists()
