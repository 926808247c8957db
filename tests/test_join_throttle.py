"""The join throttle counts atomically: concurrent joins cannot all read the same history."""

from __future__ import annotations

import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import RequestFactory

from realtimekit_django.api.throttling import JoinRateThrottle

CONCURRENT_JOINS = 50


class RoundTripCache(LocMemCache):
    """LocMemCache that yields the GIL after every operation, as a network cache's round trip does.

    Without the pause, a thread often runs a whole throttle check before the next one starts,
    which hides a read-then-write race instead of showing it.
    """

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if name not in {"get", "set", "add", "incr"}:
            return attribute

        def after_a_round_trip(*args, **kwargs):
            result = attribute(*args, **kwargs)
            time.sleep(0.001)
            return result

        return after_a_round_trip


def a_join(user_pk: int | None = 1, address: str = "127.0.0.1"):
    """A join request by user ``user_pk`` (anonymous when None) from ``address``."""
    request = RequestFactory().post("/join", REMOTE_ADDR=address)
    request.user = SimpleNamespace(pk=user_pk, is_authenticated=user_pk is not None)
    return request


def allowed_among_concurrent_joins(cache, count: int = CONCURRENT_JOINS) -> int:
    """How many of ``count`` joins by one user, released together, the throttle lets through."""
    start = threading.Barrier(count)
    results: list[bool] = []

    def join():
        throttle = JoinRateThrottle()  # DRF makes one per request
        throttle.cache = cache
        start.wait()
        results.append(throttle.allow_request(a_join(), view=None))

    threads = [threading.Thread(target=join) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == count
    return sum(results)


def test_concurrent_joins_in_one_process_get_exactly_the_rate():
    cache = RoundTripCache(f"join-throttle-{uuid.uuid4()}", {})
    assert allowed_among_concurrent_joins(cache) == 20


@pytest.mark.redis
def test_concurrent_joins_on_redis_get_exactly_the_rate(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "redis": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/8",
            "KEY_PREFIX": f"join-throttle-{uuid.uuid4()}",  # other runs may share database 8
        },
    }
    assert allowed_among_concurrent_joins(caches["redis"]) == 20


@pytest.fixture
def throttle_at(monkeypatch):
    """A throttle on its own cache whose clock reads ``now[0]``."""
    now = [0.0]
    monkeypatch.setattr(JoinRateThrottle, "timer", lambda self: now[0])

    def make():
        throttle = JoinRateThrottle()
        throttle.cache = LocMemCache(f"join-throttle-{uuid.uuid4()}", {})
        return throttle

    return now, make


def test_the_count_starts_again_in_the_next_window_and_wait_says_when(throttle_at):
    now, make = throttle_at
    throttle = make()
    now[0] = 6000 + 5  # five seconds into a minute
    assert [throttle.allow_request(a_join(), None) for _ in range(21)] == [True] * 20 + [False]
    assert throttle.wait() == 55
    now[0] = 6000 + 59.5
    assert throttle.allow_request(a_join(), None) is False
    assert throttle.wait() == 0.5
    now[0] = 6000 + 60
    assert throttle.allow_request(a_join(), None) is True


def test_users_and_anonymous_addresses_are_counted_apart(throttle_at):
    now, make = throttle_at
    throttle = make()
    for _ in range(20):
        assert throttle.allow_request(a_join(user_pk=1), None)
    assert not throttle.allow_request(a_join(user_pk=1), None)
    assert throttle.allow_request(a_join(user_pk=2), None)
    assert throttle.allow_request(a_join(user_pk=None, address="10.0.0.1"), None)
    for _ in range(19):
        throttle.allow_request(a_join(user_pk=None, address="10.0.0.2"), None)
    assert throttle.allow_request(a_join(user_pk=None, address="10.0.0.2"), None)
    assert not throttle.allow_request(a_join(user_pk=None, address="10.0.0.2"), None)


def test_a_rate_of_none_means_no_limit(settings, throttle_at):
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"realtimekit_join": None}}
    now, make = throttle_at
    throttle = make()
    assert all(throttle.allow_request(a_join(), None) for _ in range(100))


def test_a_counter_that_expired_between_add_and_incr_starts_again(throttle_at):
    now, make = throttle_at
    throttle = make()

    class ExpiringCache(LocMemCache):
        def add(self, key, value, timeout=None, version=None):
            added = super().add(key, value, timeout, version)
            if value == 0:
                self.delete(key)  # expired right after the add
            return added

    throttle.cache = ExpiringCache(f"join-throttle-{uuid.uuid4()}", {})
    assert throttle.allow_request(a_join(), None)
    assert throttle.cache.get(f"throttle_realtimekit_join_1_{int(now[0] // 60)}") == 1
