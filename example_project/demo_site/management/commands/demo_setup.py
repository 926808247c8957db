"""``manage.py demo_setup``: migrate, seed demo meetings and users, print how to log in.

Safe to run again: meetings are matched by title and not duplicated, and the users' passwords
are reset to the printed ones. Meetings are created through ``services.create_meeting``, so the
database and RealtimeKit (here, the emulator's state file) agree.

On the emulator, the site is not running yet when this command runs, so the command serves the
same emulator state file on a loopback port of its own for the duration of the seeding. Run it
while the site is stopped: a running site would not see the new state until it restarts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from realtimekit_django import services
from realtimekit_django.client import RealtimeKitClient, client_from_settings, get_client
from realtimekit_django.conf import get_settings
from realtimekit_django.emulator import Emulator, serve
from realtimekit_django.exceptions import NotFound
from realtimekit_django.models import Meeting

#: (title, fields for create_meeting, status after creation)
DEMO_MEETINGS = (
    ("Weekly standup", {"transcribe_on_end": True, "summarize_on_end": True}, "ACTIVE"),
    ("Design review", {"persist_chat": True, "transcribe_on_end": True}, "ACTIVE"),
    ("All hands", {"session_keep_alive_time_in_secs": 120, "transcribe_on_end": True}, "ACTIVE"),
    ("Last year's retro", {}, "INACTIVE"),
)

#: (username, password, is_superuser). Demo passwords, printed on purpose: never reuse them.
DEMO_USERS = (
    ("admin", "admin-demo-password", True),
    ("alice", "alice-demo-password", False),
    ("bob", "bob-demo-password", False),
)


class Command(BaseCommand):
    help = "Prepare the demo: migrate, seed meetings through the services, create demo users."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        server = None
        if settings.DEMO_USES_EMULATOR:
            emulator = Emulator(
                api_token=settings.REALTIMEKIT.get("API_TOKEN"),
                default_app_id=settings.REALTIMEKIT["APP_ID"],
                state_file=settings.DEMO_EMULATOR_STATE_FILE,
            )
            server, thread = serve(emulator)
            client = _client_for(server.base_url)
        else:
            client = get_client()
        try:
            for title, fields, status in DEMO_MEETINGS:
                self._ensure_meeting(client, title, fields, status)
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)
        self._ensure_users()
        self._print_summary()

    def _ensure_meeting(self, client: RealtimeKitClient, title: str, fields: dict, status: str) -> None:
        app_id = get_settings().app_id
        local = Meeting.objects.filter(app_id=app_id, title=title).order_by("remote_created_at").first()
        if local is not None:
            try:
                services.refresh_meeting(local, client=client)
                self.stdout.write(f"  meeting exists:  {title}")
                return
            except NotFound:
                # The emulator's state file was deleted but the database was not: this row
                # points at nothing, so replace it (demo housekeeping, not a sync).
                Meeting.objects.filter(pk=local.pk).delete()
        meeting = services.create_meeting(client=client, title=title, **fields)
        if status != meeting.status:
            services.set_meeting_status(meeting, status, client=client)
        self.stdout.write(f"  meeting created: {title}")

    def _ensure_users(self) -> None:
        User = get_user_model()
        for username, password, is_superuser in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = is_superuser
            user.is_active = True
            user.set_password(password)
            user.save()

    def _print_summary(self) -> None:
        url = f"http://127.0.0.1:{settings.DEMO_PORT}/"
        where = "the in-process emulator" if settings.DEMO_USES_EMULATOR else settings.REALTIMEKIT["BASE_URL"]
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Demo ready (RealtimeKit: {where})."))
        self.stdout.write(f"  Site:  {url}")
        self.stdout.write(f"  Admin: {url}admin/")
        self.stdout.write("  Log in with (demo-only passwords):")
        for username, password, is_superuser in DEMO_USERS:
            role = "superuser" if is_superuser else "user"
            self.stdout.write(f"    login: {username:<6} password: {password:<20} ({role})")


def _client_for(base_url: str) -> RealtimeKitClient:
    """A client like the site's, but aimed at this command's own loopback emulator."""
    return client_from_settings(base_url)
