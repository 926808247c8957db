"""The emulator's state, its operations and its request router.

:meth:`Emulator.handle` is a pure request → response function (no sockets, no framework), so
the same emulator can sit behind the WSGI app (``wsgi.py``), the ``responses`` adapter
(``responses_adapter.py``) or be called directly. State lives in memory, guarded by one lock,
and optionally mirrored to a JSON state file so that a restart keeps it.

Choices where the real API is undocumented:

* Listings are sorted by ``created_at`` ascending, then ``id``. ``per_page`` defaults to 20;
  values above 100 are clamped to 100; values below 1 (and ``page_no`` below 1) are a 400.
* ``paging.start_offset = (page_no - 1) * per_page + 1`` and
  ``paging.end_offset = min(page_no * per_page, total_count)``; both are 0 when nothing matches.
  A page past the end therefore has ``start_offset > end_offset`` and no data.
* ``search`` matches a case-insensitive substring of the title, or the exact meeting id.
  ``start_time`` / ``end_time`` filter on ``created_at`` (inclusive).
* PATCH merges the given top-level fields; a nested object (``ai_config``,
  ``recording_config``) given in a PATCH replaces the stored one whole.
  PUT resets every writable field to its default, then applies the body; ``status`` (a
  PATCH-only field) is kept unless the body carries it.
* Adding a participant whose ``custom_participant_id`` is already in the meeting creates a
  second participant: the emulator does not deduplicate, so code under test must not rely on
  the API doing it.
* ``updated_at`` strictly increases on every change, even within one millisecond (the clock
  moves on by 1 ms when it has to).
* Write-only storage secrets are kept apart (see :meth:`Emulator.received_storage_secrets`),
  never echoed and never written to the state file.

Time comes from ``Emulator.clock`` (see ``clock.py``) and Cloudflare's rate limit, when on, from
``ratelimit.py``; neither is kept in the state file.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

from ..tokens import token_claims
from .active_session import LiveSessionMixin
from .answers import ApiError as _ApiError
from .answers import EmulatorResponse, format_timestamp, parse_timestamp
from .answers import error as _error
from .answers import json_response as _json_response
from .answers import ok as _ok
from .answers import page as _page
from .answers import paging_params as _paging_params
from .clock import Clock, SystemClock
from .faults import ConnectionDropped, Faults, documented_error
from .livestreams import LivestreamsMixin
from .presets import PresetsMixin
from .ratelimit import RateDecision, RateLimit
from .recordings import RecordingsMixin
from .session_model import SessionBook
from .session_routes import SessionRoutesMixin
from .sessions import SessionSimulator
from .webhooks import WELL_KNOWN_PATH, WebhookDispatcher

__all__ = ["ConnectionDropped", "Emulator", "EmulatorResponse", "RequestRecord", "DEFAULT_APP_ID"]

DEFAULT_APP_ID = "emulator-app"
TOKEN_LIFETIME = timedelta(days=100)
STATE_FORMAT_VERSION = 1

MEETING_DEFAULTS: dict[str, Any] = {
    "title": None,
    "status": "ACTIVE",
    "record_on_start": False,
    "live_stream_on_start": False,
    "persist_chat": False,
    "summarize_on_end": False,
    "transcribe_on_end": False,
    "session_keep_alive_time_in_secs": 60,
}
_READ_ONLY_MEETING_KEYS = ("id", "created_at", "updated_at")
# Used only if the colleague-owned schema module does not export its own list.
_PRESET_NAMESPACE = uuid.UUID("5f1c1a4e-8f0e-4b55-9d8e-6b1d2f0a7c31")


class RequestRecord(NamedTuple):
    """One request as the emulator saw it (the ``Authorization`` header is never recorded)."""

    method: str
    path: str  # from ``/accounts/...`` on; the full path if it has no such part
    query: dict[str, str]
    json: Any  # the parsed JSON body, or None


class _Timestamps:
    """UTC timestamps with millisecond precision that strictly increase, call after call."""

    def __init__(self) -> None:
        self._last_ms = 0
        self._lock = threading.Lock()

    def next(self, seconds: float) -> str:
        """The timestamp for ``seconds`` (epoch), moved on past the last one handed out."""
        with self._lock:
            ms = max(int(seconds * 1000), self._last_ms + 1)
            self._last_ms = ms
        return format_timestamp(ms)

    def advance_past(self, timestamp: str) -> None:
        """Never hand out a timestamp at or before ``timestamp`` (used after loading state)."""
        ms = int(parse_timestamp(timestamp).timestamp() * 1000)
        with self._lock:
            self._last_ms = max(self._last_ms, ms)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_token(token: str) -> dict:
    """The payload of an emulator-issued token (no signature check: it is an emulator)."""
    return token_claims(token)


def _schema():
    # Imported lazily: the schema module is shared with the client and may import Django bits.
    from realtimekit_django import schema

    return schema


def _validation_error_type():
    from realtimekit_django.exceptions import ValidationError

    return ValidationError


class Emulator(PresetsMixin, RecordingsMixin, LivestreamsMixin, LiveSessionMixin, SessionRoutesMixin):
    """An in-memory RealtimeKit server.

    ``api_token``: the bearer token requests must carry; None accepts any bearer token (the
    header is still required). ``default_app_id``: the app the Python helpers use when not told;
    None means "the only app used so far, else ``emulator-app``". ``state_file``: a JSON file
    loaded at start (if it exists) and rewritten atomically after every change. ``faults``: a
    :class:`Faults` (one is made, with ``seed``, if not given). ``rate_limit``: ``(requests,
    seconds)`` per API token, as Cloudflare enforces it (see :meth:`set_rate_limit`); off by
    default. ``clock``: what every timestamp, token lifetime and rate-limit window reads (a
    :class:`~realtimekit_django.emulator.clock.Clock`; the wall clock by default). Both can be
    changed later: ``set_rate_limit(...)``, ``emulator.clock = ManualClock()``.
    """

    def __init__(
        self,
        api_token: str | None = None,
        *,
        default_app_id: str | None = None,
        state_file: str | os.PathLike | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        rate_limit: tuple[int, int] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._api_token = api_token
        self.default_app_id = default_app_id
        self.state_file = Path(state_file) if state_file is not None else None
        self.faults = faults if faults is not None else Faults(seed=seed)
        self._lock = threading.RLock()
        self._pending_deliveries: list[Callable[[], None]] = []
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._timestamps = _Timestamps()
        self.rate_limit: RateLimit | None = None
        self.set_rate_limit(rate_limit)
        self._hooks: list[Callable[[RequestRecord], Any]] = []
        #: Webhook configurations, the signing key and deliveries (see ``webhooks.py``).
        self.webhooks = WebhookDispatcher(self)
        #: The session simulator: starts, joins, leaves, ends, recordings (see ``sessions.py``).
        self.sessions = SessionSimulator(self)
        self._init_state()
        if self.state_file is not None and self.state_file.exists():
            self._load_state()

    def __repr__(self) -> str:  # never shows the token
        return f"<Emulator apps={sorted(self._apps)!r} meetings={len(self._meeting_app)}>"

    # ---------------------------------------------------------------- state

    def _init_state(self) -> None:
        # app_id -> {"meetings": {meeting_id: meeting}, "participants": {meeting_id: {pid: p}}}
        self._apps: dict[str, dict[str, dict]] = {}
        self._meeting_app: dict[str, str] = {}  # meeting_id -> app_id
        self._secrets: dict[str, dict] = {}  # meeting_id -> last write-only storage secrets
        self._tokens: dict[str, dict] = {}  # token -> claims (+ app id) for token_is_valid()
        self._apps_seen: list[str] = []
        self._orders: dict[str, tuple[int, list[str]]] = {}  # app_id -> (meeting count, sorted ids)
        self.issued_tokens: list[str] = []
        self.requests: list[RequestRecord] = []
        #: Every session, live or ended: the one session model (see ``session_model.py``).
        self._session_book = SessionBook(self._now, self._session_ended)
        self._sizes: dict[str, int] = {}  # recording_id -> file size chosen by a test
        self._break_after: int | None = None
        self._download_key = secrets.token_bytes(32)
        self.downloads: list[str] = []  # recording ids, one per download served

    def reset(self) -> None:
        """Forget everything: meetings, participants, secrets, tokens, the request log, hooks,
        faults and rate-limit windows (the limit itself stays on). With a state file, the (now
        empty) state is written to it."""
        with self._lock:
            self._init_state()
            self._hooks.clear()
            self.webhooks.reset()
            self.faults.clear()
            if self.rate_limit is not None:
                self.rate_limit.clear()
            self._save_state()

    def set_rate_limit(self, rate_limit: tuple[int, int] | None) -> None:
        """Limit every API token to ``(requests, seconds)`` from now on, or lift the limit (None).

        Over the quota, every request of that token is answered 429 with ``retry-after`` until a
        lockout of ``seconds`` ends; while the limit is on, every answer to an authorised request
        carries ``ratelimit`` and ``ratelimit-policy``. See :mod:`.ratelimit` for the window.
        """
        if rate_limit is None:
            self.rate_limit = None
            return
        if not isinstance(rate_limit, (tuple, list)) or len(rate_limit) != 2:
            raise ValueError(f"rate_limit must be (requests, seconds) or None, not {rate_limit!r}")
        self.rate_limit = RateLimit(*rate_limit)

    def _now(self) -> str:
        return self._timestamps.next(self.clock.time())

    def _app(self, app_id: str) -> dict[str, dict]:
        if app_id not in self._apps_seen:
            self._apps_seen.append(app_id)
        return self._apps.setdefault(app_id, {"meetings": {}, "participants": {}})

    def _resolve_app_id(self, app_id: str | None) -> str:
        if app_id is not None:
            return app_id
        if self.default_app_id is not None:
            return self.default_app_id
        seen = list(dict.fromkeys([*self._apps_seen, *self._apps]))
        if len(seen) == 1:
            return seen[0]
        if len(seen) > 1:
            raise ValueError(f"the emulator has several apps ({', '.join(seen)}); pass app_id")
        return DEFAULT_APP_ID

    def _state_payload(self) -> dict:
        return {"version": STATE_FORMAT_VERSION, "apps": self._apps}

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        data = json.dumps(self._state_payload(), indent=1, sort_keys=True)
        directory = self.state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.state_file.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _load_state(self) -> None:
        data = json.loads(self.state_file.read_text(encoding="utf-8") or "{}")
        stamps: list[str] = []
        for app_id, app in data.get("apps", {}).items():
            state = self._app(app_id)
            state["meetings"].update(app.get("meetings", {}))
            state["participants"].update(app.get("participants", {}))
            for extra in ("presets", "recordings", "livestreams"):
                if extra in app:
                    state.setdefault(extra, {}).update(app[extra])
            for meeting_id, meeting in state["meetings"].items():
                self._meeting_app[meeting_id] = app_id
                stamps.append(meeting["updated_at"])
            for people in state["participants"].values():
                stamps.extend(person["updated_at"] for person in people.values())
        if stamps:
            self._timestamps.advance_past(max(stamps, key=parse_timestamp))

    # ---------------------------------------------------------------- helpers

    def _meeting_order(self, app_id: str) -> list[str]:
        """An app's meeting ids in listing order, sorted again only when a meeting was added.

        Meetings are never deleted and ``created_at`` never changes, so the count alone says
        whether the order is stale. Sorting on every listing request made a walk over n
        meetings cost O(n² log n): seconds per page at 100,000 meetings.
        """
        meetings = self._app(app_id)["meetings"]
        cached = self._orders.get(app_id)
        if cached is None or cached[0] != len(meetings):
            cached = (len(meetings), [m["id"] for m in self._sorted(list(meetings.values()))])
            self._orders[app_id] = cached
        return cached[1]

    @staticmethod
    def _sorted(items: list[dict]) -> list[dict]:
        return sorted(items, key=lambda item: (item["created_at"], item["id"]))

    def _write_only_keys(self) -> tuple[str, ...]:
        return tuple(_schema().STORAGE_WRITE_ONLY_KEYS)

    def _take_secrets(self, meeting_id: str, validated: dict) -> None:
        """Keep the write-only storage secrets a write carried, apart from the meeting."""
        storage = (validated.get("recording_config") or {}).get("storage_config")
        if not isinstance(storage, dict):
            return
        found = {key: storage[key] for key in self._write_only_keys() if key in storage}
        if found:
            self._secrets[meeting_id] = copy.deepcopy(found)

    def _public_meeting(self, meeting: dict) -> dict:
        return _schema().strip_write_only(copy.deepcopy(meeting))

    def _find_meeting(self, meeting_id: str, app_id: str | None = None) -> tuple[str, dict]:
        owner = self._meeting_app.get(meeting_id)
        if owner is None or (app_id is not None and owner != app_id):
            raise _ApiError(404, "Meeting not found")
        return owner, self._apps[owner]["meetings"][meeting_id]

    def _find_participant(self, meeting_id: str, participant_id: str, app_id: str | None = None) -> dict:
        owner, _ = self._find_meeting(meeting_id, app_id)
        person = self._apps[owner]["participants"].get(meeting_id, {}).get(participant_id)
        if person is None:
            raise _ApiError(404, "Participant not found")
        return person

    def _issue_token(self, app_id: str, meeting_id: str, participant_id: str) -> str:
        iat = int(self.clock.time())
        header = {"alg": "RS256", "typ": "JWT"}
        payload = {
            "meetingId": meeting_id,
            "participantId": participant_id,
            "iat": iat,
            "exp": iat + int(TOKEN_LIFETIME.total_seconds()),
            "jti": uuid.uuid4().hex,
        }
        token = ".".join(
            [
                _b64url(json.dumps(header, separators=(",", ":")).encode()),
                _b64url(json.dumps(payload, separators=(",", ":")).encode()),
                _b64url(secrets.token_bytes(256)),
            ]
        )
        self.issued_tokens.append(token)
        self._tokens[token] = {"app_id": app_id, **payload}
        return token

    @staticmethod
    def preset_id(preset_name: str) -> str:
        """The stable preset uuid the emulator reports for ``preset_name``."""
        return str(uuid.uuid5(_PRESET_NAMESPACE, preset_name))

    # ---------------------------------------------------------------- operations (no auth, no faults)

    def _list_meetings(self, app_id: str, query: dict[str, str]) -> tuple[list[dict], dict]:
        page_no, per_page = _paging_params(query)
        status = query.get("status")
        if status is not None and status not in ("ACTIVE", "INACTIVE"):
            raise _ApiError(400, "status: must be one of ACTIVE, INACTIVE")
        bounds = {}
        for name in ("start_time", "end_time"):
            if query.get(name) not in (None, ""):
                try:
                    bounds[name] = parse_timestamp(query[name])
                except ValueError:
                    raise _ApiError(400, f"{name}: must be an ISO 8601 date-time")
        search = (query.get("search") or "").strip().lower()
        meetings = self._app(app_id)["meetings"]
        order = self._meeting_order(app_id)
        if status is None and not bounds and not search:  # a plain walk: page the ids directly
            ids, paging = _page(order, page_no, per_page)
            return [self._public_meeting(meetings[i]) for i in ids], paging
        matching = []
        for meeting in (meetings[i] for i in order):
            if status is not None and meeting.get("status") != status:
                continue
            if bounds:
                created = parse_timestamp(meeting["created_at"])
                if "start_time" in bounds and created < bounds["start_time"]:
                    continue
                if "end_time" in bounds and created > bounds["end_time"]:
                    continue
            title = (meeting.get("title") or "").lower()
            if search and search not in title and search != meeting["id"].lower():
                continue
            matching.append(meeting)
        page, paging = _page(matching, page_no, per_page)
        return [self._public_meeting(m) for m in page], paging

    def _create_meeting(self, app_id: str, body: dict, overrides: dict | None = None) -> dict:
        validated = _schema().validate_meeting(body, mode="create")
        now = self._now()
        meeting = {"id": str(uuid.uuid4()), "created_at": now, "updated_at": now, **MEETING_DEFAULTS}
        meeting.update(validated)
        meeting.update(overrides or {})
        self._take_secrets(meeting["id"], validated)
        stored = self._public_meeting(meeting)
        self._app(app_id)["meetings"][stored["id"]] = stored
        self._meeting_app[stored["id"]] = app_id
        return copy.deepcopy(stored)

    def _update_meeting(self, app_id: str | None, meeting_id: str, body: dict, *, replace: bool) -> dict:
        owner, meeting = self._find_meeting(meeting_id, app_id)
        validated = _schema().validate_meeting(body, mode="replace" if replace else "update")
        if replace:
            meeting = {
                **MEETING_DEFAULTS,
                "id": meeting["id"],
                "created_at": meeting["created_at"],
                "status": meeting.get("status", "ACTIVE"),
            }
        else:
            meeting = copy.deepcopy(meeting)
        for key, value in validated.items():
            if key not in _READ_ONLY_MEETING_KEYS:
                meeting[key] = value
        meeting["updated_at"] = self._now()
        self._take_secrets(meeting_id, validated)
        stored = self._public_meeting(meeting)
        self._apps[owner]["meetings"][meeting_id] = stored
        return copy.deepcopy(stored)

    def _list_participants(self, app_id: str | None, meeting_id: str, query: dict[str, str]):
        owner, _ = self._find_meeting(meeting_id, app_id)
        page_no, per_page = _paging_params(query)
        people = self._sorted(list(self._apps[owner]["participants"].get(meeting_id, {}).values()))
        page, paging = _page(people, page_no, per_page)
        return copy.deepcopy(page), paging

    def _add_participant(self, app_id: str | None, meeting_id: str, body: dict) -> dict:
        owner, _ = self._find_meeting(meeting_id, app_id)
        validated = _schema().validate_participant(body, mode="add")
        now = self._now()
        person = {
            "id": str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
            "custom_participant_id": validated["custom_participant_id"],
            "preset_name": validated["preset_name"],
            "name": validated.get("name"),
            "picture": validated.get("picture"),
        }
        self._apps[owner]["participants"].setdefault(meeting_id, {})[person["id"]] = person
        return {**copy.deepcopy(person), "token": self._issue_token(owner, meeting_id, person["id"])}

    def _edit_participant(self, app_id: str | None, meeting_id: str, participant_id: str, body: dict) -> dict:
        person = self._find_participant(meeting_id, participant_id, app_id)
        validated = _schema().validate_participant(body, mode="edit")
        for key in ("name", "picture", "preset_name"):
            if key in validated:
                person[key] = validated[key]
        person["updated_at"] = self._now()
        owner = self._meeting_app[meeting_id]
        return {**copy.deepcopy(person), "token": self._issue_token(owner, meeting_id, participant_id)}

    def _delete_participant(self, app_id: str | None, meeting_id: str, participant_id: str) -> dict:
        person = self._find_participant(meeting_id, participant_id, app_id)
        owner = self._meeting_app[meeting_id]
        del self._apps[owner]["participants"][meeting_id][participant_id]
        return {
            "created_at": person["created_at"],
            "updated_at": person["updated_at"],
            "custom_participant_id": person["custom_participant_id"],
            "preset_id": self.preset_id(person["preset_name"]),
        }

    def _refresh_token(self, app_id: str | None, meeting_id: str, participant_id: str) -> dict:
        self._find_participant(meeting_id, participant_id, app_id)
        owner = self._meeting_app[meeting_id]
        return {"token": self._issue_token(owner, meeting_id, participant_id)}

    # ---------------------------------------------------------------- Python helpers (tests, demo)

    def create_meeting(self, app_id: str | None = None, **fields: Any) -> dict:
        """Create a meeting directly (no HTTP, no faults). Body fields are validated like a POST;
        ``id``, ``created_at`` and ``updated_at`` may be given to control ids and ordering."""
        overrides = {key: fields.pop(key) for key in _READ_ONLY_MEETING_KEYS if key in fields}
        with self._lock:
            meeting = self._create_meeting(self._resolve_app_id(app_id), fields, overrides)
            if "updated_at" in overrides:
                self._timestamps.advance_past(overrides["updated_at"])
            self._save_state()
            return meeting

    def update_meeting(self, meeting_id: str, app_id: str | None = None, **fields: Any) -> dict:
        """PATCH a meeting directly (for example ``status="INACTIVE"``)."""
        with self._lock:
            meeting = self._call(self._update_meeting, app_id, meeting_id, fields, replace=False)
            self._save_state()
            return meeting

    def get_meeting(self, meeting_id: str, app_id: str | None = None) -> dict:
        with self._lock:
            return self._public_meeting(self._call(self._find_meeting, meeting_id, app_id)[1])

    def meetings(self, app_id: str | None = None) -> list[dict]:
        """All meetings of an app, in listing order (created_at, then id)."""
        with self._lock:
            app = self._apps.get(self._resolve_app_id(app_id), {"meetings": {}})
            return [self._public_meeting(m) for m in self._sorted(list(app["meetings"].values()))]

    def add_participant(self, meeting_id: str, app_id: str | None = None, **fields: Any) -> dict:
        """Add a participant directly; returns it with its ``token``. Raises LookupError if the
        meeting does not exist."""
        with self._lock:
            person = self._call(self._add_participant, app_id, meeting_id, fields)
            self._save_state()
            return person

    def participants(self, meeting_id: str, app_id: str | None = None) -> list[dict]:
        with self._lock:
            owner, _ = self._call(self._find_meeting, meeting_id, app_id)
            people = self._apps[owner]["participants"].get(meeting_id, {})
            return copy.deepcopy(self._sorted(list(people.values())))

    def delete_participant(self, meeting_id: str, participant_id: str, app_id: str | None = None) -> dict:
        """Delete a participant directly (revoking its tokens); returns the API's delete data."""
        with self._lock:
            data = self._call(self._delete_participant, app_id, meeting_id, participant_id)
            self._save_state()
            return data

    def received_storage_secrets(self, meeting_id: str) -> dict:
        """The write-only storage secrets (``access_key``, ``secret``, ``password``,
        ``private_key``) the last write carrying any of them sent for this meeting; {} if none."""
        with self._lock:
            return copy.deepcopy(self._secrets.get(meeting_id, {}))

    def token_is_valid(self, token: str) -> bool:
        """Whether a participant could join with ``token`` now: issued here, not expired, its
        participant not deleted and its meeting ACTIVE."""
        with self._lock:
            claims = self._tokens.get(token)
            if claims is None or claims["exp"] <= self.clock.time():
                return False
            meeting_id = claims["meetingId"]
            app = self._apps.get(claims["app_id"], {"meetings": {}, "participants": {}})
            meeting = app["meetings"].get(meeting_id)
            if meeting is None or meeting.get("status") != "ACTIVE":
                return False
            return claims["participantId"] in app["participants"].get(meeting_id, {})

    decode_token = staticmethod(decode_token)

    def add_hook(self, hook: Callable[[RequestRecord], Any]) -> Callable[[RequestRecord], Any]:
        """Call ``hook(request_info)`` before each request is handled (outside the lock, so the
        hook may use the helpers above). ``request_info`` has ``method``, ``path``, ``query`` and
        ``json``. Returns the hook, so it can be used as a decorator."""
        self._hooks.append(hook)
        return hook

    def remove_hook(self, hook: Callable[[RequestRecord], Any]) -> None:
        self._hooks.remove(hook)

    @staticmethod
    def _call(operation, *args, **kwargs):
        try:
            return operation(*args, **kwargs)
        except _ApiError as err:
            raise LookupError(err.message) from None

    # ---------------------------------------------------------------- HTTP

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | str | None = b"",
        headers: dict[str, str] | None = None,
    ) -> EmulatorResponse:
        """Answer one HTTP request. Raises :class:`ConnectionDropped` when a fault drops it.

        A request meets, in order: the hooks, the latency fault, the rate limit (an authorised
        request refused by it meets no other fault), the other faults, then routing.
        """
        method = method.upper()
        query = dict(query or {})
        raw = body.encode() if isinstance(body, str) else (body or b"")
        parsed, json_error = _parse_json(raw)
        split = _split_path(path)
        record = RequestRecord(method, split[0] if split else path, query, parsed)
        with self._lock:
            self.requests.append(record)
        for hook in list(self._hooks):
            hook(record)
        if self.faults.latency:
            time.sleep(self.faults.latency)  # real seconds: latency slows the caller, whatever the clock
        if split is not None and split[2][:1] == ["_downloads"] and method == "GET":
            # A signed storage link, not an API call: no token, no rate limit.
            return self._serve_download(split[1], split[2], query, headers or {})
        if split is None and method == "GET" and path.split("?", 1)[0].endswith(WELL_KNOWN_PATH):
            return _json_response(200, self.webhooks.well_known())  # public: no token, no faults
        token = self._authorized_token(headers or {})
        decision = self._rate_decision(token)
        if decision is not None and not decision.allowed:
            return _rate_limited(decision)
        response = self._answer(method, split, query, parsed, json_error, token)
        if decision is not None:
            response.headers.update(decision.headers())
        return response

    def _rate_decision(self, token: str | None) -> RateDecision | None:
        """The rate limit's verdict on one request of ``token`` (None: no limit, or no token)."""
        limit = self.rate_limit
        if limit is None or token is None:
            return None
        return limit.check(token, self.clock.time())

    def _answer(
        self,
        method: str,
        split: tuple[str, str, list[str]] | None,
        query: dict[str, str],
        parsed: Any,
        json_error: bool,
        token: str | None,
    ) -> EmulatorResponse:
        fault = self.faults.decide()  # may raise ConnectionDropped
        if fault is not None:
            return EmulatorResponse(fault.status, dict(fault.headers), fault.body)
        if split is None:
            return _error(404, "Not found")
        if token is None:
            return _error(401, "Unauthorized")
        _, app_id, route = split
        if route and route[0] == "emulator":  # the simulator delivers webhooks: not under the lock
            return self.sessions.route(method, app_id, route, parsed)
        try:
            if json_error and method in ("POST", "PATCH", "PUT"):
                raise _ApiError(400, "Malformed JSON body")
            with self._lock:
                self._app(app_id)
                response = self._route(method, app_id, route, query, parsed)
                if method != "GET" and response.status < 300:
                    self._save_state()
            self._deliver_pending()
            return response
        except _ApiError as err:
            return _error(err.status, err.message)
        except _validation_error_type() as err:
            return _error(400, str(err))

    def _after_answer(self, deliver: Callable[[], None]) -> None:
        """Run ``deliver`` once the request's state change is done and the lock released (webhook
        deliveries reach the site, which must not wait on this lock)."""
        self._pending_deliveries.append(deliver)

    def _deliver_pending(self) -> None:
        while self._pending_deliveries:
            self._pending_deliveries.pop(0)()

    def _authorized_token(self, headers: dict[str, str]) -> str | None:
        """The request's bearer token if it is accepted, else None (the answer will be 401)."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if self._api_token is None or secrets.compare_digest(token.encode(), self._api_token.encode()):
            return token
        return None

    @staticmethod
    def _api_error(status: int, message: str) -> _ApiError:
        return _ApiError(status, message)

    @staticmethod
    def _object(body: Any) -> dict:
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise _ApiError(400, "Request body must be a JSON object")
        return body

    def _route(self, method: str, app_id: str, route: list[str], query: dict, body: Any) -> EmulatorResponse:
        def need_object() -> dict:
            return self._object(body)

        if route[:1] == ["presets"]:
            return self._route_presets(method, app_id, route, query, body)
        if route[:1] == ["recordings"]:
            return self._route_recordings(method, app_id, route, query, body)
        if route[:1] == ["sessions"]:
            return self._route_sessions(method, app_id, route, query, body)
        if self._is_livestream_route(route):
            return self._route_livestreams(method, app_id, route, query, body)
        if route[:1] == ["meetings"] and len(route) >= 3 and route[2] == "active-session":
            return self._route_active_session(method, app_id, route[1], route[3:], body)
        if route and route[0] == "webhooks" and len(route) <= 2:
            return self.webhooks.route(method, app_id, route, need_object())
        if not route or route[0] != "meetings" or len(route) > 5:
            return _error(404, "Not found")
        n = len(route)
        if n == 1:
            if method == "GET":
                data, paging = self._list_meetings(app_id, query)
                return _ok(data, paging=paging)
            if method == "POST":
                return _ok(self._create_meeting(app_id, need_object()), status=201)
        elif n == 2:
            meeting_id = route[1]
            if method == "GET":
                return _ok(self._public_meeting(self._find_meeting(meeting_id, app_id)[1]))
            if method in ("PATCH", "PUT"):
                replace = method == "PUT"
                return _ok(self._update_meeting(app_id, meeting_id, need_object(), replace=replace))
        elif route[2] != "participants":
            return _error(404, "Not found")
        elif n == 3:
            meeting_id = route[1]
            if method == "GET":
                data, paging = self._list_participants(app_id, meeting_id, query)
                return _ok(data, paging=paging)
            if method == "POST":
                return _ok(self._add_participant(app_id, meeting_id, need_object()), status=201)
        elif n == 4:
            meeting_id, participant_id = route[1], route[3]
            if method == "GET":
                return _ok(copy.deepcopy(self._find_participant(meeting_id, participant_id, app_id)))
            if method == "PATCH":
                return _ok(self._edit_participant(app_id, meeting_id, participant_id, need_object()))
            if method == "DELETE":
                return _ok(self._delete_participant(app_id, meeting_id, participant_id))
        elif route[4] == "token":
            if method == "POST":
                return _ok(self._refresh_token(app_id, route[1], route[3]))
        else:
            return _error(404, "Not found")
        return _error(405, "Method not allowed")


# -------------------------------------------------------------------- module helpers


def _split_path(path: str) -> tuple[str, str, list[str]] | None:
    """``(path from /accounts/ on, app_id, segments after the app id)``, or None if not an API path."""
    path = path.split("?", 1)[0]
    marker = path.find("/accounts/")
    if marker < 0:
        return None
    tail = path[marker:]
    parts = [unquote(p) for p in tail.strip("/").split("/")]
    # accounts, <account_id>, realtime, kit, <app_id>, ...
    if len(parts) < 5 or parts[2] != "realtime" or parts[3] != "kit" or not parts[1] or not parts[4]:
        return None
    return tail, parts[4], parts[5:]


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    if not raw.strip():
        return None, False
    try:
        return json.loads(raw), False
    except (ValueError, UnicodeDecodeError):
        return None, True


def _rate_limited(decision: RateDecision) -> EmulatorResponse:
    """The limit's 429, in the API's documented error shape, with Cloudflare's headers."""
    message = f"Rate limit exceeded: {decision.quota} requests per {decision.window} seconds; retry later"
    return _json_response(429, documented_error(429, message), decision.headers())
