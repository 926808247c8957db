"""The admin of what webhooks brought: stored events (read-only, processed again on request)
and sessions with their attendance.

Stream keys and download links are redacted before an event is stored
(:mod:`realtimekit_django.webhooks.redact`); lists still never show payloads, and an event's
page shows it masked once more, should a row predate the redaction.
"""

from __future__ import annotations

import csv
import json

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import Session, SessionParticipant, WebhookEvent
from ..webhooks.handlers import replay
from ..webhooks.payloads import masked


class ProcessedFilter(admin.SimpleListFilter):
    title = _("processed")
    parameter_name = "processed"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")), ("no", _("No")))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(processed_at__isnull=self.value() == "no")
        return queryset


class FailedFilter(admin.SimpleListFilter):
    title = _("failed")
    parameter_name = "failed"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(processed_at__isnull=True).exclude(error="")
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("event", "uuid", "meeting_id", "received_at", "processed_at", "attempts", "failed")
    list_filter = ("event", ProcessedFilter, FailedFilter, ("received_at", admin.DateFieldListFilter))
    search_fields = ("=uuid", "=meeting_id", "=webhook_id")
    show_full_result_count = False
    list_per_page = 100
    actions = ("process_again",)
    fields = (
        "uuid",
        "event",
        "webhook_id",
        "meeting_id",
        "received_at",
        "processed_at",
        "attempts",
        "next_try_at",
        "error",
        "masked_payload",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload")

    @admin.display(boolean=True, description=_("failed"))
    def failed(self, obj: WebhookEvent) -> bool:
        return obj.failed

    @admin.display(description=_("payload (stream keys and download links redacted)"))
    def masked_payload(self, obj: WebhookEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(masked(obj.payload), indent=2, sort_keys=True))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser  # retention does the usual deleting

    @admin.action(description=_("Process again"), permissions=["change"])
    def process_again(self, request, queryset):
        outcomes = replay(queryset)
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        level = messages.WARNING if outcomes.get("failed") else messages.SUCCESS
        self.message_user(request, _("Processed again: %(summary)s") % {"summary": summary}, level)


class AttendanceInline(admin.TabularInline):
    model = SessionParticipant
    fields = (
        "display_name",
        "custom_participant_id",
        "participant",
        "peer_id",
        "joined_at",
        "until",
        "duration",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("session", "participant")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("id", "meeting_id", "status", "started_at", "ended_at", "end_reason", "people_in")
    list_filter = ("status", "end_reason")
    search_fields = ("=id", "=meeting__id")
    show_full_result_count = False
    list_per_page = 100
    fields = ("id", "meeting", "status", "started_at", "ended_at", "end_reason")
    readonly_fields = fields
    inlines = (AttendanceInline,)
    actions = ("export_attendance",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(in_now=Count("attendees", filter=Q(attendees__left_at__isnull=True)))
        )

    @admin.display(description=_("in now"), ordering="in_now")
    def people_in(self, obj: Session) -> int:
        return obj.in_now if obj.status == "LIVE" else 0

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Export attendance (CSV)"))
    def export_attendance(self, request, queryset):
        return attendance_csv(SessionParticipant.objects.filter(session__in=queryset), "attendance.csv")


def attendance_csv(attendances, filename: str) -> HttpResponse:
    """Who attended, from when to when, for how long (seconds): one row per peer."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "meeting_id",
            "session_id",
            "custom_participant_id",
            "display_name",
            "joined_at",
            "left_at",
            "seconds",
        ]
    )
    rows = attendances.select_related("session").order_by(
        "session__started_at", "session_id", "joined_at", "peer_id"
    )
    for row in rows.iterator(chunk_size=2000):
        duration = row.duration
        writer.writerow(
            [
                row.session.meeting_id,
                row.session_id,
                _cell(row.custom_participant_id),
                _cell(row.display_name),
                row.joined_at.isoformat() if row.joined_at else "",
                row.until.isoformat() if row.until else "",
                int(duration.total_seconds()) if duration is not None else "",
            ]
        )
    return response


def _cell(text: str) -> str:
    """Names come from the network: a leading =, +, - or @ would be a formula in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
