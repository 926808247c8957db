"""The reliability suite: faults, moving listings, concurrency, bad input, secrets and access.

Each test records what it tried and what it measured (rows lost, duplicates, 500s, leaks) with
the ``reliability`` fixture; with ``REALTIMEKIT_WRITE_RELIABILITY_REPORT=1`` the run merges its
rows into ``docs/reliability.json`` and renders ``docs/reliability.md`` from it (see
``collector.py``), so the published table is whatever the suite last measured.
"""
