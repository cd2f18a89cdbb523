"""The built-in digital stethoscope plugin (loaded through its entry point, never imported
directly by the console). ``plugin.py`` is the Qt-free model, ``_qt.py`` the panel."""
