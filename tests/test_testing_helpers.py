"""``realtimekit_django.testing``: the emulator under Django's ``TestCase`` (``manage.py test``)."""

from django.test import TestCase

from realtimekit_django import services
from realtimekit_django.models import Meeting
from realtimekit_django.testing import RealtimeKitEmulatorMixin, use_realtimekit_emulator


class MixinTests(RealtimeKitEmulatorMixin, TestCase):
    def test_services_reach_the_emulator(self):
        meeting = services.create_meeting(title="Standup")
        self.assertEqual([m["id"] for m in self.realtimekit_emulator.meetings()], [str(meeting.pk)])
        self.assertTrue(Meeting.objects.filter(pk=meeting.pk).exists())

    def test_each_test_gets_a_fresh_emulator(self):
        self.assertEqual(self.realtimekit_emulator.meetings(), [])


@use_realtimekit_emulator
class DecoratedTests(TestCase):
    def setUp(self):
        self.title = "Set up by the test class itself"

    def test_the_decorator_keeps_the_class_set_up(self):
        meeting = services.create_meeting(title=self.title)
        self.assertEqual(self.realtimekit_emulator.get_meeting(str(meeting.pk))["title"], self.title)
