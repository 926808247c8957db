"""``manage.py realtimekit_sync``: run the reconcile walks by hand, from cron, or in CI.

It calls :mod:`realtimekit_django.sync.reconcile` directly (no Celery) under the same overlap locks
as the tasks (every walk, the per-meeting ones of ``--participants`` too), so it never runs a
walk a worker is running, and ``--participants`` walks the meetings the tasks' fan-out would
(:func:`~realtimekit_django.sync.fanout.participant_walks_due`); it shows a progress bar
on a terminal and plain lines otherwise (logs stay readable), prints one summary line per walk,
and exits with status 1 when any walk did not complete, so cron and CI notice.

A failure is printed once: in its walk's summary line, with the closing error saying what to
look at (the host of ``BASE_URL`` when RealtimeKit could not be reached, the API token when it
was refused). The package's log warnings about the same failure go to the site's logging when
it has some, and are not printed beside the summary when it has none (``-v 2`` prints them).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError

from ... import conf, schema
from ...client.budget import get_budget
from ...exceptions import AuthenticationError, TransportError, ValidationError
from ...sync import fanout, locks, reconcile, runs

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Make the local RealtimeKit meetings (and, on request, participants) equal to the remote ones. "
        "Exits non-zero when a walk did not complete."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--participants",
            action="store_true",
            help="After the meetings, also walk the participants of every meeting stored locally.",
        )
        parser.add_argument(
            "--meeting",
            metavar="ID",
            help="Walk only this meeting's participants (the meetings listing is not walked).",
        )
        parser.add_argument(
            "--per-page",
            type=int,
            metavar="N",
            help=f"Items per page, 1 to {schema.MAX_PER_PAGE} (default: the PAGE_SIZE setting).",
        )
        parser.add_argument(
            "--break-lock",
            action="store_true",
            help="First delete the locks of the walks this run makes (only when no other run is alive: "
            "a worker killed mid-walk otherwise blocks them for SYNC_LOCK_SECONDS).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Walk and count what would change, then roll everything back.",
        )

    def handle(self, *args, **options):
        per_page = options["per_page"]
        try:
            runs.check_walk_arguments(per_page)
        except ValidationError as exc:
            problems = "; ".join(f"--per-page {problem}" for _, problem in exc.errors)
            raise CommandError(f"{problems}.") from None
        self.dry_run = options["dry_run"]
        self.tty = self.stdout.isatty()
        self.verbosity = options["verbosity"]
        self.break_lock = options["break_lock"]
        reports = []
        with self._warnings_printed_once():
            if options["meeting"]:
                reports.append(self._walk_participants(options["meeting"], per_page))
            else:
                reports.append(self._walk_meetings(per_page))
                if options["participants"]:
                    reports.extend(self._walk_all_participants(per_page))
        self._summarise(reports)

    @contextmanager
    def _warnings_printed_once(self) -> Iterator[None]:
        """With no logging configured for the package, Python's last-resort handler would print
        every warning (each retry, each walk's summary again) to stderr beside the summary."""
        package_logger = logging.getLogger("realtimekit_django")
        if self.verbosity >= 2 or package_logger.hasHandlers():
            yield
            return
        silent = logging.NullHandler()
        package_logger.addHandler(silent)
        try:
            yield
        finally:
            package_logger.removeHandler(silent)

    # -- the walks --------------------------------------------------------------------------

    def _locked(self, lock_name: str, walk, progress=None, **report_fields) -> reconcile.ReconcileReport:
        """Run ``walk(progress)`` under the tasks' lock (renewed after every request)."""
        if self.break_lock:
            locks.break_lock(lock_name)
        return locks.locked_walk(lock_name, walk, progress=progress, **report_fields)

    def _refuse_if_skipped(self, report: reconcile.ReconcileReport, lock_name: str) -> None:
        if report.skipped:
            raise CommandError(
                f"Another run holds the lock {locks.LOCK_PREFIX}{lock_name}; nothing was walked. "
                "If no run is alive (a killed worker), wait SYNC_LOCK_SECONDS or pass --break-lock."
            )
        self._end_line(report)

    def _walk_meetings(self, per_page: int | None) -> reconcile.ReconcileReport:
        lock_name = locks.meetings_lock_name()
        report = self._locked(
            lock_name,
            lambda progress: reconcile.reconcile_meetings(
                per_page=per_page, dry_run=self.dry_run, progress=progress
            ),
            progress=self._page_progress,
            kind="meetings",
        )
        self._refuse_if_skipped(report, lock_name)
        return report

    def _walk_participants(self, meeting_id: str, per_page: int | None) -> reconcile.ReconcileReport:
        try:
            meeting_id = str(uuid.UUID(meeting_id))
        except ValueError:
            raise CommandError(f"--meeting must be a meeting id (a UUID), not {meeting_id!r}.") from None
        lock_name = locks.participants_lock_name(meeting_id)
        report = self._walk_one_meetings_participants(meeting_id, per_page, progress=self._page_progress)
        self._refuse_if_skipped(report, lock_name)
        return report

    def _walk_one_meetings_participants(self, meeting_id: str, per_page: int | None, progress=None):
        return self._locked(
            locks.participants_lock_name(meeting_id),
            lambda on_request: reconcile.reconcile_participants(
                meeting_id, per_page=per_page, dry_run=self.dry_run, progress=on_request
            ),
            progress=progress,
            kind="participants",
            meeting_id=meeting_id,
        )

    def _walk_all_participants(self, per_page: int | None) -> list[reconcile.ReconcileReport]:
        """The participants of every meeting ``reconcile_all`` would fan out to, one after another.

        Each walk takes its meeting's lock; a meeting a worker is walking right now is reported
        as skipped (and counts as not completed by this run).
        """
        meeting_ids = list(fanout.participant_walks_due())
        total = len(meeting_ids)
        reports = []
        for done, meeting_id in enumerate(meeting_ids, start=1):
            report = self._walk_one_meetings_participants(meeting_id, per_page)
            reports.append(report)
            if self.tty:
                self._draw(f"participants of {total} meetings", done, total)
            elif self.verbosity >= 2 or not report.completed:
                self.stdout.write(report.summary())
        if self.tty and total:
            self.stdout.write("")
        if reports:
            self.stdout.write(self._participants_total(reports))
        return reports

    # -- output -----------------------------------------------------------------------------

    def _page_progress(self, report: reconcile.ReconcileReport, total_count: int | None) -> None:
        what = report.kind if report.meeting_id is None else f"participants of {report.meeting_id}"
        if self.tty:
            self._draw(what, report.items, total_count)
        elif self.verbosity >= 2:
            of = f"/{total_count}" if total_count is not None else ""
            self.stdout.write(f"{what}: page {report.pages}, {report.items}{of} items")

    def _draw(self, what: str, done: int, total: int | None) -> None:
        """Rewrite one terminal line: ``what [#####-----] done/total``."""
        if total:
            filled = min(BAR_WIDTH, BAR_WIDTH * done // total)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            line = f"\r{what} [{bar}] {done}/{total}"
        else:
            line = f"\r{what} {done}"
        self.stdout.write(line, ending="")
        self.stdout.flush()

    def _end_line(self, report: reconcile.ReconcileReport) -> None:
        if self.tty and report.pages:
            self.stdout.write("")  # leave the bar's line
        self.stdout.write(report.summary())

    @staticmethod
    def _participants_total(reports: list[reconcile.ReconcileReport]) -> str:
        incomplete = sum(not r.completed for r in reports)
        totals = {
            key: sum(getattr(r, key) for r in reports)
            for key in ("pages", "http_requests", "created", "updated", "unchanged", "stale", "removed")
        }
        return (
            f"participants of {len(reports)} meetings: {len(reports) - incomplete} complete, "
            f"{incomplete} incomplete; "
            f"{totals['pages']} pages, {totals['http_requests']} HTTP requests, {totals['created']} created, "
            f"{totals['updated']} updated, {totals['unchanged']} unchanged, {totals['stale']} stale, "
            f"{totals['removed']} removed"
        )

    def _budget_line(self, reports: list[reconcile.ReconcileReport]) -> str:
        """What this run spent from the rate budget, and where the shared count stands."""
        spent = sum(r.http_requests for r in reports)
        shared = get_budget()
        if shared is None:
            return f"Rate budget: off (RATE_LIMIT_REQUESTS is None); this run sent {spent} requests."
        state = shared.state()
        now = "unknown (its cache is unavailable)" if state["spent"] is None else f"{state['spent']}"
        return (
            f"Rate budget: this run spent {spent} requests (background lane); {now} of "
            f"{state['requests']} spent in the last {state['window']:g}s by every process."
        )

    def _summarise(self, reports: list[reconcile.ReconcileReport]) -> None:
        self.stdout.write(self._budget_line(reports))
        incomplete = [r for r in reports if not r.completed]
        if self.dry_run:
            self.stdout.write("Dry run: every change above was rolled back.")
        if incomplete:
            advice = self._advice(incomplete)
            raise CommandError(
                f"{len(incomplete)} of {len(reports)} walks did not complete (see above); nothing was "
                f"deleted or flagged for them.{' ' + advice if advice else ''}"
            )
        self.stdout.write(self.style.SUCCESS(f"Sync complete ({len(reports)} walks)."))

    @staticmethod
    def _advice(incomplete: list[reconcile.ReconcileReport]) -> str:
        """What to look at, for the failures whose cause is not the remote data."""
        causes = [report.exception for report in incomplete]
        if any(isinstance(cause, TransportError) for cause in causes):
            return (
                f"RealtimeKit could not be reached at {conf.api_host()}: check REALTIMEKIT['BASE_URL'] "
                "and that this machine can connect to it."
            )
        refused = next((cause for cause in causes if isinstance(cause, AuthenticationError)), None)
        if refused is not None and refused.status == 401:
            return (
                "RealtimeKit refused the API token (HTTP 401): check REALTIMEKIT['API_TOKEN'] or the "
                f"{conf.API_TOKEN_ENV_VAR} environment variable, and ACCOUNT_ID."
            )
        if refused is not None:
            return (
                f"RealtimeKit refused the request (HTTP {refused.status}): the API token lacks the "
                "RealtimeKit permission, or ACCOUNT_ID or APP_ID is not the token's."
            )
        return ""
