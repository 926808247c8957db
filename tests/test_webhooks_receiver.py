"""The receiver: verify the raw body, insert once, answer; refuse everything else unread or
unstored; fetch the key at most once a minute."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.core.cache import cache

from realtimekit_django.models import Session, SessionParticipant, WebhookEvent
from realtimekit_django.webhooks import verify
from realtimekit_django.webhooks.views import refusal_counts

from . import webhook_helpers as wh

pytestmark = pytest.mark.usefixtures("empty_cache")

MEETING = uuid.UUID("11111111-1111-4111-8111-111111111111")


def _started_body(session_id="s-1") -> bytes:
    return wh.body_of(wh.started(MEETING, session_id))


@pytest.mark.django_db(transaction=True)
def test_a_signed_delivery_is_stored_once_and_processed_after_commit(client, pem_key, received):
    response = wh.post(client, _started_body(), delivery_id="d-1")
    assert response.status_code == 200 and response.json() == {"success": True, "duplicate": False}
    event = WebhookEvent.objects.get()
    assert (event.uuid, event.event, event.webhook_id, event.meeting_id) == (
        "d-1",
        "meeting.started",
        "wh-1",
        MEETING,
    )
    assert event.processed_at is not None and event.attempts == 1 and event.error == ""
    session = Session.objects.get()
    assert (session.pk, session.meeting_id, session.status) == ("s-1", MEETING, "LIVE")
    assert received == ["d-1"]


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_is_answered_200_and_not_processed_again(client, pem_key, received):
    body = _started_body()
    assert wh.post(client, body, delivery_id="d-1").status_code == 200
    again = wh.post(client, body, delivery_id="d-1")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert WebhookEvent.objects.get().attempts == 1
    assert received == ["d-1"]


@pytest.mark.django_db(transaction=True)
def test_without_rtk_uuid_the_same_body_from_the_same_webhook_is_one_event(client, pem_key):
    body = _started_body()
    wh.post(client, body, delivery_id=None)
    wh.post(client, body, delivery_id=None)
    other = wh.body_of(wh.started(MEETING, "s-2"))
    wh.post(client, other, delivery_id=None)
    assert WebhookEvent.objects.count() == 2
    assert all(uid.startswith("sha256:") for uid in WebhookEvent.objects.values_list("uuid", flat=True))


def _refused(response, status: int) -> None:
    assert response.status_code == status
    assert WebhookEvent.objects.count() == 0 and Session.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_forgeries_are_refused_and_nothing_is_stored(client, pem_key, received, caplog):
    body = _started_body()
    caplog.set_level(logging.WARNING, logger="realtimekit_django.webhooks")
    _refused(wh.post(client, body, signature=None), 400)  # missing header
    _refused(wh.post(client, body + b" ", signature=wh.sign(body)), 401)  # tampered body
    _refused(wh.post(client, body, signature=wh.sign(body, "intruder")), 401)  # wrong key
    other = wh.body_of(wh.started(MEETING, "s-other"))
    _refused(wh.post(client, body, signature=wh.sign(other)), 401)  # a real signature of another body
    _refused(wh.post(client, body, signature="not base64!"), 401)
    assert received == []
    counts = refusal_counts()
    assert counts["no_signature"] == 1 and counts["bad_signature"] == 4
    assert b"s-1" not in caplog.text.encode() and "meeting.started" not in caplog.text  # no body in logs


@pytest.mark.django_db
def test_get_is_refused(client, pem_key):
    assert client.get(wh.RECEIVER).status_code == 405


@pytest.mark.django_db
def test_a_signed_body_that_is_not_an_event_is_400(client, pem_key):
    for body in (b"not json", b"[1, 2]", b'{"no": "event"}'):
        _refused(wh.post(client, body), 400)


class _Unreadable:
    """A request body that fails the test if the view reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


