"""The benchmarks' Celery app, configured from Django settings the way a site's ``celery.py`` is.

Importing it makes it Celery's current app, so the package's ``shared_task`` tasks run eagerly
(``CELERY_TASK_ALWAYS_EAGER`` in :mod:`benchmarks.settings`): no broker, no worker, and the
participant fan-out of ``reconcile_all`` runs inline in the timed region.
"""

from celery import Celery

app = Celery("realtimekit_benchmarks")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["realtimekit_django"])
app.set_current()
