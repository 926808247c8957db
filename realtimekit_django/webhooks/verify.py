"""Checking ``rtk-signature``: base64 RSA-SHA256 (PKCS#1 v1.5) over the raw request body.

The key is ``WEBHOOK_PUBLIC_KEY`` (a PEM in settings) or the one published at
``WEBHOOK_PUBLIC_KEY_URL``, kept in the ``WEBHOOK_KEY_CACHE`` cache so that every process shares
one copy. A signature that fails against the kept key may mean the platform rotated it, so the
key is fetched again, but at most once a minute for all processes together (a cache ``add``
is the gate): a flood of forged deliveries costs the site no more than one fetch a minute.

``cryptography`` is the ``webhooks`` extra; :func:`require_cryptography` names it when it is
missing, and the receiver's URLconf calls it on import, so ``manage.py check`` reports it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
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

    Raises :class:`KeyUnavailable` when there is no key to check against.
    """
    signature = decode_signature(header)
    if signature is None:
        return False
    config = get_settings()
    if config.webhook_public_key:
        return signature_matches(config.webhook_public_key, body, signature)
    cache = caches[config.webhook_key_cache]
    kept = cache.get(KEY_CACHE_KEY)
    if kept is not None and signature_matches(kept, body, signature):
        return True
    fresh = fetch_key_if_due(cache, config.webhook_public_key_url)
    if fresh is None:
        if kept is None:
            raise KeyUnavailable("no webhook public key could be fetched")
        return False
    return fresh != kept and signature_matches(fresh, body, signature)


def fetch_key_if_due(cache, url: str) -> str | None:
    """Fetch and keep the published key, unless a fetch happened in the last minute; the PEM,
    or None when not due or when the fetch failed."""
    if not cache.add(FETCH_GATE_KEY, True, FETCH_INTERVAL):
        return None
    try:
        pem = fetch_webhook_public_key(url)
        load_public_key(pem)
    except (RealtimeKitError, ImproperlyConfigured) as err:
        logger.warning("could not fetch the webhook public key from %s: %s", url, err)
        return None
    cache.set(KEY_CACHE_KEY, pem, None)  # kept until a failing signature says it changed
    logger.info("fetched the webhook public key from %s", url)
    return pem
