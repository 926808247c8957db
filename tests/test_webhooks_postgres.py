"""On PostgreSQL, one delivery posted by 20 threads at once is stored once and processed once,
and 20 events of one session processed at once neither deadlock nor lose an attendee."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from realtimekit_django import signals
from realtimekit_django.models import Session, SessionParticipant, WebhookEvent

from . import webhook_helpers as wh

MEETING = uuid.UUID("33333333-3333-4333-8333-333333333333")


@pytest.fixture
def pem_key(settings):
    cache.clear()
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY": wh.public_pem()}


def _in_threads(work, count: int = 20) -> list[Exception]:
    start = threading.Barrier(count)
    errors: list[Exception] = []

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except Exception as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_delivery_posted_by_twenty_threads_is_processed_once(pem_key):
    assert connection.vendor == "postgresql"
    body = wh.body_of(wh.started(MEETING, "s-race"))
    processed, statuses = [], []
    receiver = lambda sender, event, **kw: processed.append(event.uuid)  # noqa: E731
    signals.webhook_received.connect(receiver)
    try:
        errors = _in_threads(
            lambda i: statuses.append(wh.post(Client(), body, delivery_id="same").status_code)
        )
    finally:
        signals.webhook_received.disconnect(receiver)
    assert errors == [] and statuses == [200] * 20
    event = WebhookEvent.objects.get()
    assert event.attempts == 1 and event.processed_at is not None
    assert processed == ["same"]
    assert Session.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_joins_of_one_session_at_once_all_land(pem_key):
    def join(i: int) -> None:
        payload = wh.joined(MEETING, "s-crowd", f"peer-{i}", f"person-{i}", "2026-01-05T10:01:00.000Z")
        assert wh.post(Client(), wh.body_of(payload)).status_code == 200

    assert _in_threads(join) == []
    assert Session.objects.count() == 1
    assert SessionParticipant.objects.count() == 20
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_body_replayed_by_twenty_threads_under_new_uuids_is_one_event(pem_key):
    body = wh.body_of(wh.started(MEETING, "s-replayed"))
    processed, answers = [], []
    receiver = lambda sender, event, **kw: processed.append(event.uuid)  # noqa: E731
    signals.webhook_received.connect(receiver)
    try:
        errors = _in_threads(
            lambda i: answers.append(wh.post(Client(), body, delivery_id=f"replay-{i}").json())
        )
    finally:
        signals.webhook_received.disconnect(receiver)
    assert errors == [] and len(answers) == 20
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 19
    assert WebhookEvent.objects.count() == 1 and len(processed) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_nul_and_a_lone_surrogate_are_stored_replaced_on_postgres(pem_key):
    from .test_webhooks_intake import MEETING as POISON_MEETING
    from .test_webhooks_intake import _poisoned_join, joined_despite_poison

    assert connection.vendor == "postgresql"
    assert wh.post(Client(), _poisoned_join()).status_code == 200
    attendance = joined_despite_poison()
    assert attendance.session.meeting_id == POISON_MEETING
