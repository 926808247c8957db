"""W021 (a per-process rate budget) knows the single-process development set-up from a deployment.

Under ``runserver`` with ``DEBUG`` and eager Celery one process makes every API call, so a
``LocMemCache`` budget is exactly right there and the demo must start without a warning about
the set-up the package chose (issue 29.7). ``check --deploy`` still says it, once, and any
set-up with a worker (a broker) or without ``DEBUG`` gets it from every ``check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from django.core import checks as django_checks

from realtimekit_django import checks

DEMO = Path(__file__).resolve().parent.parent / "example_project"


def _celery(monkeypatch, **conf_values) -> None:
    app = Celery("site", set_as_current=False)
    app.conf.update(**conf_values)
    monkeypatch.setattr(checks, "celery_app", lambda: app)


def _w021(*, deploy: bool) -> int:
    messages = django_checks.run_checks(tags=["realtimekit"], include_deployment_checks=deploy)
    return sum(m.id == "realtimekit.W021" for m in messages)


def test_development_server_with_eager_celery_is_not_warned_but_deploy_is(settings, monkeypatch):
    settings.DEBUG = True
    _celery(monkeypatch, task_always_eager=True)
    assert _w021(deploy=False) == 0
    assert _w021(deploy=True) == 1


@pytest.mark.parametrize(
    ("debug", "conf_values"),
    [
        (True, {"broker_url": "redis://127.0.0.1:6379/0"}),  # a worker is a second process
        (False, {"task_always_eager": True}),  # no DEBUG: served by a production server
    ],
)
def test_any_other_set_up_is_warned_once(settings, monkeypatch, debug, conf_values):
    settings.DEBUG = debug
    _celery(monkeypatch, **conf_values)
    assert _w021(deploy=False) == 1
    assert _w021(deploy=True) == 1


def _demo_check(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REALTIMEKIT_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=DEMO,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_demos_default_set_up_starts_without_w021():
    result = _demo_check()
    assert result.returncode == 0, result.stderr
    assert "W021" not in result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_demo_with_a_worker_is_warned():
    result = _demo_check(REALTIMEKIT_DEMO_CELERY_BROKER="redis://127.0.0.1:6379/0")
    assert "realtimekit.W021" in result.stdout + result.stderr
