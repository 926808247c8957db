"""Settings (``conf``) and their system checks (``checks``).

A missing or malformed ``REALTIMEKIT`` value must be caught twice, naming the key: at start-up
by ``manage.py check`` (``realtimekit.E00x``) and at first use by ``get_settings()``
(``ImproperlyConfigured``), so it never surfaces as an odd failure deep inside a request.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from realtimekit_django import conf, policies
from realtimekit_django.client import RealtimeKitClient, get_client

VALID = {"ACCOUNT_ID": "acc", "APP_ID": "app", "API_TOKEN": "tok", "BASE_URL": "https://rtk.test/client/v4"}


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch):
    monkeypatch.delenv(conf.API_TOKEN_ENV_VAR, raising=False)
    conf.clear_cache()


def realtimekit_messages() -> list[checks.CheckMessage]:
    """Every realtimekit check, the deployment ones (the API token) included, but W021: this
    suite runs on LocMemCache (test_budget checks W021)."""
    return [
        m
        for m in checks.run_checks(tags=["realtimekit"], include_deployment_checks=True)
        if m.id != "realtimekit.W021"
    ]


def check_command(key: str) -> None:
    """``manage.py check``, with ``--deploy`` for the API token (only deployments need it)."""
    call_command("check", deploy=key == "API_TOKEN")


def ids_and_keys(messages) -> set[tuple[str, str]]:
    """(check id, the quoted key named in the message) pairs, e.g. ("realtimekit.E001", "APP_ID")."""
    found = set()
    for message in messages:
        for key in [*conf.DEFAULTS, "PAGE_SIZ", "TOKEN"]:
            if f"['{key}']" in message.msg:
                found.add((message.id, key))
    return found


def test_valid_settings_pass_the_checks():
    with override_settings(REALTIMEKIT=VALID):
        assert realtimekit_messages() == []
        call_command("check")  # raises SystemCheckError on any error


# --- missing ------------------------------------------------------------------------------


def test_missing_dict_reports_every_required_key():
    with override_settings():
        del settings.REALTIMEKIT
        messages = realtimekit_messages()
        assert ids_and_keys(messages) == {
            ("realtimekit.E001", "ACCOUNT_ID"),
            ("realtimekit.E001", "APP_ID"),
            ("realtimekit.E001", "API_TOKEN"),
        }
        assert all(message.level == checks.ERROR for message in messages)
        with pytest.raises(SystemCheckError, match=r"realtimekit\.E001"):
            call_command("check")
        with pytest.raises(SystemCheckError, match=r"API_TOKEN"):
            call_command("check", deploy=True)
        conf.clear_cache()
        with pytest.raises(ImproperlyConfigured, match="ACCOUNT_ID"):
            conf.get_settings()


@pytest.mark.parametrize("key", conf.REQUIRED_KEYS)
@pytest.mark.parametrize("how", ["absent", "empty", "none"])
def test_each_missing_required_key_is_reported_by_name(key, how):
    config = dict(VALID)
    if how == "absent":
        del config[key]
    else:
        config[key] = "" if how == "empty" else None
    with override_settings(REALTIMEKIT=config):
        messages = realtimekit_messages()
        assert ids_and_keys(messages) == {("realtimekit.E001", key)}
        with pytest.raises(SystemCheckError) as caught:
            check_command(key)
        assert "realtimekit.E001" in str(caught.value) and f"['{key}']" in str(caught.value)
        with pytest.raises(ImproperlyConfigured, match=rf"\['{key}'\]"):
            conf.get_settings()
        with pytest.raises(ImproperlyConfigured, match=key):
            get_client()


def test_not_a_dict_is_e003():
    with override_settings(REALTIMEKIT=[("ACCOUNT_ID", "acc")]):
        messages = realtimekit_messages()
        assert [message.id for message in messages] == ["realtimekit.E003"]
        assert "REALTIMEKIT" in messages[0].msg and "dict" in messages[0].msg
        with pytest.raises(ImproperlyConfigured, match="REALTIMEKIT"):
            conf.get_settings()


# --- malformed ----------------------------------------------------------------------------

MALFORMED = [
    ("BASE_URL", "not a url"),
    ("BASE_URL", "rtk.test/client/v4"),
    ("BASE_URL", "ftp://rtk.test/client/v4"),
    ("BASE_URL", "https://"),
    ("BASE_URL", None),
    ("PAGE_SIZE", 0),
    ("PAGE_SIZE", 101),
    ("PAGE_SIZE", "100"),
    ("PAGE_SIZE", 50.0),
    ("PAGE_SIZE", True),
    ("MAX_RETRIES", -1),
    ("MAX_RETRIES", 11),
    ("MAX_PAGES", 0),
    ("CONNECT_TIMEOUT", 0),
    ("READ_TIMEOUT", -1.0),
    ("READ_TIMEOUT", "30"),
    ("RETRY_BACKOFF_BASE", -0.5),
    ("RETRY_AFTER_MAX", None),
    ("SYNC_INTERVAL_SECONDS", 0),
    ("ACCOUNT_ID", 12345),
    ("API_TOKEN", ["tok"]),
    ("PARTICIPANT_ID_FUNCTION", "realtimekit_django.policies.no_such_function"),
    ("PRESET_POLICY", "no_such_package.module.func"),
    ("DISPLAY_NAME_FUNCTION", "nodots"),
    ("PICTURE_FUNCTION", 42),
]


@pytest.mark.parametrize("key, value", MALFORMED, ids=[f"{k}={v!r}" for k, v in MALFORMED])
def test_malformed_value_is_e002_naming_the_key(key, value):
    with override_settings(REALTIMEKIT={**VALID, key: value}):
        messages = realtimekit_messages()
        assert ids_and_keys(messages) == {("realtimekit.E002", key)}
        with pytest.raises(SystemCheckError, match=r"realtimekit\.E002"):
            call_command("check")
        with pytest.raises(ImproperlyConfigured, match=rf"\['{key}'\]"):
            conf.get_settings()


def test_every_problem_is_reported_at_once():
    config = {"APP_ID": "app", "PAGE_SIZE": 0, "MAX_RETRIES": -1, "BASE_URL": "nope", "PAGE_SIZ": 5}
    with override_settings(REALTIMEKIT=config):
        assert ids_and_keys(realtimekit_messages()) == {
            ("realtimekit.E001", "ACCOUNT_ID"),
            ("realtimekit.E001", "API_TOKEN"),
            ("realtimekit.E002", "PAGE_SIZE"),
            ("realtimekit.E002", "MAX_RETRIES"),
            ("realtimekit.E002", "BASE_URL"),
            ("realtimekit.W001", "PAGE_SIZ"),
        }


def test_unknown_key_is_a_warning_naming_it():
    with override_settings(REALTIMEKIT={**VALID, "PAGE_SIZ": 50}):
        messages = realtimekit_messages()
        assert [(message.id, message.level) for message in messages] == [("realtimekit.W001", checks.WARNING)]
        assert "PAGE_SIZ" in messages[0].msg and messages[0].hint
        call_command("check")  # a warning alone does not stop start-up


def test_unknown_key_alone_does_not_break_get_settings():
    """What ``manage.py check`` lets through as a warning must not fail at the first API call."""
    with override_settings(REALTIMEKIT={**VALID, "PAGE_SIZ": 50}):
        assert conf.get_settings().page_size == 100


def test_callables_may_be_given_as_objects():
    with override_settings(REALTIMEKIT={**VALID, "DISPLAY_NAME_FUNCTION": policies.default_display_name}):
        assert realtimekit_messages() == []
        assert conf.get_settings().display_name_function is policies.default_display_name


# --- the environment and defaults ---------------------------------------------------------


def test_token_comes_from_the_environment_when_the_dict_has_none(monkeypatch):
    without_token = {k: v for k, v in VALID.items() if k != "API_TOKEN"}
    with override_settings(REALTIMEKIT=without_token):
        assert ids_and_keys(realtimekit_messages()) == {("realtimekit.E001", "API_TOKEN")}
        message = realtimekit_messages()[0].msg
        assert conf.API_TOKEN_ENV_VAR in message

        monkeypatch.setenv("REALTIMEKIT_API_TOKEN", "from-env")
        conf.clear_cache()
        assert realtimekit_messages() == []
        assert conf.get_settings().api_token == "from-env"


def test_a_token_in_the_dict_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("REALTIMEKIT_API_TOKEN", "from-env")
    with override_settings(REALTIMEKIT=VALID):
        assert conf.get_settings().api_token == "tok"
    with override_settings(REALTIMEKIT={**VALID, "API_TOKEN": ""}):
        assert conf.get_settings().api_token == "from-env"


def test_defaults_are_applied():
    required_only = {"ACCOUNT_ID": "acc", "APP_ID": "app", "API_TOKEN": "tok"}
    with override_settings(REALTIMEKIT=required_only):
        resolved = conf.get_settings()
    assert resolved.base_url == "https://api.cloudflare.com/client/v4"
    assert (resolved.connect_timeout, resolved.read_timeout) == (5.0, 30.0)
    assert (resolved.max_retries, resolved.retry_backoff_base, resolved.retry_backoff_max) == (2, 0.5, 8.0)
    assert (resolved.retry_after_max, resolved.page_size, resolved.max_pages) == (60.0, 100, 10_000)
    assert resolved.participant_id_function is policies.default_custom_participant_id
    assert resolved.preset_policy is policies.default_preset_policy
    assert resolved.display_name_function is policies.default_display_name
    assert resolved.picture_function is policies.default_picture
    for key, default in conf.DEFAULTS.items():
        if key in conf.REQUIRED_KEYS or key.endswith(("_FUNCTION", "_POLICY")):
            continue
        assert getattr(resolved, key.lower()) == default, key


def test_every_default_key_is_a_settings_field():
    fields = set(conf.RealtimeKitSettings.__dataclass_fields__)
    assert fields == {key.lower() for key in conf.DEFAULTS}


def test_settings_are_frozen_and_cached_until_settings_change():
    with override_settings(REALTIMEKIT=VALID):
        first = conf.get_settings()
        assert conf.get_settings() is first
        with pytest.raises(AttributeError):
            first.page_size = 5  # type: ignore[misc]
        with override_settings(REALTIMEKIT={**VALID, "PAGE_SIZE": 7}):
            assert conf.get_settings().page_size == 7
        assert conf.get_settings().page_size == 100


def test_base_url_trailing_slash_is_dropped_and_numbers_become_floats():
    with override_settings(
        REALTIMEKIT={**VALID, "BASE_URL": "http://127.0.0.1:8787/client/v4/", "READ_TIMEOUT": 3}
    ):
        resolved = conf.get_settings()
    assert resolved.base_url == "http://127.0.0.1:8787/client/v4"
    assert resolved.read_timeout == 3.0 and isinstance(resolved.read_timeout, float)


def test_get_client_is_built_from_settings():
    config = {
        **VALID,
        "CONNECT_TIMEOUT": 1.5,
        "READ_TIMEOUT": 7,
        "MAX_RETRIES": 4,
        "RETRY_BACKOFF_BASE": 0.1,
        "RETRY_BACKOFF_MAX": 2,
        "RETRY_AFTER_MAX": 9,
        "PAGE_SIZE": 25,
        "MAX_PAGES": 12,
    }
    with override_settings(REALTIMEKIT=config):
        client = get_client()
        assert isinstance(client, RealtimeKitClient) and get_client() is client
        assert (client.account_id, client.app_id, client.base_url) == (
            "acc",
            "app",
            "https://rtk.test/client/v4",
        )
        assert client.timeout == (1.5, 7.0)
        retry = client.retry
        assert (retry.max_retries, retry.backoff_base, retry.backoff_max, retry.retry_after_max) == (
            4,
            0.1,
            2.0,
            9.0,
        )
        assert (client.page_size, client.max_pages) == (25, 12)
        with override_settings(REALTIMEKIT={**config, "PAGE_SIZE": 30}):
            assert get_client() is not client and get_client().page_size == 30


# --- what the site's own settings must allow -------------------------------------------------


@pytest.mark.django_db
def test_a_missing_api_token_does_not_block_commands_that_never_call_the_api():
    without_token = {k: v for k, v in VALID.items() if k != "API_TOKEN"}
    with override_settings(REALTIMEKIT=without_token):
        assert checks.run_checks(tags=["realtimekit"]) == []
        call_command("check")
        call_command("makemigrations", "realtimekit", check=True, dry_run=True, verbosity=0)
        with pytest.raises(SystemCheckError, match=r"realtimekit\.E001"):
            call_command("check", deploy=True)
        with pytest.raises(ImproperlyConfigured, match=r"\['API_TOKEN'\]"):
            get_client()  # the first use names it


def test_use_tz_false_is_refused_by_a_check_and_at_first_use():
    with override_settings(REALTIMEKIT=VALID, USE_TZ=False):
        messages = realtimekit_messages()
        assert [message.id for message in messages] == ["realtimekit.E011"]
        assert "USE_TZ = True" in messages[0].msg
        with pytest.raises(SystemCheckError, match=r"realtimekit\.E011"):
            call_command("check")
        with pytest.raises(ImproperlyConfigured, match="USE_TZ"):
            get_client()
    conf.clear_cache()
    with override_settings(REALTIMEKIT=VALID):
        assert get_client() is not None
