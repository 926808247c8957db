"""The emulator's recordings: the platform's statuses, and a download URL that expires.

A recording starts INVOKED and is RECORDING at the next look (the recorder has joined);
``pause`` and ``resume`` move it between RECORDING and PAUSED; ``stop`` (or the end of the
session) makes it UPLOADING, and UPLOADED at the next look, with a file of
``recording_size`` bytes (or the size :meth:`set_recording_size` chose) and a download URL
that expires after ``download_url_lifetime`` seconds. :meth:`fail_recording` makes it
ERRORED. Stopping a recording that has stopped is a 400.

The download URL is a signed link under ``download_base_url`` that any HTTP client can fetch
without the API token, as a presigned storage link can. Its body is generated chunk by chunk
(constant memory whatever the size) and honours ``Range: bytes=N-``.
:meth:`break_next_download_after` makes the next download stop short, as a dropped
connection would.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from .answers import EmulatorResponse, format_timestamp, parse_timestamp
from .answers import error as _error
from .answers import ok as _ok
from .answers import page as _page
from .answers import paging_params as _paging_params
from .faults import ConnectionDropped

ACTIVE = ("INVOKED", "RECORDING", "PAUSED")
STOPPED = ("UPLOADING", "UPLOADED", "ERRORED")
BLOCK = 64 * 1024
_PUBLIC_KEYS = (
    "id",
    "audio_download_url",
    "download_url",
    "download_url_expiry",
    "file_size",
    "invoked_time",
    "output_file_name",
    "session_id",
    "started_time",
    "status",
    "stopped_time",
    "recording_duration",
    "start_reason",
    "stop_reason",
    "storage_config",
)
_RANGE = re.compile(r"^bytes=(\d+)-$")


def recording_block(recording_id: str) -> bytes:
    """The repeating block a recording's emulated file is made of."""
    seed = hashlib.sha256(recording_id.encode()).digest()
    return (seed * (BLOCK // len(seed) + 1))[:BLOCK]


def recording_chunks(recording_id: str, size: int, offset: int = 0) -> Iterator[bytes]:
    """The emulated file's bytes from ``offset`` to ``size``, one block at a time."""
    block = recording_block(recording_id)
    position = offset
    while position < size:
        start = position % BLOCK
        piece = block[start : start + min(BLOCK - start, size - position)]
        position += len(piece)
        yield piece


class RecordingsMixin:
    """Recording state and operations of :class:`~realtimekit_django.emulator.core.Emulator`."""

    recording_size = 1024 * 1024
    download_url_lifetime = 3600.0
    download_base_url = "https://downloads.emulator.invalid"

    def _recordings(self, app_id: str) -> dict[str, dict]:
        return self._app(app_id).setdefault("recordings", {})

    def _start_recording(self, app_id: str, body: dict) -> dict:
        from realtimekit_django import schema

        checked = schema.validate_recording_start(body)
        meeting_id = checked["meeting_id"]
        _, meeting = self._find_meeting(meeting_id, app_id)
        session = self._live_session(meeting_id)
        if session is None:
            raise self._api_error(400, "The meeting has no live session to record")
        running = [
            r
            for r in self._recordings(app_id).values()
            if r["meeting_id"] == meeting_id and r["status"] in ACTIVE
        ]
        if running and not checked.get("allow_multiple_recordings"):
            raise self._api_error(409, "The meeting is already being recorded")
        now = self._now()
        prefix = checked.get("file_name_prefix") or (meeting.get("recording_config") or {}).get(
            "file_name_prefix"
        )
        recording_id = str(uuid.uuid4())
        storage = checked.get("storage_config")
        recording = {
            "id": recording_id,
            "meeting_id": meeting_id,
            "session_id": session["id"],
            "status": "INVOKED",
            "invoked_time": now,
            "started_time": None,
            "stopped_time": None,
            "output_file_name": f"{prefix or meeting_id}_{recording_id[:8]}.mp4",
            "file_size": None,
            "download_url": None,
            "audio_download_url": None,
            "download_url_expiry": None,
            "recording_duration": None,
            "start_reason": {"reason": "API_CALL", "caller": {"type": "ORGANIZATION", "name": None}},
            "stop_reason": None,
            "storage_config": schema.strip_write_only({"storage_config": storage})["storage_config"]
            if storage
            else None,
            "size": self._sizes.get(recording_id, self.recording_size),
        }
        self._recordings(app_id)[recording_id] = recording
        return self._public_recording(recording, settle=False)

    def _settle(self, recording: dict) -> None:
        """What happened since the last look: the recorder joined, the upload finished."""
        if recording["status"] == "INVOKED":
            recording["status"] = "RECORDING"
            recording["started_time"] = self._now()
        elif recording["status"] == "UPLOADING":
            recording["status"] = "UPLOADED"
            recording["file_size"] = self._sizes.get(recording["id"], recording["size"])
            started = recording["started_time"] or recording["invoked_time"]
            seconds = (_parse(recording["stopped_time"]) - _parse(started)).total_seconds()
            recording["recording_duration"] = max(round(seconds), 0)
        if recording["status"] == "UPLOADED" and recording["file_size"] is not None:
            self._issue_download_url(recording)

    def _issue_download_url(self, recording: dict) -> None:
        now = self.clock.time()
        expiry = recording.get("download_url_expiry")
        if expiry is not None and _parse(expiry).timestamp() > now + self.download_url_lifetime / 2:
            return
        expires = int(now + self.download_url_lifetime)
        app_id = self._meeting_app[recording["meeting_id"]]
        query = f"expires={expires}&signature={self._download_signature(recording['id'], expires)}"
        recording["download_url"] = (
            f"{self.download_base_url.rstrip('/')}/accounts/downloads/realtime/kit/{quote(app_id, safe='')}"
            f"/_downloads/{recording['id']}?{query}"
        )
        recording["download_url_expiry"] = format_timestamp(expires * 1000)

    def _download_signature(self, recording_id: str, expires: int) -> str:
        return hmac.new(self._download_key, f"{recording_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _public_recording(self, recording: dict, *, settle: bool = True, with_meeting: bool = False) -> dict:
        if settle:
            self._settle(recording)
        public = {key: copy.deepcopy(recording.get(key)) for key in _PUBLIC_KEYS}
        if with_meeting:
            meeting = self._apps[self._meeting_app[recording["meeting_id"]]]["meetings"][
                recording["meeting_id"]
            ]
            public["meeting"] = self._public_meeting(meeting)
        return public

    def _find_recording(self, app_id: str, recording_id: str) -> dict:
        recording = self._recordings(app_id).get(recording_id)
        if recording is None:
            raise self._api_error(404, "Recording not found")
        return recording

    def _recording_action(self, app_id: str, recording_id: str, body: dict) -> dict:
        from realtimekit_django import schema

        action = schema.validate_recording_action(body.get("action"))
        recording = self._find_recording(app_id, recording_id)
        self._settle(recording)
        status = recording["status"]
        if status in STOPPED:
            raise self._api_error(400, f"The recording has already stopped ({status})")
        if action == "pause":
            if status != "RECORDING":
                raise self._api_error(400, f"Only a RECORDING recording can be paused, not a {status} one")
            recording["status"] = "PAUSED"
        elif action == "resume":
            if status != "PAUSED":
                raise self._api_error(400, f"Only a PAUSED recording can be resumed, not a {status} one")
            recording["status"] = "RECORDING"
        else:
            self._stop(recording, reason="API_CALL")
        return self._public_recording(recording, settle=False)

    def _stop(self, recording: dict, *, reason: str) -> None:
        recording["status"] = "UPLOADING"
        recording["stopped_time"] = self._now()
        recording["stop_reason"] = {"reason": reason, "caller": {"type": "ORGANIZATION", "name": None}}

    def _stop_recordings_of(self, app_id: str, meeting_id: str, *, reason: str) -> None:
        for recording in self._recordings(app_id).values():
            if recording["meeting_id"] == meeting_id and recording["status"] in ACTIVE:
                self._stop(recording, reason=reason)

    def _list_recordings(self, app_id: str, query: dict[str, str]) -> tuple[list[dict], dict]:
        page_no, per_page = _paging_params(query)
        meeting_id = query.get("meeting_id")
        status = query.get("status")
        search = (query.get("search") or "").lower()
        items = []
        for recording in self._recordings(app_id).values():
            self._settle(recording)
            if meeting_id and recording["meeting_id"] != meeting_id:
                continue
            if status and recording["status"] != status:
                continue
            if search and search not in recording["output_file_name"].lower():
                continue
            items.append(recording)
        items.sort(key=lambda r: (r["invoked_time"], r["id"]), reverse=query.get("sort_order") == "DESC")
        page, paging = _page(items, page_no, per_page)
        return [self._public_recording(r, settle=False, with_meeting=True) for r in page], paging

    def _active_recording(self, app_id: str, meeting_id: str) -> dict:
        self._find_meeting(meeting_id, app_id)
        for recording in self._recordings(app_id).values():
            if recording["meeting_id"] == meeting_id:
                self._settle(recording)
                if recording["status"] in ACTIVE:
                    return self._public_recording(recording, settle=False)
        raise self._api_error(404, "The meeting has no active recording")

    def _route_recordings(self, method: str, app_id: str, route: list[str], query: dict, body: Any):
        n = len(route)
        if n == 1:
            if method == "GET":
                data, paging = self._list_recordings(app_id, query)
                return _ok(data, paging=paging)
            if method == "POST":
                return _ok(self._start_recording(app_id, self._object(body)), status=201)
        elif n == 3 and route[1] == "active-recording":
            if method == "GET":
                return _ok(self._active_recording(app_id, route[2]))
        elif n == 2:
            if method == "GET":
                return _ok(self._public_recording(self._find_recording(app_id, route[1])))
            if method == "PUT":
                return _ok(self._recording_action(app_id, route[1], self._object(body)))
        else:
            return _error(404, "Not found")
        return _error(405, "Method not allowed")

    def _serve_download(self, app_id: str, route: list[str], query: dict, headers: dict[str, str]):
        if len(route) == 3:  # ["_downloads", kind, session_id]: a session's file (session_routes.py)
            return self._serve_session_file(app_id, route[1], route[2], query)
        if len(route) != 2:
            return _error(404, "Not found")
        recording_id = route[1]
        try:
            expires = int(query.get("expires", ""))
        except ValueError:
            return _error(403, "Signature does not match")
        good = self._download_signature(recording_id, expires)
        if not hmac.compare_digest(good, query.get("signature", "")):
            return _error(403, "Signature does not match")
        if self.clock.time() > expires:
            return _error(403, "Request has expired")
        with self._lock:
            recording = self._recordings(app_id).get(recording_id)
            if recording is None or recording["status"] != "UPLOADED":
                return _error(404, "No such file")
            size = recording["file_size"]
            self.downloads.append(recording_id)
        wanted = next((v for k, v in headers.items() if k.lower() == "range"), None)
        offset = 0
        status = 200
        extra = {}
        if wanted:
            match = _RANGE.match(wanted.strip())
            if match is None or int(match.group(1)) >= size:
                return EmulatorResponse(416, {"content-range": f"bytes */{size}"})
            offset = int(match.group(1))
            status = 206
            extra["content-range"] = f"bytes {offset}-{size - 1}/{size}"
        chunks = recording_chunks(recording_id, size, offset)
        if self._break_after is not None:
            chunks = _broken(chunks, self._break_after)
            self._break_after = None
        response_headers = {"content-type": "video/mp4", "content-length": str(size - offset), **extra}
        return EmulatorResponse(status, response_headers, stream=chunks)

    # Python helpers ----------------------------------------------------------------------

    def recordings(self, app_id: str | None = None) -> list[dict]:
        """Every recording of an app, as the API would show it now."""
        with self._lock:
            found = self._recordings(self._resolve_app_id(app_id)).values()
            return [
                self._public_recording(r, with_meeting=True)
                for r in sorted(found, key=lambda r: r["invoked_time"])
            ]

    def set_recording_size(self, recording_id: str, size: int) -> None:
        """The size in bytes of a recording's file once uploaded."""
        self._sizes[recording_id] = int(size)

    def fail_recording(self, recording_id: str, app_id: str | None = None) -> None:
        with self._lock:
            recording = self._find_recording(self._resolve_app_id(app_id), recording_id)
            recording["status"] = "ERRORED"
            recording["stopped_time"] = recording["stopped_time"] or self._now()

    def break_next_download_after(self, size: int) -> None:
        """The next download sends ``size`` bytes and drops the connection."""
        self._break_after = int(size)


def _broken(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) > limit:
            yield chunk[: limit - sent]
            raise ConnectionDropped("the download was cut off")
        sent += len(chunk)
        yield chunk


def _parse(value: str):
    return parse_timestamp(value)
