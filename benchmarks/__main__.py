"""``python -m benchmarks [--scenario NAME] [--size N] [--database sqlite|postgres] [--json] [--small]``.

Prints a table of figures with the issue's targets beside them (``--json``: one JSON object per
scenario instead). Missed targets never change the exit status: only a crash does, so CI
(``--small``) keeps the benchmarks running without judging the machine's speed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: scenario -> (default size, size with --small, rounds, rounds with --small)
SCENARIOS = {
    "reconcile": (10_000, 300, 3, 2),
    "reconcile_noop": (10_000, 300, 3, 2),
    "participants": (200, 10, 3, 1),
    "join": (1_000, 40, 1, 1),
    "memory": (100_000, 2_000, 1, 1),
    "burst": (5_000, 200, 1, 1),
    "webhooks": (2_000, 50, 1, 1),
    "validation": (2_000, 100, 5, 1),
    "budget": (100_000, 100, 1, 1),
}
#: Scenarios that take ``hours`` (emulated): the default, and the size with --small.
HOURS = {"budget": (24.0, 0.5)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        choices=[*SCENARIOS, "all"],
        default="all",
        help="one scenario (default: all of them, in order)",
    )
    parser.add_argument(
        "--size",
        type=int,
        help="meetings (reconcile, noop, memory, participants, budget), joins (join), users (burst) "
        "or deliveries (webhooks)",
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        default="sqlite",
        help="both: SQLite then PostgreSQL, each in a process of its own, printed side by side",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per scenario (default 3; join and memory run once)"
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per scenario instead of the table"
    )
    parser.add_argument("--small", action="store_true", help="every scenario at a small size (CI)")
    parser.add_argument(
        "--sessions-per-day",
        type=float,
        help="budget: session starts a day in the webhooks variants (default 5%% of the meetings)",
    )
    parser.add_argument(
        "--hours", type=float, help="emulated hours (budget; default 24, 0.5 with --small)"
    )
    parser.add_argument(
        "--variants",
        help="budget: comma-separated variants (today, scheduled, webhooks, webhooks_drop10; default all, "
        "or the webhooks ones at 1,000,000 meetings)",
    )
    args = parser.parse_args(argv)
    if args.size is not None and args.size < 1:
        parser.error("--size must be at least 1")
    if args.hours is not None and args.hours <= 0:
        parser.error("--hours must be more than 0")
    return args


def _both(argv: list[str], args: argparse.Namespace) -> int:
    """Run each database in a child process (Django's settings are read once per process) and
    print their figures side by side: one line a figure, each database's value and floor."""
    import json
    import subprocess

    from .report import Result, json_lines, notes, table

    rest = [a for a in argv if a not in ("--json", "--database", "both", "--database=both")]
    results = []
    for database in ("sqlite", "postgres"):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks", *rest, "--database", database, "--json"],
            stdout=subprocess.PIPE,
            check=False,
        )
        if done.returncode:
            return done.returncode
        results += [Result.from_dict(json.loads(line)) for line in done.stdout.splitlines() if line.strip()]
    if args.json:
        print(json_lines(results))
    else:
        print(table(results))
        print()
        print(notes(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.database == "both":
        return _both(list(sys.argv[1:] if argv is None else argv), args)
    from .database import bench_database, migrate

    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    with bench_database(args.database):
        import django

        django.setup()
        from . import celery_app  # noqa: F401 - makes the eager Celery app current
        from .report import json_lines, notes, table

        migrate()
        results = []
        for name in names:
            size, small_size, rounds, small_rounds = SCENARIOS[name]
            size = args.size or (small_size if args.small else size)
            rounds = args.rounds or (small_rounds if args.small else rounds)
            module = importlib.import_module(f"benchmarks.scenarios.{name}")
            if not args.json:
                print(
                    f"running {name} on {args.database}, size {size:,}, {rounds} round(s) ...",
                    file=sys.stderr,
                )
            extra = {}
            if name in HOURS:
                extra["hours"] = args.hours or HOURS[name][1 if args.small else 0]
            if name == "budget" and args.variants:
                extra["variants"] = [v.strip() for v in args.variants.split(",") if v.strip()]
            elif name == "budget" and args.small:
                extra["variants"] = ["today", "scheduled", "webhooks"]  # CI: the drop variant costs time
            if name == "budget" and args.sessions_per_day is not None:
                extra["sessions_per_day"] = args.sessions_per_day
            outcome = module.run(args.database, size, rounds, **extra)
            results.extend(outcome if isinstance(outcome, list) else [outcome])
    if args.json:
        print(json_lines(results))
    else:
        print(table(results))
        print()
        print(notes(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
