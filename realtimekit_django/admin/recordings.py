"""Recordings in the admin: their status and where the site kept them; pause, resume and stop
for those with the ``control_recording`` permission, and download for those who may view them.

No download URL is ever on a page, in a message or in a log: the list shows only when the
current one expires, the payload shown has its links removed (they are never stored), and
"download" asks RealtimeKit for a fresh URL and redirects the browser to it (the URL is only
in the redirect's ``Location`` header, and that response is never cached).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext, gettext_lazy as _

from .. import services, store
from ..exceptions import RealtimeKitError
from ..models import Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "meeting",
        "status",
        "invoked_at",
        "duration_seconds",
        "file_size",
        "stored_name",
        "copy_state_shown",
    )
    list_filter = ("status",)
    list_select_related = ("meeting",)
    search_fields = ("output_file_name", "id")
    readonly_fields = [f.name for f in Recording._meta.concrete_fields if f.name != "remote_data"]
    exclude = ("remote_data",)
    actions = (
        "download_recording",
        "pause_recordings",
        "resume_recordings",
        "stop_recordings",
        "copy_again",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_control_permission(self, request) -> bool:
        return request.user.has_perm(f"{Recording._meta.app_label}.control_recording")

    def _control(self, request, queryset, action: str) -> None:
        done, failed = 0, []
        for recording in queryset:
            try:
                services.control_recording(recording, action)
                done += 1
            except RealtimeKitError as exc:
                failed.append(f"{recording}: {exc.message}")
        if done:
            self.message_user(request, f"{action}: {done} recording(s) done.", messages.SUCCESS)
        for line in failed:
            self.message_user(request, f"{action} refused for {line}", messages.ERROR)

    @admin.action(description="Pause the selected recordings", permissions=["control"])
    def pause_recordings(self, request, queryset):
        self._control(request, queryset, "pause")

    @admin.action(description="Resume the selected recordings", permissions=["control"])
    def resume_recordings(self, request, queryset):
        self._control(request, queryset, "resume")

    @admin.action(description="Stop the selected recordings", permissions=["control"])
    def stop_recordings(self, request, queryset):
        self._control(request, queryset, "stop")

    @admin.action(
        description="Download the selected recording (a fresh short-lived link)", permissions=["view"]
    )
    def download_recording(self, request, queryset):
        chosen = list(queryset[:2])
        if len(chosen) != 1:
            self.message_user(request, "Select exactly one recording to download.", messages.WARNING)
            return None
        try:
            url = services.fresh_download_url(chosen[0])
        except RealtimeKitError as exc:  # its message never holds the URL
            self.message_user(request, f"Cannot download {chosen[0]}: {exc.message}", messages.ERROR)
            return None
        response = HttpResponseRedirect(url)
        add_never_cache_headers(response)
        return response

    _COPY_STATES = {
        "copied": _("copied"),
        "given up": _("given up"),
        "copying": _("copying"),
        "waiting": _("waiting for the next try"),
        "pending": _("not copied yet"),
        "none": "-",
    }

    @admin.display(description=_("copy"))
    def copy_state_shown(self, recording: Recording) -> str:
        state = self._COPY_STATES[recording.copy_state]
        if recording.copy_state in ("given up", "waiting") and recording.copy_error:
            return f"{state}: {recording.copy_error}"
        return str(state)

    @admin.action(description=_("Copy the selected given-up recordings again"), permissions=["control"])
    def copy_again(self, request, queryset):
        count = store.retry_recording_copy(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            gettext("%(count)d given-up recording(s) will be copied again at the next run.") % {"count": count},
            messages.SUCCESS,
        )
