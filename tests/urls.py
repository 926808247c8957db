from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
]

try:  # the API urls arrive with the views issue; the test site mounts them when present
    urlpatterns.append(path("realtimekit/", include("realtimekit_django.api.urls")))
except ImportError:  # pragma: no cover
    pass

urlpatterns.append(path("realtimekit/webhooks/", include("realtimekit_django.webhooks.urls")))
