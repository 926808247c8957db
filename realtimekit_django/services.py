"""The only code that writes mirrored rows: the remote call first, then the local upsert.

Every function here follows one order: validate (in the client, before any request), call
RealtimeKit, and only when that succeeded write the row the API described, inside a
transaction. A failed call therefore leaves the database exactly as it was.

Rows are written with one upsert statement whose conflict clause refuses to replace a row with
an *older* payload (``remote_updated_at`` guard), so a slow reconcile page can never undo an
admin's newer edit, whatever order the two commit in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import FilteredRelation, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import schema, signals
from .client import RealtimeKitClient, get_client
from .conf import get_settings
from .exceptions import InvalidResponse, JoinRefused, MeetingInactive, NotFound, ValidationError
from .models import Meeting, MeetingStatus, Participant

logger = logging.getLogger("realtimekit_django.services")

MEETING_COLUMNS = (
    "id",
    "app_id",
    "title",
    "status",
    *schema.MEETING_BOOLEAN_FIELDS,
    "session_keep_alive_time_in_secs",
    "ai_config",
    "recording_config",
    "remote_created_at",
    "remote_updated_at",
    "synced_at",
    "missing_since",
    "remote_data",
)
PARTICIPANT_COLUMNS = (
    "id",
    "meeting_id",
    "custom_participant_id",
    "preset_name",
    "name",
    "picture",
    "user_id",
    "remote_created_at",
    "remote_updated_at",
    "synced_at",
    "remote_data",
)


def _client(client: RealtimeKitClient | None) -> RealtimeKitClient:
    return client or get_client()


# -- turning payloads into rows ------------------------------------------------------------


def _data(envelope: Mapping, what: str) -> dict:
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise InvalidResponse(f"{what}: the answer's 'data' is not an object")
    return data


def _timestamp(payload: Mapping, key: str, what: str) -> datetime | None:
    value = payload.get(key)
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidResponse(f"{what}: '{key}' is not an ISO 8601 date-time: {str(value)[:40]!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _uuid(payload: Mapping, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(payload["id"]))
    except (KeyError, ValueError, TypeError, AttributeError):
        raise InvalidResponse(f"{what}: missing or malformed 'id'") from None


def _typed(payload: Mapping, key: str, types: tuple[type, ...], what: str, default: Any = None) -> Any:
    value = payload.get(key, default)
    if value is None:
        return default
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise InvalidResponse(f"{what}: '{key}' has the wrong type ({type(value).__name__})")
    return value


_STATUSES = frozenset(MeetingStatus.values)


def _storable(payload: Mapping) -> dict:
    """The payload fit to store: storage secrets removed (the API never returns them, but a
    payload built elsewhere might carry them). Copied deeply only when there is one to remove:
    a page of payloads parsed from JSON is ours alone, and copying it dominated no-op syncs."""
    recording = payload.get("recording_config")
    storage = recording.get("storage_config") if isinstance(recording, Mapping) else None
    if isinstance(storage, Mapping) and any(key in storage for key in schema.STORAGE_WRITE_ONLY_KEYS):
        return schema.strip_write_only(payload)
    return dict(payload)


def meeting_row(payload: Mapping, *, app_id: str, now: datetime) -> dict:
    """The column values for a meeting payload; raises ``InvalidResponse`` on a malformed one."""
    if not isinstance(payload, Mapping):
        raise InvalidResponse("meeting payload is not an object")
    data = _storable(payload)
    what = f"meeting {str(payload.get('id'))[:40]}"
    status = _typed(data, "status", (str,), what, MeetingStatus.ACTIVE)
    if status not in _STATUSES:
        raise InvalidResponse(f"{what}: unknown status {status[:20]!r}")
    row = {
        "id": _uuid(data, "meeting payload"),
        "app_id": app_id,
        "title": _typed(data, "title", (str,), what),
        "status": status,
        "session_keep_alive_time_in_secs": float(
            _typed(data, "session_keep_alive_time_in_secs", (int, float), what, 60)
        ),
        "ai_config": _typed(data, "ai_config", (dict,), what, {}),
        "recording_config": _typed(data, "recording_config", (dict,), what, {}),
        "remote_created_at": _timestamp(data, "created_at", what),
        "remote_updated_at": _timestamp(data, "updated_at", what),
        "synced_at": now,
        "missing_since": None,
        "remote_data": data,
    }
    for name in schema.MEETING_BOOLEAN_FIELDS:
        row[name] = _typed(data, name, (bool,), what, False)
    return row


def participant_row(payload: Mapping, *, meeting_id: uuid.UUID, now: datetime, user_id: Any = None) -> dict:
    """The column values for a participant payload (the token, if any, is dropped here)."""
    if not isinstance(payload, Mapping):
        raise InvalidResponse("participant payload is not an object")
    data = {key: value for key, value in payload.items() if key != "token"}
    what = f"participant {str(payload.get('id'))[:40]}"
    custom_id = _typed(data, "custom_participant_id", (str,), what)
    preset_name = _typed(data, "preset_name", (str,), what)
    if not custom_id or not preset_name:
        raise InvalidResponse(f"{what}: 'custom_participant_id' and 'preset_name' are required")
    return {
        "id": _uuid(data, "participant payload"),
        "meeting_id": meeting_id,
        "custom_participant_id": custom_id,
        "preset_name": preset_name,
        "name": _typed(data, "name", (str,), what),
        "picture": _typed(data, "picture", (str,), what),
        "user_id": user_id,
        "remote_created_at": _timestamp(data, "created_at", what),
        "remote_updated_at": _timestamp(data, "updated_at", what),
        "synced_at": now,
        "remote_data": data,
    }


# -- the guarded upsert ---------------------------------------------------------------------


def _upsert(model, columns: tuple[str, ...], rows: list[dict], *, keep: dict[str, str] | None = None) -> int:
    """Insert or update ``rows`` in one statement; never replace a row with an older payload.

    ``keep`` maps a column to the SQL used for it on conflict instead of the new value
    (participants keep the site user they were issued for). Returns the rows written.
    """
    if not rows:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor not in ("postgresql", "sqlite"):
        # No portable ON CONFLICT ... WHERE elsewhere: fall back to Django's bulk upsert.
        objs = [model(**row) for row in rows]
        model.objects.using(alias).bulk_create(
            objs, update_conflicts=True, unique_fields=["id"], update_fields=[c for c in columns if c != "id"]
        )
        return len(objs)
    table = connection.ops.quote_name(model._meta.db_table)
    fields = [model._meta.get_field(c) for c in columns]  # get_field knows attnames like meeting_id
    quoted = [connection.ops.quote_name(f.column) for f in fields]
    keep = keep or {}
    updates = ", ".join(
        f"{q} = {keep[c].format(table=table, column=q)}" if c in keep else f"{q} = EXCLUDED.{q}"
        for c, q in zip(columns, quoted, strict=True)
        if c != "id"
    )
    guard = connection.ops.quote_name("remote_updated_at")
    conflict = (
        f"ON CONFLICT ({connection.ops.quote_name('id')}) DO UPDATE SET {updates} "
        f"WHERE {table}.{guard} IS NULL OR EXCLUDED.{guard} IS NULL OR EXCLUDED.{guard} >= {table}.{guard}"
    )
    if connection.vendor == "postgresql":
        source, params = _json_rows_source(table, columns, fields, quoted, rows)
    else:
        source, params = _values_source(columns, fields, rows, connection)
    sql = f"INSERT INTO {table} ({', '.join(quoted)}) {source} {conflict}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _values_source(columns, fields, rows: list[dict], connection) -> tuple[str, list[Any]]:
    """``VALUES (%s, ...), ...``: one placeholder per value, each adapted for the backend."""
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    adapters = [_db_adapter(f, connection) for f in fields]
    params: list[Any] = []
    for row in rows:
        for column, adapt in zip(columns, adapters, strict=True):
            value = row[column]
            params.append(None if value is None else adapt(value))
    return "VALUES " + ", ".join([placeholders] * len(rows)), params


def _json_rows_source(table: str, columns, fields, quoted, rows: list[dict]) -> tuple[str, list[Any]]:
    """PostgreSQL: the whole page as **one** JSON parameter, unpacked by the server.

    With ``VALUES`` a page of 100 meetings is 1,700 placeholders: psycopg re-parses a query
    that long on every call (its query cache stops at 4 KB) and quotes each value in Python,
    which cost more than everything else the upsert does. ``json_populate_recordset`` takes
    the rows as one document instead (one ``json.dumps`` in C) and converts each value with
    the column's own type, exactly as a literal would be. JSON columns receive the nested
    value as it is, so what is stored is what Django's ``JSONField`` (no custom encoder on
    these models) would have stored.
    """
    names = [f.column for f in fields]
    nested = {f.column for f in fields if f.get_internal_type() == "JSONField"}
    document = [
        {
            name: row[column] if name in nested else _json_scalar(row[column])
            for column, name in zip(columns, names, strict=True)
        }
        for row in rows
    ]
    return (
        f"SELECT {', '.join(quoted)} FROM json_populate_recordset(NULL::{table}, %s::json)",
        [json.dumps(document)],
    )


def _json_scalar(value: Any) -> Any:
    """A column value as JSON: UUIDs and date-times as the text PostgreSQL reads them from."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _db_adapter(field, connection) -> Callable[[Any], Any]:
    """How one column's values become query parameters, decided once per statement.

    ``Field.get_db_prep_save`` per value is correct but slow (its generic path costs several
    microseconds even for ``None``, and a page has thousands of values); the values here are
    already of the column's Python type, so most need nothing, and the rest need exactly the
    backend step Django itself would apply.
    """
    target = field.target_field if field.is_relation else field
    kind = target.get_internal_type()
    if kind in (
        "BooleanField",
        "CharField",
        "TextField",
        "URLField",
        "FloatField",
        "BigAutoField",
        "AutoField",
    ):
        return _same
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    if kind == "UUIDField":
        return _same if connection.features.has_native_uuid_field else _uuid_hex
    if kind == "JSONField" and hasattr(connection.ops, "adapt_json_value"):
        return lambda value: connection.ops.adapt_json_value(value, target.encoder)
    return lambda value: target.get_db_prep_save(value, connection)


