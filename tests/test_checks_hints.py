"""What ``manage.py check`` tells a newcomer: the key a typo meant, where the docs are on their
machine (not a path in this repository), and that Celery would never run the sync tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import Celery
from django.core import checks as django_checks
from django.test import override_settings

from realtimekit_django import checks, conf

VALID = {"ACCOUNT_ID": "acc", "APP_ID": "app", "API_TOKEN": "tok", "BASE_URL": "https://rtk.test/client/v4"}


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch):
    monkeypatch.delenv(conf.API_TOKEN_ENV_VAR, raising=False)


def _messages(check_id: str) -> list[django_checks.CheckMessage]:
    return [m for m in django_checks.run_checks(tags=["realtimekit"]) if m.id == check_id]


@pytest.mark.parametrize(
    ("typo", "meant"), [("APPID", "APP_ID"), ("app_id", "APP_ID"), ("PAGESIZE", "PAGE_SIZE")]
)
def test_a_mistyped_key_suggests_the_nearest_one(typo, meant):
    with override_settings(REALTIMEKIT={**VALID, typo: "x"}):
        (warning,) = _messages("realtimekit.W001")
    assert warning.msg == f"REALTIMEKIT['{typo}'] is not a known setting; did you mean {meant}?"
    assert warning.hint == f"Rename it to {meant}."
    assert "SYNC_LOCK_CACHE" not in warning.msg  # no list of every key


def test_an_unknown_key_like_no_other_points_at_the_settings_page():
    with override_settings(REALTIMEKIT={**VALID, "COLOUR_SCHEME": "x"}):
        (warning,) = _messages("realtimekit.W001")
    assert "did you mean" not in warning.msg
    assert warning.hint.startswith("Remove it. Every key and its default: ")
    assert warning.hint.endswith("settings.md")


def test_hints_name_a_settings_page_that_exists_here():
    with override_settings(REALTIMEKIT={"APP_ID": "app"}):
        (error, *_rest) = _messages("realtimekit.E001")
    where = error.hint.removeprefix("Every key and its default: ")
    assert where != "docs/settings.md"
    assert Path(where).is_absolute() and Path(where).is_file()
    assert "REALTIMEKIT" in Path(where).read_text()


def test_docs_location_prefers_the_installed_copy_then_the_checkout_then_the_url():
    checks.docs_location.cache_clear()
    try:
        page = checks.docs_location("settings.md")
        assert Path(page).is_file()
        # A page no copy has: its place in the source distribution (no URL is invented).
        assert checks.docs_location("no-such-page.md") == (
            "docs/no-such-page.md of the realtimekit-django source distribution"
        )
    finally:
        checks.docs_location.cache_clear()


# -- Celery with nowhere to send the tasks -----------------------------------------------------


def _app(monkeypatch, **conf_values) -> Celery:
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    app = Celery("site", set_as_current=False)
    app.conf.update(**conf_values)
    monkeypatch.setattr(checks, "celery_app", lambda: app)
    return app


def test_celery_neither_eager_nor_given_a_broker_is_a_warning(monkeypatch):
    _app(monkeypatch)
    with override_settings(REALTIMEKIT=VALID):
        (warning,) = _messages("realtimekit.W002")
    assert warning.level == django_checks.WARNING
    assert "CELERY_BROKER_URL is not set" in warning.msg and "'site'" in warning.msg
    assert "realtimekit_sync" in warning.hint and "CELERY_TASK_ALWAYS_EAGER" in warning.hint
    assert warning.hint.endswith("tasks.md")


@pytest.mark.parametrize(
    "conf_values", [{"broker_url": "redis://127.0.0.1:6379/0"}, {"task_always_eager": True}]
)
def test_a_broker_or_eager_celery_passes(monkeypatch, conf_values):
    _app(monkeypatch, **conf_values)
    with override_settings(REALTIMEKIT=VALID):
        assert _messages("realtimekit.W002") == []


def test_the_broker_from_the_environment_counts(monkeypatch):
    _app(monkeypatch)
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    fresh = Celery("env-site", set_as_current=False)
    monkeypatch.setattr(checks, "celery_app", lambda: fresh)
    assert checks.celery_delivery_problem() is None


def test_the_suites_own_app_is_the_one_asked():
    # tests.settings makes Celery eager through tests.celery_app, the current app (conftest).
    assert checks.celery_app().main == "realtimekit_tests"
    assert checks.celery_delivery_problem() is None


def test_a_broker_address_never_shows_its_credentials():
    assert checks.broker_address("redis://:s3cret@10.0.0.5:6380/0") == "redis://10.0.0.5:6380"
    assert checks.broker_address("amqp://guest:guest@rabbit//") == "amqp://rabbit"
