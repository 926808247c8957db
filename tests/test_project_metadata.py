"""The package's metadata names no address: none of the project's own exists, and an invented
one would point users at someone else's site (issue 29.5)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_names_no_project_urls():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "urls" not in project
    assert "homepage" not in {key.lower() for key in project}
    assert "urls" not in project.get("dynamic", [])


def test_the_changelog_links_to_no_invented_repository():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert not re.search(r"^\[[^\]]+\]:\s*https?://", changelog, re.M)
