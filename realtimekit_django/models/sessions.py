"""Live sessions of meetings and who attended them (from webhooks and the API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .meetings import Meeting, Participant


class SessionStatus(models.TextChoices):
    LIVE = "LIVE", _("Live")
    ENDED = "ENDED", _("Ended")


class SessionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(status=SessionStatus.LIVE)

    def people_in(self, meeting_ids) -> dict:
        """``{meeting_id: how many are in now}`` for the given meetings that are live (one
        query, whatever the number of meetings); a meeting not live is absent."""
        counts: dict = {}
        rows = (
            self.live()
            .filter(meeting_id__in=list(meeting_ids))
            .order_by()
            .annotate(n=models.Count("attendees", filter=Q(attendees__left_at__isnull=True)))
            .values_list("meeting_id", "n")
        )
        for meeting_id, n in rows:
            counts[meeting_id] = counts.get(meeting_id, 0) + n
        return counts


@dataclass
class Attendance:
    """One person's attendance of a session or a meeting, rejoins merged.

    ``key`` is who the person is: the mirrored participant's id when the row was linked,
    else the custom participant id, else the peer id (a peer nobody could name).
    ``minutes`` counts the union of the person's intervals, so two overlapping peers of one
    person (two tabs) are not counted twice.
    """

    key: str
    participant_id: Any
    user_id: Any
    custom_participant_id: str
    display_name: str
    first_join: datetime | None
    last_leave: datetime | None
    minutes: float
    joins: int


def merged_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    """The length of the union of ``intervals`` (start, end), in seconds."""
    total = 0.0
    current_start = current_end = None
    for start, end in sorted(intervals):
        if end < start:
            continue
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


class SessionParticipantQuerySet(models.QuerySet):
    def attendance_for(self, target, *, chunk_size: int = 2000) -> list[Attendance]:
        """Who attended ``target`` (a :class:`Session` or a :class:`Meeting`): one
        :class:`Attendance` per person, ordered by first join, with the API's join and leave
        times when the sessions walk read them (the webhook's otherwise), rejoins and
        overlaps merged. Two queries' worth of rows read in chunks, whatever their number."""
        if isinstance(target, Session):
            rows = self.filter(session=target)
        else:
            rows = self.filter(session__meeting=target)
        rows = rows.order_by("pk").values_list(
            "peer_id", "participant_id", "participant__user_id", "custom_participant_id",
            "display_name", "joined_at", "left_at", "api_joined_at", "api_left_at",
            "api_duration_seconds", "session__ended_at",
        )
        people: dict[str, dict] = {}
        for (peer, pid, uid, cid, name, joined, left, a_joined, a_left, a_dur, s_end) in rows.iterator(
            chunk_size=chunk_size
        ):
            start = a_joined or joined
            end = a_left or left or s_end
            if end is None and start is not None and a_dur is not None:
                end = start + timedelta(seconds=a_dur)
            key = str(pid) if pid is not None else (f"custom:{cid}" if cid else f"peer:{peer}")
            person = people.setdefault(key, {
                "participant_id": pid, "user_id": uid, "custom_participant_id": cid,
                "display_name": name, "first": None, "last": None, "intervals": [], "joins": 0,
            })
            person["joins"] += 1
            if not person["display_name"] and name:
                person["display_name"] = name
            if start is not None and (person["first"] is None or start < person["first"]):
                person["first"] = start
            if end is not None and (person["last"] is None or end > person["last"]):
                person["last"] = end
            if start is not None and end is not None:
                person["intervals"].append((start, end))
        result = [
            Attendance(
                key=key, participant_id=p["participant_id"], user_id=p["user_id"],
                custom_participant_id=p["custom_participant_id"], display_name=p["display_name"],
                first_join=p["first"], last_leave=p["last"],
                minutes=round(merged_seconds(p["intervals"]) / 60, 2), joins=p["joins"],
            )
            for key, p in people.items()
        ]
        far = datetime.max.replace(tzinfo=UTC)
        result.sort(key=lambda a: (a.first_join or far, a.key))
        return result


class Session(models.Model):
    """One run of a meeting (RealtimeKit's ``sessionId``), built from webhook payloads alone.

    Every field is a merge that does not depend on the order events arrive in (the earliest
    start seen, the end when one was seen), so duplicates and shuffled deliveries converge.
    ``meeting`` is not a database constraint: an event may name a meeting the sync has not
    mirrored yet, and its session must not be lost for that.
    """

    id = models.CharField(_("session id"), max_length=100, primary_key=True, editable=False)
    meeting = models.ForeignKey(
        Meeting,
        on_delete=models.CASCADE,
        related_name="sessions",
        db_constraint=False,
        editable=False,
    )
    status = models.CharField(
        _("status"), max_length=8, choices=SessionStatus.choices, default=SessionStatus.LIVE, db_index=True
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=64, blank=True, default="")
    # The API's own figures, filled by the sessions walk (sync/sessions.py).
    minutes_consumed = models.FloatField(_("minutes consumed"), null=True, blank=True)
    max_concurrent_participants = models.PositiveIntegerField(
        _("max concurrent participants"), null=True, blank=True
    )
    api_confirmed_end_at = models.DateTimeField(
        _("end confirmed by the API"), null=True, blank=True,
        help_text=_("When the sessions walk saw the API report this session ENDED: its attendance is final."),
    )
    api_synced_at = models.DateTimeField(_("last read from the API"), null=True, blank=True)
    unknown_to_api_since = models.DateTimeField(
        _("unknown to the API since"), null=True, blank=True,
        help_text=_("The API answered 404 for this session: kept, never deleted, for its history."),
    )
    remote_data = models.JSONField(_("last API payload"), default=dict, blank=True, editable=False)

    objects = SessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ("-started_at", "id")
        indexes = [models.Index(fields=["meeting", "status"], name="rtk_session_meeting_status")]

    def __str__(self) -> str:
        return self.id


class SessionParticipant(models.Model):
    """One peer's attendance of a session: from ``joined_at`` to ``left_at``.

    ``participant`` is the mirrored :class:`Participant` whose ``custom_participant_id``
    matched, when there is one. A peer still in an ended session (its leave not delivered) is
    shown as having left when the session ended.
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="attendees", editable=False)
    peer_id = models.CharField(_("peer id"), max_length=100)
    participant = models.ForeignKey(
        Participant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attendances",
        db_constraint=False,
    )
    custom_participant_id = models.CharField(
        _("custom participant id"), max_length=255, blank=True, default=""
    )
    display_name = models.TextField(_("display name"), blank=True, default="")
    joined_at = models.DateTimeField(_("joined"), null=True, blank=True)
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    # The API's figures for this peer (its ``id`` is the peer id), filled by the sessions walk.
    api_joined_at = models.DateTimeField(_("joined (API)"), null=True, blank=True)
    api_left_at = models.DateTimeField(_("left (API)"), null=True, blank=True)
    api_duration_seconds = models.FloatField(_("duration (API, seconds)"), null=True, blank=True)
    user_id = models.CharField(_("API user id"), max_length=100, blank=True, default="")

    objects = SessionParticipantQuerySet.as_manager()

    class Meta:
        verbose_name = _("session participant")
        verbose_name_plural = _("session participants")
        ordering = ("joined_at", "peer_id")
        constraints = [
            models.UniqueConstraint(fields=["session", "peer_id"], name="realtimekit_one_row_per_peer")
        ]

    def __str__(self) -> str:
        return self.display_name or self.custom_participant_id or self.peer_id

    @property
    def first_join(self):
        """The API's join time when it gave one (it wins), else the webhook's."""
        return self.api_joined_at or self.joined_at

    @property
    def last_leave(self):
        return self.api_left_at or self.until

    @property
    def until(self):
        """When the peer left: its own leave, else the session's end, else None (still in)."""
        return self.left_at or self.session.ended_at

    @property
    def duration(self):
        until = self.until
        if until is None or self.joined_at is None:
            return None
        return until - self.joined_at
