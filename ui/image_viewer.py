"""The specialist's review of stills: viewer, compare with linked zoom, annotation layer.

- :class:`QtImageView` shows one still. It opens fast: a JPEG is first decoded at
  1/8 (or 1/4) scale by libjpeg's DCT scaling (``QImageReader.setScaledSize``) on a
  worker thread and painted at once; the full-size decode and a half-size level
  follow on the same worker and are swapped in when ready. The picture item paints
  only the exposed part of the level that fits the current zoom (a small image
  pyramid), so zooming and panning a 12 MP still stays within a display frame.
- :class:`QtAnnotationLayer` draws an :class:`app.annotations.AnnotationLayer` over
  it in the still's own pixels (arrows, outlines with their area, length lines, text
  labels); it is a separate item, shown or hidden as a layer, and the still's bytes
  are never touched. Lengths and areas are in mm when the still is calibrated.
- :class:`QtStillViewer` is a viewer window: tools, the layer switch, Save (a new
  version through :class:`app.annotations.AnnotationsService`), metadata and
  measurements beside the picture.
- :class:`QtStillCompare` puts two views side by side with linked zoom and pan
  (linked by the fraction of the picture, so stills of different sizes line up) and
  offers the patient's other stills of the same site (earlier visits) on the left.

Decoding never runs on the GUI thread (docs/images.md, "Review").
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QCoreApplication,
    QIODevice,
    QPointF,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QImageReader,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QShortcut,
    QTransform,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QStyleOptionGraphicsItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from app.annotations import (
    AnnotationLayer,
    AnnotationsService,
    Shape,
    ShapeKind,
    measure,
    mm_per_px_of,
)
from app.errors import InputRejectedError
from app.image_metadata import BODY_SITES
from app.records import Attachment
from app.services import AttachmentsService
from ui.format import day_and_clock
from ui.i18n import QT_TRANSLATE_NOOP
from ui.ops import run_op

log = logging.getLogger(__name__)

#: The long side of the first, DCT-scaled decode: enough for a full-screen fit.
PREVIEW_LONG_SIDE_PX = 1600
ZOOM_STEP = 1.25
MAX_ZOOM = 16.0  # screen pixels per still pixel
MAX_PIXELS = 100_000_000  # as at capture (docs/images.md, "Headless")

#: The displays of app.image_metadata.BODY_SITES, marked for the catalogue (context
#: ``BodySites``): app/ has no Qt, so the marks live here; body_site_text() translates.
BODY_SITE_NAMES = (
    QT_TRANSLATE_NOOP("BodySites", "Head structure"),  # 69536005
    QT_TRANSLATE_NOOP("BodySites", "Face structure"),  # 89545001
    QT_TRANSLATE_NOOP("BodySites", "Nasal structure"),  # 45206002
    QT_TRANSLATE_NOOP("BodySites", "Mouth region structure"),  # 123851003
    QT_TRANSLATE_NOOP("BodySites", "Tongue structure"),  # 21974007
    QT_TRANSLATE_NOOP("BodySites", "Pharyngeal structure"),  # 54066008
    QT_TRANSLATE_NOOP("BodySites", "Ear structure"),  # 117590005
    QT_TRANSLATE_NOOP("BodySites", "Tympanic membrane structure"),  # 42859004
    QT_TRANSLATE_NOOP("BodySites", "Eye structure"),  # 81745001
    QT_TRANSLATE_NOOP("BodySites", "Retinal structure"),  # 5665001
    QT_TRANSLATE_NOOP("BodySites", "Neck structure"),  # 45048000
    QT_TRANSLATE_NOOP("BodySites", "Thoracic structure"),  # 51185008
    QT_TRANSLATE_NOOP("BodySites", "Back structure"),  # 123961009
    QT_TRANSLATE_NOOP("BodySites", "Abdomen structure"),  # 818983003
    QT_TRANSLATE_NOOP("BodySites", "Upper arm structure"),  # 40983000
    QT_TRANSLATE_NOOP("BodySites", "Forearm structure"),  # 14975008
    QT_TRANSLATE_NOOP("BodySites", "Hand structure"),  # 85562004
    QT_TRANSLATE_NOOP("BodySites", "Finger structure"),  # 7569003
    QT_TRANSLATE_NOOP("BodySites", "Nail structure"),  # 72651009
    QT_TRANSLATE_NOOP("BodySites", "Thigh structure"),  # 68367000
    QT_TRANSLATE_NOOP("BodySites", "Lower leg structure"),  # 30021000
    QT_TRANSLATE_NOOP("BodySites", "Foot structure"),  # 56459004
    QT_TRANSLATE_NOOP("BodySites", "Toe structure"),  # 29707007
    QT_TRANSLATE_NOOP("BodySites", "Skin structure"),  # 39937001
)


#: The views of app.image_metadata.VIEWS (stored as these English words), marked for the
#: catalogue (context ``StillViews``); view_text() translates.
VIEW_NAMES = (
    QT_TRANSLATE_NOOP("StillViews", "overview"),
    QT_TRANSLATE_NOOP("StillViews", "close-up"),
    QT_TRANSLATE_NOOP("StillViews", "anterior"),
    QT_TRANSLATE_NOOP("StillViews", "posterior"),
    QT_TRANSLATE_NOOP("StillViews", "lateral"),
    QT_TRANSLATE_NOOP("StillViews", "medial"),
    QT_TRANSLATE_NOOP("StillViews", "superior"),
    QT_TRANSLATE_NOOP("StillViews", "inferior"),
    QT_TRANSLATE_NOOP("StillViews", "dermoscopic"),
    QT_TRANSLATE_NOOP("StillViews", "otoscopic"),
    QT_TRANSLATE_NOOP("StillViews", "fundus"),
    QT_TRANSLATE_NOOP("StillViews", "intraoral"),
)


def view_text(view: str) -> str:
    """The translated view of a still (one of VIEWS; anything else as stored)."""
    return QCoreApplication.translate("StillViews", view) if view in VIEW_NAMES else view


def body_site_text(code: str) -> str:
    """The translated name of a body-site code (the code itself if unknown)."""
    display = BODY_SITES.get(code)
    return QCoreApplication.translate("BodySites", display) if display else code


def side_text(side: str) -> str:
    """The translated laterality (``left``/``right``/``bilateral``; others as given)."""
    names = {
        "left": QCoreApplication.translate("QtStillViewer", "Left"),
        "right": QCoreApplication.translate("QtStillViewer", "Right"),
        "bilateral": QCoreApplication.translate("QtStillViewer", "Both sides"),
    }
    return names.get(side, side)


# --- decoding (worker thread) -----------------------------------------------------------


def _reader(data: bytes) -> tuple[QImageReader, QBuffer]:
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    reader.setAutoTransform(False)  # points are in the stored pixels, as captured
    # Qt's default limit (256 MB) would refuse a 100 MP still as RGB32; the size is
    # checked against MAX_PIXELS first, so this bound is never reached by a hostile
    # header.
    reader.setAllocationLimit(1024)
    size = reader.size()
    if not size.isValid() or size.isEmpty():
        raise InputRejectedError(reason="the still could not be decoded")
    if size.width() * size.height() > MAX_PIXELS:
        raise InputRejectedError(reason="the still has more than 100 megapixels")
    return reader, buffer


def decode_preview(data: bytes, long_side_px: int = PREVIEW_LONG_SIDE_PX) -> tuple[QImage, QSize]:
    """A reduced image for the first paint, and the still's full size. A JPEG is decoded
    with DCT scaling (no full-size decode); other formats are decoded and scaled."""
    reader, _buffer = _reader(data)
    full = reader.size()
    scale = long_side_px / max(full.width(), full.height())
    if scale < 1.0:
        # libjpeg scales by n/8: ask for a size that is at least the target.
        denominator = max(1, min(8, 2 ** int(math.log2(1 / scale))))
        reader.setScaledSize(
            QSize(math.ceil(full.width() / denominator), math.ceil(full.height() / denominator))
        )
    image = reader.read()
    if image.isNull():
        raise InputRejectedError(reason="the still could not be decoded")
    return image.convertToFormat(QImage.Format.Format_RGB32), full


def decode_full(data: bytes) -> list[QImage]:
    """The full-size image and a half-size level (for zooms between preview and 1:1)."""
    reader, _buffer = _reader(data)
    image = reader.read()
    if image.isNull():
        raise InputRejectedError(reason="the still could not be decoded")
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    half = image.scaled(
        image.width() // 2,
        image.height() // 2,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    return [half, image]


# --- the picture ------------------------------------------------------------------------


class _PictureItem(QGraphicsItem):
    """The still in its own pixel coordinates, painted from the pyramid level that fits."""

    def __init__(self) -> None:
        super().__init__()
        self.full = QSize(1, 1)
        self.levels: list[QImage] = []  # smallest first
        self.painted_at: float | None = None  # time.perf_counter() of the first paint
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def set_levels(self, full: QSize, levels: Sequence[QImage]) -> None:
        self.prepareGeometryChange()
        self.full = full
        self.levels = sorted(levels, key=lambda im: im.width())
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(0, 0, self.full.width(), self.full.height())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Any = None
    ) -> None:
        if not self.levels:
            return
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        needed = lod * self.full.width()
        level = next((im for im in self.levels if im.width() >= needed), self.levels[-1])
        factor = level.width() / self.full.width()
        target = option.exposedRect.intersected(self.boundingRect())
        source = QRectF(
            target.x() * factor,
            target.y() * factor,
            target.width() * factor,
            target.height() * factor,
        )
        # Smooth only when shrinking: enlarged pixels stay crisp, as a reviewer expects.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, level.width() > needed)
        painter.drawImage(target, level, source)
        if self.painted_at is None:
            self.painted_at = time.perf_counter()


# --- the annotation layer ---------------------------------------------------------------


def _format(value: float, unit: str, squared: bool = False) -> str:
    suffix = f"{unit}²" if squared else unit
    return f"{value:.1f} {suffix}" if unit == "mm" else f"{value:.0f} {suffix}"


def measurement_text(shape: Shape, mm_per_px: float | None) -> str:
    got = measure(shape, mm_per_px)
    if got is None:
        return ""
    if got.area is not None:
        return _format(got.area, got.unit, squared=True)
    return _format(got.length, got.unit)


class QtAnnotationLayer(QGraphicsObject):
    """Draws the shapes of an annotation layer; a separate item, shown or hidden as a whole."""

    COLOUR = QColor(255, 214, 0)

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[Shape] = []
        self.pending: list[QPointF] = []  # the outline being drawn, not yet a shape
        self.mm_per_px: float | None = None
        self.setZValue(10)

    def set_shapes(self, shapes: Sequence[Shape], mm_per_px: float | None) -> None:
        self.prepareGeometryChange()
        self.shapes = list(shapes)
        self.mm_per_px = mm_per_px
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        parent = self.parentItem()
        rect = parent.boundingRect() if parent is not None else QRectF()
        # Labels drawn at screen size may reach past the picture's edge.
        return rect.adjusted(-400, -400, 400, 400)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Any = None
    ) -> None:
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform()) or 1.0
        pen = QPen(self.COLOUR, 2.0)
        pen.setCosmetic(True)  # 2 screen pixels at any zoom
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        font = QFont()
        font.setPointSizeF(10.0 / lod)  # readable at any zoom
        painter.setFont(font)
        for shape in self.shapes:
            points = [QPointF(x, y) for x, y in shape.points]
            if shape.kind is ShapeKind.OUTLINE:
                fill = QColor(self.COLOUR)
                fill.setAlpha(40)
                painter.setBrush(QBrush(fill))
                painter.drawPolygon(QPolygonF(points))
                painter.setBrush(Qt.BrushStyle.NoBrush)
            elif shape.kind in (ShapeKind.ARROW, ShapeKind.LENGTH):
                painter.drawLine(points[0], points[1])
                if shape.kind is ShapeKind.ARROW:
                    painter.drawPath(_arrow_head(points[0], points[1], 14.0 / lod))
                else:
                    for end in points:
                        painter.drawEllipse(end, 3.0 / lod, 3.0 / lod)
            label = (
                shape.text
                if shape.kind is ShapeKind.TEXT
                else measurement_text(shape, self.mm_per_px)
            )
            if shape.kind is not ShapeKind.TEXT and shape.text:
                label = f"{shape.text}  {label}".strip()
            if label:
                anchor = points[-1] if shape.kind is not ShapeKind.OUTLINE else points[0]
                painter.drawText(anchor + QPointF(6.0 / lod, -6.0 / lod), label)
        if self.pending:
            dashed = QPen(self.COLOUR, 1.5, Qt.PenStyle.DashLine)
            dashed.setCosmetic(True)
            painter.setPen(dashed)
            painter.drawPolyline(QPolygonF(self.pending))
            for point in self.pending:
                painter.drawEllipse(point, 3.0 / lod, 3.0 / lod)


def _arrow_head(tail: QPointF, head: QPointF, size: float) -> QPainterPath:
    angle = math.atan2(head.y() - tail.y(), head.x() - tail.x())
    path = QPainterPath(head)
    for turn in (math.pi * 5 / 6, -math.pi * 5 / 6):
        path.moveTo(head)
        path.lineTo(head + QPointF(math.cos(angle + turn) * size, math.sin(angle + turn) * size))
    return path


# --- one still --------------------------------------------------------------------------


class Tool(StrEnum):
    PAN = "pan"
    ARROW = "arrow"
    LENGTH = "length"
    OUTLINE = "outline"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class ViewState:
    """Where a view looks, independent of the still's size (for linked zoom)."""

    zoom: float  # screen pixels per the still's width, over the viewport's width
    cx: float  # centre as a fraction of the still's width
    cy: float  # ... and height


