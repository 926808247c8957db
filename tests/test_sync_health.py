"""The webhooks' health (issue 28.1): healthy while verified deliveries arrive, polling when they
stop (silence while sessions are live, the site's webhook missing or disabled in the listing);
each change said once (a log line, ``webhooks_health_changed``, the admin's budget summary).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.test import override_settings

from realtimekit_django import services, signals
from realtimekit_django.models import Meeting, Session
from realtimekit_django.sync import health, schedule

pytestmark = pytest.mark.django_db

NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _fresh_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def changes():
    seen: list[dict] = []

    def listen(sender, **kwargs):
        seen.append({"healthy": kwargs["healthy"], "reason": kwargs["reason"]})

    signals.webhooks_health_changed.connect(listen, dispatch_uid="test-health")
    yield seen
    signals.webhooks_health_changed.disconnect(dispatch_uid="test-health")


def delivery(at: float, webhook_id: str = "wh-1"):
    return SimpleNamespace(received_at=datetime.fromtimestamp(at, tz=UTC), webhook_id=webhook_id)


def live_session(started: float):
    meeting = Meeting.objects.create(id=uuid.uuid4(), app_id="test-app", title="Live")
    Session.objects.create(id=str(uuid.uuid4()), meeting=meeting, started_at=datetime.fromtimestamp(started, tz=UTC))


class Listing:
    """A stand-in client whose webhook listing says what the test wants; counts its calls."""

    def __init__(self, hooks):
        self.hooks, self.calls = hooks, 0
        self.webhooks = self

    def get_webhooks(self):
        self.calls += 1
        return {"success": True, "data": self.hooks}


ENABLED = [{"id": "wh-1", "enabled": True, "url": "https://site.example/realtimekit/webhooks/"}]


def test_no_delivery_ever_is_polling_and_says_nothing(changes):
    found, sent = health.evaluate(now=NOW, client=Listing(ENABLED))
    assert (found.healthy, sent) == (False, 0)
    assert changes == []


def test_deliveries_make_it_healthy_once(changes, caplog):
    health.note_delivery(delivery(NOW - 10))
    with caplog.at_level(logging.INFO, logger="realtimekit_django.sync"):
        for step in range(3):
            found, _ = health.evaluate(now=NOW + step, client=Listing(ENABLED))
            assert found.healthy
    assert changes == [{"healthy": True, "reason": "verified webhooks are arriving"}]
    assert sum("webhooks healthy" in record.getMessage() for record in caplog.records) == 1
    assert health.is_healthy()


def test_silence_while_sessions_are_live_goes_back_to_polling(changes, caplog):
    live_session(NOW - 3600)
    health.note_delivery(delivery(NOW))
    listing = Listing(ENABLED)
    assert health.evaluate(now=NOW + 60, client=listing)[0].healthy
    assert health.evaluate(now=NOW + 899, client=listing)[0].healthy  # not silent long enough
    with caplog.at_level(logging.WARNING, logger="realtimekit_django.sync"):
        found, _ = health.evaluate(now=NOW + 900, client=listing)
        health.evaluate(now=NOW + 1000, client=listing)
    assert not found.healthy and found.code == "silence"
    assert [change["healthy"] for change in changes] == [True, False]  # once per change
    assert sum("back to polling" in record.getMessage() for record in caplog.records) == 1
    assert "WEBHOOK_SILENCE_SECONDS" in found.reason
    # Deliveries come back: healthy again, said once more.
    health.note_delivery(delivery(NOW + 1100))
    assert health.evaluate(now=NOW + 1101, client=listing)[0].healthy
    assert [change["healthy"] for change in changes] == [True, False, True]


def test_silence_without_live_sessions_stays_healthy(changes):
    health.note_delivery(delivery(NOW))
    assert health.evaluate(now=NOW + 10_000, client=Listing(ENABLED))[0].healthy


def test_the_silence_is_a_setting(changes):
    from django.conf import settings

    live_session(NOW - 60)
    health.note_delivery(delivery(NOW))
    with override_settings(REALTIMEKIT={**settings.REALTIMEKIT, "WEBHOOK_SILENCE_SECONDS": 30}):
        assert not health.evaluate(now=NOW + 30, client=Listing(ENABLED))[0].healthy


@pytest.mark.parametrize(
    ("hooks", "code"),
    [
        ([{**ENABLED[0], "enabled": False}], "disabled"),
        ([{**ENABLED[0], "id": "someone-else"}], "missing"),
        ([], "missing"),
    ],
)
def test_the_listing_disabled_or_missing_goes_back_to_polling(changes, hooks, code):
    health.note_delivery(delivery(NOW))
    assert health.evaluate(now=NOW + 1, client=Listing(ENABLED))[0].healthy
    # The listing is read at most every LISTING_CHECK_SECONDS.
    late = NOW + 1 + health.LISTING_CHECK_SECONDS
    health.note_delivery(delivery(late))
    listing = Listing(hooks)
    found, sent = health.evaluate(now=late, client=listing)
    assert (found.healthy, found.code, sent, listing.calls) == (False, code, 1, 1)
    assert [change["healthy"] for change in changes] == [True, False]
    found, sent = health.evaluate(now=late + 5, client=listing)  # the cached answer: no request
    assert (found.healthy, sent, listing.calls) == (False, 0, 1)
    assert len(changes) == 2


def test_an_unreadable_listing_proves_nothing(changes):
    from realtimekit_django.exceptions import TransportError

    class Down:
        webhooks = None

        def __init__(self):
            self.webhooks = self

        def get_webhooks(self):
            raise TransportError("down", method="GET", path="/webhooks")

    health.note_delivery(delivery(NOW))
    found, sent = health.evaluate(now=NOW + 1, client=Down())
    assert found.healthy and sent == 1


def test_healthy_webhooks_slow_the_rotation(realtimekit_emulator):
    meeting = services.create_meeting(title="Active")
    at = time.time()
    Meeting.objects.filter(pk=meeting.pk).update(participants_synced_at=datetime.fromtimestamp(at - 300, tz=UTC))
    assert health.rotation_seconds(300) == 150
    assert str(meeting.pk) in schedule.plan_participant_walks("test-app", interval=300).meeting_ids
    health.note_delivery(delivery(at))
    assert health.evaluate(now=at, check_listing=False)[0].healthy
    assert health.rotation_seconds(300) == 450
    plan = schedule.plan_participant_walks("test-app", interval=300)
    assert plan.active == 1 and plan.active_walked == 0  # walked 5 min ago: not due for 10


def test_the_admin_summary_says_so(admin_client, changes):
    from django.urls import reverse

    page = admin_client.get(reverse("admin:realtimekit_meeting_changelist"))
    assert "no delivery seen yet; the scheduler polls" in page.content.decode()
    health.note_delivery(delivery(NOW))
    health.evaluate(now=NOW + 1)
    page = admin_client.get(reverse("admin:realtimekit_meeting_changelist"))
    text = page.content.decode()
    assert "verified deliveries are arriving" in text and 'data-healthy="true"' in text


def test_a_cache_outage_reads_as_polling(monkeypatch):
    def broken():
        raise ConnectionError("cache down")

    monkeypatch.setattr(health, "_cache", broken)
    assert health.current() == health.POLLING_AT_START
    assert health.evaluate(now=NOW)[0].healthy is False
    health.note_delivery(delivery(NOW))  # logged, not raised


def test_healthy_rotation_comes_round_every_second_run(realtimekit_emulator):
    """A walk that began 10 s into a run two runs ago is due: the period is 600 s, not three runs."""
    meeting = services.create_meeting(title="Active")
    at = time.time()
    health.note_delivery(delivery(at))
    assert health.evaluate(now=at, check_listing=False)[0].healthy
    walked = datetime.fromtimestamp(at - 590, tz=UTC)
    Meeting.objects.filter(pk=meeting.pk).update(participants_synced_at=walked, participants_touched_at=None)
    plan = schedule.plan_participant_walks("test-app", interval=300)
    assert plan.active == 1 and plan.active_walked == 1 and plan.meeting_ids == [str(meeting.pk)]