@pytest.mark.django_db
def test_a_body_over_the_limit_is_refused_unread(client, settings, pem_key):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_MAX_BODY_BYTES": 100}
    from django.test import RequestFactory

    from realtimekit_django.webhooks.views import receive

    request = RequestFactory().generic("POST", wh.RECEIVER, b"", content_type="application/json")
    request.META["CONTENT_LENGTH"] = "101"
    request.META["HTTP_RTK_SIGNATURE"] = "x"
    request._stream = _Unreadable()  # noqa: SLF001 - a test double for the WSGI input
    assert receive(request).status_code == 413
    # A body that lies about its length is cut at limit + 1 bytes and refused too.
    body = b'{"event": "meeting.started", "pad": "' + b"x" * 200 + b'"}'
    request = RequestFactory().generic("POST", wh.RECEIVER, body, content_type="application/json")
    request.META["CONTENT_LENGTH"] = "50"
    assert receive(request).status_code == 413
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_keeps_the_error_and_a_replay_processes_it(client, pem_key):
    broken = {
        "event": "meeting.participantJoined",
        "meeting": wh.meeting_part(MEETING, "s-1"),
        "participant": {},
    }
    assert wh.post(client, wh.body_of(broken)).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.processed_at is None and event.attempts == 1 and "peerId" in event.error
    assert Session.objects.count() == 0  # the handler's savepoint undid the half-made session

    from realtimekit_django.webhooks.handlers import process_event

    event.payload["participant"] = {"peerId": "p-1", "customParticipantId": "c-1"}
    event.save()
    assert process_event(event.pk) == "processed"
    assert process_event(event.pk) == "already"
    assert SessionParticipant.objects.get().peer_id == "p-1"
    assert WebhookEvent.objects.get().attempts == 2


# -- the key at a URL -----------------------------------------------------------------------------


def _well_known_fetches(emulator) -> int:
    return sum(1 for r in emulator.requests if r.path.endswith("/.well-known/webhooks.json"))


@pytest.mark.django_db(transaction=True)
def test_the_key_is_fetched_once_and_a_flood_of_forgeries_costs_one_fetch_a_minute(
    client, realtimekit_emulator
):
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    body = _started_body()
    assert wh.post(client, body).status_code == 200
    assert wh.post(client, wh.body_of(wh.started(MEETING, "s-2"))).status_code == 200
    assert _well_known_fetches(realtimekit_emulator) == 1  # kept in the cache
    forged = wh.sign(body, "intruder")
    # The gate is closed by the first fetch: no fresh key can be had, so (the platform may have
    # rotated its key) each is answered 503, retryable, and costs no fetch.
    assert [wh.post(client, body, signature=forged).status_code for _ in range(20)] == [503] * 20
    assert _well_known_fetches(realtimekit_emulator) == 1
    cache.delete(verify.FETCH_GATE_KEY)  # a minute later
    statuses = [wh.post(client, body, signature=forged).status_code for _ in range(20)]
    assert statuses == [401] + [503] * 19  # refused for good only under the key fetched just now
    assert _well_known_fetches(realtimekit_emulator) == 2
    assert refusal_counts()["bad_signature"] == 1 and refusal_counts()["key_not_fresh"] == 39


@pytest.mark.django_db(transaction=True)
def test_a_rotated_key_is_fetched_again_when_a_signature_fails(client, realtimekit_emulator):
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    assert wh.post(client, _started_body()).status_code == 200
    realtimekit_emulator.webhooks.use_key(wh.private_key("rotated"))
    cache.delete(verify.FETCH_GATE_KEY)
    body = wh.body_of(wh.started(MEETING, "s-2"))
    assert wh.post(client, body, signature=wh.sign(body, "rotated")).status_code == 200
    assert Session.objects.count() == 2


@pytest.mark.django_db
def test_no_key_at_all_is_503_so_the_platform_retries(client, settings, realtimekit_emulator):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY_URL": "https://nowhere.test/key.json"}
    body = _started_body()
    assert wh.post(client, body).status_code == 503
    assert WebhookEvent.objects.count() == 0
    assert refusal_counts()["no_key"] == 1
