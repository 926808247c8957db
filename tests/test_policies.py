"""The default display name: everyone in a meeting sees it, so it is never an e-mail address."""

from types import SimpleNamespace

import pytest

from realtimekit_django.policies import default_display_name


def person(full="", short="", username=""):
    return SimpleNamespace(
        get_full_name=lambda: full, get_short_name=lambda: short, get_username=lambda: username
    )


@pytest.mark.parametrize(
    "user, expected",
    [
        (person(full=" Ann Lee ", short="Ann", username="ann"), "Ann Lee"),
        (person(short="Ann", username="ann@example.com"), "Ann"),
        (person(username="ann"), "ann"),
        (person(username="ann@example.com"), None),  # an email-only user: no name is sent
        (person(full="ann@example.com", short="ann@example.com", username="ann@example.com"), None),
        (SimpleNamespace(get_username=lambda: "bob"), "bob"),  # a user model without name methods
    ],
)
def test_default_display_name_is_never_an_address(user, expected):
    assert default_display_name(user) == expected
