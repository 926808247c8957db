"""The Django admin for meetings and participants: every change goes through ``services``.

The admin never writes a Meeting or Participant row itself and never talks to the client: a
form or an action calls a service, which calls RealtimeKit and then writes the row the API
described, so the admin can never disagree with the remote side. Hence:

* no delete for meetings (the API cannot delete them), and a participant's delete is a remote
  DELETE (the only way to revoke its tokens) before the row goes;
* participants are added from a meeting (an action or the button on its page), since adding
  one issues a token;
* a token is shown once, in the response to the admin who asked for it: it is rendered into
  that page, never put in the messages framework (whose storage may be the session table),
  never logged and never stored;
* list pages cost a constant number of queries whatever the row count (annotated participant
  counts, ``list_select_related``, one COUNT), and searching by a meeting's id is an exact
  primary-key match.

Actions run row by row: one failing row does not stop the others, and the message says which
rows succeeded and which failed, and why.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.forms.formsets import all_valid
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .exceptions import RealtimeKitError
from .forms import (
    AI_FIELDS,
    RECORDING_FIELDS,
    STORAGE_FIELDS,
    AddParticipantForm,
    MeetingForm,
    ParticipantForm,
)
from .models import Meeting, MeetingStatus, Participant

logger = logging.getLogger("realtimekit_django.admin")

#: Participants shown on a meeting's page; the rest are one click away in the participant list.
INLINE_PARTICIPANT_LIMIT = 20


# -- helpers shared by the actions ------------------------------------------------------------


def _row_error(err: Exception) -> str:
    """A failure as shown to staff: the API's message and context, never request headers."""
    if isinstance(err, RealtimeKitError):
        return str(err)
    return type(err).__name__


def _run_rows(
    rows: Iterable[Any], operation: Callable[[Any], Any]
) -> tuple[list[tuple[Any, Any]], list[tuple[Any, str]]]:
    """Apply ``operation`` to every row; a failing row is recorded, and the next one runs."""
    done: list[tuple[Any, Any]] = []
    failed: list[tuple[Any, str]] = []
    for row in rows:
        try:
            done.append((row, operation(row)))
        except RealtimeKitError as err:
            failed.append((row, _row_error(err)))
    return done, failed


def _report(request: HttpRequest, verb: str, done: list, failed: list, extra: str = "") -> None:
    """One message for the rows that succeeded, one (an error) listing each failure and why."""
    if done:
        # A refreshed meeting is named as it is now; nothing else a row returned is ever shown.
        names = ", ".join(str(result if isinstance(result, Meeting) else row) for row, result in done)
        messages.success(request, f"{verb}: {len(done)} succeeded ({names}).{extra}")
    if failed:
        details = "; ".join(f"{row}: {reason}" for row, reason in failed)
        messages.error(request, f"{verb}: {len(failed)} failed ({details}).")


def _reconcile_module():
    try:
        return importlib.import_module("realtimekit_django.reconcile")
    except ImportError:  # pragma: no cover - reconcile ships with the package
        return None


def _queue_full_sync() -> Any:
    """Queue ``realtimekit.reconcile_all``: a full walk never runs inside a request."""
    tasks = importlib.import_module("realtimekit_django.tasks")
    return tasks.reconcile_all.delay()


def _is_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


def render_tokens(model_admin, request, title, done, failed, *, back: Meeting | None = None) -> HttpResponse:
    """The one page a token is ever shown on: rendered to the admin who asked, cached nowhere.

    ``done`` holds (participant, token) pairs, ``failed`` (participant, reason) pairs.
    """
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "issued": [
            {"participant": participant, "token": token, "expires_at": services.token_expiry(token)}
            for participant, token in done
        ],
        "failed": failed,
        "back_url": reverse("admin:realtimekit_meeting_change", args=[back.pk])
        if back is not None
        else reverse("admin:realtimekit_participant_changelist"),
    }
    response = TemplateResponse(request, "realtimekit/admin/tokens.html", context)
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, " + response["Cache-Control"]
    return response


# -- meetings ---------------------------------------------------------------------------------


