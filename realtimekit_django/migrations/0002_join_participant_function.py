"""The PostgreSQL function a join reads its participant through, under the join's lock.

A join serialises on a transaction-scoped advisory lock per (meeting, person) and then looks
the participant up. Doing both in one plain ``SELECT`` would be wrong in READ COMMITTED: a
statement reads from the snapshot taken when it *started*, so a participant committed by the
join it waited for would be invisible and a second one would be added. A VOLATILE function
takes a fresh snapshot for each query in its body, so its second query, run once the lock is
held, sees what the previous holder committed. That is what lets the lock and the lookup cost
one round trip (``services.issue_join_token``).

Other databases have no advisory locks (joins rely on the unique constraint there): nothing
is created on them.
"""

from django.db import migrations

FUNCTION = "realtimekit_join_participant"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    participant = apps.get_model("realtimekit", "Participant")
    quote = schema_editor.quote_name
    table = quote(participant._meta.db_table)
    column = {f.name: quote(f.column) for f in participant._meta.concrete_fields}
    # $1 lock key, $2 meeting id, $3 custom participant id. The ORDER BY is the one
    # services._find_join_participant and services._join_queryset use. ROWS 1 (it returns at
    # most one) instead of the planner's default guess of 1000 for a set-returning function.
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}(lock_key bigint, meeting uuid, custom_id text)
        RETURNS SETOF {table} LANGUAGE sql VOLATILE ROWS 1 AS $body$
            SELECT pg_advisory_xact_lock($1);
            SELECT * FROM {table}
             WHERE {column["meeting"]} = $2 AND {column["custom_participant_id"]} = $3
             ORDER BY {column["remote_created_at"]}, {column["id"]}
             LIMIT 1;
        $body$
        """
    )


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(bigint, uuid, text)")


class Migration(migrations.Migration):
    dependencies = [
        ("realtimekit", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function, elidable=False),
    ]
