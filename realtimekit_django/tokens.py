"""Reading RealtimeKit participant tokens (JWTs) without verifying them.

Only RealtimeKit can verify its tokens; this app only needs what a token says about itself
(when it expires) to tell the person holding it. The emulator issues tokens of the same shape
and reads them back with the same function.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime


def token_claims(token: str) -> dict:
    """The claims of a JWT, unverified. Raises ``ValueError`` when it is not a JWT."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise ValueError("not a JSON Web Token") from exc
    if not isinstance(claims, dict):
        raise ValueError("a JSON Web Token's claims must be an object")
    return claims


def token_expiry(token: str) -> datetime | None:
    """The ``exp`` of a RealtimeKit JWT as an aware UTC datetime, or ``None`` if unreadable."""
    try:
        return datetime.fromtimestamp(int(token_claims(token)["exp"]), tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
