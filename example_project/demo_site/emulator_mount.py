"""The RealtimeKit emulator, served by the demo site itself under ``/emulator/``.

One process, one port: ``runserver`` is threaded, so while a request thread of the site calls
``http://127.0.0.1:<PORT>/emulator/client/v4/...``, another thread answers it from the emulator.
The emulator keeps its state in ``DEMO_EMULATOR_STATE_FILE``, so a restart keeps meetings and
participants consistent with the SQLite database.
"""

from __future__ import annotations

import threading

from django.conf import settings

from realtimekit_django.emulator import Emulator, make_wsgi_app

_lock = threading.Lock()
_emulator: Emulator | None = None


def demo_emulator() -> Emulator:
    """The site's one emulator, loaded from the state file on first use."""
    global _emulator
    with _lock:
        if _emulator is None:
            _emulator = Emulator(
                api_token=settings.REALTIMEKIT.get("API_TOKEN"),
                default_app_id=settings.REALTIMEKIT["APP_ID"],
                state_file=settings.DEMO_EMULATOR_STATE_FILE,
            )
            # The files a meeting leaves are served by this same process, under the mount.
            _emulator.download_base_url = f"http://127.0.0.1:{settings.DEMO_PORT}{settings.DEMO_EMULATOR_PREFIX}"
        return _emulator


class EmulatorMount:
    """A WSGI dispatcher: ``<prefix>/...`` goes to the emulator, everything else to ``site_app``."""

    def __init__(self, site_app, emulator: Emulator, prefix: str = "/emulator") -> None:
        self.site_app = site_app
        self.emulator_app = make_wsgi_app(emulator)
        self.prefix = prefix.rstrip("/")

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or ""
        if path.startswith(self.prefix + "/"):
            environ = {
                **environ,
                "SCRIPT_NAME": (environ.get("SCRIPT_NAME") or "") + self.prefix,
                "PATH_INFO": path[len(self.prefix) :],
            }
            return self.emulator_app(environ, start_response)
        return self.site_app(environ, start_response)
