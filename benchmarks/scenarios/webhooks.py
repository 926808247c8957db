"""``webhooks``: deliveries the receiver accepts (verify and insert) through a real WSGI server
on loopback, and how fast one worker processes what was accepted.

Payloads are a realistic mix (sessions starting and ending, people joining and leaving, for 20
meetings), signed beforehand with the run's own RSA key (signing is the sender's cost). They
are posted one after another over loopback to a threaded ``wsgiref`` server running the site;
``p50_ms``/``p99_ms`` are per delivery, as the sender sees them. The processing task is not
sent from the request here (the eager Celery of the benchmark site would run it inline and
the figure would no longer be the receiver's); the accepted events are then processed in
order by ``process_event``, as one worker would: ``processed_per_second``. The targeted fetches
that processing queues (events about meetings the mirror lacks) are counted, not run: each is
a task of its own against the API (``targeted_fetches_queued``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings

from realtimekit_django.models import Session, SessionParticipant, WebhookEvent
from realtimekit_django.webhooks import views
from realtimekit_django.webhooks.handlers import process_event

from ..measure import median, percentile
from ..report import Result, Target

MEETINGS = 20


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def _payloads(count: int) -> list[dict]:
    found: list[dict] = []
    n = 0
    while len(found) < count:
        meeting_id = str(uuid.UUID(int=n % MEETINGS + 1))
        session_id = f"bench-session-{n}"
        meeting = {"id": meeting_id, "sessionId": session_id, "startedAt": "2026-01-05T10:00:00.000Z"}
        found.append({"event": "meeting.started", "meeting": meeting})
        for p in range(8):
            person = {
                "peerId": f"{session_id}-{p}",
                "customParticipantId": f"p{p}",
                "joinedAt": "2026-01-05T10:01:00Z",
            }
            found.append({"event": "meeting.participantJoined", "meeting": meeting, "participant": person})
            left = {**person, "leftAt": "2026-01-05T10:30:00Z"}
            found.append({"event": "meeting.participantLeft", "meeting": meeting, "participant": left})
        found.append(
            {
                "event": "meeting.ended",
                "meeting": {**meeting, "endedAt": "2026-01-05T11:00:00Z"},
                "reason": "HOST_ENDED_MEETING",
            }
        )
        n += 1
    return found[:count]


def _signed(payloads: list[dict], key) -> list[tuple[bytes, dict[str, str]]]:
    signed = []
    for payload in payloads:
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()
        signed.append(
            (
                body,
                {
                    "content-type": "application/json",
                    "rtk-signature": signature,
                    "rtk-uuid": str(uuid.uuid4()),
                    "rtk-webhook-id": "bench",
                },
            )
        )
    return signed


def run(database: str, size: int, rounds: int) -> Result:
    result = Result("webhooks", database, size, rounds)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    accepted: list[int] = []
    sent_task = views._send_task
    views._send_task = lambda task, pk: accepted.append(pk)  # processing is timed on its own below
    # An event naming a meeting the mirror lacks queues a targeted fetch: another task, run by
    # another worker against the API. Processing only queues it, so the fetch is counted here,
    # not run (run inline, with no API in this scenario, it timed the client's retry sleeps).
    from realtimekit_django.sync import targeted

    fetches: list[tuple[str, str]] = []
    targeted.SEND = lambda kind, meeting_id: fetches.append((kind, meeting_id))
    try:
        with override_settings(
            REALTIMEKIT={**settings.REALTIMEKIT, "WEBHOOK_PUBLIC_KEY": pem},
            ROOT_URLCONF="benchmarks.urls",
        ):
            cache.clear()
            latencies, seconds, processing = [], 0.0, 0.0
            for _ in range(rounds):
                deliveries = _signed(_payloads(size), key)
                WebhookEvent.objects.all().delete()
                SessionParticipant.objects.all().delete()
                Session.objects.all().delete()
                accepted.clear()
                round_latencies, round_seconds = _post_all(deliveries)
                latencies += round_latencies
                seconds += round_seconds
                started = time.perf_counter()
                for pk in accepted:
                    process_event(pk)
                processing += time.perf_counter() - started
    finally:
        views._send_task = sent_task
        targeted.SEND = None
    total = size * rounds
    result.figures = {
        "accepted_per_second": round(total / seconds, 1),
        "p50_ms": round(median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "processed_per_second": round(total / processing, 1),
        "targeted_fetches_queued": len(fetches),
    }
    result.targets = [
        Target("p99_ms", "<=", 20),
        Target("accepted_per_second", ">=", 200),
        Target("processed_per_second", ">=", 200),
    ]
    result.notes.append(
        "webhooks: sequential deliveries over loopback to a threaded wsgiref server; one process"
    )
    return result


def _post_all(deliveries) -> tuple[list[float], float]:
    server = make_server(
        "127.0.0.1", 0, WSGIHandler(), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/realtimekit/webhooks/"
    latencies = []
    try:
        with requests.Session() as http:
            started = time.perf_counter()
            for body, headers in deliveries:
                before = time.perf_counter()
                response = http.post(url, data=body, headers=headers, timeout=30)
                latencies.append((time.perf_counter() - before) * 1000)
                if response.status_code != 200:
                    raise AssertionError(f"the receiver answered {response.status_code}")
            elapsed = time.perf_counter() - started
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    return latencies, elapsed
