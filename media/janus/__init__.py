"""A Janus WebRTC Server client (WebSocket API) and its VideoRoom plugin.

:mod:`media.janus.client` speaks the Janus protocol (sessions, handles,
transactions, keepalives, events); :mod:`media.janus.videoroom` wraps the
VideoRoom requests the visit needs. Every incoming message is validated; what
does not fit the protocol raises :class:`app.errors.VisitProtocolError`.
"""
