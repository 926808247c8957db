"""The HTTP face of the app for a site's own users: join tokens and the meetings they may join.

Mount it with ``path("realtimekit/", include("realtimekit_django.api.urls"))``. The views only
translate HTTP to :mod:`realtimekit_django.services` calls and errors to status codes; every
decision (who may join, with which preset) stays in the services and the site's policy.
"""
