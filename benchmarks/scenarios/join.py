"""``join``: join tokens through the DRF endpoint, and what the endpoint adds to its HTTP call.

Every join costs one RealtimeKit call (add participant on a user's first join, an edit of it
afterwards; the direct call refreshes the token, the same one request on the same participant
path). Right beside each join, the same call is made directly with ``requests`` against
the same loopback emulator; ``overhead_ms`` is the median of (join - direct): what Django, DRF,
the policy, the service and the database add. Half the joins are first joins, half rejoins.
Then ``CACHED_REJOINS`` people rejoin again with ``JOIN_TOKEN_CACHE`` on (``cached_rejoin_*``):
the kept token is handed out, no HTTP call, no write.
"""

from __future__ import annotations

import gc
import time

import requests
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from realtimekit_django.client import get_client
from realtimekit_django.sync.reconcile import reconcile_meetings

from ..database import reset_tables
from ..emulator import ACCOUNT_ID, API_TOKEN, APP_ID, seed_meetings, served
from ..measure import count_queries, median, percentile
from ..report import Result, Target

WARM_UP = 5
#: People whose rejoins are measured again with JOIN_TOKEN_CACHE on.
CACHED_REJOINS = 50
_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")


class _Direct:
    """The RealtimeKit call a join makes, made with bare ``requests`` (one Session)."""

    def __init__(self, base_url: str, meeting_id: str) -> None:
        self.session = requests.Session()
        self.headers = {"Authorization": f"Bearer {API_TOKEN}", "Accept": "application/json"}
        self.participants = (
            f"{base_url}/accounts/{ACCOUNT_ID}/realtime/kit/{APP_ID}/meetings/{meeting_id}/participants"
        )

    def call(self, index: int, participant_id: str | None) -> float:
        started = time.perf_counter()
        if participant_id is None:
            body = {
                "custom_participant_id": f"direct-{index}",
                "preset_name": "group_call_participant",
                "name": f"direct-{index}",
            }
            response = self.session.post(self.participants, json=body, headers=self.headers, timeout=30)
        else:
            url = f"{self.participants}/{participant_id}/token"
            response = self.session.post(url, headers=self.headers, timeout=30)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return elapsed * 1000


def _clients(users) -> list[Client]:
    clients = []
    for user in users:
        client = Client()
        client.force_login(user)
        clients.append(client)
    return clients


def _join(client: Client, url: str) -> tuple[float, dict, int, int]:
    with count_queries() as queries:
        started = time.perf_counter()
        response = client.post(url)
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise AssertionError(f"join answered {response.status_code}: {response.content[:200]!r}")
    return elapsed * 1000, response.json(), queries.total, queries.queries


