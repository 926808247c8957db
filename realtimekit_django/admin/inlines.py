"""The participants shown on a meeting's admin page: the newest few, read-only.

A meeting may have thousands of participants and its page must stay cheap, so the inline
shows at most :data:`INLINE_PARTICIPANT_LIMIT`; the rest are one click away in the participant
list. Participants are added by the meeting's action and changed on their own page.
"""

from __future__ import annotations

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.functional import lazy
from django.utils.translation import gettext

from ..models import Participant

#: Participants shown on a meeting's page; the rest are one click away in the participant list.
INLINE_PARTICIPANT_LIMIT = 20


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
