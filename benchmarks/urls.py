"""The benchmark site mounts the app's API (the join endpoint) and a bare DRF view.

The bare view has the join view's authentication and permission classes and the same URL
shape but does no work: what it costs is the framework's floor (test client, middleware,
session and user lookups, DRF dispatch, rendering), which no join endpoint can go below.
"""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from realtimekit_django.api.permissions import CanUseRealtimeKit


class BareView(APIView):
    permission_classes = [CanUseRealtimeKit]

    def post(self, request, meeting_id):
        return Response({"meeting_id": str(meeting_id)})


urlpatterns = [
    path("realtimekit/", include("realtimekit_django.api.urls")),
    path("bare/<uuid:meeting_id>/", BareView.as_view(), name="bare"),
    path("realtimekit/webhooks/", include("realtimekit_django.webhooks.urls")),
]
