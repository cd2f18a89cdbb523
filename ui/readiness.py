"""Tell a waiting process that the console is usable (bench.startup's finish line).

When ``CLINICIAN_CONSOLE_READY_FD`` names an inherited pipe, the first call writes one
line to it and closes it; without the variable nothing happens. Only the worklist
calls it, after its rows have been laid out and the event loop has come round once,
so the time measured is the time until a clinician can pick a visit.
"""

from __future__ import annotations

import contextlib
import os

READY_FD_ENV = "CLINICIAN_CONSOLE_READY_FD"


def report_ready() -> None:
    value = os.environ.pop(READY_FD_ENV, None)
    if value is None or not value.isdigit():
        return
    fd = int(value)
    # A reader that went away must not take the console down with it.
    with contextlib.suppress(OSError):
        os.write(fd, b"ready\n")
    with contextlib.suppress(OSError):
        os.close(fd)
