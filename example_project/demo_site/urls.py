from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.meetings, name="meetings"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("realtimekit/webhooks/", include("realtimekit_django.webhooks.urls")),
    path("realtimekit/", include("realtimekit_django.api.urls")),
    path("demo/meetings/<uuid:meeting_id>/", views.meeting, name="meeting"),
    path("demo/meetings/<uuid:meeting_id>/people-move/", views.people_move, name="people-move"),
    path("demo/meetings/<uuid:meeting_id>/end/", views.end_meeting, name="end-meeting"),
]
