"""The overlap lock: two runs of one walk never go on side by side.

Two runs of one walk would each pay for the whole walk and could race each other's deletions.
The lock is a cache ``add`` (atomic on Redis, Memcached and the database cache) of a random
owner token that expires after ``SYNC_LOCK_SECONDS`` and is renewed after every request the walk
makes, so a live walk keeps it and a worker killed mid-walk blocks the next run for at most
``SYNC_LOCK_SECONDS``. A lock that vanished (a cache restarted or flushed, an eviction) is taken
again with ``add``; a lock another run holds stops the walk as incomplete. Use a cache shared by
every worker (``SYNC_LOCK_CACHE``).

The Celery tasks (:mod:`realtimekit_django.tasks`) and ``manage.py realtimekit_sync`` take the
same locks through :func:`locked_walk`; nothing here needs a Celery worker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import caches

from ..client import budget
from ..conf import get_settings

# ``reconcile`` is imported inside the functions: :mod:`realtimekit_django.tasks` imports this
# module and must stay importable from a settings file, before Django's app registry is ready.

logger = logging.getLogger("realtimekit_django.tasks")

LOCK_PREFIX = "realtimekit:reconcile-lock:"


def meetings_lock_name(app_id: str | None = None) -> str:
    """The lock of an app's meetings walk (taken by the tasks and by ``realtimekit_sync``)."""
    return f"meetings:{app_id or get_settings().app_id}"


def participants_lock_name(meeting_id: str) -> str:
    """The lock of one meeting's participants walk."""
    return f"participants:{meeting_id}"


def _lock_cache():
    return caches[get_settings().sync_lock_cache]


class OverlapLock:
    """A cache lock with an owner token, renewed by its owner after every request of the walk.

    Truthy when this run holds it. Renewal and release compare the token first: a run must not
    extend or delete another run's lock. The compare and the act are two cache calls; a lock
    taken over in that gap is found at the next renewal, one request later.
    """

    def __init__(self, name: str) -> None:
        config = get_settings()
        self.cache = caches[config.sync_lock_cache]
        self.key = LOCK_PREFIX + name
        self.ttl = config.sync_lock_seconds
        self.token = uuid.uuid4().hex
        self.acquired = bool(self.cache.add(self.key, self.token, timeout=self.ttl))

    def __bool__(self) -> bool:
        return self.acquired

    def renew(self, *_progress: Any) -> None:
        """Push the expiry ``SYNC_LOCK_SECONDS`` ahead again (the walk's progress callback).

        A lock that vanished is taken again atomically (``add``), so the walk goes on only if
        no other run took it meanwhile; otherwise the walk stops as incomplete
        (:class:`~realtimekit_django.sync.reconcile.StopWalk`): two walks never go on side by side.
        """
        from .reconcile import StopWalk

        if not self.acquired:
            return
        holder = self.cache.get(self.key)
        if holder == self.token and self.cache.touch(self.key, timeout=self.ttl):
            return
        if holder in (None, self.token) and self.cache.add(self.key, self.token, timeout=self.ttl):
            logger.warning("reconcile lock %s vanished during the walk; taken again", self.key)
            return
        self.acquired = False
        logger.warning("reconcile lock %s lost: another run holds it; stopping this walk", self.key)
        raise StopWalk(f"stopped: reconcile lock lost ({self.key} is held by another run)")

    def release(self) -> None:
        if self.acquired and self.cache.get(self.key) == self.token:
            self.cache.delete(self.key)


@contextmanager
def overlap_lock(name: str) -> Iterator[OverlapLock]:
    """Yields the lock ``name``: truthy when this run holds it, falsy when another run does."""
    lock = OverlapLock(name)
    try:
        yield lock
    finally:
        lock.release()


def break_lock(name: str) -> bool:
    """Delete a lock whoever holds it (for an operator sure that no run is alive)."""
    return bool(_lock_cache().delete(LOCK_PREFIX + name))


def _skipped(kind: str, reason: str, meeting_id: str | None = None):
    from . import reconcile

    report = reconcile.ReconcileReport(kind=kind, meeting_id=meeting_id, skipped=True, error=reason)
    logger.info("reconcile %s", report.summary())
    return report


def locked_walk(
    lock_name: str,
    walk: Callable[[Callable[..., Any]], Any],
    *,
    kind: str,
    meeting_id: str | None = None,
    progress: Callable[..., Any] | None = None,
):
    """Run ``walk(progress)`` holding the lock ``lock_name``; returns its ``ReconcileReport``.

    The lock is renewed after every request, before ``progress`` (if given) is called. When
    another run holds the lock, nothing is walked and the report says ``skipped``.
    """
    from . import reconcile

    with overlap_lock(lock_name) as lock:
        if not lock:
            return _skipped(kind, "another run of this walk holds the lock", meeting_id)

        def renew_then_report(report, total_count):
            lock.renew()
            if progress is not None:
                progress(report, total_count)

        try:
            with budget.lane(budget.BACKGROUND):
                return walk(renew_then_report)
        except SoftTimeLimitExceeded:  # struck outside the walk itself (its own bookkeeping)
            return reconcile.ReconcileReport(
                kind=kind, meeting_id=meeting_id, error="stopped: soft time limit exceeded"
            )
