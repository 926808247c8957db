"""The demo's Celery app.

Eager by default (tasks run inside the web request, no broker needed). Set
``REALTIMEKIT_DEMO_CELERY_BROKER=redis://127.0.0.1:6379/0`` to send them to a real worker:
``cd example_project && celery -A demo_site worker -B -l info``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

app = Celery("demo_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
