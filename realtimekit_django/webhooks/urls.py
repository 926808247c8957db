"""Mount with ``path("realtimekit/webhooks/", include("realtimekit_django.webhooks.urls"))``:
the receiver answers at the include's root. Importing this checks that ``cryptography`` (the
``webhooks`` extra) is installed, so a missing extra fails ``manage.py check``, not a delivery."""

from django.urls import path

from . import views
from .verify import require_cryptography

require_cryptography()

app_name = "realtimekit_webhooks"

urlpatterns = [path("", views.receive, name="receive")]
