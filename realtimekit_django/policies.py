"""Default answers to the questions a join asks about a site's user.

Each is replaceable through a ``REALTIMEKIT`` setting (a dotted path or a callable), because
only the site knows who may join which meeting, with which preset, under which name:

- ``PARTICIPANT_ID_FUNCTION(user) -> str``: the stable ``custom_participant_id``.
- ``PRESET_POLICY(user, meeting) -> str | None``: the preset, or ``None`` to refuse the join.
- ``DISPLAY_NAME_FUNCTION(user) -> str | None`` and ``PICTURE_FUNCTION(user) -> str | None``.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def default_custom_participant_id(user) -> str:
    """An opaque id that is stable for a user but reveals neither the pk nor any personal data.

    It is an HMAC of the primary key under the site's ``SECRET_KEY``, so RealtimeKit (and its
    logs, webhooks and recordings) never learn an email address or a guessable row number.
    Changing ``SECRET_KEY`` changes the ids; sites that rotate keys should set their own
    function (see docs/settings.md).
    """
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"realtimekit-participant:{user.pk}".encode(), hashlib.sha256
    ).hexdigest()
    return f"u-{digest[:32]}"


def default_preset_policy(user, meeting) -> str | None:
    """Staff join as hosts, other active users as participants, anyone else is refused."""
    from .conf import get_settings

    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    config = get_settings()
    return config.host_preset if user.is_staff else config.default_preset


def default_display_name(user) -> str | None:
    """The user's full name when there is one, else the username."""
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return (full_name or "").strip() or user.get_username()


def default_picture(user) -> str | None:
    """No picture: sites with avatars point ``PICTURE_FUNCTION`` at their own function."""
    return None
