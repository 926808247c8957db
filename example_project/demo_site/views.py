"""The demo's one page: the meetings the signed-in user may join, each with a Join button."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from realtimekit_django.api.permissions import visible_meetings


@login_required
@ensure_csrf_cookie
def meetings(request):
    # The same filter as GET /realtimekit/meetings/, so the page and the API never disagree.
    shown = visible_meetings(request.user).order_by("title")[:100]
    return render(
        request,
        "demo_site/meetings.html",
        {"meetings": shown, "uses_emulator": settings.DEMO_USES_EMULATOR},
    )
