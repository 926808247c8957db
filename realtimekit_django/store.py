"""The only SQL of this app, and its only vendor checks.

Everything here is the ORM's public API except two statements it cannot express:

- the **guarded upsert** (``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE stored.remote_updated_at
  <= excluded.remote_updated_at``), which refuses to replace a row with an *older* payload, so
  that a slow sync page can never undo a newer edit, whatever order the two commit in;
- the **join lock** on PostgreSQL (``pg_advisory_xact_lock``), which serialises the first joins
  of one person to one meeting so that they make exactly one remote participant.

Both PostgreSQL and SQLite (3.24+) speak that upsert; other databases are refused, by the
system check ``realtimekit.E010`` at start-up and by :func:`write_rows` at run time, rather
than written without the guard. Turning payloads into rows is :mod:`realtimekit_django.rows`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router, transaction
from django.db.models import F, FilteredRelation, Q
from django.utils import timezone

from . import rows
from .exceptions import InvalidResponse
from .models import Meeting, Participant

SUPPORTED_VENDORS = ("postgresql", "sqlite")
#: How many ids one ``IN (...)`` list carries (below SQLite's old 999-parameter limit).
IDS_PER_QUERY = 500


def unsupported_vendor(alias: str) -> str | None:
    """The vendor of database ``alias`` when this app cannot keep its guarantees there."""
    vendor = connections[alias].vendor
    return None if vendor in SUPPORTED_VENDORS else vendor


def _require_supported(alias: str) -> None:
    vendor = unsupported_vendor(alias)
    if vendor is not None:
        raise ImproperlyConfigured(
            f"realtimekit_django stores its rows on PostgreSQL or SQLite; database '{alias}' is "
            f"{vendor} (see the system check realtimekit.E010)."
        )


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- the guarded upsert ---------------------------------------------------------------------


def _parameter_limit(connection) -> int:
    """How many parameters one statement may carry on this connection.

    Django's SQLite figure (999) is the limit of SQLite before 3.32; the library in use says
    its own (32,766 by default since), which keeps a full page of 100 rows in one statement.
    PostgreSQL's wire protocol allows 65,535.
    """
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        if hasattr(raw, "getlimit"):
            import sqlite3

            return raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 65_535


#: Fields whose ``get_db_prep_save`` returns a value of this exact type unchanged, on every
#: supported backend (no conversion, no adapter): text, whole numbers, floats and booleans.
_PLAIN_FIELDS: dict[type, type] = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.FloatField: float,
    models.BooleanField: bool,
}


def write_rows(model, columns: tuple[str, ...], values: list[dict], *, keep_user: bool = False) -> int:
    """Insert or update rows; never replace a row with an older payload. Returns rows written.

    ``keep_user`` keeps a participant's site user when the new row has none (a sync page knows
    nothing of site users). Values are converted by each field's ``get_db_prep_save``, as a
    ``save()`` would; a page too large for the backend's parameter limit is split into several
    statements inside one transaction.
    """
    if not values:
        return 0
    alias = router.db_for_write(model)
    _require_supported(alias)
    connection = connections[alias]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    fields = [model._meta.get_field(column) for column in columns]
    names = [quote(f.column) for f in fields]
    updates = ", ".join(
        f"{name} = COALESCE({table}.{name}, EXCLUDED.{name})"
        if keep_user and column == "user_id"
        else f"{name} = EXCLUDED.{name}"
        for column, name in zip(columns, names, strict=True)
        if column != "id"
    )
    guard = quote(model._meta.get_field("remote_updated_at").column)
    conflict = (
        f"ON CONFLICT ({quote(model._meta.pk.column)}) DO UPDATE SET {updates} "
        f"WHERE {table}.{guard} IS NULL OR EXCLUDED.{guard} IS NULL OR {table}.{guard} <= EXCLUDED.{guard}"
    )
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = max(1, _parameter_limit(connection) // len(columns))
    # NULL needs no preparing (every column here stores None as NULL): most optional fields are.
    # A plain field given a value of its own Python type is sent as it is, exactly what its
    # get_db_prep_save would return. Every other value is already of the type its field takes
    # (rows.py builds aware UTC datetimes, UUIDs and dicts, so get_prep_value would return it
    # unchanged): it goes through the field's public get_db_prep_value(prepared=True), which
    # only adapts it for the backend. Profiled, the unprepared path (get_prep_value, to_python,
    # the naive-time check) was a fifth of a page's write.
    # A dict for a JSON column of the default encoder goes as its JSON text, which every
    # supported backend's JSON column takes as a text parameter (SQLite stores it; PostgreSQL
    # reads it as jsonb): on SQLite exactly what the field's adapter sends (``json.dumps``), on
    # PostgreSQL the same document without psycopg's Jsonb wrapper. A payload the storability
    # proof already encoded (rows.EncodedPayload) goes as that text: one encoding a payload, not
    # two (2026-12-07 profile: a tenth of a meeting page's own time, and psycopg's JSON dumper a
    # sixth of its parameters on PostgreSQL).
    preparers = [
        (
            column,
            field_.get_db_prep_value,
            _PLAIN_FIELDS.get(type(field_)),
            type(field_),
            isinstance(field_, models.JSONField) and field_.encoder is None,
        )
        for column, field_ in zip(columns, fields, strict=True)
    ]
    encoded, dumps = rows.EncodedPayload, json.dumps
    # A page's rows share some values (the walk's own "now" in every row, a meeting's created
    # and updated times): each distinct timestamp is adapted once, and so is the empty object
    # of a JSON column with an encoder of its own.
    prepared: dict[tuple[Any, Any], Any] = {}

    def prepare_value(kind, prepare, value):
        if type(value) is datetime:
            key = (kind, value)
        elif type(value) is dict and not value:
            key = (prepare, None)  # per field: each JSONField may have an encoder of its own
        else:
            return prepare(value, connection, True)
        adapted = prepared.get(key)
        if adapted is None:
            adapted = prepared[key] = prepare(value, connection, True)
        return adapted

    written = 0
    with transaction.atomic(using=alias, savepoint=False):
        for chunk in _chunks(values, per_statement):
            params = [
                value
                if value is None or (plain is not None and type(value) is plain)
                else (value.json if type(value) is encoded else dumps(value))
                if takes_text and isinstance(value, dict)
                else prepare_value(kind, prepare, value)
                for row in chunk
                for column, prepare, plain, kind, takes_text in preparers
                for value in (row[column],)
            ]
            sql = (
                f"INSERT INTO {table} ({', '.join(names)}) VALUES "
                f"{', '.join([placeholders] * len(chunk))} {conflict}"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                written += max(cursor.rowcount, 0)
    return written


# -- one row, for the services ---------------------------------------------------------------


def _save_one(model, columns: tuple[str, ...], row: dict, instance, *, keep_user: bool = False):
    """Write one row and return the instance that now describes it.

    ``instance`` (the caller's object) is updated in place, as ``Model.save()`` would leave it.
    When the guard refused the row (a newer payload is stored), the stored row is what the
    instance shows.
    """
    alias = router.db_for_write(model)
    if not write_rows(model, columns, [row], keep_user=keep_user):
        stored = model.objects.using(alias).get(pk=row["id"])
        return stored if instance is None else _copy_fields(stored, instance)
    if keep_user and row.get("user_id") is None:
        row = {**row, "user_id": getattr(instance, "user_id", None)}
    if instance is None:
        # Columns the payload does not set (the sync's own bookkeeping) load on first access.
        names = [f.attname for f in model._meta.concrete_fields if f.attname in row]
        return model.from_db(alias, names, [row[name] for name in names])
    return rows.apply_row(instance, row)


def _copy_fields(source, target):
    for f in type(source)._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))
    return target


def save_meeting(payload: Mapping, *, app_id: str, instance: Meeting | None = None) -> Meeting:
    """Store one meeting payload (an API answer) and return its row."""
    row = rows.meeting_row(payload, app_id=app_id, now=timezone.now())
    return _save_one(Meeting, rows.MEETING_COLUMNS, row, instance)


def save_participant(
    meeting: Meeting, payload: Mapping, *, user_id: Any = None, instance: Participant | None = None
) -> Participant:
    """Store one participant payload (an API answer) and return its row.

    With ``instance`` (the loaded row the payload answers for), nothing is written when the
    payload is exactly what the row already holds and the site user is the same.
    """
    row = rows.participant_row(payload, meeting_id=meeting.pk, now=timezone.now(), user_id=user_id)
    if instance is not None and _participant_unchanged(instance, row):
        instance.meeting = meeting
        return instance
    participant = _save_one(Participant, rows.PARTICIPANT_COLUMNS, row, instance, keep_user=True)
    participant.meeting = meeting
    return participant


def _participant_unchanged(instance: Participant, row: dict) -> bool:
    if instance.pk != row["id"] or instance.remote_data != row["remote_data"]:
        return False
    return row["user_id"] is None or row["user_id"] == instance.user_id


# -- pages, for the walks ----------------------------------------------------------------------


@dataclass
class UpsertResult:
    """What one page's upsert did. ``seen`` is every id the page carried, bad items included
    (they exist remotely: nothing may delete or flag them); ``rejected`` says why each bad
    item was skipped."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: list[str] = field(default_factory=list)
    seen: set = field(default_factory=set)


def _build_page(
    payloads: Iterable[Any], kind: str, build: Callable[[Any, uuid.UUID], dict], result: UpsertResult
) -> dict:
    """Rows by id, one per id (the newest when a page repeats an item); bad items rejected."""
    built: dict[uuid.UUID, dict] = {}
    for index, payload in enumerate(payloads):
        try:
            pk = rows.payload_id(payload, kind)
        except InvalidResponse as exc:
            result.rejected.append(f"item {index}: {exc.message}")
            continue
        result.seen.add(pk)
        try:
            row = build(payload, pk)
        except InvalidResponse as exc:
            result.rejected.append(exc.message)
            continue
        previous = built.get(pk)
        if previous is None or rows.newer_or_equal(row, previous):
            built[pk] = row
    return built


def _upsert_page(model, columns, kind: str, payloads, build, *, keep_user: bool = False) -> UpsertResult:
    """Store a page: one SELECT of what is stored, at most one upsert (per parameter limit).

    A row is written when it is new, when its payload differs from the stored one, or (for a
    meeting) when it was flagged missing; a payload older than the stored row is counted
    ``stale`` and skipped. Bad items are rejected one by one and the rest is stored.
    """
    result = UpsertResult()
    built = _build_page(payloads, kind, build, result)
    extra = "missing_since" if model is Meeting else "pk"
    stored: dict[uuid.UUID, tuple] = {}
    for chunk in _chunks(list(built), IDS_PER_QUERY):
        for pk, updated_at, data, other in model.objects.filter(pk__in=chunk).values_list(
            "pk", "remote_updated_at", "remote_data", extra
        ):
            stored[pk] = (updated_at, data, other if model is Meeting else None)
    to_write = []
    for pk, row in built.items():
        if pk not in stored:
            result.created += 1
            to_write.append(row)
            continue
        stored_at, stored_data, missing_since = stored[pk]
        if stored_at and row["remote_updated_at"] and row["remote_updated_at"] < stored_at:
            result.stale += 1
        elif stored_data == row["remote_data"] and missing_since is None:
            result.unchanged += 1
        else:
            result.updated += 1
            to_write.append(row)
    write_rows(model, columns, to_write, keep_user=keep_user)
    return result


def upsert_meeting_page(payloads: Iterable[Any], *, app_id: str) -> UpsertResult:
    """Store a page of the meetings listing (each item is a whole meeting: nothing merged)."""
    now = timezone.now()
    return _upsert_page(
        Meeting,
        rows.MEETING_COLUMNS,
        "meeting",
        payloads,
        lambda payload, pk: rows.meeting_row(payload, app_id=app_id, now=now, pk=pk),
    )


def upsert_participant_page(meeting: Meeting, payloads: Iterable[Any]) -> UpsertResult:
    """Store a page of one meeting's participants (their site users are kept)."""
    now = timezone.now()
    return _upsert_page(
        Participant,
        rows.PARTICIPANT_COLUMNS,
        "participant",
        payloads,
        lambda payload, pk: rows.participant_row(payload, meeting_id=meeting.pk, now=now, pk=pk),
        keep_user=True,
    )


def participants_not_seen(meeting: Meeting, seen: set, *, walk_started: datetime) -> list:
    """Ids of the meeting's local participants a walk did not see (rows older than the walk)."""
    local = Participant.objects.filter(meeting=meeting, synced_at__lt=walk_started).values_list(
        "pk", flat=True
    )
    return [pk for pk in local.iterator(chunk_size=2000) if pk not in seen]


def delete_participants(ids: list, *, walk_started: datetime) -> int:
    """Delete these participants unless they were written after the walk began."""
    if not ids:
        return 0
    removed = 0
    with transaction.atomic(using=router.db_for_write(Participant)):
        for chunk in _chunks(ids, IDS_PER_QUERY):
            removed += Participant.objects.filter(pk__in=chunk, synced_at__lt=walk_started).delete()[0]
    return removed


def meetings_not_seen(seen: set, *, app_id: str, walk_started: datetime) -> list:
    """Ids of this app's unflagged local meetings a walk did not see (rows older than the walk)."""
    local = Meeting.objects.filter(app_id=app_id, missing_since__isnull=True, synced_at__lt=walk_started)
    return [pk for pk in local.values_list("pk", flat=True).iterator(chunk_size=2000) if pk not in seen]


def flag_meetings_missing(ids: list, *, walk_started: datetime) -> int:
    """Mark these meetings missing remotely unless they were written after the walk began."""
    if not ids:
        return 0
    flagged = 0
    now = timezone.now()
    with transaction.atomic(using=router.db_for_write(Meeting)):
        for chunk in _chunks(ids, IDS_PER_QUERY):
            flagged += Meeting.objects.filter(
                pk__in=chunk, missing_since__isnull=True, synced_at__lt=walk_started
            ).update(missing_since=now)
    return flagged


# -- joins -----------------------------------------------------------------------------------


def join_lock_key(meeting_id, custom_participant_id: str) -> int:
    """The advisory lock key of (meeting, person): 64 bits of a hash of both.

    A meeting id given as text is read as a UUID first, so every spelling of one id locks the
    same meeting.
    """
    try:
        meeting_id = meeting_id if isinstance(meeting_id, uuid.UUID) else uuid.UUID(str(meeting_id))
    except ValueError:
        pass
    digest = hashlib.blake2b(f"{meeting_id}:{custom_participant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def join_lock(meeting_id, custom_participant_id: str) -> Iterator[None]:
    """Serialise the joins of one person to one meeting, for the block's duration.

    On PostgreSQL: a transaction around the block holding a transaction-scoped advisory lock
    (released at commit). Every query after the lock statement sees what the previous holder
    committed (READ COMMITTED takes a snapshot per statement). Elsewhere no transaction is
    held open across the join's HTTP call (SQLite would block every other writer): the
    unique (meeting, user) constraint settles a race, and the loser undoes its remote add.
    """
    alias = router.db_for_write(Participant)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=alias):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [join_lock_key(meeting_id, custom_participant_id)]
            )
        yield


