"""Whether the scheduler may rely on webhooks, or must poll as if there were none.

While verified webhooks keep arriving, most changes people make are announced (a join, a start)
and :mod:`.targeted` fetches what they name at once; the rotation of active meetings can then
slow down (``WEBHOOK_HEALTHY_ROTATION_SECONDS`` instead of half the interval) and leave the
budget to those fetches. When they stop, nothing announces anything any more, so the scheduler
goes back to polling at once. Webhooks are taken as stopped when:

- no delivery was ever processed (a site without webhooks polls, as before);
- no valid delivery was processed for ``WEBHOOK_SILENCE_SECONDS`` while a session is live
  (a session that started within the last day and whose end was not seen: a live session sends
  joins and leaves, so silence there means the deliveries are not reaching us);
- the API's webhook listing (read at most every ``LISTING_CHECK_SECONDS`` by a scheduled run)
  no longer holds an enabled webhook with the id our deliveries carried (``rtk-webhook-id``).

The assessment runs at each scheduled run (:func:`evaluate`); the state it found is kept in the
lock cache, and a change of state is said once: a log line on ``realtimekit_django.sync``, the
signal :data:`~realtimekit_django.signals.webhooks_health_changed`, and the meeting list's budget
summary (:func:`current`). A cache that is down reads as polling: never trusting webhooks by
mistake costs budget, never freshness.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.cache import caches
from django.utils.translation import gettext_lazy as _

from .. import signals
from ..conf import get_settings

logger = logging.getLogger("realtimekit_django.sync")

PREFIX = "realtimekit:webhooks-health:"
#: The webhook listing costs one background request: read it at most this often.
LISTING_CHECK_SECONDS = 900
#: The webhook ids seen on deliveries that are remembered (a site has one or two).
KNOWN_WEBHOOKS = 5
#: How long the health records live in the cache (far longer than any silence that matters).
KEEP_SECONDS = 7 * 86_400
#: A session started longer ago than this and never seen ending is not taken as live.
LIVE_SESSION_SECONDS = 86_400


@dataclass(frozen=True)
class Health:
    """What :func:`evaluate` found: ``healthy`` (rely on webhooks) or polling, and why."""

    healthy: bool
    reason: str
    since: float | None = None
    last_delivery: float | None = None
    #: One of :data:`REASONS` (what the admin shows, translated).
    code: str = "no-delivery"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


POLLING_AT_START = Health(False, "no webhook delivery seen yet")

#: Why the scheduler relies on webhooks or polls, as the admin's budget summary says it.
REASONS = {
    "arriving": _("Webhooks: verified deliveries are arriving; active meetings rotate more slowly."),
    "no-delivery": _("Webhooks: no delivery seen yet; the scheduler polls."),
    "silence": _("Webhooks: no valid delivery for WEBHOOK_SILENCE_SECONDS while sessions are live; the scheduler polls."),
    "missing": _("Webhooks: the site's webhook is missing from the API's webhook listing; the scheduler polls."),
    "disabled": _("Webhooks: the site's webhook is disabled in the API's webhook listing; the scheduler polls."),
}


def _cache():
    return caches[get_settings().sync_lock_cache]


def _key(name: str, app_id: str | None = None) -> str:
    return f"{PREFIX}{name}:{app_id or get_settings().app_id}"


# -- what the deliveries tell -----------------------------------------------------------------


def note_delivery(event: Any) -> None:
    """A verified delivery was processed: remember when it arrived and the webhook it came from.

    Best effort (a cache outage is logged): the worst outcome is one run more of polling.
    """
    try:
        received = event.received_at.timestamp() if event.received_at else time.time()
        cache = _cache()
        last = cache.get(_key("last"))
        if not isinstance(last, int | float) or received > last:
            cache.set(_key("last"), received, timeout=KEEP_SECONDS)
        webhook_id = getattr(event, "webhook_id", "") or ""
        if webhook_id:
            known = cache.get(_key("webhooks")) or []
            if webhook_id not in known:
                cache.set(_key("webhooks"), [webhook_id, *known][:KNOWN_WEBHOOKS], timeout=KEEP_SECONDS)
    except Exception as err:
        logger.warning("could not note the webhook delivery (%s)", type(err).__name__)


def last_delivery() -> float | None:
    """When the newest processed delivery was received (epoch seconds), or None."""
    value = _cache().get(_key("last"))
    return float(value) if isinstance(value, int | float) else None


def _sessions_live(now: float) -> bool:
    from ..models import Session

    since = datetime.fromtimestamp(now - LIVE_SESSION_SECONDS, tz=UTC)
    return Session.objects.filter(
        meeting__app_id=get_settings().app_id, ended_at__isnull=True, started_at__gte=since
    ).exists()


# -- the webhook listing ------------------------------------------------------------------------


def listing_problem(client: Any = None, *, now: float | None = None) -> tuple[str | None, int]:
    """What the API's webhook listing says is wrong with the site's webhook, and its cost.

    ``(None, 0)`` when the last look (within ``LISTING_CHECK_SECONDS``) was fine or no delivery
    told us the webhook's id yet. A listing that cannot be read proves nothing: the last answer
    stands. Returns ``(reason or None, requests sent)``.
    """
    from ..client import get_client
    from ..exceptions import RealtimeKitError

    now = time.time() if now is None else now
    cache = _cache()
    known = cache.get(_key("webhooks")) or []
    if not known:
        return None, 0
    checked = cache.get(_key("listing"))
    if isinstance(checked, dict) and 0 <= now - checked.get("at", 0) < LISTING_CHECK_SECONDS:
        return checked.get("problem"), 0
    try:
        answer = (client or get_client()).webhooks.get_webhooks()
    except RealtimeKitError as err:
        logger.info("the webhook listing could not be read (%s); its last answer stands", type(err).__name__)
        return (checked or {}).get("problem") if isinstance(checked, dict) else None, 1
    listed = answer.get("data") if isinstance(answer, dict) else None
    ours = [hook for hook in listed or [] if isinstance(hook, dict) and hook.get("id") in known]
    if not ours:
        problem = "the site's webhook is missing from the API's webhook listing"
    elif not any(hook.get("enabled", True) is True for hook in ours):
        problem = "the site's webhook is disabled in the API's webhook listing"
    else:
        problem = None
    cache.set(_key("listing"), {"at": now, "problem": problem}, timeout=KEEP_SECONDS)
    return problem, 1


# -- the assessment -----------------------------------------------------------------------------


def assess(*, now: float | None = None, listing: str | None = None) -> Health:
    """The state the facts point to now (no cache write, no signal)."""
    now = time.time() if now is None else now
    last = last_delivery()
    if last is None:
        return Health(False, "no webhook delivery seen yet", last_delivery=None)
    if listing:
        code = "disabled" if "disabled" in listing else "missing"
        return Health(False, listing, last_delivery=last, code=code)
    silence = get_settings().webhook_silence_seconds
    if now - last >= silence and _sessions_live(now):
        return Health(
            False,
            f"no valid webhook delivery for {now - last:.0f}s while sessions are live "
            f"(WEBHOOK_SILENCE_SECONDS: {silence})",
            last_delivery=last,
            code="silence",
        )
    return Health(True, "verified webhooks are arriving", last_delivery=last, code="arriving")


def evaluate(*, client: Any = None, check_listing: bool = True, now: float | None = None) -> tuple[Health, int]:
    """Assess, keep the state, and say so once when it changed; ``(health, requests sent)``.

    Called by each scheduled run before it plans. A cache that is down: polling, unsaid.
    """
    now = time.time() if now is None else now
    try:
        problem, sent = listing_problem(client, now=now) if check_listing else (None, 0)
        found = assess(now=now, listing=problem)
        previous = current()
    except Exception as err:
        logger.warning("webhook health unknown (%s): polling", type(err).__name__)
        return POLLING_AT_START, 0
    if previous.healthy == found.healthy:
        kept = Health(found.healthy, found.reason, previous.since, found.last_delivery, found.code)
        _store(kept)
        return kept, sent
    changed = Health(found.healthy, found.reason, now, found.last_delivery, found.code)
    _store(changed)
    if changed.healthy:
        logger.info("webhooks healthy: the scheduler relies on them (%s)", changed.reason)
    else:
        logger.warning("webhooks stopped: the scheduler goes back to polling (%s)", changed.reason)
    signals.webhooks_health_changed.send(sender=None, healthy=changed.healthy, reason=changed.reason)
    return changed, sent


def _store(health: Health) -> None:
    _cache().set(_key("state"), health.as_dict(), timeout=KEEP_SECONDS)


def current() -> Health:
    """The state the last run found (polling before any run, or when the cache is down)."""
    try:
        stored = _cache().get(_key("state"))
    except Exception:
        return POLLING_AT_START
    if not isinstance(stored, dict):
        return POLLING_AT_START
    try:
        return Health(**stored)
    except TypeError:
        return POLLING_AT_START


def is_healthy() -> bool:
    """Whether the scheduler may rely on webhooks now (what the last run found)."""
    return current().healthy


def rotation_seconds(interval: float) -> float:
    """How old an active meeting's last walk must be before the rotation walks it again.

    While webhooks are healthy: ``WEBHOOK_HEALTHY_ROTATION_SECONDS`` less half an interval, so
    that a meeting comes round every ``WEBHOOK_HEALTHY_ROTATION_SECONDS`` (600 s: every second
    run). Without the half interval a walk that began a second after its run's start was not
    due two runs later, and the period became three runs (15 min, measured in the budget
    scenario at 10,000 meetings: unannounced p99 14 min instead of 10).
    """
    if is_healthy():
        return max(interval / 2, float(get_settings().webhook_healthy_rotation_seconds) - interval / 2)
    return interval / 2


def summary() -> dict[str, Any]:
    """What the admin's budget summary shows: the state, why, since when, the last delivery."""
    health = current()

    def stamp(value: float | None) -> datetime | None:
        return datetime.fromtimestamp(value, tz=UTC) if value is not None else None

    return {
        "healthy": health.healthy,
        "reason": health.reason,
        "text": REASONS.get(health.code, REASONS["no-delivery"]),
        "since": stamp(health.since),
        "last_delivery": stamp(health.last_delivery),
    }


__all__ = [
    "Health",
    "assess",
    "current",
    "evaluate",
    "is_healthy",
    "last_delivery",
    "listing_problem",
    "note_delivery",
    "rotation_seconds",
    "summary",
]
