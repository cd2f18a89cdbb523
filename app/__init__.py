"""Clinician Console: the application core (records, use cases, ports, settings).

Pure Python with no I/O of its own; adapters live in ``storage``, ``media``,
``plugins`` and ``ui``. ``app.main`` and ``app.cli`` are the composition root.
"""

__version__ = "0.1.0"
