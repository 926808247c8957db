"""A database of the run's own, made before Django starts and removed when the run ends.

SQLite: a file in a temporary directory (``:memory:`` would hide the cost of committing).
PostgreSQL: a database ``realtimekit_bench_<pid>`` created on the server through the ``test``
database (trust auth, as in CI) and dropped afterwards, so runs never share or leave tables.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

PG_MAINTENANCE_DB = "test"


def _pg_connect():
    import psycopg

    return psycopg.connect(
        host=os.environ.get("REALTIMEKIT_BENCH_PG_HOST", "127.0.0.1"),
        port=os.environ.get("REALTIMEKIT_BENCH_PG_PORT", "5432"),
        user=os.environ.get("REALTIMEKIT_BENCH_PG_USER", "postgres"),
        password=os.environ.get("REALTIMEKIT_BENCH_PG_PASSWORD", ""),
        dbname=os.environ.get("REALTIMEKIT_BENCH_PG_MAINTENANCE_DB", PG_MAINTENANCE_DB),
        autocommit=True,
    )


@contextmanager
def bench_database(engine: str):
    """Create the run's database, point the benchmark settings at it, and remove it at the end.

    Must be entered before ``django.setup()``: the settings module reads the environment.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["REALTIMEKIT_BENCH_DATABASE"] = engine
    if engine == "sqlite":
        directory = tempfile.mkdtemp(prefix="realtimekit-bench-")
        os.environ["REALTIMEKIT_BENCH_DB_NAME"] = os.path.join(directory, "bench.sqlite3")
        try:
            yield os.environ["REALTIMEKIT_BENCH_DB_NAME"]
        finally:
            _close_django_connections()
            shutil.rmtree(directory, ignore_errors=True)
        return
    if engine != "postgres":
        raise ValueError(f"unknown database {engine!r}: use sqlite or postgres")
    name = f"realtimekit_bench_{os.getpid()}"
    with _pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["REALTIMEKIT_BENCH_DB_NAME"] = name
    try:
        yield name
    finally:
        _close_django_connections()
        with _pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _close_django_connections() -> None:
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may never have started; nothing to close then
        pass


def migrate() -> None:
    """Create the tables (quietly) in the run's database."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def reset_tables() -> None:
    """Empty the mirrored tables between rounds, so every variant starts from the same state."""
    from django.db import connection, transaction

    from realtimekit_django.models import Meeting, Participant, Session, SessionArtifact, SessionParticipant

    # Sessions name their meeting without a constraint: on SQLite nothing cascades to them, and a
    # variant would count the previous one's sessions and artifacts as its own (issue 27.7).
    models = (SessionArtifact, SessionParticipant, Session, Participant, Meeting)
    tables = [connection.ops.quote_name(model._meta.db_table) for model in models]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")  # recordings, sessions refer to them
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
