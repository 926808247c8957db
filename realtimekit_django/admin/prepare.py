"""The meeting admin's "prepare for invited users": queue the joins of an event's invitees ahead
of its start (``realtimekit.provision_participants``) and show the latest run's progress.

:class:`PrepareJoins` holds the view and the action (mixed into
:class:`~realtimekit_django.admin.meetings.MeetingAdmin`); :class:`PrepareForm` says whom.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .. import tasks, token_cache
from ..exceptions import ValidationError
from ..models import Meeting
from ..services import provisioning

logger = logging.getLogger("realtimekit_django.admin")


class PrepareForm(forms.Form):
    """Whom to prepare a meeting for: a group's users and/or users named one per line."""

    group = forms.ModelChoiceField(queryset=None, required=False, label=_("Group"))
    usernames = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label=_("Users"),
        help_text=_("One username per line."),
    )

    def __init__(self, *args, **kwargs):
        from django.contrib.auth.models import Group

        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = Group.objects.order_by("name")

    def clean(self):
        cleaned = super().clean()
        group, names = cleaned.get("group"), (cleaned.get("usernames") or "").splitlines()
        if group is None and not any(name.strip() for name in names):
            raise forms.ValidationError(_("Choose a group or name at least one user."))
        try:
            cleaned["users"] = list(
                provisioning.invited_users(groups=[group] if group else [], usernames=names)
            )
        except ValidationError as exc:
            raise forms.ValidationError([problem for _path, problem in exc.errors])
        return cleaned


class PrepareJoins:
    """The preparation view and action of the meeting admin (a ``ModelAdmin`` mixin)."""

    def prepare_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Prepare the meeting for N invited users (queued), and the latest run's progress."""
        meeting = self.get_object(request, unquote(object_id))
        if meeting is None:
            raise Http404(_("No such meeting."))
        if not self.has_change_permission(request, meeting):
            raise PermissionDenied
        form = PrepareForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            if self._queue_preparation(request, meeting, form.cleaned_data["users"]):
                return HttpResponseRedirect(reverse("admin:realtimekit_meeting_prepare", args=[meeting.pk]))
        progress = provisioning.progress_of(meeting.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Prepare %(meeting)s for invited users") % {"meeting": meeting},
            "opts": self.opts,
            "original": meeting,
            "meeting": meeting,
            "form": form,
            "progress": progress,
            "running": progress is not None and not progress["finished"],
            "token_cache_on": token_cache.enabled(),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "realtimekit/admin/prepare_meeting.html", context)

    def _queue_preparation(self, request: HttpRequest, meeting: Meeting, users: list) -> bool:
        ids = [user.pk for user in users]
        try:
            tasks.provision_participants.delay(str(meeting.pk), ids)
        except Exception as err:  # the broker being down must not become a 500
            logger.warning("could not queue realtimekit.provision_participants: %s", type(err).__name__)
            messages.error(
                request, _("Could not queue the preparation: %(error)s") % {"error": type(err).__name__}
            )
            return False
        self.log_change(request, meeting, f"Queued preparation for {len(ids)} invited users")
        messages.success(
            request,
            _(
                "Preparing %(count)s invited users (task realtimekit.provision_participants, "
                "%(batch)s every %(interval)s seconds)."
            )
            % {"count": len(ids), "batch": tasks.PROVISION_BATCH, "interval": tasks.PROVISION_INTERVAL},
        )
        return True

    @admin.action(description=_("Prepare for invited users…"), permissions=["change"])
    def prepare_action(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            messages.warning(request, _("Select exactly one meeting to prepare."))
            return None
        return HttpResponseRedirect(reverse("admin:realtimekit_meeting_prepare", args=[ids[0]]))