def _same(value: Any) -> Any:
    return value


def _uuid_hex(value: uuid.UUID) -> str:
    return value.hex


_KEEP_USER = {"user_id": "COALESCE({table}.{column}, EXCLUDED.{column})"}


def _save_meeting(payload: Mapping, *, app_id: str) -> Meeting:
    row = meeting_row(payload, app_id=app_id, now=timezone.now())
    written = _upsert(Meeting, MEETING_COLUMNS, [row])
    if not written:  # a newer payload is already stored: show that one
        return Meeting.objects.get(pk=row["id"])
    meeting = Meeting(**row)
    meeting._state.adding = False
    meeting._state.db = router.db_for_write(Meeting)
    return meeting


def _save_participant(meeting: Meeting, payload: Mapping, *, user=None) -> Participant:
    user_id = user.pk if user is not None else None
    row = participant_row(payload, meeting_id=meeting.pk, now=timezone.now(), user_id=user_id)
    written = _upsert(Participant, PARTICIPANT_COLUMNS, [row], keep=_KEEP_USER)
    if not written:
        return Participant.objects.select_related("meeting").get(pk=row["id"])
    participant = Participant(**row)
    participant.meeting = meeting
    participant._state.adding = False
    participant._state.db = router.db_for_write(Participant)
    return participant


