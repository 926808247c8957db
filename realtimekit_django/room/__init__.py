"""The meeting room: the page a person takes part from, with no token in it.

``views.meeting_room`` answers ``GET .../meetings/<id>/room/`` (URL name ``meeting-room``);
``context.room_context`` decides what the room shows for one person (the join endpoint's own
policy); ``kit`` resolves the UI kit's URLs and integrity hashes from the settings. The template
tag ``{% realtimekit_room meeting %}`` (library ``realtimekit``) renders the same room inside a
site's own page; ``static/realtimekit/room.js`` does the join in the browser.
"""
