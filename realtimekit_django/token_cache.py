"""Kept join tokens: opt-in (``JOIN_TOKEN_CACHE``), encrypted, so a prepared join costs no request.

A participant token lives 100 days and refreshing it does not revoke the earlier one, so the
token a participant was last issued can be handed out again instead of asking for a new one.
That is what lets 5,000 prepared people join within minutes without 5,000 requests.

The trade: whoever reads both the cache and the key holds working tokens, and only deleting the
participant revokes them (docs/security.md). Hence:

- off unless ``JOIN_TOKEN_CACHE`` names a cache; nothing about tokens changes otherwise;
- every value is a Fernet token (AES-CBC + HMAC) of the token together with the participant,
  the preset it was issued for and its expiry: a value moved to another participant's key,
  or altered, does not decrypt to a usable token. The key is ``JOIN_TOKEN_KEY``, or derived
  from ``SECRET_KEY`` with HKDF (rotating either forgets every kept token: joins then cost one
  request again);
- a value expires after half the token's remaining life (``KEEP_FRACTION``), so a token handed
  out from here always has weeks left;
- a token is handed out only while RealtimeKit confirmed its participant recently
  (``JOIN_TOKEN_VERIFIED_MAX_AGE``: the add or edit that returned it, or a participant walk
  that saw the participant unchanged), and a walk that finds the participant moved to another
  preset or gone drops its value: a participant removed or moved outside the site is not
  served a token RealtimeKit revoked or changed for longer than that;
- keyed by participant id, which RealtimeKit never reuses: removing a participant drops its
  value, and even a value that could not be dropped belongs to a revoked token nobody asks for;
- the cache is never needed: a cache that fails is a miss (the join costs one request), a
  failed write is a value not kept. Nothing here raises to the caller.

The database never holds a token (``checks.py`` refuses a database cache).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import NamedTuple

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings as django_settings
from django.core.cache import caches
from django.views.decorators.debug import sensitive_variables

from .conf import get_settings
from .tokens import token_expiry

logger = logging.getLogger("realtimekit_django.token_cache")

KEY_PREFIX = "realtimekit:join-token:"
#: A kept token expires from the cache after this share of its remaining life.
KEEP_FRACTION = 0.5
#: A token with less life than this left is not worth keeping.
MIN_KEEP_SECONDS = 3600
_HKDF_INFO = b"realtimekit_django join token cache v1"


class KeptToken(NamedTuple):
    token: str
    preset_name: str
    expires_at: float  # epoch seconds
    #: When RealtimeKit last confirmed the participant this token was issued for (epoch
    #: seconds): the add or edit that returned it. 0 for a value kept by an earlier version.
    verified_at: float = 0.0


def enabled() -> bool:
    """Whether the site opted in (``JOIN_TOKEN_CACHE`` is set)."""
    return get_settings().join_token_cache is not None


@sensitive_variables("secret")
def _fernet() -> Fernet:
    given = get_settings().join_token_key
    if given is not None:
        return Fernet(given)
    secret = django_settings.SECRET_KEY
    secret = secret.encode() if isinstance(secret, str) else secret
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def _cache():
    return caches[get_settings().join_token_cache]


def _key(participant_id) -> str:
    return f"{KEY_PREFIX}{participant_id}"


@sensitive_variables("token", "plain")
def keep(participant_id, token: str, preset_name: str) -> bool:
    """Keep ``token`` (issued for ``preset_name``) for the participant; True when it was kept.

    Not kept: the cache is off, the token's expiry is unreadable or near, or the cache failed.
    """
    if not enabled():
        return False
    expiry = token_expiry(token)
    if expiry is None:
        return False
    life_left = expiry.timestamp() - time.time()
    keep_for = int(life_left * KEEP_FRACTION)
    if keep_for < MIN_KEEP_SECONDS:
        return False
    plain = json.dumps(
        {"p": str(participant_id), "t": token, "s": preset_name, "e": expiry.timestamp(), "v": time.time()}
    ).encode()
    try:
        _cache().set(_key(participant_id), _fernet().encrypt(plain), timeout=keep_for)
    except Exception as exc:  # a failing cache must never fail the join that wanted to keep
        _log_failure("keep", participant_id, exc)
        return False
    return True


@sensitive_variables("token", "value", "plain")
def kept(participant_id) -> KeptToken | None:
    """The token kept for the participant, or None (off, none kept, expired, unreadable, cache down)."""
    if not enabled():
        return None
    try:
        value = _cache().get(_key(participant_id))
    except Exception as exc:
        _log_failure("read", participant_id, exc)
        return None
    if value is None:
        return None
    try:
        plain = json.loads(_fernet().decrypt(value))
        found = KeptToken(str(plain["t"]), str(plain["s"]), float(plain["e"]), float(plain.get("v", 0.0)))
        belongs = plain["p"] == str(participant_id)
    except (InvalidToken, TypeError, ValueError, KeyError):
        logger.warning("a kept join token for participant %s did not decrypt; ignored", participant_id)
        return None
    if not belongs or found.expires_at - time.time() < MIN_KEEP_SECONDS:
        return None
    return found


def drop(participant_id) -> None:
    """Forget the participant's kept token (removal, or a preset the policy no longer gives)."""
    if not enabled():
        return
    try:
        _cache().delete(_key(participant_id))
    except Exception as exc:
        _log_failure("drop", participant_id, exc)


def drop_many(participant_ids) -> None:
    """Forget the kept tokens of several participants at once (one round trip): those a
    participant walk found changed (another preset) or gone."""
    keys = [_key(participant_id) for participant_id in participant_ids]
    if not keys or not enabled():
        return
    try:
        _cache().delete_many(keys)
    except Exception as exc:
        _log_failure("drop", f"{len(keys)} participants", exc)


def verified_recently(verified_at: float) -> bool:
    """Whether a confirmation at ``verified_at`` (epoch seconds) is within
    ``JOIN_TOKEN_VERIFIED_MAX_AGE``: only then is a kept token handed out without a request."""
    return time.time() - verified_at <= get_settings().join_token_verified_max_age


def _log_failure(what: str, participant_id, exc: Exception) -> None:
    # The exception's class only: a cache client's message may carry its URL and password.
    logger.warning(
        "join token cache: could not %s the kept token of participant %s (%s); a join costs one request",
        what,
        participant_id,
        type(exc).__name__,
    )