_MEETING_FIELDS = [f.attname for f in Meeting._meta.concrete_fields]
_PARTICIPANT_FIELDS = [f.attname for f in Participant._meta.concrete_fields]


def find_join(
    meetings, meeting_id, *, user_id, custom_participant_id: str
) -> tuple[Meeting, Participant | None]:
    """The meeting and this person's participant in it, in one query.

    The participant is the one linked to the site user, else an unclaimed one (no site user)
    with the person's custom participant id; a participant linked to another user is never
    this person's. ``Meeting.DoesNotExist`` when ``meetings`` has no such meeting.
    """
    try:
        pk = meeting_id if isinstance(meeting_id, uuid.UUID) else uuid.UUID(str(meeting_id))
    except ValueError:
        raise Meeting.DoesNotExist(f"no joinable meeting {str(meeting_id)[:40]!r}") from None
    condition = Q(participants__custom_participant_id=custom_participant_id, participants__user__isnull=True)
    if user_id is not None:
        condition |= Q(participants__user=user_id)
    # Read where the join writes (and where the join lock is held), never from a replica.
    found = (
        meetings.using(router.db_for_write(Participant))
        .filter(pk=pk)
        .annotate(mine=FilteredRelation("participants", condition=condition))
        .order_by(F("mine__user").asc(nulls_last=True), "mine__remote_created_at", "mine__id")
        .values_list(*_MEETING_FIELDS, *[f"mine__{name}" for name in _PARTICIPANT_FIELDS])[:1]
    )
    row = next(iter(found), None)
    if row is None:
        raise Meeting.DoesNotExist(f"no joinable meeting {pk}")
    meeting = Meeting.from_db(found.db, _MEETING_FIELDS, row[: len(_MEETING_FIELDS)])
    mine = row[len(_MEETING_FIELDS) :]
    if mine[0] is None:
        return meeting, None
    participant = Participant.from_db(found.db, _PARTICIPANT_FIELDS, mine)
    participant.meeting = meeting
    return meeting, participant


