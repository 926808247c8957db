"""The emulator for Django's own test runner (``manage.py test``), without pytest.

::

    from django.test import TestCase
    from realtimekit_django.testing import RealtimeKitEmulatorMixin

    class JoinTests(RealtimeKitEmulatorMixin, TestCase):
        def test_join(self):
            meeting = services.create_meeting(title="Standup")   # lands in self.realtimekit_emulator
            ...

Each test gets a fresh :class:`~realtimekit_django.emulator.Emulator` as
``self.realtimekit_emulator``, and every ``requests`` call to a RealtimeKit API URL reaches it in
memory, exactly as with the pytest fixture (same settings, same routing; needs the
``emulator`` extra, i.e. ``responses``). :func:`use_realtimekit_emulator` does the same for a
test class that cannot take a mixin.
"""

from __future__ import annotations

from .emulator.core import Emulator
from .emulator.pytest_plugin import emulator_settings

__all__ = ["RealtimeKitEmulatorMixin", "start_emulator", "use_realtimekit_emulator"]


def start_emulator(testcase) -> Emulator:
    """Route RealtimeKit calls into a new emulator until ``testcase``'s clean-ups run."""
    from .emulator.responses_adapter import mock_requests

    config = emulator_settings()
    emulator = Emulator(api_token=config["api_token"], default_app_id=config["app_id"])
    routing = mock_requests(emulator, base_url=config["base_url"])
    routing.__enter__()
    testcase.addCleanup(routing.__exit__, None, None, None)
    return emulator


class RealtimeKitEmulatorMixin:
    """``unittest``/Django ``TestCase`` mixin: ``self.realtimekit_emulator`` for every test."""

    realtimekit_emulator: Emulator

    def setUp(self) -> None:
        super().setUp()
        self.realtimekit_emulator = start_emulator(self)


def use_realtimekit_emulator(test_class: type) -> type:
    """Class decorator: the mixin's behaviour for a ``TestCase`` class given as it is."""
    original = test_class.setUp

    def setUp(self) -> None:  # noqa: N802 (unittest's name)
        self.realtimekit_emulator = start_emulator(self)
        original(self)

    test_class.setUp = setUp
    return test_class
