"""Mount with ``path("realtimekit/", include("realtimekit_django.api.urls"))``.

URL names (namespace ``realtimekit``): ``meeting-list``, ``meeting-detail``, ``meeting-join``, ``meeting-attendance``.
"""

from django.urls import path

from . import views

app_name = "realtimekit"

urlpatterns = [
    path("meetings/", views.MeetingListView.as_view(), name="meeting-list"),
    path("meetings/<uuid:meeting_id>/", views.MeetingDetailView.as_view(), name="meeting-detail"),
    path("meetings/<uuid:meeting_id>/join/", views.JoinMeetingView.as_view(), name="meeting-join"),
    path(
        "meetings/<uuid:meeting_id>/attendance/", views.MeetingAttendanceView.as_view(), name="meeting-attendance"
    ),
]
