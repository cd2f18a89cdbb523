"""Windows that fit the screen they open on, and come back the way they were left.

A clinic's screens run from a 1366x768 cart to 4K workstations at 200 % scaling:
a window's preferred size is only a wish. :func:`fit` bounds it by the screen's
*available* geometry (taskbars and docks excluded) and centres it there;
:func:`remember` restores the size, position and maximised state a window had
when it was last closed (from an INI file in the profile, set by the composition
root with :func:`set_state_file`), and refits it when the saved geometry no
longer fits (a laptop that was docked to a bigger screen).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

# Room kept for the window manager's title bar and borders, which Qt's size excludes.
FRAME_MARGIN_PX = 8
TITLE_BAR_PX = 32

_state: dict[str, Path] = {}


def set_state_file(path: Path | None) -> None:
    """Where window states are kept (``<profile>/window-state.ini``); None: not kept."""
    if path is None:
        _state.pop("file", None)
    else:
        _state["file"] = path


def state_file() -> Path | None:
    return _state.get("file")


def _settings() -> QSettings | None:
    path = state_file()
    return None if path is None else QSettings(str(path), QSettings.Format.IniFormat)


def recall(key: str) -> str:
    """A small UI memory kept beside the window states (the Join dialog's name and last
    server); "" when unknown. Never used for secrets or patient data."""
    settings = _settings()
    value = settings.value(key, "") if settings is not None else ""
    return value if isinstance(value, str) else ""


def keep(key: str, value: str) -> None:
    settings = _settings()
    if settings is not None:
        settings.setValue(key, value)
        settings.sync()


def screen_of(widget: QWidget) -> QScreen | None:
    parent = widget.parentWidget()
    screen = (parent.window().screen() if parent is not None else None) or widget.screen()
    return screen or QGuiApplication.primaryScreen()


def available(widget: QWidget) -> QRect:
    screen = screen_of(widget)
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 800)


def fitted_size(preferred: QSize, room: QRect) -> QSize:
    """``preferred``, shrunk to what fits in ``room`` with the window frame around it."""
    width = min(preferred.width(), room.width() - 2 * FRAME_MARGIN_PX)
    height = min(preferred.height(), room.height() - TITLE_BAR_PX - FRAME_MARGIN_PX)
    return QSize(max(width, 200), max(height, 150))


def fit(widget: QWidget, preferred: QSize) -> None:
    """Size ``widget`` to ``preferred`` or less, centred on its screen's free area."""
    room = available(widget)
    size = fitted_size(preferred, room)
    # A minimum larger than the screen would push controls off it; the layouts
    # below scroll or squeeze instead.
    minimum = widget.minimumSize()
    if minimum.width() > size.width() or minimum.height() > size.height():
        widget.setMinimumSize(
            min(minimum.width(), size.width()), min(minimum.height(), size.height())
        )
    widget.resize(size)
    x = room.x() + max(0, (room.width() - size.width()) // 2)
    y = room.y() + max(0, (room.height() - size.height() - TITLE_BAR_PX) // 2)
    widget.move(x, y)


def _frame_estimate(widget: QWidget) -> QRect:
    """The window with its frame: Qt knows the frame only once the window is shown."""
    if widget.isVisible():
        return widget.frameGeometry()
    margin = FRAME_MARGIN_PX // 2
    return widget.geometry().adjusted(-margin, -TITLE_BAR_PX, margin, margin)


def inside(rect: QRect, room: QRect) -> bool:
    return room.contains(rect.topLeft()) and room.contains(rect.bottomRight())


class _StateKeeper(QObject):
    """Saves a window's geometry and maximised state when it is hidden or closed."""

    def __init__(self, widget: QWidget, key: str) -> None:
        super().__init__(widget)
        self._widget = widget
        self._key = key
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if watched is self._widget and event.type() in (QEvent.Type.Close, QEvent.Type.Hide):
            save(self._widget, self._key)
        return False


def save(widget: QWidget, key: str) -> None:
    settings = _settings()
    if settings is None:
        return
    settings.setValue(f"{key}/geometry", widget.saveGeometry())
    settings.setValue(f"{key}/maximized", widget.isMaximized())
    settings.sync()


def remember(widget: QWidget, key: str, preferred: QSize) -> None:
    """Fit ``widget`` (see :func:`fit`), then restore its last state if that still fits."""
    fit(widget, preferred)
    settings = _settings()
    if settings is not None:
        raw = settings.value(f"{key}/geometry")
        restored = isinstance(raw, QByteArray | bytes) and widget.restoreGeometry(QByteArray(raw))
        if restored and not inside(_frame_estimate(widget), available(widget)):
            fit(widget, widget.size())
        if str(settings.value(f"{key}/maximized", "false")).lower() == "true":
            widget.setWindowState(widget.windowState() | Qt.WindowState.WindowMaximized)
    _StateKeeper(widget, key)


def _maximized():
    from PySide6.QtCore import Qt

    return Qt.WindowState.WindowMaximized


def offscreen_controls(window: QWidget) -> list[str]:
    """Names of visible controls of ``window`` that a user cannot reach: outside its
    screen's free area, or cut off by their parents (for tests and screenshots)."""
    room = available(window)
    out: list[str] = []
    if window.isWindow() and not inside(window.frameGeometry(), room):
        out.append(f"{type(window).__name__}#{window.objectName()}")
    for child in window.findChildren(QWidget):
        if not child.isVisible() or child.width() == 0 or child.height() == 0:
            continue
        if not _interactive(child):
            continue
        shown = _shown_rect(child)
        if shown is None or (not shown.isEmpty() and not inside(shown, room)):
            name = child.objectName() or child.accessibleName() or getattr(child, "text", str)()
            out.append(f"{type(child).__name__}#{name}")
    return out


def _interactive(widget: QWidget) -> bool:
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

    return isinstance(widget, QAbstractButton | QComboBox | QLineEdit | QAbstractSpinBox)


def _global(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(widget.rect().topLeft()), widget.size())


def _shown_rect(widget: QWidget) -> QRect | None:
    """The part of ``widget`` on screen, or None when a parent cuts it off. In a scroll
    area a row scrolled out of view vertically is reachable (an empty rect: scrolling
    shows it); one cut off at the side is not (nobody scrolls sideways for a button)."""
    from PySide6.QtWidgets import QAbstractScrollArea

    rect = _global(widget)
    parent = widget.parentWidget()
    while parent is not None and not parent.isWindow():
        prect = _global(parent).adjusted(-1, -1, 1, 1)
        if isinstance(parent.parentWidget(), QAbstractScrollArea):  # its viewport
            if rect.left() < prect.left() or rect.right() > prect.right():
                return None
            rect = rect.intersected(prect)
            if rect.isEmpty():
                return QRect()
        elif not inside(rect, prect):
            return None
        parent = parent.parentWidget()
    return rect


def _visible_in_parents(widget: QWidget) -> bool:
    return _shown_rect(widget) is not None
