"""Shared by the webhook tests: one RSA key per test session (making one costs ~0.1 s), signing,
and posting a delivery to the receiver through the Django test client."""

from __future__ import annotations

import base64
import functools
import json
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.celery_app import app as celery_app  # noqa: F401 - makes the package tasks run eagerly

RECEIVER = "/realtimekit/webhooks/"


@functools.cache
def _key_named(name: str):
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key(name: str = "platform"):
    return _key_named(name)


def public_pem(name: str = "platform") -> str:
    return (
        private_key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(body: bytes, name: str = "platform") -> str:
    return base64.b64encode(private_key(name).sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def body_of(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def post(client, body: bytes, *, signature: str | None = "sign", delivery_id: str | None = "new", **extra):
    headers = {"HTTP_RTK_WEBHOOK_ID": "wh-1"}
    if signature == "sign":
        signature = sign(body)
    if signature is not None:
        headers["HTTP_RTK_SIGNATURE"] = signature
    if delivery_id == "new":
        delivery_id = str(uuid.uuid4())
    if delivery_id is not None:
        headers["HTTP_RTK_UUID"] = delivery_id
    return client.generic("POST", RECEIVER, body, content_type="application/json", **headers, **extra)


def meeting_part(meeting_id, session_id, started_at="2026-01-05T10:00:00.000Z", **extra) -> dict:
    return {
        "id": str(meeting_id),
        "sessionId": session_id,
        "title": "Standup",
        "roomName": "room",
        "status": "LIVE",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "startedAt": started_at,
        "organizedBy": {"id": "org", "name": "Org"},
        **extra,
    }


def started(meeting_id, session_id, **extra) -> dict:
    return {"event": "meeting.started", "meeting": meeting_part(meeting_id, session_id, **extra)}


def ended(meeting_id, session_id, ended_at, reason="HOST_ENDED_MEETING") -> dict:
    return {
        "event": "meeting.ended",
        "meeting": meeting_part(meeting_id, session_id, endedAt=ended_at),
        "reason": reason,
    }


def joined(meeting_id, session_id, peer_id, custom_id, joined_at) -> dict:
    return {
        "event": "meeting.participantJoined",
        "meeting": meeting_part(meeting_id, session_id),
        "participant": {
            "peerId": peer_id,
            "userDisplayName": f"Person {custom_id}",
            "customParticipantId": custom_id,
            "clientSpecificId": custom_id,
            "joinedAt": joined_at,
        },
    }


def left(meeting_id, session_id, peer_id, custom_id, joined_at, left_at) -> dict:
    payload = joined(meeting_id, session_id, peer_id, custom_id, joined_at)
    payload["event"] = "meeting.participantLeft"
    payload["participant"]["leftAt"] = left_at
    return payload
