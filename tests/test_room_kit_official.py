"""The room against RealtimeKit's OFFICIAL browser kit, at the version conf.py pins.

``scripts/install-room-kit`` installs ``@cloudflare/realtimekit`` and ``@cloudflare/realtimekit-ui``
at ``ROOM_KIT_VERSION`` from the npm registry into ``.cache/room-kit`` (outside the package); the
live server serves their ``dist/browser.js`` as static files and the settings point there, which
is the self-hosting of docs/room.md. So these tests prove that the pinned SRI hashes are those of
the published files and that the real kit loads under the strict CSP.

The kit cannot join offline: ``RealtimeKitClient.init`` asks RealtimeKit's API for the meeting,
and every request to a host other than the live server is aborted here. What is asserted is what
holds without a media server: both files load with their hashes, ``<rtk-meeting>`` is defined by
the real UI kit, our module hands the real ``init`` the token it fetched (and a fresh one once
the kit refuses the first), no CSP violation, and not one request to a CDN.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from realtimekit_django import conf
from tests.test_room_browser import CDN_HOSTS, page  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"realtimekit": "ROOM_CLIENT", "realtimekit-ui": "ROOM_UI"}
#: Wraps the official ``RealtimeKitClient.init`` the moment the kit's script assigns the global,
#: recording what our module hands it (the kit's own code still runs).
INIT_SPY = """window.__inits = [];
let client;
Object.defineProperty(window, "RealtimeKitClient", {
  configurable: true,
  get: () => client,
  set: (value) => {
    const init = value.init.bind(value);
    value.init = (options) => {
      window.__inits.push({ authToken: options.authToken, defaults: options.defaults });
      return init(options);
    };
    client = value;
  },
});"""


@pytest.fixture(scope="session")
def room_kit_dir() -> Path:
    """``.cache/room-kit/node_modules/@cloudflare``: npm installs the pinned version once."""
    script = str(ROOT / "scripts" / "install-room-kit")
    out = subprocess.run(["bash", script], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1]) / "node_modules" / "@cloudflare"


def _sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_pinned_integrity_hashes_are_those_of_the_published_files(room_kit_dir, package):
    manifest = json.loads((room_kit_dir / package / "package.json").read_text())
    assert manifest["version"] == conf.ROOM_KIT_VERSION
    assert f"@cloudflare/{package}@{conf.ROOM_KIT_VERSION}/dist/browser.js" in getattr(
        conf, PACKAGES[package] + "_URL"
    )
    published = room_kit_dir / package / "dist" / "browser.js"
    assert _sri(published) == getattr(conf, PACKAGES[package] + "_INTEGRITY")


@pytest.fixture
def official_kit(room_kit_dir, settings):
    """The settings of a self-hosting site: static paths, the pinned hashes from conf.py."""
    settings.STATICFILES_DIRS = [("room-kit", str(room_kit_dir))]
    settings.REALTIMEKIT = {
        **settings.REALTIMEKIT,
        "ROOM_CLIENT_URL": "room-kit/realtimekit/dist/browser.js",
        "ROOM_CLIENT_INTEGRITY": conf.ROOM_CLIENT_INTEGRITY,
        "ROOM_UI_URL": "room-kit/realtimekit-ui/dist/browser.js",
        "ROOM_UI_INTEGRITY": conf.ROOM_UI_INTEGRITY,
    }
    conf.clear_cache()


def test_the_official_kit_loads_under_the_strict_csp_and_gets_the_token(official_kit, page):  # noqa: F811
    scripts, asked = [], []
    page.on("response", lambda r: r.request.resource_type == "script" and scripts.append((r.url, r.status)))

    def realtimekit_api(route):  # what the kit asks RealtimeKit, with which credentials; never sent
        asked.append((urlsplit(route.request.url).path, route.request.headers.get("authorization", "")))
        return route.abort()

    page.route("https://api.realtime.cloudflare.com/**", realtimekit_api)
    page.add_init_script(INIT_SPY)
    page.goto(page.room_url)
    # Offline, the kit's init cannot reach RealtimeKit: it rejects both the kept and the fresh
    # token, and the room says so (with a media server it would mount <rtk-meeting>).
    page.wait_for_selector(".realtimekit-room[data-outcome=token-refused]", timeout=30_000)
    kit_paths = sorted(urlsplit(url).path for url, status in scripts if "/room-kit/" in url and status < 300)
    assert kit_paths == [
        "/static/room-kit/realtimekit-ui/dist/browser.js",
        "/static/room-kit/realtimekit/dist/browser.js",
    ]
    assert page.evaluate("customElements.get('rtk-meeting') !== undefined")
    assert page.joins == ['{"refresh":false}', '{"refresh":true}']
    tokens = [init["authToken"] for init in page.evaluate("window.__inits")]
    assert len(tokens) == 2 and all(len(token) > 20 for token in tokens)
    defaults = [init["defaults"] for init in page.evaluate("window.__inits")]
    assert defaults == [{"audio": False, "video": False}] * 2
    assert all(token not in page.content() for token in tokens)
    # The real kit used exactly the tokens our module handed it, and asked nothing else.
    assert asked and {path for path, _ in asked} == {"/v2/internals/participant-details"}
    assert {auth.removeprefix("Bearer ") for _, auth in asked} == set(tokens)
    assert page.evaluate("window.__csp") == []
    assert set(page.errors) == {"Failed to load resource: net::ERR_FAILED"}  # the aborted API calls
    assert [url for _, url in page.outside if urlsplit(url).hostname in CDN_HOSTS] == []
    assert [kind for kind, _ in page.outside if kind == "script"] == []
