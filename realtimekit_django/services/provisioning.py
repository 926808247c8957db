"""Provisioning: the remote participants an event will need, added before it starts.

Every join costs one request, and the API allows about four a second for everything a site
does: 5,000 people pressing Join within two minutes would lock the site out. Who will attend is
usually known ahead, so each invited person's join is prepared beforehand
(:func:`~realtimekit_django.services.joins.prepare_join`: the join's own path, lock and
refusals, without handing out a token). With ``JOIN_TOKEN_CACHE`` on, the token that prepared
each participant is kept, and the join itself then costs no request at all.

Provisioning is background work: it spends from the budget's background lane (see
:func:`_background`), so it never takes the reserve kept for people joining right now. It stops
cleanly when the budget or the API says "not now" (:data:`STOP_FOR`); the report lists who is
left and when to go on. Running it again is cheap: a prepared person costs no request.

Progress of a meeting's latest run lives in the lock cache (``SYNC_LOCK_CACHE``), so the admin
can show it while the task works in a worker.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.cache import caches

from ..client import budget
from ..conf import get_settings
from ..exceptions import (
    JoinRefused,
    MeetingInactive,
    RateLimited,
    RealtimeKitError,
    ServerError,
    TransportError,
)
from ..models import Meeting
from .joins import Prepared, prepare_join

logger = logging.getLogger("realtimekit_django.services")

#: Failures that stop a run (the rest is for later): the budget is out, or the API is having a
#: bad moment. Any other failure is one person's (a refused name or picture) and is counted.
STOP_FOR = (RateLimited, TransportError, ServerError)
#: How long a wait to ask for when the API stopped the run without saying how long.
DEFAULT_RETRY_AFTER = 60.0
PROGRESS_PREFIX = "realtimekit:provision:"
PROGRESS_SECONDS = 7 * 24 * 3600


def _background():
    """The budget lane provisioning spends from: every request of a run is made inside it, so
    that provisioning never spends the reserve kept for interactive calls and stops
    (``RateLimited``) when the background share is spent."""
    return budget.lane(budget.BACKGROUND)


@dataclass
class ProvisionReport:
    """What one run did. ``left``: the primary keys of the users not yet handled (a stopped run)."""

    meeting_id: str
    total: int = 0
    ready: int = 0
    added: int = 0
    edited: int = 0
    refused: int = 0
    failed: int = 0
    stopped: str | None = None
    retry_after: float | None = None
    left: list = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.ready + self.added + self.edited + self.refused + self.failed

    @property
    def requests(self) -> int:
        """Requests that succeeded (each add or edit is one; failed ones are not counted)."""
        return self.added + self.edited

    @property
    def completed(self) -> bool:
        return self.stopped is None

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found.pop("left")
        return {**found, "done": self.done, "requests": self.requests, "completed": self.completed}


def provision_participants(
    meeting: Meeting,
    users: Iterable,
    *,
    client=None,
    progress: Callable[[ProvisionReport], Any] | None = None,
) -> ProvisionReport:
    """Prepare the join of each of ``users`` (site users) in ``meeting``; idempotent.

    At most one request per person, none for a person already prepared. A person the site's
    policy refuses is counted in ``refused``; one the API refuses in ``failed`` (logged). The
    run stops at the first :data:`STOP_FOR` failure with ``stopped``, ``retry_after`` and
    ``left`` set. ``Meeting.DoesNotExist`` or ``MeetingInactive`` when nobody can join it (no
    request). ``progress(report)`` is called after each person.
    """
    users = list(users)
    report = ProvisionReport(meeting_id=str(meeting.pk), total=len(users))
    for index, user in enumerate(users):
        try:
            with _background():
                how = prepare_join(meeting, user, client=client)
        except STOP_FOR as exc:
            _stop(report, exc, [u.pk for u in users[index:]])
            break
        except MeetingInactive:
            raise  # nobody can join: not one person's failure
        except JoinRefused:
            report.refused += 1
        except RealtimeKitError as exc:
            report.failed += 1
            logger.warning("provisioning meeting %s: user %s not prepared: %s", meeting.pk, user.pk, exc)
        else:
            _count(report, how)
        if progress is not None:
            progress(report)
    logger.info("provisioning meeting %s: %s", meeting.pk, report.as_dict())
    return report


def _count(report: ProvisionReport, how: Prepared) -> None:
    if how is Prepared.ADDED:
        report.added += 1
    elif how is Prepared.EDITED:
        report.edited += 1
    else:
        report.ready += 1


def _stop(report: ProvisionReport, exc: RealtimeKitError, left: list) -> None:
    if isinstance(exc, RateLimited):
        report.stopped = "rate budget"
        report.retry_after = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER
    else:
        report.stopped = f"RealtimeKit failed ({type(exc).__name__})"
        report.retry_after = DEFAULT_RETRY_AFTER
    report.left = left
    logger.info(
        "provisioning meeting %s stopped (%s); %s users left", report.meeting_id, report.stopped, len(left)
    )


def invited_users(*, groups: Iterable = (), usernames: Iterable[str] = ()):
    """The active site users in any of ``groups`` (``Group`` objects or names) or named in
    ``usernames`` (the user model's ``USERNAME_FIELD``), ordered by primary key. Raises
    ``ValidationError`` naming the names that match nothing, so a typo is not a silent skip."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models import Q

    from ..exceptions import ValidationError

    User = get_user_model()
    group_names = [getattr(group, "name", group) for group in groups]
    usernames = [name.strip() for name in usernames if name and name.strip()]
    problems = []
    known_groups = Group.objects.filter(name__in=group_names).values_list("name", flat=True)
    unknown_groups = set(group_names) - set(known_groups)
    if unknown_groups:
        problems.append(("groups", f"no such group: {', '.join(sorted(unknown_groups))}"))
    field_name = User.USERNAME_FIELD
    found = set(User.objects.filter(**{f"{field_name}__in": usernames}).values_list(field_name, flat=True))
    if set(usernames) - found:
        problems.append(("usernames", f"no such user: {', '.join(sorted(set(usernames) - found))}"))
    if problems:
        raise ValidationError(problems)
    wanted = Q(groups__name__in=group_names) | Q(**{f"{field_name}__in": usernames})
    if any(f.name == "is_active" for f in User._meta.get_fields()):  # the documented Meta API
        wanted &= Q(is_active=True)
    return User.objects.filter(wanted).distinct().order_by("pk")


# -- progress of a meeting's latest run -------------------------------------------------------


def _progress_cache():
    return caches[get_settings().sync_lock_cache]


def start_progress(meeting_id, total: int) -> str:
    """Begin a run for ``meeting_id`` (replacing any earlier run's progress); returns its id."""
    run_id = uuid.uuid4().hex
    counts = dict.fromkeys(("done", "ready", "added", "edited", "refused", "failed"), 0)
    record = {
        "run_id": run_id,
        "total": total,
        **counts,
        "finished": False,
        "stopped": None,
        "next_at": None,
        "updated_at": time.time(),
    }
    _progress_cache().set(PROGRESS_PREFIX + str(meeting_id), record, timeout=PROGRESS_SECONDS)
    return run_id


def progress_of(meeting_id) -> dict | None:
    """The latest run's progress for the meeting, or None (none yet, or forgotten)."""
    return _progress_cache().get(PROGRESS_PREFIX + str(meeting_id))


def is_current(meeting_id, run_id: str) -> bool:
    """Whether ``run_id`` is still the meeting's latest run (a newer one supersedes it)."""
    found = progress_of(meeting_id)
    return found is not None and found.get("run_id") == run_id


def record_progress(
    meeting_id, run_id: str, report: ProvisionReport, *, finished: bool, next_at: float | None = None
) -> None:
    """Add a finished chunk's counts to the run's progress (not when a newer run replaced it)."""
    found = progress_of(meeting_id)
    if found is None or found.get("run_id") != run_id:
        return
    for key in ("ready", "added", "edited", "refused", "failed", "done"):
        found[key] += getattr(report, key)
    found.update(finished=finished, stopped=report.stopped, next_at=next_at, updated_at=time.time())
    _progress_cache().set(PROGRESS_PREFIX + str(meeting_id), found, timeout=PROGRESS_SECONDS)


def provision_chunk(
    meeting_id,
    user_ids: list,
    *,
    run_id: str | None,
    batch_size: int,
    interval: float,
    stalls: int,
    max_stalls: int,
    eager: bool = False,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One chunk of a provisioning run: the work of ``realtimekit.provision_participants``.

    Prepares the first ``batch_size`` of ``user_ids`` (:func:`provision_participants`), records
    the run's progress, and returns ``(result, follow_up)``: ``follow_up`` is ``None`` when the
    run is over, else what the next chunk needs (``meeting_id``, ``user_ids``, ``run_id``,
    ``stalls``) and when it is due (``countdown`` seconds: ``interval``, or the wait the budget
    or the API asked for). A run stopped ``max_stalls`` times in a row gives up; so does an
    ``eager`` run at its first stop (run it again: prepared people cost nothing). A run that is
    no longer the meeting's latest stops at once (``superseded``).
    """
    from django.contrib.auth import get_user_model

    meeting_id = str(uuid.UUID(str(meeting_id)))
    user_ids = list(user_ids)
    if run_id is None:
        run_id = start_progress(meeting_id, len(user_ids))
    elif not is_current(meeting_id, run_id):
        return {"meeting_id": meeting_id, "run_id": run_id, "superseded": True}, None
    chunk, rest = user_ids[:batch_size], user_ids[batch_size:]
    try:
        meeting = Meeting.objects.joinable().get(pk=meeting_id)
        users = list(get_user_model().objects.filter(pk__in=chunk).order_by("pk"))
        report = provision_participants(meeting, users)
    except (Meeting.DoesNotExist, MeetingInactive) as exc:
        reason = "the meeting is inactive" if isinstance(exc, MeetingInactive) else "no such joinable meeting"
        report = ProvisionReport(meeting_id=meeting_id, total=len(chunk), stopped=reason)
        record_progress(meeting_id, run_id, report, finished=True)
        return {**report.as_dict(), "run_id": run_id, "left": len(user_ids), "finished": True}, None
    report.failed += len(chunk) - len(users)  # users deleted since the run was queued
    countdown, stalls = (report.retry_after, stalls + 1) if report.stopped else (interval, 0)
    rest = [*report.left, *rest]
    finished = not rest or stalls > max_stalls or bool(report.stopped and eager)
    next_at = None if finished else time.time() + countdown
    record_progress(meeting_id, run_id, report, finished=finished, next_at=next_at)
    result = {**report.as_dict(), "run_id": run_id, "left": len(rest), "finished": finished}
    if finished:
        return result, None
    follow_up = {
        "meeting_id": meeting_id,
        "user_ids": rest,
        "run_id": run_id,
        "stalls": stalls,
        "countdown": countdown,
    }
    return result, follow_up
