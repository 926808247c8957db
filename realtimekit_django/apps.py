from django.apps import AppConfig


class RealtimeKitConfig(AppConfig):
    """App config: label ``realtimekit``; registers the system checks and signal wiring."""

    name = "realtimekit_django"
    label = "realtimekit"
    verbose_name = "RealtimeKit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .sync import receivers  # noqa: F401  (sync listens to what the services send)
