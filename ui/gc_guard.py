"""Python's cyclic garbage collector, run on the GUI thread only.

An automatic collection runs in whichever thread happens to allocate: the store's
worker, an executor, an audio callback. When it frees a cycle that holds a QObject
with a running timer (a widget, a window), Qt destroys the object on that thread,
cannot stop its timers there ("QObject::~QObject: Timers cannot be stopped from
another thread") and later fires a timer at freed memory: the console crashes.
So automatic collection is switched off and the GUI thread collects, by the same
thresholds, from a timer. Reference counting still frees everything else at once.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self.setObjectName("gcOnTheGuiThread")
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_if_due)
        self._timer.start()

    def collect_if_due(self) -> int:
        """Collect the generations whose thresholds were passed; the objects freed."""
        counts = gc.get_count()
        if counts[0] <= self._thresholds[0]:
            return 0
        generation = 0
        if counts[1] > self._thresholds[1]:
            generation = 2 if counts[2] > self._thresholds[2] else 1
        return gc.collect(generation)

    def stop(self) -> None:
        """Collect everything here, then give collection back to Python."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()


__all__ = ["GuiThreadCollector"]
