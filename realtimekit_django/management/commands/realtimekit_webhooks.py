"""``manage.py realtimekit_webhooks``: register the site's receiver, list and delete webhooks,
and replay stored events.

- ``register URL [--events E ...] [--name NAME]`` creates the webhook, or updates (and enables)
  the one that already has this URL: running it twice leaves one webhook.
- ``list`` prints every webhook of the app; ``delete ID`` removes one.
- ``replay [--failed] [--event E] [--since T]`` processes stored events again, in this process
  (unprocessed ones by default; ``--failed``: only those whose processing failed).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from ...client import WEBHOOK_EVENTS, get_client
from ...exceptions import RealtimeKitError
from ...models import WebhookEvent
from ...webhooks.handlers import replay

DEFAULT_NAME = "realtimekit-django"


class Command(BaseCommand):
    help = "Register, list and delete RealtimeKit webhooks; replay stored webhook events."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        register = sub.add_parser("register", help="Create or update the webhook with this URL.")
        register.add_argument("url")
        register.add_argument(
            "--events", nargs="+", choices=WEBHOOK_EVENTS, default=list(WEBHOOK_EVENTS), metavar="EVENT"
        )
        register.add_argument("--name", default=DEFAULT_NAME)
        sub.add_parser("list", help="Every webhook of the app.")
        delete = sub.add_parser("delete", help="Delete a webhook.")
        delete.add_argument("webhook_id")
        again = sub.add_parser("replay", help="Process stored events again.")
        again.add_argument("--failed", action="store_true", help="Only events whose processing failed.")
        again.add_argument("--event", choices=WEBHOOK_EVENTS, metavar="EVENT")
        again.add_argument("--since", metavar="ISO-TIME", help="Only events received at or after this.")

    def handle(self, *args, **options):
        action = options["action"]
        try:
            getattr(self, f"_{action}")(options)
        except RealtimeKitError as err:
            raise CommandError(f"RealtimeKit refused: {err.message}") from None

    def _register(self, options) -> None:
        webhooks = get_client().webhooks
        url = options["url"]
        existing = [w for w in webhooks.get_webhooks()["data"] if w.get("url") == url]
        if existing:
            data = webhooks.edit_webhook(
                existing[0]["id"], events=options["events"], name=options["name"], enabled=True
            )["data"]
            self.stdout.write(f"updated webhook {data['id']} -> {data['url']}")
        else:
            data = webhooks.create_webhook(
                events=options["events"], name=options["name"], url=url, enabled=True
            )["data"]
            self.stdout.write(f"created webhook {data['id']} -> {data['url']}")

    def _list(self, options) -> None:
        for webhook in get_client().webhooks.get_webhooks()["data"]:
            state = "enabled" if webhook.get("enabled") else "disabled"
            events = ",".join(webhook.get("events") or [])
            self.stdout.write(f"{webhook['id']}  {state}  {webhook.get('url')}  {events}")

    def _delete(self, options) -> None:
        get_client().webhooks.delete_webhook(options["webhook_id"])
        self.stdout.write(f"deleted webhook {options['webhook_id']}")

    def _replay(self, options) -> None:
        events = WebhookEvent.objects.filter(processed_at__isnull=True)
        if options["failed"]:
            events = events.exclude(error="")
        if options["event"]:
            events = events.filter(event=options["event"])
        if options["since"]:
            since = parse_datetime(options["since"])
            if since is None:
                raise CommandError("--since must be an ISO 8601 date-time, such as 2026-01-31T12:00:00Z")
            events = events.filter(received_at__gte=since)
        outcomes = replay(events)
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing"
        self.stdout.write(f"replayed: {summary}")
        if outcomes.get("failed"):
            raise CommandError(f"{outcomes['failed']} events failed again (see their error in the admin)")
