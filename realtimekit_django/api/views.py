"""Join tokens and the meetings a user may join, over DRF.

The join view is a thin shell around :func:`realtimekit_django.services.issue_join_token`: the
service decides the preset (from the site's policy, never from the request) and refuses
inactive meetings before any HTTP call. This module only maps outcomes to status codes and
makes sure no upstream detail that could carry a secret reaches the browser.

The view docstrings are what DRF's browsable API shows on each endpoint's page, so they are
plain sentences for the people who call the endpoints, with no reStructuredText markup.
"""

from __future__ import annotations

import inspect
import logging
import math

from django.http import Http404
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from rest_framework import generics, status
from rest_framework.exceptions import APIException
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..exceptions import JoinRefused, MeetingInactive, RateLimited, RealtimeKitError, Timeout, TransportError
from ..models import Meeting
from .permissions import CanUseRealtimeKit, CanViewAttendance, candidate_meetings, may_see, visible_meetings
from .serializers import JoinRequestSerializer, JoinTokenSerializer, MeetingSerializer
from .throttling import JoinRateThrottle

logger = logging.getLogger("realtimekit_django.api")

#: The one 404 body, whether the meeting is unknown or hidden from this user (existence is not revealed).
NO_SUCH_MEETING = _("No such meeting.")

#: Retry-After announced when RealtimeKit rate-limited us without saying for how long.
DEFAULT_RETRY_AFTER = 30


class UpstreamError(APIException):
    """RealtimeKit failed; the detail is a fixed sentence, never the upstream message."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = _("RealtimeKit could not issue a token. Please try again later.")
    default_code = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("RealtimeKit is unavailable right now. Please try again shortly.")
    default_code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = _("RealtimeKit did not answer in time. Please try again shortly.")
    default_code = "upstream_timeout"


class MeetingNotJoinable(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This meeting is inactive: nobody can join it until it is activated again.")
    default_code = "meeting_inactive"


class JoinForbidden(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("You may not join this meeting.")
    default_code = "join_refused"


class ReadableDescription:
    """The docstring as the browsable API's description: one paragraph per blank-line-separated
    block, its wrapped lines joined (DRF would break each line with ``<br>``)."""

    def get_view_description(self, html: bool = False) -> str:
        paragraphs = [
            " ".join(block.split()) for block in inspect.cleandoc(type(self).__doc__ or "").split("\n\n")
        ]
        if not html:
            return "\n\n".join(paragraphs)
        return format_html_join("", "<p>{}</p>", ((paragraph,) for paragraph in paragraphs if paragraph))


class MeetingPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


class MeetingListView(ReadableDescription, generics.ListAPIView):
    """The meetings you may join, 50 to a page (page_size= asks for up to 100).

    Only meetings of this site's RealtimeKit app that still exist remotely, and only those the
    site's preset policy lets you join. Join one with POST to its join URL.
    """

    serializer_class = MeetingSerializer
    permission_classes = [CanUseRealtimeKit]
    pagination_class = MeetingPagination

    def get_queryset(self):
        return visible_meetings(self.request.user)


class MeetingDetailView(ReadableDescription, generics.RetrieveAPIView):
    """One meeting you may join.

    Answers 404 both for a meeting that does not exist and for one you may not join, so this
    page never tells whether a meeting you cannot join exists.
    """

    serializer_class = MeetingSerializer
    permission_classes = [CanUseRealtimeKit]
    lookup_url_kwarg = "meeting_id"

    def get_object(self):
        meeting = candidate_meetings().filter(pk=self.kwargs["meeting_id"]).first()
        if meeting is None or not may_see(self.request.user, meeting):
            raise Http404(NO_SUCH_MEETING)
        return meeting


class JoinMeetingView(ReadableDescription, APIView):
    """Join this meeting: POST (with no body) to get a join token for yourself.

    The answer (200) has token, participant_id, meeting_id, preset_name and expires_at; hand
    the token to RealtimeKit's meeting UI and do not log or store it. The site's policy picks
    your preset, whatever the request says.

    When the meeting UI refuses the token you were given, POST {"refresh": true} to get a
    fresh one: a token the site kept for you is dropped first and never handed out again.

    Errors: 400 for a body that is not a JSON object or a refresh that is not a boolean; 403
    when the site's policy does not let you join; 404 for a meeting that does not exist; 409
    when the meeting is inactive; 429 when you join too often; 502, 503 or 504 when
    RealtimeKit fails (503 says in Retry-After when to try again). No answer is cached.
    """

    permission_classes = [CanUseRealtimeKit]
    throttle_classes = [JoinRateThrottle]

    def post(self, request, meeting_id):
        body = JoinRequestSerializer(data=request.data if request.data is not None else {})
        body.is_valid(raise_exception=True)
        try:
            # The meeting and the user's participant come in one query, from this app's meetings
            # that still exist remotely (candidate_meetings): a join elsewhere can only fail.
            issued = services.issue_join_token(
                meeting_id, request.user, refresh=body.validated_data["refresh"]
            )
        except Meeting.DoesNotExist:
            raise Http404(NO_SUCH_MEETING)
        except MeetingInactive:
            raise MeetingNotJoinable()
        except JoinRefused:
            raise JoinForbidden()
        except RealtimeKitError as exc:
            raise _upstream_failure(exc, meeting_id)
        return Response(JoinTokenSerializer(issued).data)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
        return response


def _upstream_failure(exc: RealtimeKitError, meeting_id) -> UpstreamError:
    """The API exception for a failed RealtimeKit call, after logging what ops need to know.

    The log line names the error class, status and code; ``str(exc)`` carries only the method,
    path and the API's message (never headers, so never the API token), and no token is in scope.
    """
    logger.warning("join to meeting %s failed upstream: %s: %s", meeting_id, type(exc).__name__, exc)
    if isinstance(exc, RateLimited):
        error = UpstreamUnavailable(_("RealtimeKit is rate limiting this site. Please try again shortly."))
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER
        error.wait = max(1, math.ceil(wait))
        return error
    if isinstance(exc, Timeout):
        return UpstreamTimeout()
    if isinstance(exc, TransportError):
        return UpstreamUnavailable()
    return UpstreamError()


class MeetingAttendanceView(ReadableDescription, APIView):
    """Who attended this meeting, one entry per person over all its sessions: first join,
    last leave, total minutes (rejoins and overlapping connections merged) and number of
    joins. The API's own times are used once the sessions sync has read them.

    Staff with the permission to view session participants only."""

    permission_classes = [CanViewAttendance]

    def get(self, request, meeting_id):
        meeting = candidate_meetings().filter(pk=meeting_id).first()
        if meeting is None:
            raise Http404(NO_SUCH_MEETING)
        from ..models import SessionParticipant

        people = SessionParticipant.objects.attendance_for(meeting)
        return Response(
            {
                "meeting_id": str(meeting.pk),
                "final": not meeting.sessions.filter(api_confirmed_end_at__isnull=True).exists(),
                "attendees": [
                    {
                        "user_id": person.user_id,
                        "participant_id": None if person.participant_id is None else str(person.participant_id),
                        "custom_participant_id": person.custom_participant_id,
                        "display_name": person.display_name,
                        "first_join": person.first_join,
                        "last_leave": person.last_leave,
                        "minutes": person.minutes,
                        "joins": person.joins,
                    }
                    for person in people
                ],
            }
        )
