"""The room page, ``GET .../meetings/<meeting_id>/room/`` (URL name ``meeting-room``).

Signed-out people go to the login page first (a join is always tied to a site user). The page
never carries a token and is never cached (``private, no-store``): its module fetches the token.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from .context import room_context


@require_GET
@ensure_csrf_cookie
def meeting_room(request, meeting_id):
    if not request.user.is_authenticated:
        response = redirect_to_login(request.get_full_path())
    else:
        context = room_context(request, meeting_id)
        response = render(request, "realtimekit/room.html", context, status=context["room_status"])
    patch_cache_control(response, private=True, no_store=True, no_cache=True, max_age=0)
    return response
