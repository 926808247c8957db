"""The benchmarks run end to end at a tiny size and report every figure issue 7 names.

Times are never judged here (they say more about the machine than the code); the test only
proves the harness works and reports what it must, so the benchmarks cannot rot. It runs
``python -m benchmarks`` in a subprocess: the harness configures Django with its own settings
and database, which cannot share this process with the test settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NAMED_FIGURES = {
    "reconcile": {
        "project_seconds",
        "floor_seconds",
        "naive_seconds",
        "ratio_to_floor",
        "speedup_over_naive",
        "queries_per_page",
        "http_requests",
        "peak_rss_mb",
    },
    "reconcile_noop": {"noop_seconds", "rows_written", "ratio_to_first_run"},
    "participants": {"seconds", "queries_per_meeting"},
    "join": {
        "join_median_ms",
        "join_p95_ms",
        "overhead_ms",
        "queries_per_join",
        "app_overhead_ms",
        "rejoin_queries",
        "rejoin_writes",
        "cached_rejoin_queries",
        "cached_rejoin_writes",
    },
    "memory": {"growth_mb"},
    "burst": {
        "today_requests",
        "today_lockouts",
        "today_served_in_window_pct",
        "today_join_wait_p99_s",
        "prepared_requests",
        "prepared_lockouts",
        "prepared_served_in_window_pct",
        "prepared_join_wait_p50_s",
        "prepared_join_wait_p99_s",
        "prepared_requests_per_join",
    },
    "webhooks": {"accepted_per_second", "p50_ms", "p99_ms", "processed_per_second"},
    "validation": {"ours_ms", "pydantic_ms", "sdk_lax_ms", "json_loads_ms", "ours_vs_pydantic"},
    "budget": {
        f"{variant}_{figure}"
        for variant in ("today", "scheduled")
        for figure in (
            "requests_per_hour",
            "lockouts",
            "joins_served_pct",
            "staleness_p50_min",
            "staleness_p99_min",
            "staleness_max_min",
            "oldest_verification_h",
        )
    }
    | {
        f"webhooks_{figure}"
        for figure in (
            "announced_p99_s",
            "staleness_p99_min",
            "lockouts",
            "joins_served_pct",
            "events_delivered",
            "targeted_fetches",
            "verify_all_projected_h",
            "walk_peak_mb",
            "sessions_ended",
            "sessions_confirmed",
            "artifacts_announced",
            "artifacts_stored",
            "artifacts_failed",
            "requests_per_ended_session",
            "requests_per_ended_session_steady",
            "artifact_lag_p50_s",
            "artifact_lag_p99_s",
        )
    },
}
TARGETS = {
    "reconcile": {"ratio_to_floor", "speedup_over_naive"},
    "reconcile_noop": {"rows_written", "write_statements", "ratio_to_first_run"},
    "join": {
        "app_overhead_ms",
        "queries_per_join",
        "rejoin_queries",
        "rejoin_writes",
        "cached_rejoin_queries",
        "cached_rejoin_writes",
    },
    "memory": {"growth_mb"},
    "burst": {
        "prepared_lockouts",
        "prepared_served_in_window_pct",
        "prepared_requests_per_join",
        "prepared_provision_lockouts",
    },
    "webhooks": {"p99_ms", "accepted_per_second", "processed_per_second"},
    "validation": set(),
    "budget": {
        "scheduled_lockouts",
        "scheduled_joins_served_pct",
        "scheduled_staleness_p99_min",
        "scheduled_oldest_verification_h",
        "webhooks_announced_p99_s",
        "webhooks_staleness_p99_min",
        "webhooks_lockouts",
        "webhooks_joins_served_pct",
        "webhooks_oldest_verification_h",
        "webhooks_requests_per_ended_session",
        "webhooks_requests_per_ended_session_steady",
    },
}
SIZE = 12
SESSIONS_PER_DAY = 500


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--small",
            "--size",
            str(SIZE),
            "--rounds",
            "1",
            "--json",
            # The budget's sessions: 5% of 12 meetings a day would end none in half an hour.
            "--sessions-per-day",
            str(SESSIONS_PER_DAY),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {line["scenario"]: line for line in lines}


def test_every_scenario_reports_its_named_figures(results):
    assert set(results) == set(NAMED_FIGURES)
    for name, figures in NAMED_FIGURES.items():
        missing = figures - set(results[name]["figures"])
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert results[name]["size"] == SIZE
        assert results[name]["database"] == "sqlite"


def test_targets_are_printed_and_judged(results):
    for name, targets in TARGETS.items():
        judged = results[name]["targets"]
        assert set(judged) == targets, name
        assert all(isinstance(t["met"], bool) for t in judged.values()), judged


def test_figures_that_are_counts_not_times(results):
    reconcile = results["reconcile"]["figures"]
    pages = -(-SIZE // 100)
    assert reconcile["pages"] == pages
    assert reconcile["http_requests"] == reconcile["floor_http_requests"] == pages
    assert results["reconcile_noop"]["figures"]["rows_written"] == 0
    assert results["participants"]["figures"]["participants"] == SIZE * 50
    burst = results["burst"]["figures"]
    assert burst["today_requests"] == SIZE  # one request per join
    assert burst["prepared_provision_requests"] == SIZE and burst["prepared_requests"] == 0
    budget = results["budget"]["figures"]
    assert budget["hours"] == 0.5
    for variant in ("today", "scheduled"):
        assert budget[f"{variant}_joins"] == 1800  # one join per emulated second
        assert budget[f"{variant}_changes"] == 30  # one remote change per emulated minute
    # With webhooks every other change is announced by an event; each announced one is fetched.
    assert budget["webhooks_changes"] + budget["webhooks_announced_changes"] == 30
    assert budget["webhooks_events_delivered"] > 0 and budget["webhooks_targeted_fetches"] > 0


def test_budget_sessions_end_and_their_artifacts_are_copied_at_a_bounded_cost(results):
    """Issue 27.7: sessions end, the walk confirms them, every file the emulator made is
    announced and stored, each copy costs one API request (a fresh link) and one download, and
    an ended session costs a few requests, inside the same budget (no lockout, every join)."""
    budget = results["budget"]["figures"]
    ended, confirmed = budget["webhooks_sessions_ended"], budget["webhooks_sessions_confirmed"]
    assert ended > 0 and 0 < confirmed <= ended
    stored = budget["webhooks_artifacts_stored"]
    assert stored > 0 and budget["webhooks_artifacts_failed"] == 0
    assert budget["webhooks_artifacts_made"] == budget["webhooks_artifacts_announced"] == stored
    assert budget["webhooks_link_requests"] == budget["webhooks_downloads"] == stored
    assert 0 < budget["webhooks_requests_per_ended_session"] <= 4
    assert 0 < budget["webhooks_requests_per_ended_session_steady"] <= 4
    assert 0 <= budget["webhooks_artifact_lag_p50_s"] <= budget["webhooks_artifact_lag_p99_s"]
    assert budget["webhooks_lockouts"] == 0 and budget["webhooks_joins_served_pct"] == 100


def test_the_table_prints_each_figure_beside_its_floor_and_target_for_both_databases():
    from benchmarks.report import Result, Target, table

    def result(database, project, floor, limit):
        r = Result("reconcile", database, 10, 1, figures={"project_seconds": project, "floor_seconds": floor,
                                                           "ratio_to_floor": project / floor})
        r.targets = [Target("ratio_to_floor", "<=", limit)]
        r.floors = {"project_seconds": "floor_seconds"}
        return r

    lines = table([result("sqlite", 1.2, 1.0, 1.3), result("postgres", 1.5, 1.0, 1.2)]).splitlines()

    assert "| sqlite | sqlite floor | postgres | postgres floor |" in lines[0]
    assert "| reconcile (n=10) | project_seconds | 1.20 | 1.00 | 1.50 | 1.00 |  |  |" in lines
    assert "| reconcile (n=10) | ratio_to_floor | 1.20 |  | 1.50 |  | <= 1.30 / <= 1.20 | met / NOT MET |" in lines