# -- meetings -------------------------------------------------------------------------------


def create_meeting(*, client: RealtimeKitClient | None = None, **fields: Any) -> Meeting:
    """POST the meeting, then store what the API answered (secrets stripped)."""
    api = _client(client)
    payload = _data(api.meetings.create(**fields), "create meeting")
    with transaction.atomic():
        meeting = _save_meeting(payload, app_id=api.app_id)
        signals.meeting_created.send(sender=Meeting, meeting=meeting)
    return meeting


def update_meeting(meeting: Meeting, *, client: RealtimeKitClient | None = None, **changes: Any) -> Meeting:
    """PATCH only ``changes``; with none, nothing is sent."""
    if not changes:
        return meeting
    api = _client(client)
    payload = _data(api.meetings.update_meeting_by_id(str(meeting.pk), **changes), "update meeting")
    with transaction.atomic():
        updated = _save_meeting(payload, app_id=meeting.app_id or api.app_id)
        signals.meeting_updated.send(sender=Meeting, meeting=updated, changed=tuple(changes))
    return updated


def replace_meeting(meeting: Meeting, *, client: RealtimeKitClient | None = None, **fields: Any) -> Meeting:
    """PUT the whole meeting: fields not given go back to the API's defaults."""
    api = _client(client)
    payload = _data(api.meetings.replace_meeting_by_id(str(meeting.pk), **fields), "replace meeting")
    with transaction.atomic():
        updated = _save_meeting(payload, app_id=meeting.app_id or api.app_id)
        signals.meeting_updated.send(sender=Meeting, meeting=updated, changed=tuple(fields))
    return updated


def set_meeting_status(meeting: Meeting, status: str, *, client: RealtimeKitClient | None = None) -> Meeting:
    """Activate or deactivate: nobody can join an INACTIVE meeting."""
    return update_meeting(meeting, client=client, status=status)


def refresh_meeting(
    meeting: Meeting | uuid.UUID | str, *, client: RealtimeKitClient | None = None
) -> Meeting:
    """GET the meeting and store it (also imports a meeting this site has never seen)."""
    api = _client(client)
    meeting_id = str(meeting.pk if isinstance(meeting, Meeting) else meeting)
    payload = _data(api.meetings.get_meeting_by_id(meeting_id), "get meeting")
    app_id = meeting.app_id if isinstance(meeting, Meeting) and meeting.app_id else api.app_id
    with transaction.atomic():
        return _save_meeting(payload, app_id=app_id)


# -- participants -----------------------------------------------------------------------------


def add_participant(
    meeting: Meeting,
    *,
    custom_participant_id: str,
    preset_name: str,
    name: str | None = None,
    picture: str | None = None,
    user=None,
    client: RealtimeKitClient | None = None,
) -> tuple[Participant, str]:
    """Add a remote participant and store it. Returns ``(participant, token)``; the token is
    not stored anywhere: hand it to the person and forget it."""
    api = _client(client)
    if user is not None and Participant.objects.filter(meeting=meeting, user=user).exists():
        raise ValidationError([("user", "already has a participant in this meeting")])
    optional = {key: value for key, value in (("name", name), ("picture", picture)) if value is not None}
    envelope = api.meetings.add_participant(
        str(meeting.pk), custom_participant_id=custom_participant_id, preset_name=preset_name, **optional
    )
    payload = _data(envelope, "add participant")
    token = _token_from(payload, "add participant")
    try:
        with transaction.atomic():
            participant = _save_participant(meeting, payload, user=user)
            signals.participant_added.send(sender=Participant, participant=participant)
    except IntegrityError:
        # Another add for this user won meanwhile: take back the remote participant just made,
        # so that no orphan with a working token is left behind.
        api.meetings.delete_meeting_participant(str(payload["id"]), meeting_id=str(meeting.pk))
        raise ValidationError([("user", "already has a participant in this meeting")]) from None
    return participant, token


def edit_participant(
    participant: Participant, *, client: RealtimeKitClient | None = None, **changes: Any
) -> Participant:
    """PATCH a participant's name, picture or preset (the new token the API returns is dropped)."""
    if not changes:
        return participant
    api = _client(client)
    envelope = api.meetings.edit_participant(
        str(participant.pk), meeting_id=str(participant.meeting_id), **changes
    )
    payload = _data(envelope, "edit participant")
    with transaction.atomic():
        return _save_participant(participant.meeting, payload, user=participant.user)


def remove_participant(participant: Participant, *, client: RealtimeKitClient | None = None) -> None:
    """DELETE the remote participant, which revokes every token it was given, then the row.

    A participant already gone remotely (404) is removed locally all the same: the goal,
    nobody holding a working token for it, is reached either way.
    """
    api = _client(client)
    try:
        api.meetings.delete_meeting_participant(str(participant.pk), meeting_id=str(participant.meeting_id))
    except NotFound:
        logger.info("participant %s was already gone remotely; removing the local row", participant.pk)
    info = {
        "participant_id": participant.pk,
        "meeting_id": participant.meeting_id,
        "custom_participant_id": participant.custom_participant_id,
    }
    with transaction.atomic():
        Participant.objects.filter(pk=participant.pk).delete()
        signals.participant_removed.send(sender=Participant, **info)


