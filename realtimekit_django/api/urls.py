"""Mount with ``path("realtimekit/", include("realtimekit_django.api.urls"))``.

URL names (namespace ``realtimekit``): ``meeting-list``, ``meeting-detail``, ``meeting-join``, ``meeting-room``
(the room page, :mod:`realtimekit_django.room`), ``meeting-present`` (who is in now, for the room
on the emulator), ``meeting-attendance``.
"""

from django.urls import path

from ..room.presence import meeting_present
from ..room.views import meeting_room
from . import views

app_name = "realtimekit"

urlpatterns = [
    path("meetings/", views.MeetingListView.as_view(), name="meeting-list"),
    path("meetings/<uuid:meeting_id>/", views.MeetingDetailView.as_view(), name="meeting-detail"),
    path("meetings/<uuid:meeting_id>/join/", views.JoinMeetingView.as_view(), name="meeting-join"),
    path("meetings/<uuid:meeting_id>/room/", meeting_room, name="meeting-room"),
    path("meetings/<uuid:meeting_id>/present/", meeting_present, name="meeting-present"),
    path(
        "meetings/<uuid:meeting_id>/attendance/", views.MeetingAttendanceView.as_view(), name="meeting-attendance"
    ),
]
