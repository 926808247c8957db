"""The recording operations, named as in the official SDK (``realtime_kit.recordings``), and
the download of a finished recording.

A download URL is a short-lived bearer link to object storage, not an API call: it is fetched
by :mod:`.downloads` (only from ``DOWNLOAD_HOSTS``, without the API token, which must never
reach a storage host) and does not spend the API's rate budget. It is streamed, so a
recording of any size costs constant memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import schema
from ..conf import get_settings
from ..exceptions import DownloadUnavailable, RecordingUnavailable
from .downloads import CHUNK_SIZE, OpenDownload, open_download
from .resource import OMIT, Client, _given, _query_order, _seg, _validate_ids

if TYPE_CHECKING:
    from .paging import PageWalk

#: The SDK builds its query dict in alphabetical key order; the keys are the schema's.
_LISTING_ORDER = tuple(sorted(schema.RECORDING_LISTING_PARAMS))
DOWNLOAD_CHUNK_SIZE = CHUNK_SIZE


class RecordingsResource:
    """``start_recordings``, ``get_recordings``, ``get_one_recording``, ``get_active_recordings``,
    ``pause_resume_stop_recording``; and :meth:`download` for a finished recording's file."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def start_recordings(
        self,
        *,
        meeting_id: str,
        allow_multiple_recordings: bool = OMIT,
        audio_config: dict = OMIT,
        file_name_prefix: str = OMIT,
        interactive_config: dict = OMIT,
        max_seconds: int = OMIT,
        realtimekit_bucket_config: dict = OMIT,
        rtmp_out_config: dict = OMIT,
        storage_config: dict | None = OMIT,
        url: str = OMIT,
        video_config: dict = OMIT,
    ) -> dict:
        """POST /recordings: start recording a meeting's live session.

        The keywords are the SDK's; the body holds the given ones of the schema's start fields
        (:data:`~realtimekit_django.schema.RECORDING_START_FIELDS`), so the shape is described once.
        """
        arguments = locals()
        body = _given({}, **{name: arguments[name] for name in schema.RECORDING_START_FIELDS})
        return self._client.request("POST", "/recordings", json=schema.validate_recording_start(body))

    def get_recordings(self, **filters: Any) -> dict:
        """GET /recordings: one page (filters as the SDK names them; ``status`` is a list)."""
        params = schema.validate_recording_listing(**filters)
        pairs = [
            (key, item)
            for key, value in _query_order(params, _LISTING_ORDER)
            for item in (value if isinstance(value, list) else [value])
        ]
        return self._client.request("GET", "/recordings", params=pairs)

    def get_one_recording(self, recording_id: str) -> dict:
        """GET /recordings/{recording_id} (with a fresh download URL once it is uploaded)."""
        return self._client.request("GET", _path(recording_id))

    def get_active_recordings(self, meeting_id: str) -> dict:
        """GET /recordings/active-recording/{meeting_id}: the meeting's running recording."""
        _validate_ids(meeting_id=meeting_id)
        return self._client.request("GET", f"/recordings/active-recording/{_seg(meeting_id)}")

    def pause_resume_stop_recording(self, recording_id: str, *, action: str) -> dict:
        """PUT /recordings/{recording_id} with ``stop``, ``pause`` or ``resume``."""
        path = _path(recording_id)
        body = {"action": schema.validate_recording_action(action)}
        return self._client.request("PUT", path, json=body)

    def walk_recordings(self, *, per_page: int | None = None, **filters: Any) -> PageWalk:
        """Every page of the recordings listing."""
        schema.validate_recording_listing(**filters)
        return self._client.walk(
            lambda page_no, size: self.get_recordings(page_no=page_no, per_page=size, **filters), per_page
        )

    def download(
        self, url: str, *, offset: int = 0, chunk_size: int = DOWNLOAD_CHUNK_SIZE, max_bytes: int | None = None
    ) -> Download:
        """Open a recording's download URL (from ``offset`` on) for streaming, by the rules of
        :func:`~realtimekit_django.client.downloads.open_download` (https to ``DOWNLOAD_HOSTS``,
        redirects checked, no API token, at most ``max_bytes``, by default ``COPY_MAX_BYTES``).

        Raises :class:`RecordingUnavailable` for an expired or refused link (the caller fetches
        the recording again for a fresh one); the URL itself is in no message.
        """
        limit = get_settings().copy_max_bytes if max_bytes is None else max_bytes
        try:
            opened = open_download(url, max_bytes=limit, timeout=self._client.timeout, offset=offset)
        except DownloadUnavailable as exc:
            raise RecordingUnavailable(
                "the recording's download URL has expired or was refused; fetch the recording again",
                method="GET",
                path="<download URL>",
                status=exc.status,
            ) from None
        opened.chunk_size = chunk_size
        return opened


#: The open download's old name (``realtimekit_django.client.Download``).
Download = OpenDownload


def _path(recording_id: str) -> str:
    _validate_ids(recording_id=recording_id)
    return f"/recordings/{_seg(recording_id)}"
