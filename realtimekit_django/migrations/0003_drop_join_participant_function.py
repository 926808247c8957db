"""Drop ``realtimekit_join_participant`` (created by 0002 on PostgreSQL).

Joins now take their advisory lock as a statement of its own and read the participant with
the ORM afterwards (``store.join_lock``), so the function is no longer used. 0002 stays so that
existing sites migrate forward; migrating back to 0002 creates the function again.
"""

import importlib

from django.db import migrations

# A module whose name starts with a digit is imported by name.
previous = importlib.import_module("realtimekit_django.migrations.0002_join_participant_function")
drop_function = previous.drop_function
create_function = previous.create_function


class Migration(migrations.Migration):
    dependencies = [
        ("realtimekit", "0002_join_participant_function"),
    ]

    operations = [
        migrations.RunPython(drop_function, create_function, elidable=True),
    ]
