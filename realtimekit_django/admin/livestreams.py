"""Livestreams in the admin: their list, and the meeting admin's start and stop actions.

Starting a stream answers with its stream key and ingest server. They are shown once, on the
response to the staff member who started it (a page sent with no-cache headers), and never go
into a message (Django keeps messages in the session or a cookie), a row or a log.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..exceptions import RealtimeKitError
from ..models import Livestream
from ..services import livestreams as service


@admin.register(Livestream)
class LivestreamAdmin(admin.ModelAdmin):
    list_display = ("id", "meeting_id", "status", "name", "playback_url", "started_at", "ended_at")
    list_filter = ("status",)
    search_fields = ("=id", "=meeting__id")
    show_full_result_count = False
    fields = ("id", "meeting", "status", "name", "playback_url", "started_at", "ended_at", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False


class LivestreamControls:
    """Mixed into the meeting admin: start and stop livestreaming the selected meetings."""

    @admin.action(description=_("Start livestreaming (shows the stream key once)"), permissions=["livestream"])
    def start_livestream(self, request, queryset):
        started, failed = [], []
        for meeting in queryset[:10]:
            try:
                started.append((meeting, service.start_livestream(meeting)))
            except RealtimeKitError as err:
                failed.append(f"{meeting.pk}: {type(err).__name__}")
        if failed:
            self.message_user(request, gettext("Not started: %(list)s") % {"list": ", ".join(failed)}, messages.ERROR)
        if not started:
            return None
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            ((str(m), s.livestream.playback_url, s.ingest_server, s.stream_key) for m, s in started),
        )
        page = format_html(
            "<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1><p>{once}</p>"
            "<table><tr><th>{meeting}</th><th>{playback}</th><th>{ingest}</th><th>{key}</th></tr>{rows}</table>"
            "</body></html>",
            title=gettext("Livestream started"),
            once=gettext("Copy the ingest server and stream key now: they are shown only this once and are not kept."),
            meeting=gettext("meeting"), playback=gettext("playback URL"), ingest=gettext("ingest server"), key=gettext("stream key"),
            rows=rows,
        )
        response = HttpResponse(page)
        add_never_cache_headers(response)
        return response

    @admin.action(description=_("Stop livestreaming"), permissions=["livestream"])
    def stop_livestream(self, request, queryset):
        stopped = 0
        for meeting in queryset[:10]:
            try:
                stopped += len(service.stop_livestream(meeting)) or 1
            except RealtimeKitError as err:
                self.message_user(request, gettext("Not stopped: %(meeting)s (%(error)s)") % {
                    "meeting": meeting.pk, "error": type(err).__name__}, messages.ERROR)
        if stopped:
            self.message_user(request, gettext("Livestreaming stopped."), messages.SUCCESS)

    def has_livestream_permission(self, request) -> bool:
        return request.user.has_perm("realtimekit.control_livestream")
