"""WSGI entry point: the Django site, with the emulator mounted beside it when the demo uses it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402 - needs the settings module chosen above

if settings.DEMO_USES_EMULATOR:
    from .emulator_mount import EmulatorMount, demo_emulator

    application = EmulatorMount(application, demo_emulator(), prefix=settings.DEMO_EMULATOR_PREFIX)
