"""The emulator CLI in a process of its own, as a developer runs it, for tests that drive it
with the official SDK or a plain HTTP client."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def running_emulator_cli(api_token: str) -> Iterator[str]:
    """Start ``python -m realtimekit_django.emulator`` on a free port; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "realtimekit_django.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REALTIMEKIT_API_TOKEN": api_token},
    )
    try:
        yield process.stdout.readline().strip().rsplit(" ", 1)[1]
    finally:
        process.terminate()
        process.communicate(timeout=10)