class ParticipantInlineFormSet(BaseInlineFormSet):
    """Only the first participants: a meeting may have thousands, and its page must stay cheap."""

    def get_queryset(self):
        if not hasattr(self, "_limited_queryset"):
            self._limited_queryset = super().get_queryset()[:INLINE_PARTICIPANT_LIMIT]
        return self._limited_queryset


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
    verbose_name_plural = _(
        "participants (the newest %(limit)s; all of them are in the participant list)"
    ) % {"limit": INLINE_PARTICIPANT_LIMIT}

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


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    form = MeetingForm
    list_display = (
        "__str__",
        "status",
        "participant_count",
        "remote_created_at",
        "synced_at",
        "missing_since",
    )
    list_filter = ("status", "app_id", ("remote_created_at", admin.DateFieldListFilter))
    search_fields = ("title",)
    search_help_text = _("A title, or a meeting's id (exact).")
    show_full_result_count = False  # one COUNT per list page, not two
    list_per_page = 100
    inlines = (ParticipantInline,)
    actions = ("sync_selected", "sync_everything", "activate", "deactivate", "add_participant_action")
    change_list_template = "admin/realtimekit/meeting/change_list.html"
    change_form_template = "admin/realtimekit/meeting/change_form.html"
    readonly_on_change = (
        "id",
        "app_id",
        "participant_count",
        "remote_created_at",
        "remote_updated_at",
        "synced_at",
        "missing_since",
    )

    # -- list --------------------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(participant_total=_participant_count_subquery())

    @admin.display(description=_("participants"), ordering="participant_total")
    def participant_count(self, obj: Meeting) -> int:
        total = getattr(obj, "participant_total", None)
        return total if total is not None else obj.participants.count()

    def get_search_results(self, request, queryset, search_term):
        # A UUID is looked up by primary key only: exact, indexed, and no LIKE over titles.
        meeting_id = _is_uuid(search_term) if search_term else None
        if meeting_id is not None:
            return queryset.filter(pk=meeting_id), False
        return super().get_search_results(request, queryset, search_term)

    # -- the form ----------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        main = [
            "title",
            *(("status",) if obj is not None else ()),
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

    def _create_formsets(self, request, obj, change):
        # The admin validates its inline formsets only after the form; the form's validation is
        # the remote write, so tell it beforehand whether the page as a whole can be saved.
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        if request.method == "POST":
            obj._realtimekit_formsets_valid = all_valid(formsets)
        return formsets, inline_instances

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_on_change if obj is not None else ()

    def save_form(self, request, form, change):
        return form.save(commit=False)  # the service already wrote the row while validating

    def save_model(self, request, obj, form, change):
        """Nothing to do: ``MeetingForm`` called the service, which wrote the row."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the API has no way to delete a meeting

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_sync_all": self.has_change_permission(request)}
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
        try:
            _queue_full_sync()
        except Exception as err:  # the broker being down must not become a 500
            logger.warning("could not queue realtimekit.reconcile_all: %s", type(err).__name__)
            messages.error(
                request, _("Could not queue the full sync: %(error)s") % {"error": type(err).__name__}
            )
        else:
            messages.success(
                request,
                _(
                    "A full sync from RealtimeKit was queued (task realtimekit.reconcile_all); "
                    "the lists update as it runs."
                ),
            )

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
                form.add_error(None, _("RealtimeKit refused: %(error)s") % {"error": _row_error(err)})
            else:
                self.log_change(request, meeting, f"Added participant {participant.custom_participant_id}")
                return render_tokens(
                    self, request, _("Participant added"), [(participant, token)], [], back=meeting
                )
        adminform = helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add a participant to %(meeting)s") % {"meeting": meeting},
            "opts": self.opts,
            "original": meeting,
            "meeting": meeting,
            "adminform": adminform,
            "form": form,
            "errors": helpers.AdminErrorList(form, []),
            "media": self.media + form.media,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "realtimekit/admin/add_participant.html", context)

    # -- actions -----------------------------------------------------------------------------

    @admin.action(description=_("Sync selected from RealtimeKit"), permissions=["change"])
    def sync_selected(self, request, queryset):
        reconcile = _reconcile_module()

        def sync(meeting: Meeting):
            fresh = services.refresh_meeting(meeting)
            if reconcile is not None:
                report = reconcile.reconcile_participants(fresh)
                if not report.completed:
                    raise RealtimeKitError(
                        f"participants not fully synced: {report.error or 'stopped early'}"
                    )
            return fresh

        done, failed = _run_rows(queryset, sync)
        _report(request, _("Sync from RealtimeKit"), done, failed)

    @admin.action(description=_("Sync everything from RealtimeKit (queued)"), permissions=["change"])
    def sync_everything(self, request, queryset):
        self._queue_sync(request)

    def _set_status(self, request, queryset, status: str, verb: str) -> None:
        done, failed = _run_rows(
            queryset.exclude(status=status), lambda meeting: services.set_meeting_status(meeting, status)
        )
        for meeting, _result in done:
            self.log_change(request, meeting, f"Set status to {status}")
        _report(request, verb, done, failed)
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

    @admin.action(description=_("Add a participant…"), permissions=["change"])
    def add_participant_action(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.warning(request, _("Select exactly one meeting to add a participant to."))
            return None
        return HttpResponseRedirect(reverse("admin:realtimekit_meeting_add_participant", args=[ids[0]]))


# -- participants -----------------------------------------------------------------------------


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    form = ParticipantForm
    list_display = (
        "__str__",
        "custom_participant_id",
        "preset_name",
        "meeting_link",
        "user",
        "remote_created_at",
    )
    list_select_related = ("meeting", "user")
    list_filter = ("preset_name", "meeting__status")
    search_fields = ("name", "custom_participant_id", "user__username", "user__email")
    search_help_text = _("A name, custom participant id, username or email, or a participant's id (exact).")
    show_full_result_count = False
    list_per_page = 100
    raw_id_fields = ("user",)
    actions = ("refresh_token", "remove_participants")
    fields = (
        "name",
        "preset_name",
        "picture",
        "id",
        "meeting",
        "custom_participant_id",
        "user",
        "remote_created_at",
        "remote_updated_at",
        "synced_at",
    )
    readonly_fields = (
        "id",
        "meeting",
        "custom_participant_id",
        "user",
        "remote_created_at",
        "remote_updated_at",
        "synced_at",
    )

    @admin.display(description=_("meeting"), ordering="meeting__title")
    def meeting_link(self, obj: Participant) -> str:
        url = reverse("admin:realtimekit_meeting_change", args=[obj.meeting_id])
        return format_html('<a href="{}">{}</a>', url, obj.meeting)

    def get_search_results(self, request, queryset, search_term):
        participant_id = _is_uuid(search_term) if search_term else None
        if participant_id is not None:
            return queryset.filter(pk=participant_id), False
        return super().get_search_results(request, queryset, search_term)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("meeting", "user")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a plain row delete would leave the tokens working
        return actions

    def has_add_permission(self, request) -> bool:
        return False  # added from a meeting, since adding issues a token

    def save_form(self, request, form, change):
        return form.save(commit=False)

    def save_model(self, request, obj, form, change):
        """Nothing to do: ``ParticipantForm`` called ``services.edit_participant``."""

    def delete_model(self, request, obj):
        services.remove_participant(obj)  # remote DELETE (revokes every token), then the row

    def delete_queryset(self, request, queryset):
        for participant in queryset.select_related("meeting"):
            services.remove_participant(participant)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except RealtimeKitError as err:
            messages.error(
                request, _("Could not remove the participant: %(error)s") % {"error": _row_error(err)}
            )
            return HttpResponseRedirect(reverse("admin:realtimekit_participant_change", args=[object_id]))

    # -- actions -----------------------------------------------------------------------------

    @admin.action(description=_("Refresh join token (shown once)"), permissions=["change"])
    def refresh_token(self, request, queryset):
        done, failed = _run_rows(queryset, services.refresh_participant_token)
        for participant, _token in done:
            self.log_change(request, participant, "Issued a new join token")
        return render_tokens(self, request, _("New join tokens"), done, failed)

    @admin.action(
        description=_("Remove selected participants (revokes their tokens)"), permissions=["delete"]
    )
    def remove_participants(self, request, queryset):
        participants = list(queryset.select_related("meeting", "user"))
        if request.POST.get("post") == "yes":
            done, failed = _run_rows(participants, services.remove_participant)
            _report(request, _("Remove"), done, failed, extra=" " + str(_("Their tokens no longer work.")))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Remove participants?"),
            "opts": self.opts,
            "participants": participants,
            "action_name": "remove_participants",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "count": len(participants),
            "count_text": ngettext("%(n)d participant", "%(n)d participants", len(participants))
            % {"n": len(participants)},
        }
        return TemplateResponse(request, "realtimekit/admin/remove_participants_confirmation.html", context)


__all__ = ["INLINE_PARTICIPANT_LIMIT", "MeetingAdmin", "ParticipantAdmin", "ParticipantInline"]