# -- presets and recordings (the ORM's bulk upsert: no ordering guard needs raw SQL here) ------


def save_preset_page(payloads: Iterable[Any], *, app_id: str) -> UpsertResult:
    """Store a page of presets: one read, one bulk upsert. A name that moved from one preset
    id to another (deleted and made again) takes the name from the old row first."""
    from .models import Preset

    result = UpsertResult()
    now = timezone.now()
    built = _build_page(payloads, "preset", lambda p, _pk: rows.preset_row(p, app_id=app_id, now=now), result)
    stored = dict(Preset.objects.filter(app_id=app_id).values_list("pk", "remote_data"))
    to_write = []
    for pk, row in built.items():
        if pk not in stored:
            result.created += 1
        elif stored[pk] == row["remote_data"]:
            result.unchanged += 1
            continue
        else:
            result.updated += 1
        to_write.append(Preset(**row))
    if to_write:
        with transaction.atomic(using=router.db_for_write(Preset)):
            names = [p.name for p in to_write]
            Preset.objects.filter(app_id=app_id, name__in=names).exclude(
                pk__in=[p.pk for p in to_write]
            ).delete()
            Preset.objects.bulk_create(
                to_write,
                update_conflicts=True,
                unique_fields=["id"],
                update_fields=[c for c in rows.PRESET_COLUMNS if c != "id"],
            )
    return result


