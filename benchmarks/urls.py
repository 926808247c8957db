"""The benchmark site mounts only the app's API (the join endpoint)."""

from django.urls import include, path

urlpatterns = [path("realtimekit/", include("realtimekit_django.api.urls"))]