def refresh_participant_token(participant: Participant, *, client: RealtimeKitClient | None = None) -> str:
    """A new token for the participant. Earlier tokens stay valid: only removal revokes."""
    api = _client(client)
    envelope = api.meetings.refresh_participant_token(
        str(participant.pk), meeting_id=str(participant.meeting_id)
    )
    token = _token_from(_data(envelope, "refresh token"), "refresh token")
    signals.token_issued.send(sender=Participant, participant=participant, expires_at=token_expiry(token))
    return token


def _token_from(payload: Mapping, what: str) -> str:
    token = payload.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidResponse(f"{what}: the answer carries no token")
    return token


def token_expiry(token: str) -> datetime | None:
    """The ``exp`` of a RealtimeKit JWT, read without verifying it (only RealtimeKit can)."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


# -- bulk upserts for reconciliation ---------------------------------------------------------


@dataclass
class UpsertResult:
    """What one page's upsert did. ``seen`` is every id the page carried."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    seen: set = field(default_factory=set)


def _diff_page(
    model, payloads: Iterable[Mapping], build: Callable[[Mapping], dict], *, merge: bool
) -> tuple[list[dict], UpsertResult]:
    """Split a page into rows to write and a tally, with one SELECT for the whole page.

    A payload equal to the one stored (for meetings, ``merge``: every key it carries has the
    stored value, since listings may summarise) is counted unchanged *before* it is turned into
    a row: it was checked when it was stored, and building rows was most of a no-op sync's own
    work. Everything else is built (and so checked) before anything is written.
    """
    what = "meeting payload" if model is Meeting else "participant payload"
    payloads = list(payloads)
    ids = [_payload_id(payload, what) for payload in payloads]
    result = UpsertResult(seen=set(ids))
    stored_rows = _StoredRows.for_model(model)
    existing = stored_rows.fetch(result.seen)
    same = _contains if merge else _equals
    # With the same item twice in a page the newer one wins, which needs both built.
    shortcut = len(result.seen) == len(ids)
    by_id: dict[uuid.UUID, dict] = {}
    for pk, payload in zip(ids, payloads, strict=True):
        stored = existing.get(pk)
        if shortcut and stored is not None and (model is not Meeting or stored[2] is None):
            if isinstance(stored[1], dict) and same(stored[1], payload):
                result.unchanged += 1
                continue
        row = build(payload)
        previous = by_id.get(pk)
        if previous is None or _newer_or_equal(row, previous):
            by_id[pk] = row
    to_write = []
    for pk, row in by_id.items():
        if pk not in existing:
            result.created += 1
            to_write.append(row)
            continue
        raw_stored_at, stored_data, other = existing[pk]
        stored_at = stored_rows.updated_at(raw_stored_at)
        if stored_at and row["remote_updated_at"] and row["remote_updated_at"] < stored_at:
            result.stale += 1
            continue
        if merge and isinstance(stored_data, dict):
            # Listings may carry a summary of each meeting: keep what the summary leaves out.
            merged = {**stored_data, **row["remote_data"]}
            if merged != row["remote_data"]:
                row = meeting_row(merged, app_id=row["app_id"], now=row["synced_at"])
        unchanged = row["remote_data"] == stored_data and (model is not Meeting or other is None)
        if unchanged:
            result.unchanged += 1
        else:
            result.updated += 1
            to_write.append(row)
    return to_write, result


_compiled = threading.local()


def _compiled_for_thread(key: tuple, alias: str, build: Callable[[], Any]) -> Any:
    """A statement compiled once per thread (``_StoredRows``, ``_JoinLookup``), rebuilt when the
    thread's connection for ``alias`` is a new object (the compiled form holds that connection)."""
    cache = _compiled.__dict__.setdefault("statements", {})
    found = cache.get(key)
    if found is None or found.connection is not connections[alias]:
        found = cache[key] = build()
    return found


