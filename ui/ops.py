"""``run_op``: the one way widgets start an async use case (STYLE.md §2).

It schedules the coroutine on the running (qasync) loop, shows busy state while
it runs, sends errors to the window's :class:`~ui.errors.ErrorPresenter` and
treats cancellation as a normal outcome (a closed dialog, a newer search).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from ui.errors import ErrorPresenter, log_text

log = logging.getLogger(__name__)
T = TypeVar("T")


class BusyTracker(QObject):
    """Counts running ops of one window so the status bar can say "Working…"."""

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("busyTracker")
        self.count = 0

    def enter(self) -> None:
        self.count += 1
        if self.count == 1:
            self.busy_changed.emit(True)

    def leave(self) -> None:
        self.count = max(0, self.count - 1)
        if self.count == 0:
            self.busy_changed.emit(False)


def _find_child(widget: QWidget | None, cls: type[QObject]) -> Any:
    # Walk up from the widget so a dialog parented to the main window finds
    # the window's presenter instead of needing one of its own.
    while widget is not None:
        found = widget.findChild(cls, options=Qt.FindChildOption.FindDirectChildrenOnly)
        if found is not None:
            return found
        widget = widget.parentWidget()
    return None


def find_presenter(widget: QWidget | None) -> ErrorPresenter | None:
    found: ErrorPresenter | None = _find_child(widget, ErrorPresenter)
    return found


def run_op(
    parent: QWidget,
    coro: Coroutine[Any, Any, T],
    *,
    busy: bool = True,
    context: str = "",
    on_done: Callable[[T], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> asyncio.Task[T]:
    """Run ``coro`` as a task; errors go to ``on_error`` or else the presenter.

    The returned task never leaves an unretrieved exception behind, so callers
    may await it (and see the exception) or simply drop it.
    """
    task: asyncio.Task[T] = asyncio.ensure_future(coro)
    tracker: BusyTracker | None = _find_child(parent, BusyTracker) if busy else None
    if busy:
        QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        if tracker is not None:
            tracker.enter()

    def _finished(done: asyncio.Task[T]) -> None:
        if busy:
            QGuiApplication.restoreOverrideCursor()
            if tracker is not None and isValid(tracker):
                tracker.leave()
        if done.cancelled():
            return
        exc = done.exception()
        if exc is None:
            if on_done is not None:
                on_done(done.result())
            return
        if on_error is not None:
            on_error(exc)
            return
        # The widget may have been closed and deleted while its operation ran.
        presenter = find_presenter(parent) if isValid(parent) else None
        if presenter is not None:
            presenter.present(exc, context=context)
        else:
            log.error("%s failed without a presenter: %s", context or "operation", log_text(exc))

    task.add_done_callback(_finished)
    return task
