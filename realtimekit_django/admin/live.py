"""The meeting admin's live controls: who is in the live session, removing them, ending the
meeting for everyone, starting and stopping its recording.

:class:`LiveControls` holds the views and actions (mixed into
:class:`~realtimekit_django.admin.meetings.MeetingAdmin`), each behind its own permission
(``remove_live_participant``, ``end_live_meeting``, ``control_recording``); the form and the
queries they use (what "live now" means, from webhook-fed sessions) are beside them. Every
change goes through ``services``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers as admin_helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..exceptions import NotFound, RealtimeKitError, ValidationError
from ..models import (
    Meeting,
    Participant,
    Recording,
    RecordingStatus,
    Session,
    SessionParticipant,
    SessionStatus,
)
from .helpers import report, row_error, run_rows

#: A recording in one of these is still going: "stop recording" stops it.
RUNNING_RECORDING = (RecordingStatus.INVOKED, RecordingStatus.RECORDING, RecordingStatus.PAUSED)


#: At most this many participants are offered for removal from a live meeting.
KICK_CHOICES_LIMIT = 200


class KickForm(forms.Form):
    """Whom to remove from a meeting's live session: those seen in it first (from webhooks)."""

    participants = forms.ModelMultipleChoiceField(
        queryset=Participant.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label=_("Remove"),
    )

    def __init__(self, *args, meeting: Meeting, **kwargs):
        super().__init__(*args, **kwargs)
        self.meeting = meeting
        in_now = live_participant_ids(meeting)
        candidates = Participant.objects.filter(meeting=meeting)
        if in_now:
            candidates = candidates.filter(pk__in=in_now)
        self.fields["participants"].queryset = candidates.order_by("name", "custom_participant_id", "pk")
        self.seen_live = bool(in_now)
        if len(in_now) == 1:
            self.initial["participants"] = list(in_now)


def live_participant_ids(meeting: Meeting) -> set:
    """The participants this site has seen join the meeting's live session and not leave."""
    return set(
        SessionParticipant.objects.filter(
            session__meeting=meeting,
            session__status=SessionStatus.LIVE,
            left_at__isnull=True,
            participant__isnull=False,
        ).values_list("participant_id", flat=True)[:KICK_CHOICES_LIMIT]
    )


def _live_session_exists() -> Exists:
    return Exists(Session.objects.live().filter(meeting=OuterRef("pk")))


def _people_in_subquery() -> Subquery:
    """How many are in the meeting's live session(s) now: one correlated COUNT per listed row."""
    counts = (
        SessionParticipant.objects.filter(
            session__meeting=OuterRef("pk"), session__status=SessionStatus.LIVE, left_at__isnull=True
        )
        .order_by()
        .values("session__meeting")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


class LiveNowFilter(admin.SimpleListFilter):
    title = _("live now")
    parameter_name = "live"

    def lookups(self, request, model_admin):
        return (("yes", _("Live")), ("no", _("Not live")))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(live_now=self.value() == "yes")
        return queryset


def _no_live_session(err: RealtimeKitError) -> RealtimeKitError:
    """The API's 404 on a meeting nobody is in, said plainly; any other refusal as it came."""
    if isinstance(err, NotFound):
        return ValidationError([("meeting", gettext("the meeting has no live session (nobody is in it)"))])
    return err


def _end_for_everyone(meeting: Meeting) -> int:
    try:
        return services.end_meeting_for_everyone(meeting)
    except RealtimeKitError as err:
        raise _no_live_session(err) from err


class LiveControls:
    """The live-control views and actions of the meeting admin (a ``ModelAdmin`` mixin)."""

    def remove_live_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Choose people in the meeting's live session and, once confirmed, remove them."""
        meeting = self.get_object(request, unquote(object_id))
        if meeting is None:
            raise Http404(_("No such meeting."))
        if not self.has_remove_live_participant_permission(request):
            raise PermissionDenied
        form = KickForm(request.POST if request.method == "POST" else None, meeting=meeting)
        if request.method == "POST" and form.is_valid():
            chosen = list(form.cleaned_data["participants"])
            try:
                removed = services.kick_participants(meeting, chosen)
            except RealtimeKitError as err:
                form.add_error(
                    None, _("RealtimeKit refused: %(error)s") % {"error": row_error(_no_live_session(err))}
                )
            else:
                names = ", ".join(str(p) for p in chosen if str(p.pk) in removed)
                self.log_change(request, meeting, f"Removed {len(removed)} people from the live meeting")
                messages.success(
                    request,
                    _("Removed from the live meeting: %(names)s. They can join again with their token.")
                    % {"names": names or len(removed)},
                )
                return HttpResponseRedirect(reverse("admin:realtimekit_meeting_change", args=[meeting.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Remove people from the live meeting %(meeting)s?") % {"meeting": meeting},
            "opts": self.opts,
            "original": meeting,
            "meeting": meeting,
            "form": form,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "realtimekit/admin/remove_live_confirmation.html", context)

    def has_remove_live_participant_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.remove_live_participant")

    def has_end_live_meeting_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.end_live_meeting")

    def has_control_recording_permission(self, request) -> bool:
        return request.user.has_perm(f"{Recording._meta.app_label}.control_recording")

    @admin.action(
        description=_("Remove people from the live meeting…"), permissions=["remove_live_participant"]
    )
    def remove_live_participants_action(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.warning(request, _("Select exactly one meeting to remove people from."))
            return None
        return HttpResponseRedirect(reverse("admin:realtimekit_meeting_remove_live", args=[ids[0]]))

    @admin.action(description=_("End the meeting for everyone…"), permissions=["end_live_meeting"])
    def end_for_everyone(self, request, queryset):
        meetings = list(queryset)
        if request.POST.get("post") == "yes":
            done, failed = run_rows(meetings, _end_for_everyone)
            for meeting, count in done:
                self.log_change(request, meeting, f"Ended the live meeting for everyone ({count} removed)")
            report(request, _("End for everyone"), done, failed)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("End these meetings for everyone?"),
            "opts": self.opts,
            "meetings": meetings,
            "action_name": "end_for_everyone",
            "action_checkbox_name": admin_helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "realtimekit/admin/end_meeting_confirmation.html", context)

    @admin.action(description=_("Start recording the live meeting"), permissions=["control_recording"])
    def start_recording(self, request, queryset):
        done, failed = run_rows(queryset, services.start_recording)
        for meeting, _recording in done:
            self.log_change(request, meeting, "Started recording")
        report(request, _("Start recording"), done, failed)

    @admin.action(description=_("Stop recording"), permissions=["control_recording"])
    def stop_recording(self, request, queryset):
        running = {
            recording.meeting_id: recording
            for recording in Recording.objects.filter(
                meeting__in=queryset.values("pk"), status__in=RUNNING_RECORDING
            ).order_by("invoked_at")
        }

        def stop(meeting: Meeting):
            recording = running.get(meeting.pk)
            if recording is None:
                raise ValidationError([("recording", gettext("no recording of this meeting is running"))])
            return services.control_recording(recording, "stop")

        done, failed = run_rows(queryset, stop)
        for meeting, _recording in done:
            self.log_change(request, meeting, "Stopped recording")
        report(request, _("Stop recording"), done, failed)
