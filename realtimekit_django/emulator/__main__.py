"""``python -m realtimekit_django.emulator``: serve an emulator over HTTP until interrupted.

The API token comes from ``--api-token`` or the ``REALTIMEKIT_API_TOKEN`` environment variable
(prefer the latter: command lines are visible to other users); it is never printed. Without
either, any bearer token is accepted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .clock import Clock, ScaledClock, SystemClock
from .core import Emulator
from .faults import Faults
from .ratelimit import parse_rate_limit
from .wsgi import serve


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def _rate_limit(text: str) -> tuple[int, int]:
    try:
        return parse_rate_limit(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _time_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a number above 0 (emulated seconds per real second), not {text!r}"
        )
    return value


def _clock(time_scale: float) -> Clock:
    return SystemClock() if time_scale == 1 else ScaledClock(time_scale)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m realtimekit_django.emulator",
        description="An in-memory Cloudflare RealtimeKit API for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument(
        "--api-token",
        default=None,
        help="bearer token to require (default: $REALTIMEKIT_API_TOKEN; without either, any token)",
    )
    parser.add_argument("--app-id", default=None, help="default app id of the seeding helpers")
    parser.add_argument("--state-file", default=None, help="JSON file that keeps state across restarts")
    parser.add_argument("--latency", type=_non_negative, default=0.0, help="seconds added to every request")
    parser.add_argument("--error-rate", type=_fraction, default=0.0, help="fraction answered 500/502/503")
    parser.add_argument("--drop-rate", type=_fraction, default=0.0, help="fraction of connections dropped")
    parser.add_argument("--rate-limit-burst", type=int, default=0, help="the first N requests get 429")
    parser.add_argument("--retry-after", type=_non_negative, default=1, help="retry-after of 429 answers")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault generator")
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=None,
        metavar="REQUESTS/SECONDS",
        help="Cloudflare's limit per API token, such as 1200/300 (default: no limit)",
    )
    parser.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        metavar="N",
        help="emulated seconds per real second (default 1): timestamps, token expiry, rate windows",
    )
    webhooks = parser.add_argument_group(
        "webhook deliveries",
        "the session simulator's HTTP routes (.../emulator/...) deliver signed events to the "
        "registered webhooks, from a background thread",
    )
    webhooks.add_argument("--webhook-duplicate", action="store_true", help="deliver every event twice")
    webhooks.add_argument(
        "--webhook-out-of-order",
        action="store_true",
        help="hold deliveries until POST .../emulator/webhooks/flush sends them newest first",
    )
    webhooks.add_argument(
        "--webhook-delay", type=_non_negative, default=0.0, help="seconds before each delivery"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    token = args.api_token or os.environ.get("REALTIMEKIT_API_TOKEN") or None
    faults = Faults(
        latency=args.latency,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        rate_limit_burst=args.rate_limit_burst,
        retry_after=args.retry_after,
        seed=args.seed,
    )
    emulator = Emulator(
        api_token=token,
        default_app_id=args.app_id,
        state_file=args.state_file,
        faults=faults,
        rate_limit=args.rate_limit,
        clock=_clock(args.time_scale),
    )
    emulator.webhooks.background = True
    emulator.webhooks.faults.duplicate = args.webhook_duplicate
    emulator.webhooks.faults.out_of_order = args.webhook_out_of_order
    emulator.webhooks.faults.delay = args.webhook_delay
    server, thread = serve(emulator, args.host, args.port)
    if token is None:
        print("warning: no API token given; any bearer token is accepted", file=sys.stderr)
    if args.rate_limit is not None:
        print("rate limit: {} requests per {} s per API token".format(*args.rate_limit), file=sys.stderr)
    if args.time_scale != 1:
        print(f"time scale: {args.time_scale:g} emulated seconds per real second", file=sys.stderr)
    print(f"RealtimeKit emulator listening on http://{args.host}:{server.port}/client/v4", flush=True)

    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
