"""Checking ``rtk-signature``: base64 RSA-SHA256 (PKCS#1 v1.5) over the raw request body.

The key is ``WEBHOOK_PUBLIC_KEY`` (a PEM in settings) or the one published at
``WEBHOOK_PUBLIC_KEY_URL``, kept in the ``WEBHOOK_KEY_CACHE`` cache so that every process shares
one copy. A signature that fails against the kept key may mean the platform rotated it, so the
key is fetched again, but at most once a minute for all processes together (a cache ``add``
is the gate): a flood of forged deliveries costs the site no more than one fetch a minute.

A rotation must not lose a genuine delivery: one that fails under the kept key while no fresh
key can be had (the gate is closed, the key URL fails) is answered 503 (:class:`KeyNotFresh`),
which the platform retries; only a signature that fails under a key fetched in this very
request is refused for good (401).

A cache that is down is not an outage: the key and the gate then fall back to this process's
own copy (one fetch a minute per process), and the delivery is verified as usual.

``cryptography`` is the ``webhooks`` extra; :func:`require_cryptography` names it when it is
missing, and the receiver's URLconf calls it on import, so ``manage.py check`` reports it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import time
from typing import Any

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from ..client.webhooks import fetch_webhook_public_key
from ..conf import get_settings
from ..exceptions import RealtimeKitError

logger = logging.getLogger("realtimekit_django.webhooks")

KEY_CACHE_KEY = "realtimekit:webhooks:public-key"
FETCH_GATE_KEY = "realtimekit:webhooks:key-fetch-gate"
#: Seconds between two fetches of the key, whatever fails in between.
FETCH_INTERVAL = 60


class KeyUnavailable(Exception):
    """No key to verify with (the URL could not be read): the delivery is answered 503 and the
    platform retries it later."""

    reason = "no_key"


class KeyNotFresh(KeyUnavailable):
    """The signature fails under the kept key and no fresh key could be fetched now (the
    once-a-minute gate is closed, or the key URL failed): the platform may have rotated its
    key, so the delivery is answered 503 and retried later, never refused for good."""

    reason = "key_not_fresh"


#: This process's own copy of the key and of the fetch gate, used only while the cache fails.
_local: dict[str, Any] = {"pem": None, "gate_until": 0.0}


def require_cryptography() -> Any:
    """The ``cryptography`` modules this needs, or a clear ``ImproperlyConfigured``."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:
        raise ImproperlyConfigured(
            "realtimekit_django.webhooks verifies signatures with the 'cryptography' package: "
            "pip install cryptography."
        ) from None
    return InvalidSignature, hashes, serialization, padding, rsa


@functools.lru_cache(maxsize=8)
def load_public_key(pem: str):
    """The RSA public key in ``pem`` (parsed once per process per PEM)."""
    _, _, serialization, _, rsa = require_cryptography()
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as exc:
        raise ImproperlyConfigured(f"the webhook public key is not a readable PEM ({type(exc).__name__})")
    if not isinstance(key, rsa.RSAPublicKey):
        raise ImproperlyConfigured("the webhook public key must be an RSA key")
    return key


def decode_signature(header: str) -> bytes | None:
    """The signature's bytes, or None when the header is not base64."""
    try:
        return base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def signature_matches(pem: str, body: bytes, signature: bytes) -> bool:
    InvalidSignature, hashes, _, padding, _ = require_cryptography()
    try:
        load_public_key(pem).verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def verify(body: bytes, header: str) -> bool:
    """Whether ``header`` (``rtk-signature``) signs exactly ``body``.

    False (401) only when a pinned key or a key fetched just now refuses it. Raises
    :class:`KeyUnavailable` when there is no key to check against, and :class:`KeyNotFresh`
    when the kept key refuses it and no fresh key could be fetched (both 503).
    """
    signature = decode_signature(header)
    if signature is None:
        return False
    config = get_settings()
    if config.webhook_public_key:
        return signature_matches(config.webhook_public_key, body, signature)
    cache = caches[config.webhook_key_cache]
    kept = _kept_key(cache)
    if kept is not None and signature_matches(kept, body, signature):
        return True
    fresh = fetch_key_if_due(cache, config.webhook_public_key_url)
    if fresh is None:
        if kept is None:
            raise KeyUnavailable("no webhook public key could be fetched")
        raise KeyNotFresh("the kept webhook key refuses the signature and no fresh key could be fetched")
    return fresh != kept and signature_matches(fresh, body, signature)


def _kept_key(cache) -> str | None:
    try:
        return cache.get(KEY_CACHE_KEY)
    except Exception as err:  # a cache outage: this process's own copy, if it has one
        logger.warning("the webhook key cache failed (%s); using this process's copy", type(err).__name__)
        return _local["pem"]


def _gate_open(cache) -> bool:
    """Take the once-a-minute fetch gate: shared by every process through the cache, or kept
    by this process alone while the cache fails."""
    try:
        return bool(cache.add(FETCH_GATE_KEY, True, FETCH_INTERVAL))
    except Exception as err:
        logger.warning(
            "the webhook key cache failed (%s); gating key fetches per process", type(err).__name__
        )
    now = time.monotonic()
    if now < _local["gate_until"]:
        return False
    _local["gate_until"] = now + FETCH_INTERVAL
    return True


def fetch_key_if_due(cache, url: str) -> str | None:
    """Fetch and keep the published key, unless a fetch happened in the last minute; the PEM,
    or None when not due or when the fetch failed."""
    if not _gate_open(cache):
        return None
    try:
        pem = fetch_webhook_public_key(url)
        load_public_key(pem)
    except (RealtimeKitError, ImproperlyConfigured) as err:
        logger.warning("could not fetch the webhook public key from %s: %s", url, err)
        return None
    _local["pem"] = pem
    try:
        cache.set(KEY_CACHE_KEY, pem, None)  # kept until a failing signature says it changed
    except Exception as err:
        logger.warning("could not keep the webhook key in its cache (%s)", type(err).__name__)
    logger.info("fetched the webhook public key from %s", url)
    return pem
