"""Which meetings a user may see: those the site's preset policy would let them join.

The policy, ``REALTIMEKIT["PRESET_POLICY"](user, meeting) -> preset | None``, is a Python
callable, so the database cannot evaluate it. To keep listings cheap:

1. A policy may carry a ``filter_meetings(user, queryset) -> queryset`` attribute: the
   listing then uses that single SQL filter and never calls the policy per row.
2. A policy that does not look at the meeting (the default one, or any policy with
   ``meeting_independent = True``) is evaluated once per request, against one meeting.
3. Any other policy is evaluated for every candidate meeting: one query to read them and
   one policy call each. Fine for hundreds of meetings; beyond that, give the policy a
   ``filter_meetings`` (see docs/api.md).
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.permissions import IsAuthenticated

from ..conf import get_settings
from ..models import Meeting
from ..policies import default_preset_policy

#: Policies known not to depend on the meeting they are asked about.
_MEETING_INDEPENDENT = {default_preset_policy}


class CanUseRealtimeKit(IsAuthenticated):
    """Signed-in users only: every join is tied to a site user."""


def meeting_independent(policy):
    """Decorator for a site's preset policy whose answer does not depend on the meeting.

    Listings then evaluate it once per request instead of once per meeting.
    """
    policy.meeting_independent = True
    return policy


def candidate_meetings() -> QuerySet:
    """This app's meetings that the last complete sync still found remotely."""
    return Meeting.objects.filter(app_id=get_settings().app_id, missing_since__isnull=True)


def visible_meetings(user, queryset: QuerySet | None = None) -> QuerySet:
    """``queryset`` (default :func:`candidate_meetings`) narrowed to what ``user`` may join."""
    queryset = candidate_meetings() if queryset is None else queryset
    policy = get_settings().preset_policy
    narrow = getattr(policy, "filter_meetings", None)
    if narrow is not None:
        return narrow(user, queryset)
    if policy in _MEETING_INDEPENDENT or getattr(policy, "meeting_independent", False):
        sample = queryset.first()
        if sample is None or not policy(user, sample):
            return queryset.none()
        return queryset
    allowed = [meeting.pk for meeting in queryset.iterator(chunk_size=2000) if policy(user, meeting)]
    return queryset.filter(pk__in=allowed)


def may_see(user, meeting: Meeting) -> bool:
    """Whether one meeting is visible to ``user`` (the policy's own answer, no shortcut)."""
    return bool(get_settings().preset_policy(user, meeting))


class CanViewAttendance(IsAuthenticated):
    """Who attended a meeting is personal data: staff with the session participant view
    permission (``realtimekit.view_sessionparticipant``) only."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.has_perm(
            "realtimekit.view_sessionparticipant"
        )
