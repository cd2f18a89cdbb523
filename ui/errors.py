"""One error presenter per window, and the process-wide exception handler.

Everything the user sees about an error comes from ``ConsoleError.user_message()``
(message key + non-identifying params) or from a fixed generic sentence, so no
patient data reaches the screen, the log or a crash report by way of ``str(exc)``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.errors import ConsoleError
from app.logging_setup import safe_exception_text
from app.logging_setup import scrub as scrub_identifiers

log = logging.getLogger(__name__)

GENERIC_MESSAGE = QCoreApplication.translate(
    "errors", "Something went wrong ({kind}). Your work is kept; details were written to the log."
)

# Warning texts often embed values as reprs ('...' or "..."); those are the
# places patient text would show up, so they are blanked before logging.
_QUOTED = re.compile(r"(['\"]).*?\1", re.DOTALL)


def scrub(text: str) -> str:
    return scrub_identifiers(_QUOTED.sub("'…'", text))


def user_text(exc: BaseException) -> str:
    """What the user is told about ``exc``; safe by construction."""
    if isinstance(exc, ConsoleError):
        from ui import i18n  # the message key, in the user's language

        return i18n.error_text(exc)
    return GENERIC_MESSAGE.format(kind=type(exc).__name__)


def log_text(exc: BaseException, tb: TracebackType | None = None) -> str:
    """Frames and exception types, but library messages withheld (app.logging_setup)."""
    return safe_exception_text(type(exc), exc, tb if tb is not None else exc.__traceback__)


class QtNoticeBar(QFrame):
    """A dismissable, non-modal banner at the top of the window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setProperty("level", "error")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setObjectName("noticeText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton(QCoreApplication.translate("QtNoticeBar", "Dismiss"), self)
        close.setObjectName("noticeDismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.label.setText(text)
        if self.property("level") != level:
            self.setProperty("level", level)
            # Qt re-applies property selectors only after an unpolish/polish.
            self.style().unpolish(self)
            self.style().polish(self)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text()


class ErrorPresenter(QObject):
    """Where ``run_op`` and the exception handler send errors (one per window).

    ``notice`` is a queued-safe Qt signal, so reports from worker threads are
    shown on the GUI thread.
    """

    notice = Signal(str, str)  # text, level

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorPresenter")
        self.last_message: str = ""

    def present(self, exc: BaseException, *, context: str = "") -> None:
        if isinstance(exc, ConsoleError):
            log.warning(
                "%s failed: %s",
                context or "operation",
                log_text(exc),
            )
        else:
            log.error("%s failed: %s", context or "operation", log_text(exc))
        self.show_text(user_text(exc))

    def show_text(self, text: str, level: str = "error") -> None:
        self.last_message = text
        self.notice.emit(text, level)


class ExceptionHandler:
    """Owns sys.excepthook, threading.excepthook and warnings.showwarning.

    qasync hands exceptions escaping an ``@asyncSlot`` to ``sys.excepthook``
    (STYLE.md §3), so this one object sees every unhandled error, logs it
    scrubbed and shows a non-modal notice instead of killing the console.
    """

    def __init__(self, presenter: Callable[[], ErrorPresenter | None]) -> None:
        self._presenter = presenter
        self._saved: tuple[Any, Any, Any] | None = None

    def install(self) -> None:
        self._saved = (sys.excepthook, threading.excepthook, warnings.showwarning)
        sys.excepthook = self._on_exception
        threading.excepthook = self._on_thread_exception
        warnings.showwarning = self._on_warning

    def uninstall(self) -> None:
        if self._saved is not None:
            sys.excepthook, threading.excepthook, warnings.showwarning = self._saved
            self._saved = None

    def _notify(self, exc: BaseException) -> None:
        presenter = self._presenter()
        if presenter is not None:
            presenter.show_text(user_text(exc))

    def _on_exception(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            if self._saved is not None:
                self._saved[0](exc_type, exc, tb)
            return
        log.error("Unhandled exception: %s", log_text(exc, tb))
        self._notify(exc)

    def on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's exception handler: a task failed and nobody awaited it."""
        exc = context.get("exception")
        if not isinstance(exc, BaseException):
            # asyncio's own messages ("Unclosed ...", slow callbacks) carry no record data.
            log.warning(
                "asyncio: %s",
                scrub(str(context.get("message", ""))),
            )
            return
        log.error("Unhandled exception in a task: %s", log_text(exc))
        self._notify(exc)

    def _on_thread_exception(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error("Unhandled exception in thread %s: %s", name, log_text(args.exc_value))
        self._notify(args.exc_value)

    def _on_warning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        log.warning(
            "%s at %s:%d: %s",
            category.__name__,
            filename,
            lineno,
            scrub(str(message)),
        )
