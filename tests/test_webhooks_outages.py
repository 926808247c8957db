"""Events are not lost to outages: a lock cache that fails while an event is processed, a
receiver whose caches are down, a processing task that failed or never ran, and a key the
platform rotated within the minute the key fetch is gated."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.test import override_settings
from django.utils import timezone

from realtimekit_django import tasks
from realtimekit_django.models import Session, SessionParticipant, WebhookEvent
from realtimekit_django.webhooks import handlers, retry, verify
from realtimekit_django.webhooks.views import refusal_counts

from . import webhook_helpers as wh

MEETING = uuid.UUID("55555555-5555-4555-8555-555555555555")


class DownCache(BaseCache):
    """A cache whose server is down: every call raises, as a Redis client does."""

    def __init__(self, *args, **kwargs):
        super().__init__({})

    def _down(self, *args, **kwargs):
        raise ConnectionError("the cache server is down")

    add = get = set = touch = delete = get_many = set_many = delete_many = incr = decr = has_key = clear = (
        _down
    )


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DOWN = {"BACKEND": f"{__name__}.DownCache"}


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    cache.clear()
    monkeypatch.setattr(verify, "_local", {"pem": None, "gate_until": 0.0}, raising=False)
    yield
    cache.clear()


def _join(session_id="s-1", peer="peer-1", who="alice") -> bytes:
    return wh.body_of(wh.joined(MEETING, session_id, peer, who, "2026-01-05T10:01:00.000Z"))


# -- 12. a failed sync hint does not fail the event; failed events are tried again ---------------


@pytest.mark.django_db(transaction=True)
def test_a_lock_cache_outage_while_processing_loses_only_the_hint(client, settings, pem_key, caplog):
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "SYNC_LOCK_CACHE": "locks"}
    with override_settings(CACHES={"default": LOCMEM, "locks": DOWN}):
        response = wh.post(client, _join())  # a meeting not mirrored: the handler touches it
        assert response.status_code == 200
        assert handlers.last_touched(MEETING) is None  # unreadable, not an error
    event = WebhookEvent.objects.get()
    assert event.processed_at is not None and event.error == "" and event.next_try_at is None
    assert Session.objects.get().pk == "s-1" and SessionParticipant.objects.get().peer_id == "peer-1"
    assert "could not keep the sync hint" in caplog.text


@pytest.fixture
def failing_joins(monkeypatch):
    """The join handler fails until ``state["broken"]`` is set False."""
    state = {"broken": True, "calls": 0}
    original = handlers.HANDLERS["meeting.participantJoined"]

    def flaky(event):
        state["calls"] += 1
        if state["broken"]:
            raise OSError("the database had a bad moment")
        original(event)

    monkeypatch.setitem(handlers.HANDLERS, "meeting.participantJoined", flaky)
    return state


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_of_an_event_stored_as_failed_is_processed_again(
    client, pem_key, failing_joins, received
):
    body = _join()
    assert wh.post(client, body, delivery_id="d-1").json()["duplicate"] is False
    event = WebhookEvent.objects.get()
    assert event.failed and event.attempts == 1 and received == []
    failing_joins["broken"] = False
    again = wh.post(client, body, delivery_id="d-1")  # the platform's redelivery
    assert again.status_code == 200 and again.json()["duplicate"] is True
    event.refresh_from_db()
    assert event.processed_at is not None and event.attempts == 2 and received == ["d-1"]
    wh.post(client, body, delivery_id="d-1")  # once processed, a redelivery changes nothing
    event.refresh_from_db()
    assert event.attempts == 2 and received == ["d-1"] and WebhookEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_event_is_retried_with_backoff_then_given_up(client, pem_key, failing_joins):
    assert wh.post(client, _join()).status_code == 200
    event = WebhookEvent.objects.get()
    waits = []
    for attempt in range(1, retry.MAX_ATTEMPTS):
        assert event.attempts == attempt and event.next_try_at is not None
        waits.append(round((event.next_try_at - timezone.now()).total_seconds() / 60))
        assert retry.retry_due(now=event.next_try_at - timedelta(seconds=1)) == {}  # not due yet
        assert retry.retry_due(now=event.next_try_at) == {"failed": 1}
        event.refresh_from_db()
    assert waits == [1, 2, 4, 8, 16, 32, 64]  # minutes, doubling
    assert event.attempts == retry.MAX_ATTEMPTS and event.next_try_at is None and event.failed
    assert retry.retry_due(now=timezone.now() + timedelta(days=30)) == {}  # given up: a person replays
    assert failing_joins["calls"] == retry.MAX_ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_the_retry_task_processes_a_failed_event_once_it_works(client, pem_key, failing_joins):
    assert wh.post(client, _join()).status_code == 200
    failing_joins["broken"] = False
    WebhookEvent.objects.update(next_try_at=timezone.now() - timedelta(seconds=1))  # a minute later
    assert tasks.retry_webhook_events() == {"processed": 1}
    event = WebhookEvent.objects.get()
    assert event.processed_at is not None and event.next_try_at is None and event.error == ""
    assert SessionParticipant.objects.count() == 1
    assert tasks.retry_webhook_events() == {}
    entry = tasks.webhook_beat_schedule()[tasks.WEBHOOK_RETRY_SCHEDULE_NAME]
    assert entry["task"] == "realtimekit.retry_webhook_events" and entry["schedule"] == 60.0


@pytest.mark.django_db(transaction=True)
def test_an_event_whose_task_never_ran_is_picked_up_by_the_retry(client, pem_key, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(tasks.process_webhook_event, "delay", broker_down)
    assert wh.post(client, _join()).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.processed_at is None and event.attempts == 0
    grace = (event.next_try_at - event.received_at).total_seconds()
    assert grace == retry.UNQUEUED_GRACE_SECONDS
    assert retry.retry_due(now=event.received_at + timedelta(seconds=grace - 1)) == {}
    assert retry.retry_due(now=event.next_try_at) == {"processed": 1}
    assert SessionParticipant.objects.count() == 1


# -- 15. the receiver's caches down: a lost counter, never a failed answer ------------------------


@pytest.mark.django_db(transaction=True)
def test_with_every_cache_down_the_receiver_answers_as_usual(client, pem_key, received):
    with override_settings(CACHES={"default": DOWN}):
        body = _join()
        assert wh.post(client, body, signature=wh.sign(body, "intruder")).status_code == 401
        assert wh.post(client, body, signature=None).status_code == 400
        assert wh.post(client, b"[]").status_code == 400
        assert wh.post(client, body, delivery_id="d-1").status_code == 200
        assert refusal_counts()["bad_signature"] == 0  # counters lost, the answers right
    assert WebhookEvent.objects.get().processed_at is not None and received == ["d-1"]


def _key_fetches(emulator) -> int:
    return sum(1 for r in emulator.requests if r.path.endswith("/.well-known/webhooks.json"))


@pytest.mark.django_db(transaction=True)
def test_with_the_key_cache_down_the_key_is_kept_and_gated_per_process(client, realtimekit_emulator):
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    with override_settings(CACHES={"default": DOWN}):
        assert wh.post(client, _join("s-1")).status_code == 200
        assert wh.post(client, _join("s-2")).status_code == 200
        assert _key_fetches(realtimekit_emulator) == 1  # this process's copy
        body = _join("s-3")
        forged = [wh.post(client, body, signature=wh.sign(body, "intruder")).status_code for _ in range(5)]
        assert forged == [503] * 5 and _key_fetches(realtimekit_emulator) == 1  # gated per process
    assert Session.objects.count() == 2


# -- 17. a rotated key is not a lost event --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_forgery_does_not_make_a_rotated_genuine_delivery_a_401(client, realtimekit_emulator):
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    assert wh.post(client, _join("s-1")).status_code == 200  # the key is kept
    cache.delete(verify.FETCH_GATE_KEY)  # a minute later
    body = _join("s-1", "peer-2", "bob")
    assert wh.post(client, body, signature=wh.sign(body, "intruder")).status_code == 401  # fetched now
    realtimekit_emulator.webhooks.use_key(wh.private_key("rotated"))  # the platform rotates
    genuine = wh.sign(body, "rotated")
    response = wh.post(client, body, signature=genuine, delivery_id="d-rotated")
    assert response.status_code == 503 and response.json()["error"] == "key_not_fresh"  # retried
    assert WebhookEvent.objects.count() == 1
    cache.delete(verify.FETCH_GATE_KEY)  # the platform retries a minute later
    assert wh.post(client, body, signature=genuine, delivery_id="d-rotated").status_code == 200
    assert SessionParticipant.objects.filter(peer_id="peer-2").exists()


@pytest.mark.django_db(transaction=True)
def test_a_rotated_delivery_while_the_key_url_fails_is_503(client, settings, realtimekit_emulator):
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    assert wh.post(client, _join("s-1")).status_code == 200  # the key is kept
    cache.delete(verify.FETCH_GATE_KEY)
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY_URL": "https://nowhere.test/key.json"}
    body = _join("s-2")
    response = wh.post(client, body, signature=wh.sign(body, "rotated"))
    assert response.status_code == 503 and refusal_counts()["key_not_fresh"] == 1
    assert wh.post(client, body).status_code == 200  # the kept key still verifies what it signs


@pytest.mark.django_db(transaction=True)
def test_with_the_key_cache_down_a_forgery_under_a_key_fetched_now_is_401(client, realtimekit_emulator):
    realtimekit_emulator.webhooks.use_key(wh.private_key())
    with override_settings(CACHES={"default": DOWN}):
        body = _join()
        response = wh.post(client, body, signature=wh.sign(body, "intruder"))
        assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    assert _key_fetches(realtimekit_emulator) == 1 and WebhookEvent.objects.count() == 0
