"""The meeting admin: constant-cost lists, structured settings, actions row by row.

Every change goes through ``services`` (see :mod:`realtimekit_django.admin`). Meetings cannot
be deleted (the API has no way to), participants are added from here (adding issues a token,
shown once), and the list costs a constant number of queries whatever the row count
(annotated participant counts, one COUNT); searching by a meeting's id is an exact
primary-key match.
"""

from __future__ import annotations

import logging
import math

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers as admin_helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import checks, services, tasks, token_cache
from ..client.budget import get_budget
from ..exceptions import NotFound, RealtimeKitError, ValidationError
from ..models import (
    Meeting,
    MeetingStatus,
    Participant,
    Recording,
    RecordingStatus,
    Session,
    SessionParticipant,
    SessionStatus,
)
from ..services import provisioning
from ..sync import reconcile, schedule
from .filters import MEETING_PARAMETER
from .forms import (
    AI_FIELDS,
    RECORDING_FIELDS,
    SECRET_FIELD_NAMES,
    STORAGE_FIELDS,
    AddParticipantForm,
    MeetingForm,
)
from .helpers import (
    LIST_MEDIA,
    WritesThroughServices,
    as_uuid,
    compact_datetime,
    render_tokens,
    report,
    row_error,
    run_rows,
    sensitive_admin_view,
)
from .webhooks import attendance_csv

logger = logging.getLogger("realtimekit_django.admin")

#: Participants shown on a meeting's page; the rest are one click away in the participant list.
INLINE_PARTICIPANT_LIMIT = 20


# -- meetings ---------------------------------------------------------------------------------


class PrepareForm(forms.Form):
    """Whom to prepare a meeting for: a group's users and/or users named one per line."""

    group = forms.ModelChoiceField(queryset=None, required=False, label=_("Group"))
    usernames = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label=_("Users"),
        help_text=_("One username per line."),
    )

    def __init__(self, *args, **kwargs):
        from django.contrib.auth.models import Group

        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = Group.objects.order_by("name")

    def clean(self):
        cleaned = super().clean()
        group, names = cleaned.get("group"), (cleaned.get("usernames") or "").splitlines()
        if group is None and not any(name.strip() for name in names):
            raise forms.ValidationError(_("Choose a group or name at least one user."))
        try:
            cleaned["users"] = list(
                provisioning.invited_users(groups=[group] if group else [], usernames=names)
            )
        except ValidationError as exc:
            raise forms.ValidationError([problem for _path, problem in exc.errors])
        return cleaned


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


class ParticipantInlineFormSet(BaseInlineFormSet):
    """Only the first participants: a meeting may have thousands, and its page must stay cheap."""

    def get_queryset(self):
        if not hasattr(self, "_limited_queryset"):
            self._limited_queryset = super().get_queryset()[:INLINE_PARTICIPANT_LIMIT]
        return self._limited_queryset


def _inline_title() -> str:
    return gettext("participants (the newest %(limit)s; all of them are in the participant list)") % {
        "limit": INLINE_PARTICIPANT_LIMIT
    }