def delete_presets_not_seen(seen: set, *, app_id: str, walk_started: datetime) -> int:
    """Delete this app's presets a complete walk did not see (unless written after it began)."""
    from .models import Preset

    gone = Preset.objects.filter(app_id=app_id, synced_at__lt=walk_started).exclude(pk__in=list(seen))
    return gone.delete()[0]


def save_recording_page(payloads: Iterable[Any], *, app_id: str, meeting_id: Any = None) -> UpsertResult:
    """Store recordings (a listing page, or one answer): one read, one bulk upsert.

    A payload that is behind the stored row (an UPLOADING answer after the UPLOADED webhook)
    is ``stale`` and skipped. The meeting is the payload's ``meeting`` when it names a local
    one, else ``meeting_id``; the copy fields are never touched here.
    """
    from .models import Recording

    result = UpsertResult()
    now = timezone.now()
    payloads = list(payloads)
    named = {
        str(p["meeting"]["id"])
        for p in payloads
        if isinstance(p, Mapping) and isinstance(p.get("meeting"), Mapping)
    }
    local = {str(pk) for pk in Meeting.objects.filter(pk__in=_uuids(named)).values_list("pk", flat=True)}

    def build(payload, _pk=None):
        meeting = payload.get("meeting") if isinstance(payload.get("meeting"), Mapping) else {}
        found = str(meeting.get("id")) if str(meeting.get("id")) in local else meeting_id
        return rows.recording_row(payload, app_id=app_id, now=now, meeting_id=found)

    built = _build_page(payloads, "recording", build, result)
    stored = {
        pk: (status, data, meeting)
        for pk, status, data, meeting in Recording.objects.filter(pk__in=list(built)).values_list(
            "pk", "status", "remote_data", "meeting_id"
        )
    }
    to_write = []
    for pk, row in built.items():
        if pk in stored:
            status, data, meeting = stored[pk]
            if rows.RECORDING_PROGRESS[row["status"]] < rows.RECORDING_PROGRESS[status]:
                result.stale += 1
                continue
            if data == row["remote_data"]:
                result.unchanged += 1
                continue
            row["meeting_id"] = row["meeting_id"] or meeting
            result.updated += 1
        else:
            result.created += 1
        to_write.append(Recording(**row))
    if to_write:
        Recording.objects.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=[c for c in rows.RECORDING_COLUMNS if c != "id"],
        )
    return result


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue
    return found


