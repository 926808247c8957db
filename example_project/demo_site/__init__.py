"""A small Django site that uses realtimekit_django: the demo, and the site the browser tests drive."""

from .celery import app as celery_app

__all__ = ["celery_app"]