class ParticipantInline(admin.TabularInline):
    """Read-only: participants are added by the action and changed on their own page."""

    model = Participant
    formset = ParticipantInlineFormSet
    fields = ("name", "custom_participant_id", "preset_name", "user", "remote_created_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ("-remote_created_at", "id")
    verbose_name_plural = lazy(_inline_title, str)()  # translated when shown, not at import

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _participant_count_subquery() -> Subquery:
    # A correlated COUNT per listed row (index on meeting_id): no GROUP BY over the JSON
    # columns, and it is only computed for the page being shown.
    counts = (
        Participant.objects.filter(meeting=OuterRef("pk"))
        .order_by()
        .values("meeting")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


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


def rate_budget_summary() -> dict:
    """What the meeting list shows above its rows: the budget's window, cooldown, oldest verification.

    Two cache reads (none when the budget is off) and one aggregate query, whatever the row
    count. A budget cache that is down shows "unknown" instead of breaking the page.
    """
    budget = get_budget()
    state = budget.state() if budget is not None else None
    if state is not None and state["cooldown"] is not None:
        state["cooldown"] = math.ceil(state["cooldown"])
    return {"budget": state, "verification": schedule.verification_summary()}


#: Sessions shown on a meeting's page, newest first (with their attendance).
SESSION_HISTORY_LIMIT = 10


@admin.register(Meeting)
class MeetingAdmin(WritesThroughServices, admin.ModelAdmin):
    """Meetings: created and changed remotely by ``MeetingForm.save()``, never deleted."""

    form = MeetingForm
    list_display = (
        "__str__",
        "status",
        "participant_count",
        "live",
        "created",
        "written_from_remote",
        "missing",
    )
    list_filter = ("status", LiveNowFilter, "app_id", ("remote_created_at", admin.DateFieldListFilter))
    search_fields = ("title",)
    search_help_text = _("A title, or a meeting's id (exact).")
    show_full_result_count = False  # one COUNT per list page, not two
    list_per_page = 100
    inlines = (ParticipantInline,)
    actions = (
        "sync_selected",
        "sync_everything",
        "activate",
        "deactivate",
        "add_participant_action",
        "prepare_action",
        "export_attendance",
        "start_recording",
        "stop_recording",
        "remove_live_participants_action",
        "end_for_everyone",
    )
    change_list_template = "admin/realtimekit/meeting/change_list.html"
    change_form_template = "admin/realtimekit/meeting/change_form.html"
    readonly_on_change = (
        "id",
        "app_id",
        "participant_count",
        "remote_created_at",
        "remote_updated_at",
        "written_from_remote",
        "missing_since",
        "session_history",
    )

    # -- list --------------------------------------------------------------------------------

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                participant_total=_participant_count_subquery(),
                live_now=_live_session_exists(),
                people_in=_people_in_subquery(),
            )
        )

    @admin.display(description=_("live now"), ordering="people_in")
    def live(self, obj: Meeting) -> str:
        if not getattr(obj, "live_now", False):
            return "—"
        return _("live, %(n)s in") % {"n": getattr(obj, "people_in", 0)}

    @admin.display(description=_("sessions (newest first) and who attended"))
    def session_history(self, obj: Meeting) -> str:
        sessions = list(obj.sessions.order_by("-started_at", "id")[:SESSION_HISTORY_LIMIT])
        if not sessions:
            return _("No session seen yet (sessions come from webhooks).")
        attendees = SessionParticipant.objects.filter(session__in=sessions).select_related("session")
        by_session: dict[str, list] = {}
        for row in attendees.order_by("joined_at", "peer_id"):
            by_session.setdefault(row.session_id, []).append(row)
        return format_html_join(
            "",
            "<p><strong>{}</strong> {} – {} {}</p><ul>{}</ul>",
            (
                (
                    session.status,
                    session.started_at or "?",
                    session.ended_at or "…",
                    session.end_reason,
                    format_html_join(
                        "",
                        "<li>{} ({}): {} – {}, {}</li>",
                        (
                            (
                                str(row),
                                row.custom_participant_id,
                                row.joined_at or "?",
                                row.until or "…",
                                row.duration or "",
                            )
                            for row in by_session.get(session.pk, [])
                        ),
                    )
                    or format_html("<li>{}</li>", _("nobody")),
                )
                for session in sessions
            ),
        )

    @property
    def media(self):
        return super().media + LIST_MEDIA

    @admin.display(description=_("participants"), ordering="participant_total")
    def participant_count(self, obj: Meeting) -> str:
        """The count, linking to the participant list filtered by this meeting (all of them)."""
        total = getattr(obj, "participant_total", None)
        total = total if total is not None else obj.participants.count()
        url = reverse("admin:realtimekit_participant_changelist")
        return format_html('<a href="{}?{}={}">{}</a>', url, MEETING_PARAMETER, obj.pk, total)

    @admin.display(description=_("created"), ordering="remote_created_at")
    def created(self, obj: Meeting) -> str | None:
        return compact_datetime(obj.remote_created_at)

    @admin.display(description=_("last written from remote"), ordering="synced_at")
    def written_from_remote(self, obj: Meeting) -> str | None:
        return compact_datetime(obj.synced_at)

    @admin.display(description=_("missing since"), ordering="missing_since")
    def missing(self, obj: Meeting) -> str | None:
        return compact_datetime(obj.missing_since)

    def get_search_results(self, request, queryset, search_term):
        # A UUID is looked up by primary key only: exact, indexed, and no LIKE over titles.
        meeting_id = as_uuid(search_term) if search_term else None
        if meeting_id is not None:
            return queryset.filter(pk=meeting_id), False
        return super().get_search_results(request, queryset, search_term)

    # -- the form ----------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        main = [
            "title",
            *(("status", "seen_version") if obj is not None else ()),
            "record_on_start",
            "live_stream_on_start",
            "persist_chat",
            "summarize_on_end",
            "transcribe_on_end",
            "session_keep_alive_time_in_secs",
        ]
        fieldsets = [
            (None, {"fields": main}),
            (_("AI"), {"fields": [spec.name for spec in AI_FIELDS]}),
            (_("Recording"), {"fields": [spec.name for spec in RECORDING_FIELDS]}),
            (
                _("Recording storage"),
                {
                    "fields": [spec.name for spec in STORAGE_FIELDS],
                    "classes": ["collapse"],
                    "description": _(
                        "Secrets are write-only: they are sent to RealtimeKit, never stored or shown."
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append((_("RealtimeKit"), {"fields": list(self.readonly_on_change)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_on_change if obj is not None else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the API has no way to delete a meeting

    @sensitive_admin_view(*SECRET_FIELD_NAMES)
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_remove_live": self.has_remove_live_participant_permission(request),
        }
        return super().changeform_view(request, object_id, form_url, extra_context)

    @sensitive_admin_view()
    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_sync_all": self.has_change_permission(request),
            "rate_budget": rate_budget_summary(),
        }
        return super().changelist_view(request, extra_context)

    # -- extra views -------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        extra = [
            path(
                "sync-all/",
                self.admin_site.admin_view(self.sync_all_view),
                name="{}_{}_sync_all".format(*info),
            ),
            path(
                "<path:object_id>/prepare/",
                self.admin_site.admin_view(self.prepare_view),
                name="{}_{}_prepare".format(*info),
            ),
            path(
                "<path:object_id>/remove-live/",
                self.admin_site.admin_view(self.remove_live_view),
                name="{}_{}_remove_live".format(*info),
            ),
            path(
                "<path:object_id>/add-participant/",
                self.admin_site.admin_view(self.add_participant_view),
                name="{}_{}_add_participant".format(*info),
            ),
        ]
        return extra + super().get_urls()

    def sync_all_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:realtimekit_meeting_changelist"))
        if not self.has_change_permission(request):
            raise PermissionDenied
        self._queue_sync(request)
        return HttpResponseRedirect(reverse("admin:realtimekit_meeting_changelist"))

    def _queue_sync(self, request: HttpRequest) -> None:
        """Queue ``realtimekit.reconcile_all``, or say why it cannot run and what to run instead."""
        instead = _("Run `manage.py realtimekit_sync --participants` on the server instead.")
        problem = checks.celery_delivery_problem()
        if problem is not None:  # sending would go to AMQP on localhost, and nothing would run
            not_queued = _("The full sync was not queued.")
            messages.error(request, f"{not_queued} {problem} {instead}")
            return
        app = checks.celery_app()
        broker = checks.broker_address(app.conf.broker_url) if app.conf.broker_url else None
        try:
            tasks.reconcile_all.delay()  # a full walk never runs inside a request
        except Exception as err:  # the broker being down must not become a 500
            logger.warning("could not queue realtimekit.reconcile_all: %s", type(err).__name__)
            messages.error(
                request,
                _(
                    "Could not queue the full sync: the Celery broker at %(broker)s (CELERY_BROKER_URL) "
                    "did not take the task (%(error)s). Is it running? %(instead)s"
                )
                % {"broker": broker, "error": type(err).__name__, "instead": instead},
            )
        else:
            if app.conf.task_always_eager:
                text = _("The full sync from RealtimeKit ran (Celery is eager: CELERY_TASK_ALWAYS_EAGER).")
            else:
                text = _(
                    "A full sync from RealtimeKit was queued on %(broker)s (task realtimekit.reconcile_all); "
                    "a Celery worker runs it and the lists update as it does. Nothing changes? Check "
                    "that a worker is running for that broker."
                ) % {"broker": broker}
            messages.success(request, text)

    @sensitive_admin_view()
    def add_participant_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        meeting = self.get_object(request, unquote(object_id))
        if meeting is None:
            raise Http404(_("No such meeting."))
        if not self.has_change_permission(request, meeting):
            raise PermissionDenied
        form = AddParticipantForm(
            request.POST if request.method == "POST" else None, meeting=meeting, admin_site=self.admin_site
        )
        if request.method == "POST" and form.is_valid():
            try:
                participant, token = services.add_participant(meeting, **form.service_kwargs())
            except RealtimeKitError as err:
                form.add_error(None, _("RealtimeKit refused: %(error)s") % {"error": row_error(err)})
            else:
                self.log_change(request, meeting, f"Added participant {participant.custom_participant_id}")
                return render_tokens(
                    self, request, _("Participant added"), [(participant, token)], [], back=meeting
                )
        fieldsets = [(None, {"fields": list(form.fields)})]
        adminform = admin_helpers.AdminForm(form, fieldsets, {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add a participant to %(meeting)s") % {"meeting": meeting},
            "opts": self.opts,
            "original": meeting,
            "meeting": meeting,
            "adminform": adminform,
            "form": form,
            "errors": admin_helpers.AdminErrorList(form, []),
            "media": self.media + form.media,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "realtimekit/admin/add_participant.html", context)

    def prepare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Prepare the meeting for N invited users (queued), and the latest run's progress."""
        meeting = self.get_object(request, unquote(object_id))
        if meeting is None:
            raise Http404(_("No such meeting."))
        if not self.has_change_permission(request, meeting):
            raise PermissionDenied
        form = PrepareForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            if self._queue_preparation(request, meeting, form.cleaned_data["users"]):
                return HttpResponseRedirect(reverse("admin:realtimekit_meeting_prepare", args=[meeting.pk]))
        progress = provisioning.progress_of(meeting.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Prepare %(meeting)s for invited users") % {"meeting": meeting},
            "opts": self.opts,
            "original": meeting,
            "meeting": meeting,
            "form": form,
            "progress": progress,
            "running": progress is not None and not progress["finished"],
            "token_cache_on": token_cache.enabled(),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "realtimekit/admin/prepare_meeting.html", context)

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

    def _queue_preparation(self, request: HttpRequest, meeting: Meeting, users: list) -> bool:
        ids = [user.pk for user in users]
        try:
            tasks.provision_participants.delay(str(meeting.pk), ids)
        except Exception as err:  # the broker being down must not become a 500
            logger.warning("could not queue realtimekit.provision_participants: %s", type(err).__name__)
            messages.error(
                request, _("Could not queue the preparation: %(error)s") % {"error": type(err).__name__}
            )
            return False
        self.log_change(request, meeting, f"Queued preparation for {len(ids)} invited users")
        messages.success(
            request,
            _(
                "Preparing %(count)s invited users (task realtimekit.provision_participants, "
                "%(batch)s every %(interval)s seconds)."
            )
            % {"count": len(ids), "batch": tasks.PROVISION_BATCH, "interval": tasks.PROVISION_INTERVAL},
        )
        return True

    # -- actions -----------------------------------------------------------------------------

    @admin.action(description=_("Sync selected from RealtimeKit"), permissions=["change"])
    def sync_selected(self, request, queryset):
        def sync(meeting: Meeting):
            fresh = services.refresh_meeting(meeting)
            walk = reconcile.reconcile_participants(fresh)
            if not walk.completed:
                why = walk.error or gettext("stopped early")
                raise RealtimeKitError(gettext("participants not fully synced: %(why)s") % {"why": why})
            return fresh

        done, failed = run_rows(queryset, sync)
        report(request, _("Sync from RealtimeKit"), done, failed)

    @admin.action(description=_("Sync everything from RealtimeKit (queued)"), permissions=["change"])
    def sync_everything(self, request, queryset):
        self._queue_sync(request)

    def _set_status(self, request, queryset, status: str, verb: str) -> None:
        done, failed = run_rows(
            queryset.exclude(status=status), lambda meeting: services.set_meeting_status(meeting, status)
        )
        for meeting, _result in done:
            self.log_change(request, meeting, f"Set status to {status}")
        report(request, verb, done, failed)
        if not done and not failed:
            messages.info(
                request, _("Every selected meeting was already %(status)s.") % {"status": status.lower()}
            )

    @admin.action(description=_("Activate selected meetings"), permissions=["change"])
    def activate(self, request, queryset):
        self._set_status(request, queryset, MeetingStatus.ACTIVE, _("Activate"))

    @admin.action(description=_("Deactivate selected meetings (nobody can join)"), permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_status(request, queryset, MeetingStatus.INACTIVE, _("Deactivate"))

    @admin.action(description=_("Export attendance of selected meetings (CSV)"))
    def export_attendance(self, request, queryset):
        return attendance_csv(
            SessionParticipant.objects.filter(session__meeting__in=queryset.values("pk")), "attendance.csv"
        )

    @admin.action(description=_("Add a participant…"), permissions=["change"])
    def add_participant_action(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.warning(request, _("Select exactly one meeting to add a participant to."))
            return None
        return HttpResponseRedirect(reverse("admin:realtimekit_meeting_add_participant", args=[ids[0]]))

    @admin.action(description=_("Prepare for invited users…"), permissions=["change"])
    def prepare_action(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.warning(request, _("Select exactly one meeting to prepare."))
            return None
        return HttpResponseRedirect(reverse("admin:realtimekit_meeting_prepare", args=[ids[0]]))

    # -- live controls and recordings ------------------------------------------------------

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
