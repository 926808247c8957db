"""Every import path the docs show, or ever showed, works; a moved one warns and names the new one.

Sites copy import lines from the docs. A path that moved keeps working through a shim that
raises a ``DeprecationWarning`` naming the new path (and hands out the new module's very
objects), and CHANGELOG.md lists it. The current docs show no deprecated path.
"""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: old module -> (new module, names the docs imported from the old one)
MOVED = {
    "realtimekit_django.reconcile": (
        "realtimekit_django.sync.reconcile",
        ("reconcile_meetings", "reconcile_participants", "StopWalk"),
    ),
}

#: Import lines the docs (docs/, README.md, CHANGELOG.md) showed in any earlier version
#: (``git log -p -- docs README.md CHANGELOG.md``); each must still run.
DOCUMENTED_BEFORE = [
    "from realtimekit_django import services",
    "from realtimekit_django import tasks",
    "from realtimekit_django.admin import MeetingAdmin",
    "from realtimekit_django.api.permissions import meeting_independent",
    "from realtimekit_django.client import get_client",
    "from realtimekit_django.emulator import Emulator, ManualClock, serve",
    "from realtimekit_django.exceptions import JoinRefused, MeetingInactive, RateLimited, RealtimeKitError",
    "from realtimekit_django.exceptions import TransportError",
    "from realtimekit_django.models import Meeting",
    "from realtimekit_django.reconcile import reconcile_meetings, reconcile_participants",
    "from realtimekit_django.services.provisioning import invited_users",
    "from realtimekit_django.signals import reconcile_finished, token_issued",
    "from realtimekit_django.sync.reconcile import reconcile_meetings, reconcile_participants",
    "from realtimekit_django.tasks import beat_schedule, webhook_beat_schedule",
    "from realtimekit_django.testing import RealtimeKitEmulatorMixin, use_realtimekit_emulator",
]

#: Dotted names the docs use that are logger names, not import paths (the walks' logger kept
#: its name when the module moved).
LOGGER_NAMES = {"realtimekit_django.budget", "realtimekit_django.reconcile"}

_IMPORT_LINE = re.compile(
    r"^\s*(from realtimekit_django[\w.]* import [\w, ]+|import realtimekit_django[\w.]*)\s*$", re.M
)
_DOTTED = re.compile(r"`(realtimekit_django(?:\.\w+)+)`")


def _forget(module: str) -> None:
    """Drop a module (and its parent's attribute) so that importing it runs it again."""
    sys.modules.pop(module, None)
    parent, _, child = module.rpartition(".")
    if parent in sys.modules and hasattr(sys.modules[parent], child):
        delattr(sys.modules[parent], child)


def _current_docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_path_works_and_warns_naming_the_new_one(old):
    new, names = MOVED[old]
    _forget(old)
    with pytest.warns(DeprecationWarning, match=re.escape(new)) as caught:
        exec(compile(f"import {old}", __file__, "exec"), {})
    assert caught[0].filename == __file__  # points at the importing line, not at the shim
    module = sys.modules[old]
    moved_to = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(moved_to, name)
    _forget(old)
    with pytest.warns(DeprecationWarning, match=re.escape(new)):
        exec(f"from {old} import {', '.join(names)}", {})


@pytest.mark.parametrize("line", DOCUMENTED_BEFORE)
def test_an_import_line_the_docs_showed_still_runs(line):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(line, {})


def _lines_and_paths(path: Path) -> tuple[list[str], list[str]]:
    text = path.read_text(encoding="utf-8")
    return _IMPORT_LINE.findall(text), _DOTTED.findall(text)


@pytest.mark.parametrize("doc", _current_docs(), ids=lambda p: p.name)
def test_the_current_docs_show_only_working_undeprecated_paths(doc):
    lines, dotted = _lines_and_paths(doc)
    for old in MOVED:
        _forget(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for line in lines:
            exec(line, {})
        for path in set(dotted) - LOGGER_NAMES:
            assert path not in MOVED, f"{doc.name} shows the deprecated {path}"
            _resolve(path)


def _resolve(dotted: str) -> object:
    """A module, or an attribute of one (a function, a class, a dict key named as a path is not)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise AssertionError(f"{dotted} does not import")


def test_every_dotted_path_of_the_docs_resolves():
    seen = set()
    for doc in _current_docs():
        seen.update(_lines_and_paths(doc)[1])
    for path in sorted(seen - LOGGER_NAMES):
        _resolve(path)


def test_the_changelog_lists_every_moved_path():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    for old, (new, _names) in MOVED.items():
        assert re.search(rf"`{re.escape(old)}`[^\n]*`{re.escape(new)}`", changelog), old
