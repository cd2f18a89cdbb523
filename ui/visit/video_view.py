"""QtVideoView: one participant's video, painted from the visit's latest frame.

The media side replaces ``Visit._frames[pid]`` as frames are decoded; this view
polls ``visit.latest_frame(pid)`` on a timer at the screen's refresh rate and
repaints only when the frame object changed. Frames that arrive between two
ticks are simply never painted (STYLE.md §3: keep the latest, drop the rest),
so a slow paint can never build up a queue or add latency.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QPoint, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHideEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QShowEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.visit import Visit

BACKGROUND = QColor("#0b1217")
PLACEHOLDER_BG = QColor("#1c2b36")
AVATAR_BG = QColor("#2f4858")
LABEL_BG = QColor(11, 18, 23, 190)
LABEL_TEXT = QColor("#ffffff")
MUTED_TEXT = QColor("#c3ccd5")
CAMERA_OFF_TEXT = QCoreApplication.translate("video_view", "Camera off")
NO_VIDEO_YET_TEXT = QCoreApplication.translate("video_view", "Waiting for video…")
DEFAULT_REFRESH_HZ = 60.0
LOCAL_FRAME_KEY = "local"

#: ``observer(view, frame)``: called at the end of each paint that drew ``frame`` (the
#: object ``visit.latest_frame`` returned); ``view.video_rect`` is where it was drawn.
PaintObserver = Callable[["QtVideoView", Any], None]


def frame_to_image(frame: Any) -> tuple[QImage, Any] | None:
    """Wrap an RGB24 ``H x W x 3`` uint8 array as a QImage (no copy when contiguous).

    Returns the image and the array it points into: the caller keeps that array
    alive as long as it uses the image (QImage does not own the memory).
    """
    shape = getattr(frame, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3 or str(frame.dtype) != "uint8":
        return None
    height, width = int(shape[0]), int(shape[1])
    if width <= 0 or height <= 0:
        return None
    if not frame.flags["C_CONTIGUOUS"]:
        frame = frame.copy()
    image = QImage(frame.data, width, height, frame.strides[0], QImage.Format.Format_RGB888)
    return image, frame


def fit_rect(frame_w: int, frame_h: int, area: QRect) -> QRect:
    """The largest rectangle with the frame's aspect ratio centred in ``area``."""
    if frame_w <= 0 or frame_h <= 0 or area.isEmpty():
        return QRect(area)
    scale = min(area.width() / frame_w, area.height() / frame_h)
    w, h = round(frame_w * scale), round(frame_h * scale)
    return QRect(area.x() + (area.width() - w) // 2, area.y() + (area.height() - h) // 2, w, h)


class QtVideoView(QWidget):
    """Paints ``visit.latest_frame(participant_id)``, aspect-fit, with a name label.

    With the camera off (or no frame yet) it shows a placeholder: the first
    letter of the name in a circle and a short caption.
    """

    def __init__(
        self,
        visit: Visit,
        participant_id: str = "",
        name: str = "",
        *,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("videoView")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self._visit = visit
        self.participant_id = participant_id
        self.name = name
        self.camera_off = False
        self.badge = ""  # e.g. "Muted", drawn next to the name
        self._frame: Any = None  # the last frame picked up (identity tells a new one)
        self._backing: Any = None  # the array _image points into: kept alive on purpose
        self._image: QImage | None = None
        self.frames_shown = 0  # distinct frames picked up by the timer (tests, diagnostics)
        # Glass-to-glass measurement (bench.glass_to_glass): None costs one attribute test
        # per paint. The observer runs inside paintEvent, after the painter ended, so the
        # window's backing store already holds the pixels it painted.
        self.paint_observer: PaintObserver | None = None
        self.video_rect = QRect()  # where the last painted frame went, widget coordinates
        self._pick_up_queued = False
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_tick)
        self._timer.setInterval(self._tick_ms())

    # -- model -------------------------------------------------------------
    def set_participant(self, participant_id: str, name: str) -> None:
        if participant_id != self.participant_id:
            self._frame = self._backing = None
            self._image = None
        self.participant_id = participant_id
        self.name = name
        self.update()

    def set_camera_off(self, off: bool) -> None:
        if off != self.camera_off:
            self.camera_off = off
            self.update()

    def set_badge(self, text: str) -> None:
        if text != self.badge:
            self.badge = text
            self.update()

    def has_frame(self) -> bool:
        return self._image is not None

    def placeholder_text(self) -> str:
        """What the view shows instead of video, or "" when it shows video."""
        if self.camera_off:
            return CAMERA_OFF_TEXT
        if self._image is None:
            return NO_VIDEO_YET_TEXT
        return ""

    def _tick_ms(self) -> int:
        screen = self.screen()
        hz = screen.refreshRate() if screen is not None else 0.0
        if not hz or hz < 20:  # offscreen platforms report 0 (or nonsense)
            hz = DEFAULT_REFRESH_HZ
        return max(5, round(1000 / min(hz, 120.0)))

    def _on_tick(self) -> None:
        self.refresh()

    def refresh(self) -> bool:
        """Pick up the latest frame; True if it is new (and a repaint was scheduled)."""
        frame = self._latest()
        if frame is None or frame is self._frame:
            return False
        wrapped = frame_to_image(frame)
        if wrapped is None:
            return False
        self._image, self._backing = wrapped
        self._frame = frame
        self.frames_shown += 1
        self.update()
        return True

    def _latest(self) -> Any:
        return self._visit.latest_frame(self.participant_id) if self.participant_id else None

    # -- Qt ------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(640, 360)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        # A new frame schedules a repaint the moment it arrives (waiting for the next
        # poll added up to a whole refresh interval to glass-to-glass latency); the
        # timer stays as a safety net for frames put without the signal.
        self._visit.frame_did_arrive.connect(self._on_frame_did_arrive)
        self._timer.setInterval(self._tick_ms())
        self._timer.start()
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt override)
        # Nobody sees it: stop polling so hidden tiles cost nothing.
        self._timer.stop()
        self._visit.frame_did_arrive.disconnect(self._on_frame_did_arrive, missing_ok=True)
        super().hideEvent(event)

    def _on_frame_did_arrive(self, participant_id: str) -> None:
        # Frames that arrive within one turn of the event loop collapse into one pick-up
        # of the latest (keep the latest, drop the rest: STYLE.md §3).
        if participant_id == self.participant_id and not self._pick_up_queued:
            self._pick_up_queued = True
            QTimer.singleShot(0, self._pick_up)

    def _pick_up(self) -> None:
        self._pick_up_queued = False
        self.refresh()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painted: Any = None
        try:
            area = self.rect()
            label_area = area
            if self.camera_off or self._image is None:
                self._paint_placeholder(painter, area)
            else:
                painter.fillRect(area, BACKGROUND)
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                image = self._image
                label_area = fit_rect(image.width(), image.height(), area)
                painter.drawImage(label_area, image)
                painted = self._frame
                self.video_rect = label_area
            # The name sits on the picture, not in the letterbox bars beside it.
            self._paint_label(painter, label_area)
        finally:
            painter.end()
        if painted is not None and self.paint_observer is not None:
            self.paint_observer(self, painted)

    def _paint_placeholder(self, painter: QPainter, area: QRect) -> None:
        painter.fillRect(area, PLACEHOLDER_BG)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = max(24, min(area.width(), area.height()) // 3)
        circle = QRect(0, 0, side, side)
        circle.moveCenter(area.center() - QPoint(0, side // 5))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(AVATAR_BG)
        painter.drawEllipse(circle)
        initial = (self.name.strip()[:1] or "?").upper()
        font = QFont(self.font())
        font.setPixelSize(max(10, side // 2))
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(LABEL_TEXT)
        painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, initial)
        caption_font = QFont(self.font())
        caption_font.setPixelSize(max(10, min(16, side // 5)))
        painter.setFont(caption_font)
        painter.setPen(MUTED_TEXT)
        metrics = QFontMetrics(caption_font)
        caption = QRect(area.left(), circle.bottom() + 8, area.width(), metrics.height() + 4)
        if caption.bottom() < area.bottom() - metrics.height():
            painter.drawText(caption, Qt.AlignmentFlag.AlignCenter, self.placeholder_text())

    def _paint_label(self, painter: QPainter, area: QRect) -> None:
        text = self.name if not self.badge else f"{self.name}  ·  {self.badge}"
        if not text:
            return
        font = QFont(self.font())
        font.setPixelSize(13 if area.height() >= 200 else 11)
        font.setBold(True)
        metrics = QFontMetrics(font)
        pad = 6
        max_w = max(10, area.width() - 2 * pad - 12)
        text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max_w)
        w = metrics.horizontalAdvance(text) + 2 * pad
        h = metrics.height() + pad
        box = QRectF(area.left() + 8, area.bottom() - h - 7, w, h)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LABEL_BG)
        painter.drawRoundedRect(box, 4, 4)
        painter.setFont(font)
        painter.setPen(LABEL_TEXT)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


class QtSelfView(QtVideoView):
    """The local camera as a small overlay the user can drag anywhere over the stage.

    It stays where it was dropped (clamped inside the parent) when the window
    is resized; until dragged it keeps to the bottom-right corner.
    """

    MARGIN = 16
    WIDTH = 240

    def __init__(self, visit: Visit, *, parent: QWidget) -> None:
        super().__init__(visit, parent=parent)
        self.setObjectName("selfView")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFixedSize(self.WIDTH, 135)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip(QCoreApplication.translate("QtSelfView", "Your camera. Drag to move it."))
        self._drag_offset: QPoint | None = None
        self.moved_by_user = False

    def refresh(self) -> bool:
        new = super().refresh()
        if new and self._image is not None:
            # Keep the overlay the camera's shape (4:3 or 16:9), not letterboxed.
            width = self.WIDTH
            height = round(width * self._image.height() / max(1, self._image.width()))
            height = min(max(height, 90), 240)
            if (width, height) != (self.width(), self.height()):
                self.setFixedSize(width, height)
                self.place()
        return new

    def _latest(self) -> Any:
        # The local camera's frames are keyed by the local participant's id; a session
        # that has not listed itself yet may use "local" (LOCAL_FRAME_KEY) meanwhile.
        frame = super()._latest()
        return frame if frame is not None else self._visit.latest_frame(LOCAL_FRAME_KEY)

    def place(self) -> None:
        """Put the overlay back in its place after the parent changed size."""
        parent = self.parentWidget()
        if parent is None:
            return
        if not self.moved_by_user:
            self.move(
                parent.width() - self.width() - self.MARGIN,
                parent.height() - self.height() - self.MARGIN,
            )
        else:
            self.move(self._clamped(self.pos()))
        self.raise_()

    def _clamped(self, pos: QPoint) -> QPoint:
        parent = self.parentWidget()
        if parent is None:
            return pos
        x = min(max(0, pos.x()), max(0, parent.width() - self.width()))
        y = min(max(0, pos.y()), max(0, parent.height() - self.height()))
        return QPoint(x, y)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_offset = event.position().toPoint()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._drag_offset is not None:
            target = self.mapToParent(event.position().toPoint()) - self._drag_offset
            self.move(self._clamped(target))
            self.moved_by_user = True
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._drag_offset is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag_offset = None
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)
