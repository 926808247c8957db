"""``{% load realtimekit %}{% realtimekit_room meeting %}``: the meeting room inside a site's page.

The same room as the ``meeting-room`` page (``realtimekit/room_embed.html``), decided for the
page's ``request.user``. The page that uses it should be ``never_cache`` like the room page: it
holds no token, but it does hold the CSRF token the module posts with.
"""

from django import template

from ..room.context import room_context

register = template.Library()


@register.inclusion_tag("realtimekit/room_embed.html", takes_context=True)
def realtimekit_room(context, meeting, load_kit=True, back_url=None):
    request = context["request"]
    return {"request": request, **room_context(request, meeting, load_kit=load_kit, back_url=back_url)}
