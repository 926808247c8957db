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
from django.http import StreamingHttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from ..models import Session, SessionParticipant, WebhookEvent
from .artifacts import SessionArtifactInline, generate_summary_action
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


#: People listed on a session's page (the CSV export has everyone).
ATTENDANCE_SHOWN = 500


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
        "api_joined_at",
        "api_left_at",
        "api_duration_seconds",
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
    list_display = (
        "id", "meeting_id", "status", "started_at", "ended_at", "end_reason", "people_in", "minutes_consumed",
        "attendance_final",
    )
    list_filter = ("status", "end_reason", ("api_confirmed_end_at", admin.EmptyFieldListFilter),
                   ("unknown_to_api_since", admin.EmptyFieldListFilter))
    search_fields = ("=id", "=meeting__id")
    show_full_result_count = False
    list_per_page = 100
    fields = (
        "id", "meeting", "status", "started_at", "ended_at", "end_reason", "minutes_consumed",
        "max_concurrent_participants", "api_confirmed_end_at", "api_synced_at", "unknown_to_api_since",
        "attendance",
    )
    readonly_fields = fields
    inlines = (AttendanceInline, SessionArtifactInline)

    @admin.display(boolean=True, description=_("attendance final"))
    def attendance_final(self, obj: Session) -> bool:
        return obj.api_confirmed_end_at is not None

    @admin.display(description=_("attendance (one line per person, rejoins merged)"))
    def attendance(self, obj: Session) -> str:
        people = SessionParticipant.objects.attendance_for(obj)
        if not people:
            return _("Nobody seen in this session.")
        head = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("who"), _("first join"), _("last leave"), _("minutes"), _("joins"),
        )
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    person.display_name or person.custom_participant_id or person.key,
                    person.first_join or "",
                    person.last_leave or "",
                    person.minutes,
                    person.joins,
                )
                for person in people[:ATTENDANCE_SHOWN]
            ),
        )
        return format_html("<table>{}{}</table>", head, body)
    actions = ("export_attendance", generate_summary_action)

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


class _Echo:
    """A file-like object whose ``write`` hands the line back: ``csv.writer`` over it yields
    one encoded line at a time, so the export never holds more than a chunk of rows."""

    def write(self, value: str) -> str:
        return value


#: Rows read from the database per round trip while a CSV streams.
CSV_CHUNK_SIZE = 2000

CSV_HEADER = [
    "meeting_id",
    "session_id",
    "user_id",
    "custom_participant_id",
    "display_name",
    "joined_at",
    "left_at",
    "source",
    "seconds",
]


def attendance_rows(attendances):
    """The CSV's lines, header first, read ``CSV_CHUNK_SIZE`` rows at a time (constant memory
    whatever the number of rows): one line per peer, with the API's join, leave and duration
    when the sessions walk read them (``source`` says ``api``), the webhook's otherwise."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    rows = (
        attendances.order_by("session__started_at", "session_id", "joined_at", "peer_id")
        .values_list(
            "session__meeting_id", "session_id", "participant__user_id", "custom_participant_id",
            "display_name", "joined_at", "left_at", "session__ended_at", "api_joined_at", "api_left_at",
            "api_duration_seconds",
        )
    )
    for (meeting_id, session_id, user_id, custom, name, joined, left, ended, a_joined, a_left, a_seconds) in rows.iterator(
        chunk_size=CSV_CHUNK_SIZE
    ):
        api = a_joined is not None
        start = a_joined if api else joined
        end = (a_left if api else None) or left or ended
        if api and a_seconds is not None:
            seconds = int(a_seconds)
        elif start is not None and end is not None:
            seconds = int((end - start).total_seconds())
        else:
            seconds = ""
        yield writer.writerow(
            [
                meeting_id,
                session_id,
                "" if user_id is None else user_id,
                _cell(custom),
                _cell(name),
                start.isoformat() if start else "",
                end.isoformat() if end else "",
                "api" if api else "webhook",
                seconds,
            ]
        )


def attendance_csv(attendances, filename: str) -> StreamingHttpResponse:
    """Who attended, from when to when, for how long (seconds): one row per peer, streamed."""
    response = StreamingHttpResponse(attendance_rows(attendances), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _cell(text: str) -> str:
    """Names come from the network: a leading =, +, - or @ would be a formula in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