class _StoredRows:
    """The page upsert's one SELECT: what is stored for a page's ids, compiled once.

    Per page, the ORM's ``filter(pk__in=...).values_list(...)`` cost more than the query: the
    queryset was compiled again, psycopg parsed a statement with one placeholder per id, and
    every stored ``remote_updated_at`` was converted although only a changed payload needs it.
    Here the statement is built once per model and database and takes all the ids as **one**
    parameter (PostgreSQL ``= ANY(%s)``, SQLite ``IN (SELECT value FROM json_each(%s))``), so
    its text is the same for every page; ids and payloads are converted with Django's own
    converters, and ``remote_updated_at`` only on demand (:meth:`updated_at`). Other databases
    use the ORM query as it is.

    :meth:`fetch` returns ``{pk: (raw remote_updated_at, remote_data, raw extra)}`` where
    extra is ``missing_since`` for meetings and ``meeting_id`` for participants (callers only
    ask whether it is NULL, which needs no conversion).
    """

    _SENTINEL_ID = uuid.UUID("00000000-0000-4000-8000-0000000005e1")

    def __init__(self, model, alias: str) -> None:
        self.connection = connections[alias]
        extra = "missing_since" if model is Meeting else "meeting_id"
        self.queryset = model.objects.using(alias).values_list(
            "pk", "remote_updated_at", "remote_data", extra
        )
        compiler = self.queryset.filter(pk__in=[self._SENTINEL_ID]).query.get_compiler(using=alias)
        compiler.as_sql()  # sets up compiler.select, which the converters are read from
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        self._converters = [converters.get(index) for index in range(4)]
        qn = self.connection.ops.quote_name
        pk, updated, data = (
            model._meta.get_field(n).column for n in ("id", "remote_updated_at", "remote_data")
        )
        select = ", ".join(qn(c) for c in (pk, updated, data, model._meta.get_field(extra).column))
        table = qn(model._meta.db_table)
        self.sql = None
        if self.connection.vendor == "postgresql":
            self.sql = f"SELECT {select} FROM {table} WHERE {qn(pk)} = ANY(%s)"
            self._ids_param = lambda ids: list(ids)
        elif self.connection.vendor == "sqlite" and not self.connection.features.has_native_uuid_field:
            self.sql = f"SELECT {select} FROM {table} WHERE {qn(pk)} IN (SELECT value FROM json_each(%s))"
            self._ids_param = lambda ids: json.dumps([value.hex for value in ids])

    @classmethod
    def for_model(cls, model) -> _StoredRows:
        alias = router.db_for_read(model)
        return _compiled_for_thread((cls, model, alias), alias, lambda: cls(model, alias))

    def fetch(self, ids: set) -> dict:
        if not ids:
            return {}
        if self.sql is None:
            return {
                pk: (updated, data, extra)
                for pk, updated, data, extra in self.queryset.filter(pk__in=list(ids))
            }
        with self.connection.cursor() as cursor:
            cursor.execute(self.sql, [self._ids_param(ids)])
            rows = cursor.fetchall()
        pk_at, data_at = self._converters[0], self._converters[2]
        return {
            self._convert(pk_at, pk): (updated, self._convert(data_at, data), extra)
            for pk, updated, data, extra in rows
        }

    def updated_at(self, raw):
        """A stored ``remote_updated_at`` from :meth:`fetch`, as a datetime (or None)."""
        if raw is None or self.sql is None:
            return raw
        return self._convert(self._converters[1], raw)

    def _convert(self, converters, value):
        if converters is None or value is None:
            return value
        functions, expression = converters
        for convert in functions:
            value = convert(value, expression, self.connection)
        return value


def _payload_id(payload: Any, what: str) -> uuid.UUID:
    if not isinstance(payload, Mapping):
        raise InvalidResponse(f"{what} is not an object")
    return _uuid(payload, what)


def _contains(stored: dict, payload: Mapping) -> bool:
    """Whether every key of ``payload`` is stored with the same value (a storage secret never
    is: none is ever stored, so a payload carrying one always takes the full path)."""
    missing = _MISSING
    return all(stored.get(key, missing) == value for key, value in payload.items())


def _equals(stored: dict, payload: Mapping) -> bool:
    """Whether ``payload`` is exactly what is stored (a payload with a token never is)."""
    return stored == payload


_MISSING = object()


def _newer_or_equal(row: dict, other: dict) -> bool:
    if row["remote_updated_at"] is None or other["remote_updated_at"] is None:
        return True
    return row["remote_updated_at"] >= other["remote_updated_at"]


def upsert_meetings(payloads: Iterable[Mapping], *, app_id: str | None = None) -> UpsertResult:
    """Store a page of meeting payloads: one SELECT and at most one upsert, whatever its size.

    Every payload is checked before anything is written, so a malformed page writes nothing.
    Rows whose payload did not change are not written at all.
    """
    app_id = app_id or get_settings().app_id
    now = timezone.now()
    to_write, result = _diff_page(
        Meeting, payloads, lambda payload: meeting_row(payload, app_id=app_id, now=now), merge=True
    )
    if to_write:
        with transaction.atomic():
            _upsert(Meeting, MEETING_COLUMNS, to_write)
    return result


def upsert_participants(meeting: Meeting, payloads: Iterable[Mapping]) -> UpsertResult:
    """Store a page of one meeting's participant payloads (same costs as :func:`upsert_meetings`)."""
    now = timezone.now()
    to_write, result = _diff_page(
        Participant,
        payloads,
        lambda payload: participant_row(payload, meeting_id=meeting.pk, now=now),
        merge=False,
    )
    if to_write:
        with transaction.atomic():
            _upsert(Participant, PARTICIPANT_COLUMNS, to_write, keep=_KEEP_USER)
    return result


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def remove_missing_participants(meeting: Meeting, seen: set, *, walk_started: datetime) -> int:
    """After a *complete* walk: delete local participants the walk did not see.

    Rows synced after the walk began (added by a join meanwhile) are kept: the walk could not
    have seen them.
    """
    local = Participant.objects.filter(meeting=meeting, synced_at__lt=walk_started).values_list(
        "pk", flat=True
    )
    missing = [pk for pk in local.iterator(chunk_size=2000) if pk not in seen]
    removed = 0
    with transaction.atomic():
        for chunk in _chunks(missing):
            removed += Participant.objects.filter(pk__in=chunk, synced_at__lt=walk_started).delete()[0]
    return removed