def claim_recording_copy(recording_id, *, token: str, stale_before: datetime, now: datetime) -> bool:
    """Take the copy of one recording for the worker holding ``token``: true for exactly one
    caller at a time. A claim not renewed since ``stale_before`` belongs to a worker that died
    and may be retaken; a copy given up or waiting for its next try is not taken."""
    from .models import Recording, RecordingStatus

    free = Q(copy_claim="") | Q(copy_claimed_at__isnull=True) | Q(copy_claimed_at__lt=stale_before)
    due = Q(copy_next_attempt_at__isnull=True) | Q(copy_next_attempt_at__lte=now)
    taken = Recording.objects.filter(
        free,
        due,
        pk=recording_id,
        stored_name="",
        status=RecordingStatus.UPLOADED,
        copy_failed_at__isnull=True,
    )
    return taken.update(copy_claim=token, copy_claimed_at=now) == 1


def renew_recording_copy(recording_id, *, token: str, now: datetime) -> bool:
    """Keep a running copy's claim fresh; false when another worker holds it now."""
    from .models import Recording

    return Recording.objects.filter(pk=recording_id, copy_claim=token).update(copy_claimed_at=now) == 1


def finish_recording_copy(
    recording_id,
    *,
    token: str,
    stored_name: str = "",
    stored_size: int | None = None,
    stored_sha256: str = "",
    error: str = "",
    next_attempt_at: datetime | None = None,
    given_up_at: datetime | None = None,
) -> bool:
    """Record a copy's outcome and release the claim, only for the claim's holder (false
    otherwise: another worker took the copy, and its outcome is the one that counts)."""
    from .models import Recording

    fields: dict[str, Any] = {"copy_claim": "", "copy_claimed_at": None, "copy_error": error[:500]}
    if stored_name:
        fields.update(
            stored_name=stored_name,
            stored_size=stored_size,
            stored_sha256=stored_sha256,
            copy_next_attempt_at=None,
            copy_failed_at=None,
        )
    else:
        fields.update(
            copy_tries=F("copy_tries") + 1, copy_next_attempt_at=next_attempt_at, copy_failed_at=given_up_at
        )
    return Recording.objects.filter(pk=recording_id, copy_claim=token).update(**fields) == 1


def retry_recording_copy(recording_ids) -> int:
    """Start given-up copies over (their tries back to none); the number of rows."""
    from .models import Recording

    return Recording.objects.filter(
        pk__in=list(recording_ids), copy_failed_at__isnull=False, stored_name=""
    ).update(copy_failed_at=None, copy_tries=0, copy_next_attempt_at=None, copy_error="", copy_claim="")
