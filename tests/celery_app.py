"""The test suite's Celery app, configured from Django settings like a site's ``celery.py``.

Importing it makes it Celery's current app, so the package's ``shared_task`` tasks run eagerly
under ``tests.settings`` (``CELERY_TASK_ALWAYS_EAGER``). The ``celery_worker`` tests start a real
worker on it: ``celery -A tests.celery_app worker`` with ``DJANGO_SETTINGS_MODULE`` set to
``tests.celery_settings_postgres``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("realtimekit_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["realtimekit_django"])
