"""The session artifacts' admin: each artifact's copy state, its stored file for staff with the
model's view permission, a transcript read as text, and "Generate summary" on sessions.

The file is served from the site's storage (never from RealtimeKit's URL, which is neither
kept nor shown). A transcript is shown as text (speaker, time, words) only when it is the CSV
with a header naming those columns; any other shape is served as a file only.
"""

from __future__ import annotations

import csv
import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..exceptions import ConfigurationError, RealtimeKitError
from ..models import ArtifactKind, ArtifactState, SessionArtifact
from ..services import artifacts
from ..services.recordings import recording_storage

#: A transcript larger than this is offered as a file only (the text view reads it whole).
TEXT_VIEW_MAX_BYTES = 2 * 1024 * 1024
_SPEAKER = ("speaker", "name", "participant", "display_name")
_TIME = ("time", "start", "start_time", "timestamp")
_WORDS = ("text", "words", "transcript")


def transcript_lines(raw: bytes) -> list[tuple[str, str, str]] | None:
    """``(speaker, time, words)`` of a CSV transcript, or None when it is not that shape."""
    try:
        rows = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
        header = {name.strip().lower(): name for name in rows.fieldnames or ()}
    except (UnicodeDecodeError, csv.Error):
        return None
    picked = [
        next((header[c] for c in choices if c in header), None) for choices in (_SPEAKER, _TIME, _WORDS)
    ]
    if None in picked:
        return None
    try:
        return [tuple((row.get(column) or "").strip() for column in picked) for row in rows]
    except csv.Error:
        return None


class SessionArtifactInline(admin.TabularInline):
    model = SessionArtifact
    fields = ("kind", "state", "stored_size", "tries", "next_attempt_at", "failure_reason", "stored_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SessionArtifact)
class SessionArtifactAdmin(admin.ModelAdmin):
    list_display = (
        "session_id", "kind", "state", "stored_size", "tries", "next_attempt_at", "stored_at", "links",
    )
    list_filter = ("kind", "state")
    search_fields = ("=session__id",)
    show_full_result_count = False
    fields = (
        "session", "kind", "state", "stored_name", "stored_size", "stored_sha256", "content_type", "tries",
        "next_attempt_at", "failure_reason", "announced_at", "stored_at", "links",
    )
    readonly_fields = fields
    actions = ("copy_again",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("stored file"))
    def links(self, obj: SessionArtifact) -> str:
        if obj.state != ArtifactState.STORED:
            return ""
        info = self.opts.app_label, self.opts.model_name
        file_url = reverse("admin:%s_%s_file" % info, args=[obj.pk])
        link = format_html('<a href="{}">{}</a>', file_url, _("download"))
        if obj.kind == ArtifactKind.TRANSCRIPT:
            text_url = reverse("admin:%s_%s_text" % info, args=[obj.pk])
            link = format_html('{} · <a href="{}">{}</a>', link, text_url, _("read as text"))
        return link

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<int:pk>/file/", self.admin_site.admin_view(self.file_view), name="%s_%s_file" % info),
            path("<int:pk>/text/", self.admin_site.admin_view(self.text_view), name="%s_%s_text" % info),
            *super().get_urls(),
        ]

    def _stored(self, request, pk: int) -> SessionArtifact:
        if not self.has_view_permission(request):
            raise PermissionDenied
        artifact = get_object_or_404(SessionArtifact, pk=pk)
        if artifact.state != ArtifactState.STORED or not artifact.stored_name:
            raise Http404(_("This artifact has no stored file."))
        return artifact

    def _storage(self):
        try:
            return recording_storage()
        except ConfigurationError:
            raise Http404(_("No storage is configured for artifacts.")) from None

    def file_view(self, request, pk: int):
        artifact = self._stored(request, pk)
        handle = self._storage().open(artifact.stored_name, "rb")
        response = FileResponse(handle, as_attachment=True, filename=artifact.stored_name.rsplit("/", 1)[-1])
        response["Content-Type"] = artifact.content_type or "application/octet-stream"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def text_view(self, request, pk: int):
        artifact = self._stored(request, pk)
        if artifact.kind != ArtifactKind.TRANSCRIPT or (artifact.stored_size or 0) > TEXT_VIEW_MAX_BYTES:
            raise Http404(_("Only a transcript of a readable size is shown as text."))
        with self._storage().open(artifact.stored_name, "rb") as handle:
            lines = transcript_lines(handle.read(TEXT_VIEW_MAX_BYTES + 1))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "artifact": artifact,
            "lines": lines,
            "title": _("Transcript of session %(session)s") % {"session": artifact.session_id},
        }
        return TemplateResponse(request, "admin/realtimekit/sessionartifact/transcript.html", context)

    def has_copy_permission(self, request) -> bool:
        """Copying again writes the row and the storage: the model's change permission."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description=_("Copy again"), permissions=["copy"])
    def copy_again(self, request, queryset):
        done = failed = 0
        for artifact in queryset:
            if artifact.state == ArtifactState.GIVEN_UP:
                SessionArtifact.objects.filter(pk=artifact.pk).update(state=ArtifactState.FAILED, tries=0)
                artifact.refresh_from_db()
            try:
                artifacts.copy_artifact(artifact)
            except RealtimeKitError as exc:
                failed += 1
                self.message_user(request, f"{artifact}: {exc.message}", messages.ERROR)
            else:
                done += artifact.state == ArtifactState.STORED
        summary = _("%(done)d stored, %(failed)d failed.") % {"done": done, "failed": failed}
        self.message_user(request, summary)


def generate_summary_action(modeladmin, request, queryset):
    """The sessions admin's "Generate summary": asks the API, session by session."""
    asked = 0
    for session in queryset:
        try:
            artifacts.generate_summary(session)
        except RealtimeKitError as exc:
            modeladmin.message_user(request, f"{session.pk}: {exc.message}", messages.ERROR)
        else:
            asked += 1
    modeladmin.message_user(request, _("A summary was asked for %(count)d session(s).") % {"count": asked})


generate_summary_action.short_description = _("Generate summary")
generate_summary_action.allowed_permissions = ("change",)