class QtImageView(QGraphicsView):
    """One still with its annotation layer; wheel zooms about the cursor, drag pans."""

    view_changed = Signal()
    loaded = Signal()  # the full-size image is in
    shapes_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageView")
        self.setScene(QGraphicsScene(self))
        self.picture = _PictureItem()
        self.layer = QtAnnotationLayer()
        self.layer.setParentItem(self.picture)
        self.scene().addItem(self.picture)
        self.setBackgroundBrush(QColor(24, 24, 24))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        # Only the changed region is repainted while panning; the picture item itself
        # clips to the exposed rectangle.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.tool = Tool.PAN
        self._pending: list[QPointF] = []
        self._fitted = True
        self._syncing = False
        self._generation = 0  # the latest load(); older decodes are dropped
        self.horizontalScrollBar().valueChanged.connect(self._emit_changed)
        self.verticalScrollBar().valueChanged.connect(self._emit_changed)

    # -- loading -----------------------------------------------------------------------
    async def load(self, data: bytes) -> None:
        """Preview first (painted at once), then the full image; decoding off this thread."""
        loop = asyncio.get_running_loop()
        self._generation += 1
        generation = self._generation
        preview, full = await loop.run_in_executor(None, decode_preview, data)
        if not self._current(generation):
            return  # closed meanwhile, or another still was asked for: drop this one
        self.picture.painted_at = None
        self.picture.set_levels(full, [preview])
        self.scene().setSceneRect(QRectF(0, 0, full.width(), full.height()))
        self.fit()
        self.viewport().update()
        levels = await loop.run_in_executor(None, decode_full, data)
        if not self._current(generation):
            return
        if preview.width() < levels[0].width():
            levels.insert(0, preview)
        self.picture.set_levels(full, levels)
        self.loaded.emit()

    def _current(self, generation: int) -> bool:
        return isValid(self) and generation == self._generation

    @property
    def still_size(self) -> QSize:
        return self.picture.full

    # -- zoom and pan ------------------------------------------------------------------
    def fit(self) -> None:
        self.fitInView(self.picture.boundingRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._emit_changed()

    def scale_factor(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        current = self.scale_factor()
        target = min(MAX_ZOOM, max(self._fit_scale() / 2, current * factor))
        if current <= 0 or math.isclose(target, current):
            return
        # Anchored by hand: Qt's AnchorUnderMouse uses the last mouse *move* position,
        # which is not where a wheel event happens when the mouse was not tracked.
        at = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        fixed = self.mapToScene(at.toPoint())
        self._syncing = True  # one change signal below, not one per scroll bar
        try:
            self.scale(target / current, target / current)
            moved = self.mapFromScene(fixed) - at.toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        finally:
            self._syncing = False
        self._fitted = False
        self._emit_changed()

    def actual_size(self) -> None:
        self.zoom_by(1.0 / self.scale_factor())

    def _fit_scale(self) -> float:
        w = max(1, self.picture.full.width())
        h = max(1, self.picture.full.height())
        return min(self.viewport().width() / w, self.viewport().height() / h)

    def view_state(self) -> ViewState:
        full = self.picture.full
        centre = self.mapToScene(self.viewport().rect().center())
        zoom = self.scale_factor() * full.width() / max(1, self.viewport().width())
        return ViewState(zoom, centre.x() / full.width(), centre.y() / full.height())

    def set_view_state(self, state: ViewState) -> None:
        """Look at the same fraction of the picture, at the same relative zoom."""
        full = self.picture.full
        self._syncing = True
        try:
            scale = state.zoom * max(1, self.viewport().width()) / max(1, full.width())
            self.setTransform(QTransform.fromScale(scale, scale))
            self.centerOn(QPointF(state.cx * full.width(), state.cy * full.height()))
            self._fitted = False
        finally:
            self._syncing = False

    def _emit_changed(self, *_args: object) -> None:
        if not self._syncing:
            self.view_changed.emit()

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps, anchor=event.position())
        event.accept()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    # -- drawing annotations -----------------------------------------------------------
    def _set_pending(self, points: list[QPointF]) -> None:
        self._pending = points
        self.layer.pending = list(points) if self.tool is Tool.OUTLINE else []
        self.layer.update()

    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self._set_pending([])
        self.setDragMode(
            QGraphicsView.DragMode.ScrollHandDrag
            if tool is Tool.PAN
            else QGraphicsView.DragMode.NoDrag
        )
        self.viewport().setCursor(
            Qt.CursorShape.OpenHandCursor if tool is Tool.PAN else Qt.CursorShape.CrossCursor
        )

    def add_shape(self, shape: Shape) -> None:
        self.layer.set_shapes([*self.layer.shapes, shape], self.layer.mm_per_px)
        self.shapes_changed.emit()

    def _still_point(self, pos: Any) -> QPointF:
        p = self.mapToScene(pos.toPoint() if hasattr(pos, "toPoint") else pos)
        full = self.picture.full
        return QPointF(min(max(p.x(), 0.0), full.width()), min(max(p.y(), 0.0), full.height()))

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.tool is Tool.PAN or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        point = self._still_point(event.position())
        if self.tool is Tool.TEXT:
            text, ok = QInputDialog.getText(self, self.tr("Label"), self.tr("Text of the label:"))
            if ok and text.strip():
                self.add_shape(Shape(ShapeKind.TEXT, ((point.x(), point.y()),), text.strip()))
        elif self.tool is Tool.OUTLINE:
            self._set_pending([*self._pending, point])
        else:
            self._set_pending([point])
        event.accept()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.tool is Tool.OUTLINE and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish_outline()
            event.accept()
        elif event.key() == Qt.Key.Key_Escape and self._pending:
            self._set_pending([])  # drop the shape being drawn
            event.accept()
        else:
            super().keyPressEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.tool in (Tool.ARROW, Tool.LENGTH) and self._pending:
            end = self._still_point(event.position())
            start = self._pending[0]
            self._set_pending([])
            if math.hypot(end.x() - start.x(), end.y() - start.y()) >= 2.0:
                kind = ShapeKind.ARROW if self.tool is Tool.ARROW else ShapeKind.LENGTH
                self.add_shape(Shape(kind, ((start.x(), start.y()), (end.x(), end.y()))))
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.tool is Tool.OUTLINE:
            points = self.finish_outline()
            if points is None:
                super().mouseDoubleClickEvent(event)
            return
        super().mouseDoubleClickEvent(event)

    def finish_outline(self) -> Shape | None:
        """Close the outline being drawn (double click or Enter)."""
        # A double click also delivered its second press: drop the repeated point.
        unique: list[QPointF] = []
        for p in self._pending:
            if not unique or (p - unique[-1]).manhattanLength() > 1.0:
                unique.append(p)
        self._set_pending([])
        if len(unique) < 3:
            return None
        shape = Shape(ShapeKind.OUTLINE, tuple((p.x(), p.y()) for p in unique))
        self.add_shape(shape)
        return shape


# --- the viewer window ------------------------------------------------------------------


def metadata_rows(still: Attachment) -> list[tuple[str, str]]:
    """(label, value) pairs for the metadata panel, translated (literal strings inside
    ``QCoreApplication.translate`` calls so that lupdate finds them)."""
    meta = still.metadata
    rows: list[tuple[str, str]] = []
    site = meta.get("body_site")
    if isinstance(site, str):
        rows.append((QCoreApplication.translate("QtStillViewer", "Site"), body_site_text(site)))
    for key, label in (
        ("laterality", QCoreApplication.translate("QtStillViewer", "Side")),
        ("view", QCoreApplication.translate("QtStillViewer", "View")),
        ("captured_at", QCoreApplication.translate("QtStillViewer", "Taken")),
        ("captured_by", QCoreApplication.translate("QtStillViewer", "By")),
        ("camera", QCoreApplication.translate("QtStillViewer", "Camera")),
    ):
        if isinstance(meta.get(key), str):
            value = str(meta[key])
            if key == "laterality":
                value = side_text(value)
            elif key == "view":
                value = view_text(value)
            elif key == "captured_at":
                value = day_and_clock(value, seconds=True)
            rows.append((label, value))
    rows.append(
        (
            QCoreApplication.translate("QtStillViewer", "Size"),
            QCoreApplication.translate("QtStillViewer", "{0} × {1} px").format(
                meta.get("width_px", "?"), meta.get("height_px", "?")
            ),
        )
    )
    mm = mm_per_px_of(still)
    rows.append(
        (
            QCoreApplication.translate("QtStillViewer", "Scale"),
            QCoreApplication.translate("QtStillViewer", "{0} mm/px").format(f"{mm:.4f}")
            if mm
            else QCoreApplication.translate("QtStillViewer", "not calibrated"),
        )
    )
    problems = meta.get("quality_problems")
    if isinstance(problems, list) and problems:
        rows.append(
            (
                QCoreApplication.translate("QtStillViewer", "Quality"),
                QCoreApplication.translate("QtStillViewer", "{0} (kept anyway)").format(
                    ", ".join(str(p) for p in problems)
                ),
            )
        )
    return rows


class QtStillViewer(QWidget):
    """One still: picture, annotation tools and layer, metadata and measurements."""

    did_save = Signal(object)  # AnnotationLayer

    def __init__(
        self,
        attachments: AttachmentsService,
        annotations: AnnotationsService,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("stillViewer")
        self.attachments = attachments
        self.annotations = annotations
        self.still: Attachment | None = None
        self.base_version = 0
        self.dirty = False
        self.view = QtImageView(self)
        self.view.shapes_changed.connect(self._on_shapes_changed)

        tools = QHBoxLayout()
        self.tool_buttons: dict[Tool, QToolButton] = {}
        for tool, text in (
            (Tool.PAN, self.tr("Move")),
            (Tool.ARROW, self.tr("Arrow")),
            (Tool.OUTLINE, self.tr("Outline")),
            (Tool.LENGTH, self.tr("Measure")),
            (Tool.TEXT, self.tr("Label")),
        ):
            button = QToolButton(self)
            button.setText(text)
            button.setCheckable(True)
            button.setAutoExclusive(True)
            button.clicked.connect(lambda _c=False, t=tool: self.view.set_tool(t))
            tools.addWidget(button)
            self.tool_buttons[tool] = button
        self.tool_buttons[Tool.PAN].setChecked(True)
        self.fit_button = QPushButton(self.tr("Fit"), self)
        self.fit_button.clicked.connect(self.view.fit)
        self.actual_button = QPushButton(self.tr("1:1"), self)
        self.actual_button.clicked.connect(self.view.actual_size)
        self.layer_box = QCheckBox(self.tr("Show annotations"), self)
        self.layer_box.setChecked(True)
        self.layer_box.toggled.connect(self.view.layer.setVisible)
        self.undo_button = QPushButton(self.tr("Undo"), self)
        self.undo_button.clicked.connect(self.undo)
        self.save_button = QPushButton(self.tr("Save annotations"), self)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._on_save_clicked)
        for w in (self.fit_button, self.actual_button, self.layer_box, self.undo_button):
            tools.addWidget(w)
        tools.addStretch(1)
        tools.addWidget(self.save_button)

        self.meta_form = QFormLayout()
        self.version_label = QLabel(self)
        # Saved versions, newest first; choosing an older one shows it read-only.
        self.version_box = QComboBox(self)
        self.version_box.setObjectName("annotationVersions")
        self.version_box.activated.connect(self._on_version_chosen)
        self.history: list[AnnotationLayer] = []
        self.viewing_version: int | None = None  # an older version on screen
        self._draft: list[Shape] = []  # the latest layer with unsaved drawing, kept aside
        self.measurements = QListWidget(self)
        self.measurements.setObjectName("measurements")
        self.remove_button = QPushButton(self.tr("Remove selected"), self)
        self.remove_button.clicked.connect(self.remove_selected)
        remove_shortcut = QShortcut(QKeySequence.StandardKey.Delete, self.measurements)
        remove_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        remove_shortcut.activated.connect(self.remove_selected)
        side = QVBoxLayout()
        side.addLayout(self.meta_form)
        side.addWidget(self.version_label)
        side.addWidget(self.version_box)
        side.addWidget(QLabel(self.tr("Annotations"), self))
        side.addWidget(self.measurements, 1)
        side.addWidget(self.remove_button)
        side_widget = QWidget(self)
        side_widget.setLayout(side)
        side_widget.setMaximumWidth(320)

        body = QSplitter(self)
        body.addWidget(self.view)
        body.addWidget(side_widget)
        body.setStretchFactor(0, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(body, 1)

    async def open(self, still: Attachment) -> None:
        """Show ``still``: its picture (preview first), its metadata and its latest layer."""
        self.still = still
        self.setWindowTitle(self.tr("Still"))
        layer = await self.annotations.latest(still.id)
        data = await self.attachments.read(still.id)
        if not isValid(self) or self.still is not still:
            return  # closed, or another still was opened meanwhile
        self._show_metadata(still)
        self._show_layer(layer)
        await self._load_history()
        await self.view.load(data)
        log.info("Still opened for review: %s", still.id)

    def _show_metadata(self, still: Attachment) -> None:
        while self.meta_form.rowCount():
            self.meta_form.removeRow(0)
        for label, value in metadata_rows(still):
            self.meta_form.addRow(label, QLabel(value, self))

    def _show_layer(self, layer: AnnotationLayer) -> None:
        self.base_version = layer.version
        assert self.still is not None
        self.view.layer.set_shapes(layer.shapes, mm_per_px_of(self.still))
        self.dirty = False
        self._refresh()

    def _on_shapes_changed(self) -> None:
        self.dirty = True
        self._refresh()

    def remove_selected(self) -> None:
        """Remove the annotation selected in the list (Delete key or button)."""
        row = self.measurements.currentRow()
        shapes = self.view.layer.shapes
        if self.viewing_version is None and 0 <= row < len(shapes):
            self.view.layer.set_shapes(shapes[:row] + shapes[row + 1 :], self.view.layer.mm_per_px)
            self._on_shapes_changed()

    def undo(self) -> None:
        if self.viewing_version is None and self.view.layer.shapes:
            self.view.layer.set_shapes(self.view.layer.shapes[:-1], self.view.layer.mm_per_px)
            self._on_shapes_changed()

    def _refresh(self) -> None:
        self.save_button.setEnabled(self.dirty and self.viewing_version is None)
        if self.viewing_version is not None:
            self.version_label.setText(
                self.tr("Viewing version {0} (read-only)").format(self.viewing_version)
            )
        elif self.base_version:
            self.version_label.setText(
                self.tr("Annotations: version {0}").format(self.base_version)
            )
        else:
            self.version_label.setText(self.tr("No annotations saved yet"))
        self.measurements.clear()
        names = {
            ShapeKind.ARROW: self.tr("Arrow"),
            ShapeKind.OUTLINE: self.tr("Outline"),
            ShapeKind.LENGTH: self.tr("Length"),
            ShapeKind.TEXT: self.tr("Label"),
        }
        for shape in self.view.layer.shapes:
            value = measurement_text(shape, self.view.layer.mm_per_px)
            if shape.kind is ShapeKind.TEXT:
                value = shape.text
            self.measurements.addItem(self.tr("{0}: {1}").format(names[shape.kind], value))

    def _on_save_clicked(self) -> None:
        run_op(self, self.save(), context="Save annotations")

    async def save(self) -> AnnotationLayer:
        """Store the drawn shapes as a new version (AnnotationConflictError if stale)."""
        assert self.still is not None
        layer = await self.annotations.save(
            self.still.id, self.base_version, tuple(self.view.layer.shapes)
        )
        self._show_layer(layer)
        await self._load_history()
        self.did_save.emit(layer)
        return layer

    async def _load_history(self) -> None:
        assert self.still is not None
        self.history = list(reversed(await self.annotations.history(self.still.id)))
        self.version_box.clear()
        for layer in self.history:
            self.version_box.addItem(
                self.tr("Version {0} · {1} · {2}").format(
                    layer.version, layer.saved_at[:16].replace("T", " "), layer.saved_by
                ),
                layer.version,
            )
        self.version_box.setVisible(bool(self.history))
        self.viewing_version = None

    def _on_version_chosen(self, index: int) -> None:
        if 0 <= index < len(self.history):
            self.show_version(self.history[index].version)

    def show_version(self, version: int) -> None:
        """Show a saved version: the latest (editable, with any unsaved drawing) or an
        older one, read-only (tools and Save off until the latest is chosen again)."""
        assert self.still is not None
        chosen = next((v for v in self.history if v.version == version), None)
        if chosen is None:
            return
        latest = version == self.history[0].version
        if self.viewing_version is None:
            self._draft = list(self.view.layer.shapes)  # leaving the editable layer
        if latest:
            self.view.layer.set_shapes(self._draft, mm_per_px_of(self.still))
            self.viewing_version = None
        else:
            self.view.layer.set_shapes(chosen.shapes, mm_per_px_of(self.still))
            self.viewing_version = version
            self.view.set_tool(Tool.PAN)
            self.tool_buttons[Tool.PAN].setChecked(True)
        self.version_box.setCurrentIndex(self.history.index(chosen))
        for tool, button in self.tool_buttons.items():
            button.setEnabled(latest or tool is Tool.PAN)
        self.undo_button.setEnabled(latest)
        self.remove_button.setEnabled(latest)
        self._refresh()


# --- compare --------------------------------------------------------------------------


class QtStillCompare(QWidget):
    """Two stills side by side with linked zoom and pan; the left one is chosen among
    the patient's other stills of the same site (earlier visits first)."""

    def __init__(
        self,
        attachments: AttachmentsService,
        annotations: AnnotationsService,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("stillCompare")
        self.attachments = attachments
        self.annotations = annotations
        self.left = QtImageView(self)
        self.right = QtImageView(self)
        self.left.view_changed.connect(lambda: self._follow(self.left, self.right))
        self.right.view_changed.connect(lambda: self._follow(self.right, self.left))
        self.link_box = QCheckBox(self.tr("Link zoom and pan"), self)
        self.link_box.setChecked(True)
        self.choice = QComboBox(self)
        self.choice.currentIndexChanged.connect(self._on_choice)
        self.candidates: list[Attachment] = []
        self.left_label = QLabel(self)
        self.right_label = QLabel(self)
        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Compare with:"), self))
        top.addWidget(self.choice, 1)
        top.addWidget(self.link_box)
        views = QHBoxLayout()
        for view, label in ((self.left, self.left_label), (self.right, self.right_label)):
            column = QVBoxLayout()
            column.addWidget(label)
            column.addWidget(view, 1)
            views.addLayout(column, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(views, 1)
        self.setWindowTitle(self.tr("Compare stills"))

    def _follow(self, source: QtImageView, target: QtImageView) -> None:
        if self.link_box.isChecked() and not target.picture.full.isEmpty():
            target.set_view_state(source.view_state())

    async def open(self, still: Attachment, candidates: Sequence[Attachment] | None = None) -> None:
        """Show ``still`` on the right; the left gets the newest earlier one (if any)."""
        if candidates is None:
            candidates = await self.annotations.compare_candidates(still.id)
        self.candidates = list(candidates)
        self.right_label.setText(caption(still))
        await self._load(self.right, still)
        pick: Attachment | None = None
        if self.candidates:
            earlier = [c for c in self.candidates if _when(c) <= _when(still)]
            pick = (earlier or self.candidates)[-1]
        # Filled and pointed with its signal blocked: a choice made here is loaded
        # below, not a second time by _on_choice (two loads of one still raced, and
        # open() could return with the left side still empty).
        self.choice.blockSignals(True)
        self.choice.clear()
        for other in self.candidates:
            self.choice.addItem(caption(other), other.id)
        if pick is not None:
            self.choice.setCurrentIndex(self.candidates.index(pick))
        self.choice.blockSignals(False)
        if pick is not None:
            await self.show_left(pick)

    async def show_left(self, other: Attachment) -> None:
        self.left_label.setText(caption(other))
        await self._load(self.left, other)
        self._follow(self.right, self.left)

    async def _load(self, view: QtImageView, still: Attachment) -> None:
        view.setProperty("stillId", still.id)  # the latest choice wins a race
        layer = await self.annotations.latest(still.id)
        data = await self.attachments.read(still.id)
        if not isValid(view) or view.property("stillId") != still.id:
            return
        view.layer.set_shapes(layer.shapes, mm_per_px_of(still))
        await view.load(data)

    def _on_choice(self, index: int) -> None:
        if 0 <= index < len(self.candidates):
            run_op(self, self.show_left(self.candidates[index]), context="Compare stills")


def _when(still: Attachment) -> str:
    return str(still.metadata.get("captured_at", still.created_at))


def caption(still: Attachment) -> str:
    site = still.metadata.get("body_site")
    where = body_site_text(site) if isinstance(site, str) and site in BODY_SITES else ""
    side = still.metadata.get("laterality")
    parts = [
        p for p in (where, side_text(side) if isinstance(side, str) else "", _when(still)[:10]) if p
    ]
    return " · ".join(parts)


__all__ = [
    "BODY_SITE_NAMES",
    "QtAnnotationLayer",
    "QtImageView",
    "QtStillCompare",
    "QtStillViewer",
    "Tool",
    "ViewState",
    "body_site_text",
    "caption",
    "decode_full",
    "decode_preview",
    "measurement_text",
    "metadata_rows",
    "side_text",
]
