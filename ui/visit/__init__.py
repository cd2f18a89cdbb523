"""The video visit window and its parts; each renders an :class:`app.visit.Visit`."""
