"""The emulator's ``/sessions`` routes and the files a meeting leaves behind.

Everything here answers from the one session model (``session_model.py``), in the SDK's shapes
(``cloudflare.types.realtime_kit.session_*``): the sessions listing with its filters and paging,
a session's details, its participants (``view``, ``include_peer_events``, paging, search, sort),
one participant, and the chat export, transcript and summary of an ended session.

When a session ends, the meeting's settings say which files it leaves: ``persist_chat`` a chat
export (``meeting.chatSynced``), ``transcribe_on_end`` a transcript (``meeting.transcript``)
and ``summarize_on_end`` a summary too (``meeting.summary``); ``POST .../summary`` makes one
from a transcript on demand. The files are served at signed links under ``download_base_url``
that expire after ``download_url_lifetime`` seconds, like recordings: a copy must ask the API
for a fresh link, as it must on the platform. People's words come from
:meth:`SessionSimulator.say <realtimekit_django.emulator.sessions.SessionSimulator.say>`; with
none said, each peer greets the room, so that every transcript has lines.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from typing import Any
from urllib.parse import quote

from .answers import EmulatorResponse, format_timestamp, parse_timestamp
from .answers import bool_param as _bool_param
from .answers import choice_param as _choice_param
from .answers import error as _error
from .answers import ok as _ok
from .answers import page as _page
from .answers import paging_params as _paging_params
from .answers import time_param as _time_param

#: Artifact kind -> the content type its file is served with.
ARTIFACTS = {"chat": "text/csv", "transcript": "text/csv", "summary": "text/plain"}


class SessionRoutesMixin:
    """``/sessions`` of :class:`~realtimekit_django.emulator.core.Emulator`."""

    # -- what a session's end leaves -----------------------------------------------------------

    def _session_files(self, session: dict) -> list[dict]:
        """Make the files the meeting's settings ask for (called as the session ends, under
        the lock); the webhooks that announce them, in the platform's order."""
        meeting = self._apps[session["app_id"]]["meetings"].get(session["meeting_id"]) or {}
        session.setdefault("files", {})
        announced = []
        if meeting.get("persist_chat"):
            session["files"]["chat"] = self._chat_csv(session)
            announced.append("chat")
        if meeting.get("transcribe_on_end") or meeting.get("summarize_on_end"):
            session["files"]["transcript"] = self._transcript_csv(session)
            announced.append("transcript")
        if meeting.get("summarize_on_end"):
            session["files"]["summary"] = self._summary_text(session, meeting)
            announced.append("summary")
        return [self._file_event(session, kind) for kind in announced]

    def _file_event(self, session: dict, kind: str) -> dict:
        url, expiry = self._file_link(session, kind)
        if kind == "chat":
            return {
                "event": "meeting.chatSynced",
                "sessionId": session["id"],
                "meetingId": session["meeting_id"],
                "chatDownloadUrl": url,
                "chatDownloadUrlExpiry": expiry,
                "createdAt": session["ended_at"],
            }
        meeting = self._session_book.meeting_part(session, endedAt=session["ended_at"])
        return {
            "event": f"meeting.{kind}",
            "meeting": meeting,
            f"{kind}DownloadUrl": url,
            f"{kind}DownloadUrlExpiry": expiry,
        }

    @staticmethod
    def _said(session: dict) -> list[tuple[str, str, str]]:
        """(speaker, time, words): what was said, or each peer's greeting when nobody spoke."""
        if session.get("said"):
            return list(session["said"])
        return [(p["name"], p["joined_at"], f"Hello from {p['name']}.") for p in session["history"]]

    def _chat_csv(self, session: dict) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "participant", "message", "time"])
        for n, (speaker, at, words) in enumerate(self._said(session), 1):
            writer.writerow([n, speaker, words, at])
        return out.getvalue().encode()

    def _transcript_csv(self, session: dict) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["speaker", "time", "text"])
        for speaker, at, words in self._said(session):
            writer.writerow([speaker, at, words])
        return out.getvalue().encode()

    def _summary_text(self, session: dict, meeting: dict) -> bytes:
        people = sorted({p["name"] for p in session["history"]})
        minutes = self._session_book.minutes_consumed(session)
        return (
            f"Summary of {meeting.get('title') or 'the meeting'}: {len(people)} people "
            f"({', '.join(people) or 'nobody'}), {minutes} peer-minutes.\n"
        ).encode()

    def _file_link(self, session: dict, kind: str) -> tuple[str, str]:
        expires = int(self.clock.time() + self.download_url_lifetime)
        signature = self._file_signature(kind, session["id"], expires)
        url = (
            f"{self.download_base_url.rstrip('/')}/accounts/downloads/realtime/kit/"
            f"{quote(session['app_id'], safe='')}/_downloads/{kind}/{session['id']}"
            f"?expires={expires}&signature={signature}"
        )
        return url, format_timestamp(expires * 1000)

    def _file_signature(self, kind: str, session_id: str, expires: int) -> str:
        message = f"{kind}/{session_id}:{expires}".encode()
        return hmac.new(self._download_key, message, hashlib.sha256).hexdigest()

    def _serve_session_file(self, app_id: str, kind: str, session_id: str, query: dict) -> EmulatorResponse:
        """A signed artifact link (no token, no rate limit), refused once expired."""
        try:
            expires = int(query.get("expires", ""))
        except ValueError:
            return _error(403, "Signature does not match")
        good = self._file_signature(kind, session_id, expires)
        if kind not in ARTIFACTS or not hmac.compare_digest(good, query.get("signature", "")):
            return _error(403, "Signature does not match")
        if self.clock.time() > expires:
            return _error(403, "Request has expired")
        with self._lock:
            session = self._session_book.find(session_id)
            mine = session is not None and session["app_id"] == app_id
            body = session.get("files", {}).get(kind) if mine else None
            if body is None:
                return _error(404, "No such file")
            self.downloads.append(f"{kind}/{session_id}")
        headers = {"content-type": ARTIFACTS[kind], "content-length": str(len(body))}
        return EmulatorResponse(200, headers, body)

    # -- routes --------------------------------------------------------------------------------

    def _route_sessions(self, method: str, app_id: str, route: list[str], query: dict, body: Any):
        rest = route[1:]
        if method == "GET" and not rest:
            return self._list_sessions(app_id, query)
        if not rest or len(rest) > 3 or rest[0] == "peer-report":
            return _error(404, "Not found")
        session = self._app_session(app_id, rest[0])
        tail = rest[1:]
        if method == "GET" and not tail:
            shown = self._public_session(session)
            if _bool_param(query, "include_breakout_rooms"):
                shown["breakout_rooms"] = []
            return _ok(shown)
        if method == "GET" and tail == ["participants"]:
            return self._session_participants(session, query)
        if method == "GET" and len(tail) == 2 and tail[0] == "participants":
            peer_events = _bool_param(query, "include_peer_events")
            rows = self._session_book.attendees(session, peer_events=peer_events)
            peers = {p["peer_id"]: p["participant_id"] for p in session["history"]}
            wanted = peers.get(tail[1], tail[1])  # a peer id names its participant
            row = next((r for r in rows if wanted in (r["id"], r["custom_participant_id"])), None)
            if row is None:
                return _error(404, "Participant not found in this session")
            return _ok({"participant": row})
        if method == "GET" and tail == ["chat"]:
            url, expiry = self._file_or_404(session, "chat")
            return _ok({"chat_download_url": url, "chat_download_url_expiry": expiry})
        if method == "GET" and tail == ["transcript"]:
            from realtimekit_django.schema.sessions import TRANSCRIPT_FORMATS

            _choice_param(query, "format", TRANSCRIPT_FORMATS)
            url, expiry = self._file_or_404(session, "transcript")
            return _ok(
                {
                    "sessionId": session["id"],
                    "transcript_download_url": url,
                    "transcript_download_url_expiry": expiry,
                }
            )
        if method == "GET" and tail == ["summary"]:
            url, expiry = self._file_or_404(session, "summary")
            return _ok(
                {"sessionId": session["id"], "summaryDownloadUrl": url, "summaryDownloadUrlExpiry": expiry}
            )
        if method == "POST" and tail == ["summary"]:
            return self._generate_summary(session)
        if tail in (["participants"], ["chat"], ["transcript"]) or not tail:
            return _error(405, "Method not allowed")
        return _error(404, "Not found")

    def _app_session(self, app_id: str, session_id: str) -> dict:
        session = self._session_book.find(session_id)
        if session is None or session["app_id"] != app_id:
            raise self._api_error(404, "Session not found")
        return session

    def _file_or_404(self, session: dict, kind: str) -> tuple[str, str]:
        if kind not in session.get("files", {}):
            raise self._api_error(404, f"This session has no {kind} (yet)")
        return self._file_link(session, kind)

    def _generate_summary(self, session: dict):
        if "transcript" not in session.get("files", {}):
            raise self._api_error(400, "The session has no transcript to summarise")
        meeting = self._apps[session["app_id"]]["meetings"].get(session["meeting_id"]) or {}
        session["files"]["summary"] = self._summary_text(session, meeting)
        event = self._file_event(session, "summary")
        self._after_session_change(session["app_id"], [event])
        return _ok({"session_id": session["id"], "status": "COMPLETED"})

    def _list_sessions(self, app_id: str, query: dict[str, str]):
        page_no, per_page = _paging_params(query)
        from realtimekit_django.schema.sessions import SESSION_SORT_BY, SESSION_STATUSES, SORT_ORDERS

        status = _choice_param(query, "status", SESSION_STATUSES)
        sort_by = _choice_param(query, "sort_by", SESSION_SORT_BY, "createdAt")
        order = _choice_param(query, "sort_order", SORT_ORDERS, "DESC")
        since, until = _time_param(query, "start_time"), _time_param(query, "end_time")
        meeting_id, search = query.get("associated_id"), (query.get("search") or "").lower()
        shown = []
        for session in self._session_book.all(app_id):
            public = self._public_session(session)
            created = parse_timestamp(public["created_at"])
            if status and public["status"] != status or meeting_id and public["associated_id"] != meeting_id:
                continue
            if since and created < since or until and created > until:
                continue
            haystack = (public["meeting_display_name"], public["associated_id"], public["id"])
            if search and not any(search in value.lower() for value in haystack):
                continue
            shown.append(public)
        key = "minutes_consumed" if sort_by == "minutesConsumed" else "created_at"
        shown.sort(key=lambda s: (s[key], s["id"]), reverse=order == "DESC")
        chosen, paging = _page(shown, page_no, per_page)
        return _ok({"sessions": chosen}, paging=paging)

    def _session_participants(self, session: dict, query: dict[str, str]):
        page_no, per_page = _paging_params(query)
        from realtimekit_django.schema.sessions import (
            SESSION_PARTICIPANT_SORT_BY,
            SESSION_PARTICIPANT_VIEWS,
            SORT_ORDERS,
        )

        view = _choice_param(query, "view", SESSION_PARTICIPANT_VIEWS, "raw")
        sort_by = _choice_param(query, "sort_by", SESSION_PARTICIPANT_SORT_BY, "joinedAt")
        order = _choice_param(query, "sort_order", SORT_ORDERS, "ASC")
        peer_events = _bool_param(query, "include_peer_events")
        search = (query.get("search") or "").lower()
        if view == "consolidated":
            rows = self._session_book.attendees(session, peer_events=peer_events)
        else:
            rows = self._session_book.peer_rows(session, peer_events=peer_events)
        if search:
            rows = [
                r
                for r in rows
                if search in (r["display_name"] or "").lower()
                or search in (r["custom_participant_id"] or "").lower()
            ]
        key = "duration" if sort_by == "duration" else "joined_at"
        rows.sort(key=lambda r: (r[key], r["id"]), reverse=order == "DESC")
        chosen, paging = _page(rows, page_no, per_page)
        return _ok({"participants": chosen}, paging=paging)
