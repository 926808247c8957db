"""The participant admin: changed with a PATCH, removed with a remote DELETE, never added here.

A participant is added from its meeting (adding issues a token, shown once); a plain row
delete would leave its tokens working, so every delete is ``services.remove_participant``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers as admin_helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from .. import services
from ..exceptions import RealtimeKitError
from ..models import Participant
from .filters import MeetingFilter, MeetingStatusFilter, filter_media
from .forms import ParticipantForm
from .helpers import (
    LIST_MEDIA,
    WritesThroughServices,
    as_uuid,
    compact_datetime,
    long_value,
    render_tokens,
    report,
    row_error,
    run_rows,
    sensitive_admin_view,
    user_search_fields,
)


@admin.register(Participant)
class ParticipantAdmin(WritesThroughServices, admin.ModelAdmin):
    """Participants: name, picture and preset are changed by ``ParticipantForm.save()``."""

    form = ParticipantForm
    list_display = (
        "__str__",
        "custom_id",
        "preset",
        "meeting_link",
        "site_user",
        "created",
    )
    list_select_related = ("meeting", "user")
    list_filter = (MeetingFilter, "preset_name", ("meeting__status", MeetingStatusFilter))
    #: The site user's fields are added by ``get_search_fields`` (from the user model).
    search_fields = ("name", "custom_participant_id", "meeting__title")
    search_help_text = _(
        "A name, custom participant id, username, email or meeting title, or a participant's id (exact)."
    )
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
        "written_from_remote",
        "seen_version",
    )
    readonly_fields = (
        "id",
        "meeting",
        "custom_participant_id",
        "user",
        "remote_created_at",
        "remote_updated_at",
        "written_from_remote",
    )

    @property
    def media(self):
        return super().media + LIST_MEDIA + filter_media(self.admin_site)

    @admin.display(description=_("meeting"), ordering="meeting__title")
    def meeting_link(self, obj: Participant) -> str:
        url = reverse("admin:realtimekit_meeting_change", args=[obj.meeting_id])
        return format_html('<a href="{}">{}</a>', url, obj.meeting)

    def get_search_fields(self, request):
        return (*super().get_search_fields(request), *user_search_fields())

    @admin.display(description=_("custom participant id"), ordering="custom_participant_id")
    def custom_id(self, obj: Participant) -> str:
        return long_value(obj.custom_participant_id)

    @admin.display(description=_("preset"), ordering="preset_name")
    def preset(self, obj: Participant) -> str:
        return long_value(obj.preset_name)

    @admin.display(description=_("user"), ordering="user")
    def site_user(self, obj: Participant) -> str | None:
        return long_value(str(obj.user)) if obj.user_id is not None else None

    @admin.display(description=_("created"), ordering="remote_created_at")
    def created(self, obj: Participant) -> str:
        return compact_datetime(obj.remote_created_at)

    @admin.display(description=_("last written from remote"))
    def written_from_remote(self, obj: Participant) -> str:
        return compact_datetime(obj.synced_at)

    def get_search_results(self, request, queryset, search_term):
        participant_id = as_uuid(search_term) if search_term else None
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

    @sensitive_admin_view()
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    @sensitive_admin_view()
    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, extra_context)

    def delete_model(self, request, obj):
        services.remove_participant(obj)  # remote DELETE (revokes every token), then the row

    def delete_queryset(self, request, queryset):
        for participant in queryset.select_related("meeting"):
            services.remove_participant(participant)

    @sensitive_admin_view()
    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except RealtimeKitError as err:
            messages.error(
                request, _("Could not remove the participant: %(error)s") % {"error": row_error(err)}
            )
            return HttpResponseRedirect(reverse("admin:realtimekit_participant_change", args=[object_id]))

    # -- actions -----------------------------------------------------------------------------

    @admin.action(description=_("Refresh join token (shown once)"), permissions=["change"])
    @sensitive_variables()
    def refresh_token(self, request, queryset):
        done, failed = run_rows(queryset, services.refresh_participant_token)
        for participant, _token in done:
            self.log_change(request, participant, "Issued a new join token")
        return render_tokens(self, request, _("New join tokens"), done, failed)

    @admin.action(
        description=_("Remove selected participants (revokes their tokens)"), permissions=["delete"]
    )
    def remove_participants(self, request, queryset):
        participants = list(queryset.select_related("meeting", "user"))
        if request.POST.get("post") == "yes":
            done, failed = run_rows(participants, services.remove_participant)
            report(request, _("Remove"), done, failed, extra=" " + str(_("Their tokens no longer work.")))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Remove participants?"),
            "opts": self.opts,
            "participants": participants,
            "action_name": "remove_participants",
            "action_checkbox_name": admin_helpers.ACTION_CHECKBOX_NAME,
            "count": len(participants),
            "count_text": ngettext("%(n)d participant", "%(n)d participants", len(participants))
            % {"n": len(participants)},
        }
        return TemplateResponse(request, "realtimekit/admin/remove_participants_confirmation.html", context)