def flag_missing_meetings(seen: set, *, app_id: str, walk_started: datetime) -> int:
    """After a *complete*, unfiltered walk: flag local meetings the walk did not see.

    Meetings cannot be deleted remotely, so a missing one is flagged (``missing_since``), never
    deleted: it may be another app's, or the API may be having a bad day.
    """
    local = Meeting.objects.filter(app_id=app_id, missing_since__isnull=True, synced_at__lt=walk_started)
    missing = [pk for pk in local.values_list("pk", flat=True).iterator(chunk_size=2000) if pk not in seen]
    flagged = 0
    now = timezone.now()
    with transaction.atomic():
        for chunk in _chunks(missing):
            flagged += Meeting.objects.filter(pk__in=chunk, synced_at__lt=walk_started).update(
                missing_since=now
            )
    return flagged


# -- join tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinToken:
    """What a site hands to a user who may join: the token and what it was issued for."""

    token: str = field(repr=False)
    participant: Participant
    preset_name: str
    expires_at: datetime | None


JOIN_PARTICIPANT_FUNCTION = "realtimekit_join_participant"  # created by migration 0002, PostgreSQL only


def _join_lock_key(meeting_id, custom_participant_id: str) -> int:
    """The advisory lock key of (meeting, person): 64 bits of a hash of both.

    A meeting id given as text is read as a UUID first, so ``"ABC…"``, ``"abc…"`` and the
    ``UUID`` all lock the same meeting (text that is no UUID is hashed as it is).
    """
    try:
        meeting_id = meeting_id if isinstance(meeting_id, uuid.UUID) else uuid.UUID(str(meeting_id))
    except ValueError:
        pass
    digest = hashlib.blake2b(f"{meeting_id}:{custom_participant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _join_lock(connection, meeting_id, custom_participant_id: str) -> None:
    """Serialise joins of one person to one meeting (PostgreSQL advisory lock, released at
    commit), as a statement of its own. Other databases rely on the unique constraint and a
    compensating delete.

    Only a join given its own ``meetings`` queryset needs this: the others take the same lock
    inside ``realtimekit_join_participant``, in the statement that reads the participant.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [_join_lock_key(meeting_id, custom_participant_id)]
        )


def issue_join_token(
    meeting: Meeting | uuid.UUID | str,
    user,
    *,
    meetings=None,
    client: RealtimeKitClient | None = None,
) -> JoinToken:
    """A join token for ``user``: one HTTP call, the preset chosen by the site's policy.

    The first join adds one remote participant for the (meeting, user); later joins refresh
    that participant's token (or edit it, when the policy's preset or the user's name changed,
    which also returns a token). An INACTIVE meeting or a refusing policy costs no HTTP call.

    ``meeting`` may be a ``Meeting`` or its id. Given an id, the meeting and the user's
    participant are read in one query, from ``meetings`` (a queryset; by default this app's
    meetings that the last complete sync still found remotely, the only ones a join can
    succeed in); ``Meeting.DoesNotExist`` if it is not there.

    On PostgreSQL every join holds a transaction-scoped advisory lock on (meeting, person)
    while it looks the participant up and, if need be, adds it, so concurrent first joins make
    exactly one remote participant. The lock is taken by the statement that reads the
    participant, through the VOLATILE function ``realtimekit_join_participant`` (migration
    0002): a plain ``SELECT`` that locked and read at once would read from the snapshot taken
    before it waited, and miss the participant the previous lock holder just committed; each
    query inside a VOLATILE function gets a fresh snapshot. So a rejoin costs one query and a
    first join two (plus Django's own). With a caller's ``meetings`` queryset, whose SQL this
    function cannot see into, the lock is a statement of its own before the ORM query.
    Elsewhere the unique (meeting, user) constraint settles a race and the loser deletes the
    remote participant it made.
    """
    config = get_settings()
    api = _client(client)
    connection = connections[router.db_for_write(Participant)]
    preset = None
    if isinstance(meeting, Meeting):
        preset = _check_joinable(meeting, user, config)  # before any query: a refusal costs nothing
    custom_id = config.participant_id_function(user)
    meeting_id = meeting.pk if isinstance(meeting, Meeting) else meeting
    locking = connection.vendor == "postgresql"
    with transaction.atomic(using=connection.alias) if locking else nullcontext():
        if isinstance(meeting, Meeting):
            if locking:
                existing = _locked_join_participant(connection, meeting, custom_id)
            else:
                existing = _find_join_participant(meeting, custom_id)
        else:
            meeting, existing = _meeting_and_join_participant(
                meetings, meeting_id, custom_id, locking=connection if locking else None
            )
            preset = _check_joinable(meeting, user, config)
        wanted = {
            "preset_name": preset,
            "name": config.display_name_function(user),
            "picture": config.picture_function(user),
        }
        if existing is not None:
            issued = _rejoin(meeting, existing, wanted, user, api)
            if issued is not None:
                return issued
        return _add_for_join(
            meeting, user, custom_id, wanted, api, alias=connection.alias, guard_race=not locking
        )


def _check_joinable(meeting: Meeting, user, config) -> str:
    """The preset the policy gives ``user`` in ``meeting``; raises when they may not join."""
    if meeting.status != MeetingStatus.ACTIVE:
        raise MeetingInactive("this meeting is inactive: nobody can join it")
    preset = config.preset_policy(user, meeting)
    if not preset:
        raise JoinRefused("you may not join this meeting")
    return preset


def _meeting_and_join_participant(
    meetings, meeting_id, custom_id: str, *, locking=None
) -> tuple[Meeting, Participant | None]:
    """The meeting and this person's participant in it, in one query (a filtered LEFT JOIN).

    ``meetings`` narrows where the meeting may be found; ``None`` means this app's meetings
    that the last complete sync still found remotely, the only ones a join can succeed in.
    ``locking`` is the PostgreSQL connection whose transaction must hold the join lock: the
    default lookup takes it in its one query (``_LockedJoinLookup``); a caller's queryset is
    preceded by the lock as a statement of its own.
    """
    if meetings is None:
        if locking is not None:
            return _LockedJoinLookup.for_app(get_settings().app_id, locking.alias).run(meeting_id, custom_id)
        return _JoinLookup.for_app(get_settings().app_id).run(meeting_id, custom_id)
    if locking is not None:
        _join_lock(locking, meeting_id, custom_id)
    rows = _join_queryset(meetings, meeting_id, custom_id)
    return _join_row(next(iter(rows), None), meeting_id, meetings.db)


_MEETING_FIELDS = [f.attname for f in Meeting._meta.concrete_fields]
_PARTICIPANT_FIELDS = [f.attname for f in Participant._meta.concrete_fields]


def _join_queryset(meetings, meeting_id, custom_id: str):
    mine = FilteredRelation("participants", condition=Q(participants__custom_participant_id=custom_id))
    return (
        meetings.filter(pk=meeting_id)
        .annotate(_mine=mine)
        .order_by("_mine__remote_created_at", "_mine__id")
        .values_list(*_MEETING_FIELDS, *[f"_mine__{name}" for name in _PARTICIPANT_FIELDS])[:1]
    )


def _join_row(row, meeting_id, db: str) -> tuple[Meeting, Participant | None]:
    if row is None:
        raise Meeting.DoesNotExist(f"no joinable meeting {meeting_id}")
    meeting = Meeting.from_db(db, _MEETING_FIELDS, row[: len(_MEETING_FIELDS)])
    mine = row[len(_MEETING_FIELDS) :]
    if mine[0] is None:
        return meeting, None
    participant = Participant.from_db(db, _PARTICIPANT_FIELDS, mine)
    participant.meeting = meeting
    return meeting, participant


class _JoinLookup:
    """The join's one query, compiled once per thread and app instead of once per join.

    Building that ORM query (thirty columns across a filtered join) cost more than running it:
    about a third of a whole rejoin request. The SQL and its converters do not change between
    joins, only two parameters do, so they are compiled with sentinel values and reused.
    """

    _SENTINEL_ID = uuid.UUID("00000000-0000-4000-8000-00000000cafe")
    _SENTINEL_CUSTOM_ID = "\x00realtimekit-join-sentinel"

    def __init__(self, app_id: str, alias: str) -> None:
        self.alias = alias
        self.connection = connections[alias]
        queryset = Meeting.objects.using(alias).filter(app_id=app_id, missing_since__isnull=True)
        query = _join_queryset(queryset, self._SENTINEL_ID, self._SENTINEL_CUSTOM_ID).query
        self.compiler = query.get_compiler(using=alias)
        self.sql, params = self.compiler.as_sql()
        self.params = list(params)
        self.pk_field = Meeting._meta.pk
        self.id_at = self.params.index(self.pk_field.get_db_prep_value(self._SENTINEL_ID, self.connection))
        self.custom_id_at = self.params.index(self._SENTINEL_CUSTOM_ID)
        self.converters = self.compiler.get_converters([column for column, _, _ in self.compiler.select])

    @classmethod
    def for_app(cls, app_id: str, alias: str | None = None) -> _JoinLookup:
        alias = alias or router.db_for_read(Meeting)
        return _compiled_for_thread((cls, alias, app_id), alias, lambda: cls(app_id, alias))

    def bind(self, meeting_uuid: uuid.UUID, custom_id: str) -> list:
        params = list(self.params)
        params[self.id_at] = self.pk_field.get_db_prep_value(meeting_uuid, self.connection)
        params[self.custom_id_at] = custom_id
        return params

    def run(self, meeting_id, custom_id: str) -> tuple[Meeting, Participant | None]:
        try:
            meeting_uuid = meeting_id if isinstance(meeting_id, uuid.UUID) else uuid.UUID(str(meeting_id))
        except ValueError:
            raise Meeting.DoesNotExist(f"no joinable meeting {str(meeting_id)[:40]!r}") from None
        with self.connection.cursor() as cursor:
            cursor.execute(self.sql, self.bind(meeting_uuid, custom_id))
            rows = cursor.fetchall()
        if self.converters:
            rows = list(self.compiler.apply_converters(rows, self.converters))
        return _join_row(rows[0] if rows else None, meeting_uuid, self.alias)


class _LockedJoinLookup(_JoinLookup):
    """PostgreSQL's join query: the lock, the meeting and the participant in one statement.

    The meeting comes from the same ORM filters as ``_JoinLookup`` (compiled once, as a derived
    table); the participant from ``realtimekit_join_participant``, joined ``LATERAL`` so it
    runs for the meeting found, once, and not at all for an unknown meeting (which needs no
    lock: it raises). The function takes the advisory lock and only then reads the participant
    with a fresh snapshot, so a participant committed by the join that held the lock before
    is found. The meeting's columns come from the statement's own snapshot, taken before any
    wait for the lock; a join reads nothing from them that the lock protects.
    """

    def __init__(self, app_id: str, alias: str) -> None:
        self.alias = alias
        self.connection = connections[alias]
        meetings = (
            Meeting.objects.using(alias)
            .filter(app_id=app_id, missing_since__isnull=True, pk=self._SENTINEL_ID)
            .order_by()
            .values_list(*_MEETING_FIELDS)
        )
        self.compiler = meetings.query.get_compiler(using=alias)
        meeting_sql, params = self.compiler.as_sql()
        self.params = [*params, None, self._SENTINEL_CUSTOM_ID]
        self.pk_field = Meeting._meta.pk
        self.id_at = self.params.index(self.pk_field.get_db_prep_value(self._SENTINEL_ID, self.connection))
        self.key_at, self.custom_id_at = len(params), len(params) + 1
        qn = self.connection.ops.quote_name
        meeting_columns = [f"m.{qn(f.column)}" for f in Meeting._meta.concrete_fields]
        participant_columns = [f"mine.{qn(f.column)}" for f in Participant._meta.concrete_fields]
        join = f"LEFT JOIN LATERAL {JOIN_PARTICIPANT_FUNCTION}(%s, m.{qn(self.pk_field.column)}, %s) mine"
        self.sql = (
            f"SELECT {', '.join(meeting_columns + participant_columns)} FROM ({meeting_sql}) m {join} ON TRUE"
        )
        self.converters = self.compiler.get_converters(
            [column for column, _, _ in self.compiler.select]
            + [f.get_col("mine") for f in Participant._meta.concrete_fields]
        )

    def bind(self, meeting_uuid: uuid.UUID, custom_id: str) -> list:
        params = super().bind(meeting_uuid, custom_id)
        params[self.key_at] = _join_lock_key(meeting_uuid, custom_id)
        return params


def _add_for_join(
    meeting, user, custom_id: str, wanted: dict, api, *, alias: str, guard_race: bool
) -> JoinToken:
    """Add the remote participant for a first join and store it.

    Without an advisory lock (``guard_race``), two first joins can both reach this point; the
    unique (meeting, user) constraint lets one row win, and the loser deletes the remote
    participant it just made and refreshes the winner's token instead.
    """
    optional = {key: value for key, value in wanted.items() if key != "preset_name" and value is not None}
    payload = _data(
        api.meetings.add_participant(
            str(meeting.pk), custom_participant_id=custom_id, preset_name=wanted["preset_name"], **optional
        ),
        "add participant",
    )
    token = _token_from(payload, "add participant")
    if guard_race:
        try:
            with transaction.atomic(using=alias):
                participant = _save_participant(meeting, payload, user=user)
        except IntegrityError:
            api.meetings.delete_meeting_participant(str(payload["id"]), meeting_id=str(meeting.pk))
            winner = Participant.objects.get(meeting=meeting, user=user)
            return _rejoin(meeting, winner, wanted, user, api) or _fail_rejoin(winner)
    else:
        participant = _save_participant(meeting, payload, user=user)
    signals.participant_added.send(sender=Participant, participant=participant)
    expires_at = token_expiry(token)
    signals.token_issued.send(sender=Participant, participant=participant, expires_at=expires_at)
    return JoinToken(
        token=token, participant=participant, preset_name=wanted["preset_name"], expires_at=expires_at
    )


def _fail_rejoin(participant: Participant) -> JoinToken:
    raise InvalidResponse(f"participant {participant.pk} vanished while joining; try again")


def _find_join_participant(meeting: Meeting, custom_id: str) -> Participant | None:
    return (
        Participant.objects.filter(meeting=meeting, custom_participant_id=custom_id)
        .order_by("remote_created_at", "id")
        .first()
    )


def _locked_join_participant(connection, meeting: Meeting, custom_id: str) -> Participant | None:
    """``_find_join_participant`` under the join lock, in one statement (PostgreSQL).

    ``realtimekit_join_participant`` locks first and reads after, with a fresh snapshot: see
    ``issue_join_token``.
    """
    rows = Participant.objects.using(connection.alias).raw(
        f"SELECT * FROM {JOIN_PARTICIPANT_FUNCTION}(%s, %s, %s)",
        [
            _join_lock_key(meeting.pk, custom_id),
            Meeting._meta.pk.get_db_prep_value(meeting.pk, connection),
            custom_id,
        ],
    )
    return next(iter(rows), None)


def _rejoin(
    meeting: Meeting, participant: Participant, wanted: dict, user, api: RealtimeKitClient
) -> JoinToken | None:
    """A token for a known participant; ``None`` when it has vanished remotely (add anew)."""
    changes = {
        key: value
        for key, value in wanted.items()
        if getattr(participant, key) != value and value is not None
    }
    participant.meeting = meeting
    try:
        if changes:
            envelope = api.meetings.edit_participant(
                str(participant.pk), meeting_id=str(participant.meeting_id), **changes
            )
            payload = _data(envelope, "edit participant")
            token = _token_from(payload, "edit participant")
            with transaction.atomic():
                participant = _save_participant(meeting, payload, user=user)
        else:
            envelope = api.meetings.refresh_participant_token(
                str(participant.pk), meeting_id=str(participant.meeting_id)
            )
            token = _token_from(_data(envelope, "refresh token"), "refresh token")
            if participant.user_id is None and user is not None:
                Participant.objects.filter(pk=participant.pk, user__isnull=True).update(user=user)
                participant.user = user
    except NotFound:
        logger.info("participant %s is gone remotely; adding the user again", participant.pk)
        Participant.objects.filter(pk=participant.pk).delete()
        return None
    expires_at = token_expiry(token)
    signals.token_issued.send(sender=Participant, participant=participant, expires_at=expires_at)
    return JoinToken(
        token=token, participant=participant, preset_name=participant.preset_name, expires_at=expires_at
    )
