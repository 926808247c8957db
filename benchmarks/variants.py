"""The two yardsticks the project's reconcile is measured against.

* :func:`floor_sync`: the least any sync can do: the same pages fetched with bare ``requests``
  (one ``Session`` for the walk, as the client keeps one), and one hand-written multi-row
  ``INSERT ... ON CONFLICT (id) DO UPDATE`` per page, in its own transaction. No validation, no
  diff, no stale-payload guard: what it skips is exactly what the project's extra time buys.
  It is the issue's floor, kept as written; the project's upsert is the same kind of
  ``VALUES`` statement (with the stale-payload guard), after a ``SELECT`` of what is stored.
* :func:`naive_sync`: the way dj-stripe syncs: the same client walk, the same payload-to-row
  conversion as the project, then ``Meeting.objects.update_or_create`` for every row (a
  SELECT and an INSERT or UPDATE per row, each in its own transaction).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import requests
from django.db import connection, transaction
from django.utils import timezone

from realtimekit_django.client import get_client
from realtimekit_django.models import Meeting
from realtimekit_django.rows import meeting_row

from .emulator import ACCOUNT_ID, API_TOKEN, APP_ID

# Listed by hand (not taken from services) so the floor stays a floor if services change.
_FLOOR_COLUMNS = (
    "id",
    "app_id",
    "title",
    "status",
    "record_on_start",
    "live_stream_on_start",
    "persist_chat",
    "summarize_on_end",
    "transcribe_on_end",
    "session_keep_alive_time_in_secs",
    "ai_config",
    "recording_config",
    "remote_created_at",
    "remote_updated_at",
    "synced_at",
    "missing_since",
    "remote_data",
)


@dataclass
class SyncCost:
    pages: int = 0
    items: int = 0
    http_requests: int = 0


def _timestamp(value: str | None, sqlite: bool):
    if value is None:
        return None
    moment = datetime.fromisoformat(value)  # Python 3.11 reads the trailing "Z"
    # SQLite stores naive UTC text, as Django's backend writes it; psycopg adapts aware datetimes.
    return str(moment.replace(tzinfo=None)) if sqlite else moment


def _floor_row(item: dict, now, sqlite: bool) -> tuple:
    pk = uuid.UUID(item["id"])
    return (
        pk.hex if sqlite else pk,
        APP_ID,
        item.get("title"),
        item.get("status", "ACTIVE"),
        bool(item.get("record_on_start")),
        bool(item.get("live_stream_on_start")),
        bool(item.get("persist_chat")),
        bool(item.get("summarize_on_end")),
        bool(item.get("transcribe_on_end")),
        float(item.get("session_keep_alive_time_in_secs", 60)),
        json.dumps(item.get("ai_config") or {}),
        json.dumps(item.get("recording_config") or {}),
        _timestamp(item.get("created_at"), sqlite),
        _timestamp(item.get("updated_at"), sqlite),
        now,
        None,
        json.dumps(item),
    )


def _floor_write(items: list[dict]) -> None:
    sqlite = connection.vendor == "sqlite"
    now = str(timezone.now().replace(tzinfo=None)) if sqlite else timezone.now()
    table = connection.ops.quote_name(Meeting._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _FLOOR_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in map(connection.ops.quote_name, _FLOOR_COLUMNS[1:]))
    row_sql = "(" + ", ".join(["%s"] * len(_FLOOR_COLUMNS)) + ")"
    values = ", ".join([row_sql] * len(items))
    sql = f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT (id) DO UPDATE SET {updates}"
    params = [value for item in items for value in _floor_row(item, now, sqlite)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def floor_sync(base_url: str, per_page: int, session: requests.Session) -> SyncCost:
    cost = SyncCost()
    url = f"{base_url}/accounts/{ACCOUNT_ID}/realtime/kit/{APP_ID}/meetings"
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Accept": "application/json"}
    page_no = 1
    while True:
        response = session.get(
            url, params={"page_no": page_no, "per_page": per_page}, headers=headers, timeout=30
        )
        cost.http_requests += 1
        response.raise_for_status()
        body = response.json()
        items = body["data"]
        if items:
            _floor_write(items)
        cost.pages += 1
        cost.items += len(items)
        paging = body.get("paging") or {}
        if len(items) < per_page or paging.get("end_offset", 0) >= paging.get("total_count", 0):
            return cost
        page_no += 1


def naive_sync(per_page: int) -> SyncCost:
    api = get_client()
    before = api.request_count
    cost = SyncCost()
    for page in api.meetings.walk_meetings(per_page=per_page):
        now = timezone.now()
        for item in page.items:
            row = meeting_row(item, app_id=api.app_id, now=now)
            Meeting.objects.update_or_create(id=row.pop("id"), defaults=row)
        cost.pages += 1
        cost.items += len(page.items)
    cost.http_requests = api.request_count - before
    return cost
