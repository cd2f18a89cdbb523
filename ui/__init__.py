"""Every QWidget of the console (DESIGN.md §2): the only package that imports Qt.

Widgets take a service or model and subscribe to its events (``_on_<event>``
handlers); they never reach into storage except through the port passed in.
"""
