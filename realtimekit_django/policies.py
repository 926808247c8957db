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
    """The user's full name, else their short name, else their username; never an address.

    Everyone in the meeting sees this name, and RealtimeKit keeps it. A candidate holding an
    ``@`` is skipped, because on many sites the username (or ``USERNAME_FIELD`` itself) is the
    e-mail address; with nothing left, no name is sent (``None``) and RealtimeKit's own
    placeholder is shown. Sites that want another name set ``DISPLAY_NAME_FUNCTION``.
    """
    candidates = (
        _called(user, "get_full_name"),
        _called(user, "get_short_name"),
        _called(user, "get_username"),
    )
    for candidate in candidates:
        if candidate and "@" not in candidate:
            return candidate
    return None


def _called(user, method: str) -> str:
    found = getattr(user, method, None)
    value = found() if callable(found) else ""
    return str(value or "").strip()


def default_picture(user) -> str | None:
    """No picture: sites with avatars point ``PICTURE_FUNCTION`` at their own function."""
    return None
