"""Benchmarks for realtimekit-django: ``python -m benchmarks --help``.

Every figure is measured side by side in one process (the project against a floor and a naive
way, alternating, medians of several rounds), never as a lone absolute time: absolute times say
more about the machine than about the code. See docs/benchmarks.md.
"""
