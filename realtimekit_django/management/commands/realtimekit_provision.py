"""``manage.py realtimekit_provision MEETING_ID --group NAME --user NAME``: prepare an event's joins.

Adds the remote participant of each invited user ahead of the event (and, with
``JOIN_TOKEN_CACHE``, keeps a token for each), so that their joins cost no request when
everyone arrives at once. By default it runs here, as fast as the budget's background lane
allows, and stops cleanly when the budget is out (exit status 1: run it again later; prepared
people cost nothing). ``--queue`` sends the paced task instead
(``realtimekit.provision_participants``: ``--batch-size`` people every ``--interval`` seconds).
"""

from __future__ import annotations

import re
import uuid

from django.core.management.base import BaseCommand, CommandError

from ... import tasks
from ...exceptions import MeetingInactive, ValidationError
from ...models import Meeting
from ...services import provisioning

# U+0000 (PostgreSQL refuses it in any text: a DataError) and lone surrogates (an argument that
# was not valid UTF-8; no database driver can encode them).
_UNUSABLE = re.compile("[\x00\ud800-\udfff]")


class Command(BaseCommand):
    help = (
        "Prepare the joins of a meeting's invited users (a group, named users) before it starts, "
        "so that their joins cost no request. Exits non-zero when it stopped before the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("meeting", metavar="MEETING_ID", help="The meeting's id.")
        for flag, metavar, help_text in (
            ("--group", "NAME", "Invite a group's users (repeatable)."),
            ("--user", "USERNAME", "Invite one user (repeatable)."),
        ):
            parser.add_argument(flag, action="append", default=[], metavar=metavar, help=help_text)
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Send the paced Celery task instead of preparing here.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=tasks.PROVISION_BATCH,
            metavar="N",
            help=f"With --queue: people per chunk (default {tasks.PROVISION_BATCH}).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=tasks.PROVISION_INTERVAL,
            metavar="SECONDS",
            help=f"With --queue: seconds between chunks (default {tasks.PROVISION_INTERVAL}).",
        )

    def handle(self, *args, **options):
        meeting = self._meeting(options["meeting"])
        if not options["group"] and not options["user"]:
            raise CommandError("Name whom to prepare: --group NAME and/or --user USERNAME.")
        self._check_names(options)
        try:
            tasks.check_pace(options["batch_size"], options["interval"])
            users = list(provisioning.invited_users(groups=options["group"], usernames=options["user"]))
        except ValidationError as exc:
            raise CommandError(f"{exc}.") from None
        if options["queue"]:
            self._queue(meeting, users, options)
            return
        try:
            report = provisioning.provision_participants(meeting, users, progress=self._progress)
        except MeetingInactive:
            raise CommandError(f"Meeting {meeting.pk} is inactive: nobody can join it.") from None
        self.stdout.write(self._summary(report))
        if not report.completed:
            raise CommandError(
                f"Stopped ({report.stopped}) with {len(report.left)} users left; run the command "
                f"again in {report.retry_after:.0f}s (prepared users cost nothing)."
            )

    def _meeting(self, given: str) -> Meeting:
        try:
            return Meeting.objects.joinable().get(pk=uuid.UUID(given))
        except (ValueError, Meeting.DoesNotExist):
            raise CommandError(f"No joinable meeting {ascii(given[:40])} (see realtimekit_sync).") from None

    @staticmethod
    def _check_names(options) -> None:
        """Refuse what the admin forms refuse (a NUL byte, text that is not Unicode, more than
        the field holds) before any query: a database error is no answer to a typo."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        User = get_user_model()
        fields = (
            ("--group", options["group"], Group._meta.get_field("name")),
            ("--user", options["user"], User._meta.get_field(User.USERNAME_FIELD)),
        )
        for flag, values, field in fields:
            for value in values:
                shown = ascii(value[:40]) + ("..." if len(value) > 40 else "")
                if _UNUSABLE.search(value):
                    raise CommandError(
                        f"{flag} {shown}: a name cannot hold a NUL byte or text that is not valid Unicode."
                    )
                if field.max_length is not None and len(value.strip()) > field.max_length:
                    raise CommandError(f"{flag} {shown}: longer than {field.max_length} characters.")

    def _queue(self, meeting: Meeting, users: list, options) -> None:
        ids = [user.pk for user in users]
        try:
            tasks.provision_participants.delay(
                str(meeting.pk), ids, batch_size=options["batch_size"], interval=options["interval"]
            )
        except Exception as exc:  # the broker being down
            raise CommandError(f"Could not queue realtimekit.provision_participants: {type(exc).__name__}")
        self.stdout.write(
            f"Queued the preparation of {len(ids)} users for meeting {meeting.pk} "
            f"({options['batch_size']} every {options['interval']:g}s)."
        )

    def _progress(self, report: provisioning.ProvisionReport) -> None:
        if self.stdout.isatty() or report.done % 100 == 0 or report.done == report.total:
            ending = "\r" if self.stdout.isatty() and report.done < report.total else "\n"
            self.stdout.write(f"{report.done}/{report.total} users handled", ending=ending)

    @staticmethod
    def _summary(report: provisioning.ProvisionReport) -> str:
        return (
            f"meeting {report.meeting_id}: {report.total} users: {report.added} added, "
            f"{report.edited} edited, {report.ready} already prepared, {report.refused} refused by the "
            f"policy, {report.failed} failed; {report.requests} requests"
        )
