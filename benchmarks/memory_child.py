"""The memory scenario's measured process: ``python -m benchmarks.memory_child --base-url URL``.

A process of its own because ``ru_maxrss`` is the peak of the *whole* process since it started:
in the main process it would include the emulator's seeded meetings and every earlier scenario.
Here the process holds only Django, the app and the walk; the emulator answers from the parent.
It prints one JSON object: RSS before the walk, the walk's peak, and the growth between them.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory_child")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--per-page", type=int, default=100)
    args = parser.parse_args(argv)

    from .database import bench_database, migrate

    with bench_database(args.database):
        import django

        django.setup()
        from django.test import override_settings

        from realtimekit_django.client import get_client
        from realtimekit_django.sync.reconcile import reconcile_meetings

        from .emulator import realtimekit_settings
        from .measure import RssSampler, current_rss_mb, peak_rss_mb, stopwatch

        migrate()
        with override_settings(REALTIMEKIT=realtimekit_settings(args.base_url)):
            api = get_client()
            gc.collect()
            baseline, peak_before = current_rss_mb(), peak_rss_mb()
            with RssSampler() as sampler, stopwatch() as elapsed:
                report = reconcile_meetings(per_page=args.per_page, client=api)
            peak_after = peak_rss_mb()
    # ru_maxrss only says something about the walk if the walk raised it; otherwise the sampler's
    # peak (every 10 ms) is the walk's.
    peak = max(sampler.peak, peak_after if peak_after > peak_before else 0.0)
    print(
        json.dumps(
            {
                "baseline_rss_mb": baseline,
                "peak_rss_mb": peak,
                "growth_mb": peak - baseline,
                "seconds": elapsed(),
                "pages": report.pages,
                "created": report.created,
                "completed": report.completed,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
