"""The client and the settings share one source for each default, and depend on each other one way."""

from __future__ import annotations

import inspect
import subprocess
import sys

from django.test import override_settings

from realtimekit_django import conf
from realtimekit_django.client import DEFAULT_BASE_URL, RealtimeKitClient, get_client

# The constructor keyword that each setting feeds (see client_from_settings).
KEYWORD_FOR_SETTING = {
    "CONNECT_TIMEOUT": "connect_timeout",
    "READ_TIMEOUT": "read_timeout",
    "MAX_RETRIES": "max_retries",
    "RETRY_BACKOFF_BASE": "backoff_base",
    "RETRY_BACKOFF_MAX": "backoff_max",
    "RETRY_AFTER_MAX": "retry_after_max",
    "PAGE_SIZE": "page_size",
    "MAX_PAGES": "max_pages",
    "BASE_URL": "base_url",
}


def test_the_constructor_defaults_are_the_settings_defaults():
    parameters = inspect.signature(RealtimeKitClient).parameters
    for setting, keyword in KEYWORD_FOR_SETTING.items():
        assert parameters[keyword].default == conf.DEFAULTS[setting], setting
    assert DEFAULT_BASE_URL == conf.DEFAULTS["BASE_URL"]


def test_a_client_built_with_no_options_uses_those_defaults():
    client = RealtimeKitClient("acc", "app", "tok")
    assert client.base_url == conf.DEFAULTS["BASE_URL"]
    assert client.timeout == (conf.DEFAULTS["CONNECT_TIMEOUT"], conf.DEFAULTS["READ_TIMEOUT"])
    assert client.retry.max_retries == conf.DEFAULTS["MAX_RETRIES"]
    assert client.retry.retry_after_max == conf.DEFAULTS["RETRY_AFTER_MAX"]
    assert (client.page_size, client.max_pages) == (conf.DEFAULTS["PAGE_SIZE"], conf.DEFAULTS["MAX_PAGES"])


def test_conf_does_not_import_the_client():
    code = (
        "import sys, django; from django.conf import settings; settings.configure();"
        "import realtimekit_django.conf as conf; conf.clear_cache(); conf.get_settings.__name__;"
        "sys.exit('realtimekit_django.client' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_default_client_is_rebuilt_when_the_settings_snapshot_is_dropped():
    with override_settings(REALTIMEKIT={"ACCOUNT_ID": "a", "APP_ID": "b", "API_TOKEN": "c"}):
        first = get_client()
        assert get_client() is first
        conf.clear_cache()
        assert get_client() is not first
