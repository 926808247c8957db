"""Issue 29 items 8 and 9: a download link is fetched only over https from DOWNLOAD_HOSTS,
redirects are checked by hand, the API token is never sent, and the size cap holds before and
while streaming; copy_into_storage leaves nothing in storage when a download fails."""

from __future__ import annotations

import pytest
import responses
from django.core.files.storage import FileSystemStorage

from realtimekit_django.client.downloads import open_download
from realtimekit_django.exceptions import CopyError, DownloadRefused, DownloadTooLarge, DownloadUnavailable
from realtimekit_django.services.copies import check_storage_name, copy_into_storage, safe_file_name

GOOD = "https://bucket.s3.amazonaws.com/rec.mp4?X-Amz-Signature=secret"


@pytest.fixture
def real_api(settings):
    """BASE_URL is the real API, so the emulator's hosts are not allowed."""
    settings.REALTIMEKIT = {**settings.REALTIMEKIT, "BASE_URL": "https://api.cloudflare.com/client/v4"}


@pytest.mark.parametrize(
    "url",
    [
        "http://bucket.s3.amazonaws.com/rec.mp4",
        "https://bucket.s3.amazonaws.com:8443/rec.mp4",
        "https://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8000/internal",
        "https://evil.example/rec.mp4",
        "https://amazonaws.com.evil.example/rec.mp4",
        "https://user:pw@bucket.s3.amazonaws.com/rec.mp4",
    ],
)
def test_a_link_outside_the_rules_is_refused_before_any_request(real_api, url):
    with responses.RequestsMock() as mock:
        with pytest.raises(DownloadRefused) as caught:
            open_download(url, max_bytes=100)
        assert len(mock.calls) == 0
    assert url not in str(caught.value)


def test_a_redirect_to_another_host_is_refused(real_api):
    with responses.RequestsMock() as mock:
        mock.get(GOOD, status=302, headers={"Location": "http://10.0.0.5/secret"})
        with pytest.raises(DownloadRefused):
            open_download(GOOD, max_bytes=100)
        assert [c.request.url for c in mock.calls] == [GOOD]


def test_a_redirect_within_the_hosts_is_followed_without_the_token(real_api):
    target = "https://files.r2.cloudflarestorage.com/rec.mp4"
    with responses.RequestsMock() as mock:
        mock.get(GOOD, status=307, headers={"Location": target})
        mock.get(target, body=b"x" * 10, headers={"Content-Type": "video/mp4"})
        with open_download(GOOD, max_bytes=100) as download:
            assert b"".join(download.chunks()) == b"x" * 10 and download.content_type == "video/mp4"
        assert all("Authorization" not in c.request.headers for c in mock.calls)


def test_too_many_redirects_are_refused(real_api):
    with responses.RequestsMock() as mock:
        mock.get(GOOD, status=302, headers={"Location": GOOD})
        with pytest.raises(DownloadRefused, match="redirects"):
            open_download(GOOD, max_bytes=100)


def test_a_declared_size_over_the_cap_is_refused_before_reading(real_api):
    with responses.RequestsMock() as mock:
        mock.get(GOOD, body=b"x" * 1000, headers={"Content-Length": "1000"})
        with pytest.raises(DownloadTooLarge):
            open_download(GOOD, max_bytes=999)


def test_an_undeclared_size_over_the_cap_stops_while_streaming(real_api, tmp_path):
    storage = FileSystemStorage(location=str(tmp_path))

    with responses.RequestsMock() as mock:
        mock.get(GOOD, body=b"x" * 1200)  # no Content-Length announced
        with pytest.raises(DownloadTooLarge):
            copy_into_storage(url=GOOD, storage=storage, name="a/rec.mp4", max_bytes=1000)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_an_expired_link_is_unavailable(real_api):
    with responses.RequestsMock() as mock:
        mock.get(GOOD, status=403)
        with pytest.raises(DownloadUnavailable):
            open_download(GOOD, max_bytes=100)


def test_a_copy_is_published_whole_with_its_digest(real_api, tmp_path):
    storage = FileSystemStorage(location=str(tmp_path))
    with responses.RequestsMock() as mock:
        mock.get(GOOD, body=b"z" * 500, headers={"Content-Type": "video/mp4"})
        copy = copy_into_storage(url=GOOD, storage=storage, name="r/rec.mp4", max_bytes=1000)
    assert copy.size == 500 == storage.size(copy.name) and len(copy.sha256) == 64
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["rec.mp4"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/../b", "a/./b", "a//b", "a\\b", "a\x00b", "/abs"])
def test_unusable_storage_names_are_refused(name):
    with pytest.raises(CopyError):
        check_storage_name(name)


@pytest.mark.parametrize("raw", [".", "..", "", "../..", "...", "\x00"])
def test_safe_file_name_never_gives_a_dot_name(raw):
    assert safe_file_name(raw, fallback="f.mp4") == "f.mp4"
