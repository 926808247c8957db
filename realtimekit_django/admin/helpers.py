"""What the meeting and participant admins share: running actions row by row, the one page a
token is shown on, marking secret-holding views sensitive, and writing through services.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import CharField, TextField
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .. import conf, services
from ..exceptions import AuthenticationError, RealtimeKitError, TransportError
from ..models import Meeting

# -- secrets: masked in contexts, hidden from error reports -------------------------------------


class MaskedToken:
    """A participant token in a template context: ``str`` and ``repr`` show a mask.

    Django's template logger (``django.template`` at DEBUG) writes the whole context's ``repr``
    when a lookup fails, and error reports show context values; only the one template that
    shows the token calls :meth:`reveal`.
    """

    __slots__ = ("_token",)
    MASK = "********"

    def __init__(self, token: str) -> None:
        self._token = token

    def __str__(self) -> str:
        return self.MASK

    def __repr__(self) -> str:
        return f"<MaskedToken {self.MASK}>"

    def reveal(self) -> str:
        return self._token


class SecretHoldingViewFilter(SafeExceptionReporterFilter):
    """Django's safe filter, switched on even with ``DEBUG = True``.

    The stock filter only works when ``DEBUG`` is off; a debug page of a view that holds
    storage secrets or tokens is still a page someone may screenshot or paste. Set per request
    (``request.exception_reporter_filter``, Django's documented hook) by
    :func:`sensitive_admin_view`.
    """

    def is_active(self, request) -> bool:
        return True


def sensitive_admin_view(*post_parameters: str):
    """Mark a ModelAdmin view as one whose frames hold secrets (the API token while it calls
    RealtimeKit, storage secrets, participant tokens).

    Every local of every frame below the view is hidden from error reports
    (``sensitive_variables()`` with no names: a named list would hide only those names, and
    only in the frames below it, including those of ``services`` and ``client``), the given
    POST parameters are hidden (all of them when none are named), and the filter stays on with
    ``DEBUG = True``.
    """

    def decorate(view: Callable) -> Callable:
        view = method_decorator(sensitive_post_parameters(*post_parameters))(view)

        @sensitive_variables()
        @wraps(view)
        def sensitive_view(model_admin, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            request.exception_reporter_filter = SecretHoldingViewFilter()
            return view(model_admin, request, *args, **kwargs)

        return sensitive_view

    return decorate


# -- actions, row by row ---------------------------------------------------------------------


def row_error(err: Exception) -> str:
    """A failure as shown to staff: the API's message and context, never request headers.

    A transport failure says that RealtimeKit could not be reached, and at which host: "refused"
    would send the reader looking at the meeting instead of at ``BASE_URL`` or the network.
    """
    if isinstance(err, TransportError):
        return _("RealtimeKit could not be reached at %(host)s (the BASE_URL setting): %(error)s") % {
            "host": conf.api_host(),
            "error": err,
        }
    if isinstance(err, AuthenticationError):
        return _("RealtimeKit refused the API token: %(error)s") % {"error": err}
    if isinstance(err, RealtimeKitError):
        return str(err)
    return type(err).__name__


def refusal(err: RealtimeKitError) -> str:
    """The sentence a form shows for a failed remote write: refused, or could not be reached."""
    if isinstance(err, TransportError | AuthenticationError):
        return row_error(err)
    return _("RealtimeKit refused the change: %(error)s") % {"error": err}


def run_rows(
    rows: Iterable[Any], operation: Callable[[Any], Any]
) -> tuple[list[tuple[Any, Any]], list[tuple[Any, str]]]:
    """Apply ``operation`` to every row; a failing row is recorded, and the next one runs."""
    done: list[tuple[Any, Any]] = []
    failed: list[tuple[Any, str]] = []
    for row in rows:
        try:
            done.append((row, operation(row)))
        except RealtimeKitError as err:
            failed.append((row, row_error(err)))
    return done, failed


def report(request: HttpRequest, verb: str, done: list, failed: list, extra: str = "") -> None:
    """One message for the rows that succeeded, one (an error) listing each failure and why."""
    if done:
        # A refreshed meeting is named as it is now; nothing else a row returned is ever shown.
        names = ", ".join(str(result if isinstance(result, Meeting) else row) for row, result in done)
        text = ngettext(
            "%(verb)s: %(count)d succeeded (%(names)s).",
            "%(verb)s: %(count)d succeeded (%(names)s).",
            len(done),
        ) % {"verb": verb, "count": len(done), "names": names}
        messages.success(request, f"{text}{extra}")
    if failed:
        details = "; ".join(f"{row}: {reason}" for row, reason in failed)
        text = ngettext(
            "%(verb)s: %(count)d failed (%(details)s).",
            "%(verb)s: %(count)d failed (%(details)s).",
            len(failed),
        ) % {"verb": verb, "count": len(failed), "details": details}
        messages.error(request, text)


def user_search_fields() -> tuple[str, ...]:
    """``user__<field>`` lookups for the user model's username and e-mail fields, where they are
    text: a custom user model may have no ``username`` (``USERNAME_FIELD = "email"``) or no
    e-mail at all."""
    user_model = get_user_model()
    names = dict.fromkeys((user_model.USERNAME_FIELD, user_model.get_email_field_name()))
    lookups = []
    for name in names:
        try:
            field = user_model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if isinstance(field, CharField | TextField):
            lookups.append(f"user__{name}")
    return tuple(lookups)


# -- list columns that fit at 1280 px ----------------------------------------------------------

#: The lists' column rules (lists.css): long ids cut with an ellipsis, dates on one line.
LIST_MEDIA = forms.Media(css={"all": ["realtimekit/admin/lists.css"]})


def compact_datetime(value) -> str | None:
    """``2026-12-01 08:19`` in the current time zone: half the width of Django's default format,
    and free to break between the date and the time, so that every column of a list fits at
    1280 px. None shows as the admin's empty value."""
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return format_html(
        '<span class="realtimekit-date">{}</span> <span class="realtimekit-date">{}</span>',
        formats.date_format(value, "Y-m-d"),
        formats.date_format(value, "H:i"),
    )


def long_value(value: str | None) -> str | None:
    """A value that may be very long (a custom id): cut to the column with an ellipsis, whole
    on hover (``title``), instead of wrapping character by character."""
    if not value:
        return None
    return format_html('<span class="realtimekit-long" title="{}">{}</span>', value, value)


def as_uuid(term: str) -> uuid.UUID | None:
    """``term`` as a UUID when it is one (searched as an exact primary key), else None."""
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


@sensitive_variables()
def render_tokens(model_admin, request, title, done, failed, *, back: Meeting | None = None) -> HttpResponse:
    """The one page a token is ever shown on: rendered to the admin who asked, cached nowhere.

    ``done`` holds (participant, token) pairs, ``failed`` (participant, reason) pairs. In the
    context each token is a :class:`MaskedToken`; ``realtimekit/admin/tokens.html`` reveals it.
    """
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "issued": [
            {
                "participant": participant,
                "token": MaskedToken(token),
                "expires_at": services.token_expiry(token),
            }
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


# -- change forms that write through services --------------------------------------------------


class RemoteWriteRefused(Exception):
    """Raised out of ``save_model`` so that the page's transaction rolls back."""

    def __init__(self, error: RealtimeKitError) -> None:
        super().__init__(str(error))
        self.error = error


#: The refusal being shown while a POST is rendered again (see ``WritesThroughServices``).
_refused_write: ContextVar[RealtimeKitError | None] = ContextVar("realtimekit_refused_write", default=None)


class WritesThroughServices:
    """ModelAdmin mixin: the form's ``save()`` is the remote write, run from ``save_model``.

    Why ``save_model``: Django calls it only once the form *and* every inline formset are
    valid, so a page that is refused for any reason has sent nothing to RealtimeKit.
    Validation (``clean()``) stays local: fields, the contract, and the stale-edit check.

    A refused remote write must still come back as a form error, with nothing saved. Django's
    public flow cannot turn a ``save_model`` failure into one, so ``save_model`` raises
    :class:`RemoteWriteRefused` (which rolls back the page's transaction) and
    ``changeform_view`` renders the same POST once more through Django's own view, with
    ``get_form`` handing the refusal to the form's ``clean()`` (``refused_write``), which shows it
    on the fields the API named. The second pass calls nothing remote: the form is invalid.
    """

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        refused = _refused_write.get()
        if refused is None:
            return form
        return type(form.__name__, (form,), {"refused_write": refused})

    def save_model(self, request, obj, form, change) -> None:
        try:
            form.save()  # through services; reloads ``obj`` from the row they stored
        except RealtimeKitError as err:
            raise RemoteWriteRefused(err) from err

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RemoteWriteRefused as refused:
            shown = _refused_write.set(refused.error)
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            finally:
                _refused_write.reset(shown)
