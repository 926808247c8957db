"""The meeting admin: constant-cost lists, structured settings, actions row by row.

This module is the model admin itself; its live controls (remove people, end for everyone,
recordings) are in :mod:`.live`, preparing joins for invited users in :mod:`.prepare`, and the
participants inline in :mod:`.inlines`; they are mixed in or used here, and importable from here.

Every change goes through ``services`` (see :mod:`realtimekit_django.admin`). Meetings cannot
be deleted (the API has no way to), participants are added from here (adding issues a token,
shown once), and the list costs a constant number of queries whatever the row count
(annotated participant counts, one COUNT); searching by a meeting's id is an exact
primary-key match.
"""

from __future__ import annotations

import logging
import math

from django.contrib import admin, messages
from django.contrib.admin import helpers as admin_helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import checks, services, tasks
from ..client.budget import get_budget
from ..exceptions import RealtimeKitError
from ..models import (
    Meeting,
    MeetingStatus,
    Participant,
    SessionParticipant,
)
from ..sync import health, reconcile, schedule
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
from .inlines import INLINE_PARTICIPANT_LIMIT, ParticipantInline, ParticipantInlineFormSet  # noqa: F401
from .live import (  # noqa: F401  (importable from here, as before the split)
    KICK_CHOICES_LIMIT,
    RUNNING_RECORDING,
    KickForm,
    LiveControls,
    LiveNowFilter,
    _end_for_everyone,
    _live_session_exists,
    _no_live_session,
    _people_in_subquery,
    live_participant_ids,
)
from .prepare import PrepareForm, PrepareJoins  # noqa: F401
from .livestreams import LivestreamControls
from .webhooks import attendance_csv

logger = logging.getLogger("realtimekit_django.admin")


# -- meetings ---------------------------------------------------------------------------------


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


def rate_budget_summary() -> dict:
    """What the meeting list shows above its rows: the budget's window, cooldown, oldest verification.

    Two cache reads (none when the budget is off) and one aggregate query, whatever the row
    count. A budget cache that is down shows "unknown" instead of breaking the page.
    """
    budget = get_budget()
    state = budget.state() if budget is not None else None
    if state is not None and state["cooldown"] is not None:
        state["cooldown"] = math.ceil(state["cooldown"])
    return {"budget": state, "verification": schedule.verification_summary(), "webhooks": health.summary()}


#: Sessions shown on a meeting's page, newest first (with their attendance).
SESSION_HISTORY_LIMIT = 10


@admin.register(Meeting)
class MeetingAdmin(LiveControls, LivestreamControls, PrepareJoins, WritesThroughServices, admin.ModelAdmin):
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
        "start_livestream",
        "stop_livestream",
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
