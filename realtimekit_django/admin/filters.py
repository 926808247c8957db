"""List filters for the participant list that stay cheap at any number of meetings.

Django's related-field filter lists every meeting in the sidebar (one query and one link per
meeting, a page nobody can use at 100,000 meetings). :class:`MeetingFilter` shows a search box
instead: Django's own admin autocomplete (``AutocompleteSelect``, served by the meeting admin's
search), so choosing a meeting costs the page nothing and the sidebar shows only the one chosen.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.utils.translation import gettext_lazy as _

from ..models import Meeting, Participant

MEETING_PARAMETER = "meeting"


def meeting_widget(admin_site) -> AutocompleteSelect:
    """The meeting search box (served by ``admin:autocomplete`` for ``Participant.meeting``)."""
    return AutocompleteSelect(Participant._meta.get_field("meeting"), admin_site)


def filter_media(admin_site) -> forms.Media:
    """What the participant list needs for the meeting filter: select2 and the auto-submit."""
    return meeting_widget(admin_site).media + forms.Media(js=["realtimekit/admin/meeting_filter.js"])


class MeetingFilter(admin.SimpleListFilter):
    """``?meeting=<id>``: the participants of one meeting, chosen by searching meeting titles."""

    title = _("meeting")
    parameter_name = MEETING_PARAMETER
    template = "realtimekit/admin/meeting_filter.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.request = request
        self.admin_site = model_admin.admin_site
        meeting_id = self._meeting_id()
        # One query, only when a meeting is chosen: its title for the sidebar.
        self.meeting = (
            Meeting.objects.filter(pk=meeting_id).only("id", "title").first() if meeting_id else None
        )

    def _meeting_id(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(self.value()))
        except ValueError:
            return None

    def lookups(self, request, model_admin):
        return ()  # never a list of meetings; see choices()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        # An id that is not a meeting's matches nothing, rather than silently showing everyone.
        return queryset.filter(meeting_id=self._meeting_id()) if self._meeting_id() else queryset.none()

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("All"),
        }
        if self.value() is not None:
            yield {
                "selected": True,
                "query_string": changelist.get_query_string({self.parameter_name: self.value()}),
                "display": str(self.meeting) if self.meeting else _("(no such meeting)"),
            }

    def search_box(self) -> str:
        """The autocomplete select, named after the filter's parameter."""
        field = forms.ModelChoiceField(
            queryset=Meeting.objects.all(), required=False, widget=meeting_widget(self.admin_site)
        )
        return field.widget.render(
            self.parameter_name,
            None,
            attrs={"id": "realtimekit-meeting-filter", "data-placeholder": _("Search meeting titles")},
        )

    def kept_parameters(self) -> list[tuple[str, str]]:
        """The list's other parameters (search, ordering, filters), kept when a meeting is chosen."""
        return [
            (name, value)
            for name, values in self.request.GET.lists()
            if name not in (self.parameter_name, "p")
            for value in values
        ]


class MeetingStatusFilter(admin.ChoicesFieldListFilter):
    """``meeting__status``: labelled so that nobody takes it for a participant's own status."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("meeting status")