def _bare(client: Client, url: str) -> float:
    """One request to the bare view: the same client, session, user and DRF dispatch, no work."""
    started = time.perf_counter()
    response = client.post(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise AssertionError(f"bare view answered {response.status_code}")
    return elapsed * 1000


def _statements(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        client.post(url)
    return [q["sql"].split(" WHERE ")[0][:70] for q in captured.captured_queries]


def _cached_rejoins(clients: list[Client], url: str, bare_url: str) -> dict:
    """Rejoins with ``JOIN_TOKEN_CACHE`` on, by people who joined already: one join each keeps
    a token (an edit), then each rejoin is served it. Its queries and writes, and its own time
    beside the bare view (there is no HTTP call to subtract)."""
    from django.conf import settings
    from django.test import override_settings

    with override_settings(REALTIMEKIT={**settings.REALTIMEKIT, "JOIN_TOKEN_CACHE": "default"}):
        for client in clients:
            _join(client, url)
        with CaptureQueriesContext(connection) as captured:
            clients[0].post(url)
        sql = [q["sql"].lstrip().split(None, 1)[0].upper() for q in captured.captured_queries]
        gc.collect()
        times, bares = [], []
        for client in clients:
            join_ms, _body, _total, _data = _join(client, url)
            times.append(join_ms)
            bares.append(_bare(client, bare_url))
    return {
        "cached_rejoin_ms": median(times),
        "cached_rejoin_app_ms": median(times) - median(bares),
        "cached_rejoin_queries": sum(1 for kind in sql if kind not in _CONTROL),
        "cached_rejoin_writes": sum(1 for kind in sql if kind in ("INSERT", "UPDATE", "DELETE")),
    }


def run(database: str, size: int, rounds: int) -> Result:
    result = Result("join", database, size, 1)
    users_needed = (size + 1) // 2
    User = get_user_model()
    with served() as (emulator, server):
        reset_tables()  # an earlier scenario's meetings are not this emulator's
        meeting_id = seed_meetings(emulator, 1)[0]
        reconcile_meetings(client=get_client())
        User.objects.filter(username__startswith="bench-").delete()
        users = User.objects.bulk_create(
            [User(username=f"bench-{i}") for i in range(users_needed + WARM_UP + 1)]
        )
        users = list(User.objects.filter(username__startswith="bench-").order_by("pk"))
        clients = _clients(users)
        url = reverse("realtimekit:meeting-join", kwargs={"meeting_id": meeting_id})
        direct = _Direct(server.base_url, meeting_id)

        for client in clients[:WARM_UP]:  # first requests import and compile; not measured
            _join(client, url)
        probe = clients[WARM_UP]
        first_join_sql, rejoin_sql = _statements(probe, url), _statements(probe, url)
        clients = clients[WARM_UP + 1 :]

        bare_url = reverse("bare", kwargs={"meeting_id": meeting_id})
        joins, directs, overheads, totals, queries, bares = [], [], [], [], [], []
        rejoin_queries = []
        first, again = [], []
        participant_of: dict[int, str] = {}
        gc.collect()
        for index in range(size):
            slot = index % users_needed
            rejoin = slot in participant_of
            direct_first = index % 2 == 1  # alternate which of the pair runs first
            if direct_first:
                direct_ms = direct.call(index, participant_of.get(slot))
            join_ms, body, total, data = _join(clients[slot], url)
            if not direct_first:
                direct_ms = direct.call(index, participant_of.get(slot))
            participant_of.setdefault(slot, body["participant_id"])
            bares.append(_bare(clients[slot], bare_url))
            joins.append(join_ms)
            directs.append(direct_ms)
            overheads.append(join_ms - direct_ms)
            (again if rejoin else first).append(join_ms - direct_ms)
            totals.append(total)
            queries.append(data)
            if rejoin:
                rejoin_queries.append(data)

        cached = _cached_rejoins(clients[:CACHED_REJOINS], url, bare_url)

    result.figures = {
        "join_median_ms": median(joins),
        "join_p95_ms": percentile(joins, 0.95),
        "direct_call_median_ms": median(directs),
        "overhead_ms": median(overheads),
        "overhead_p95_ms": percentile(overheads, 0.95),
        "first_join_overhead_ms": median(first),
        "rejoin_overhead_ms": median(again) if again else None,
        "framework_floor_ms": median(bares),
        "app_overhead_ms": median(overheads) - median(bares),
        "queries_per_join": max(queries),
        "rejoin_queries": max(rejoin_queries) if rejoin_queries else None,
        "rejoin_writes": sum(
            1 for sql in rejoin_sql if sql.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
        ),
        "statements_per_join": max(totals),
        **cached,
    }
    # Issue 13 accepts one more query on PostgreSQL: the join lock is a statement of its own.
    queries_allowed = 5 if database == "postgres" else 4
    # Issue 28: the app's own time (the HTTP call and the framework floor excluded) <= 3 ms; a
    # rejoin no dearer than a first join. Its one write stays: the edit that issues the token
    # moves the participant's updated_at remotely, and the mirror keeps what the API holds.
    result.targets = [
        Target("app_overhead_ms", "<=", 3),
        Target("queries_per_join", "<=", queries_allowed),
        Target("rejoin_queries", "<=", queries_allowed),
        Target("rejoin_writes", "<=", 1),
        # With JOIN_TOKEN_CACHE a rejoin with no change is served the kept token: no request,
        # no write, and the session, the user and the lookup (the join lock a fourth on PostgreSQL).
        Target("cached_rejoin_queries", "<=", queries_allowed - 1),
        Target("cached_rejoin_writes", "<=", 0),
    ]
    result.floors = {
        "join_median_ms": "direct_call_median_ms",
        "overhead_ms": "framework_floor_ms",
        "app_overhead_ms": "framework_floor_ms",
        "cached_rejoin_app_ms": "framework_floor_ms",
    }
    result.notes.append(
        f"{size} joins by {users_needed} users to one meeting ({len(first)} first joins, "
        f"{len(again)} rejoins); Django test client with force_login (database sessions); "
        "queries_per_join is the maximum over all joins, without BEGIN/SAVEPOINT/RELEASE; "
        "statements_per_join includes them (what CaptureQueriesContext counts)"
    )
    result.notes.append(
        "framework_floor_ms is a bare DRF view with the join's authentication and permission "
        "classes, requested by the same client right after each join: the part of overhead_ms no "
        "join endpoint can avoid on this machine; app_overhead_ms = overhead_ms - framework_floor_ms "
        "is what the join itself adds (policy, lookup, service, upsert, serializer)"
    )
    result.notes.append("first join SQL: " + " | ".join(first_join_sql))
    result.notes.append("rejoin SQL: " + " | ".join(rejoin_sql))
    return result
