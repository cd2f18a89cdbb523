"""Stethoscope DSP: filters, heart rate, synthetic sounds, capture, recordings, tracks.

Qt-free and free of module-level scipy/av imports (they load inside functions), so
importing this package stays cheap. docs/stethoscope.md explains the choices.
"""
