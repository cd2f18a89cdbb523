"""The exam-camera panel: preview, take a full-resolution still, see the verdict, retake
or keep it (anyway), describe it (site, laterality, view) and mark a scale.

``QtImageCapturePanel`` renders a :class:`~plugins.image_capture.plugin.CaptureModel`.
A 30 Hz timer paints the camera's latest preview frame (never a queue); the still,
its check and storing it run as asyncio tasks, so the GUI thread only paints.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Coroutine
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.errors import MESSAGES
from clinician_console_api import Capability, ConsoleError, PluginContext
from plugins.image_capture.plugin import (
    BODY_SITES,
    LATERALITIES,
    VIEWS,
    CaptureModel,
    preview_rgb,
)

TICK_MS = 33


def make_panel(ctx: PluginContext, parent: QWidget) -> QWidget:
    """Panel factory (GUI thread)."""
    return QtImageCapturePanel(CaptureModel(ctx), parent=parent)


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: the array may be reused


def error_text(exc: ConsoleError) -> str:
    """A console error in the user's language: its message key through the catalogue
    (context ``messages``, as ui.i18n.message does for the desktop)."""
    template = QCoreApplication.translate(
        "messages", MESSAGES.get(exc.message_key, exc.message_key)
    )
    params = dict(exc.params)
    if isinstance(params.get("reason"), str):  # a known reason (ui.reasons), in the language
        params["reason"] = QCoreApplication.translate("ErrorReasons", params["reason"])
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


class QtStillView(QWidget):
    """Shows a picture scaled to fit; in marking mode a click is reported in the
    picture's own pixel coordinates and the marked points are drawn."""

    point_clicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageCaptureView")
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._image: QImage | None = None
        self._source_size = (0, 0)  # the picture's full size (the still's, not the shown)
        self.points: list[tuple[float, float]] = []
        self.marking = False
        self.placeholder = self.tr("No camera open")

    def show_image(self, image: QImage | None, source_size: tuple[int, int] | None = None) -> None:
        self._image = image
        if image is not None:
            self._source_size = source_size or (image.width(), image.height())
        self.update()

    def _target(self) -> QRectF:
        if self._image is None:
            return QRectF()
        w, h = self._image.width(), self._image.height()
        scale = min(self.width() / w, self.height() / h)
        tw, th = w * scale, h * scale
        return QRectF((self.width() - tw) / 2, (self.height() - th) / 2, tw, th)

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1b1f24"))
        if self._image is None:
            painter.setPen(QColor("#c8ced6"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        target = self._target()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, self._image)
        if self.points:
            sw, sh = self._source_size
            pen = QPen(QColor("#ffcc00"), 2)
            painter.setPen(pen)
            shown = [
                QPointF(target.x() + x / sw * target.width(), target.y() + y / sh * target.height())
                for x, y in self.points
            ]
            for p in shown:
                painter.drawEllipse(p, 6, 6)
            if len(shown) == 2:
                painter.drawLine(shown[0], shown[1])

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        target = self._target()
        pos = event.position()
        if not self.marking or self._image is None or not target.contains(pos):
            return
        sw, sh = self._source_size
        x = (pos.x() - target.x()) / target.width() * sw
        y = (pos.y() - target.y()) / target.height() * sh
        self.point_clicked.emit(x, y)


class QtImageCapturePanel(QWidget):
    def __init__(self, model: CaptureModel, *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageCapturePanel")
        self.model = model
        self._tasks: set[asyncio.Future[None]] = set()

        self.device_combo = QComboBox(self)
        self.device_combo.setObjectName("imageCaptureDevice")
        self.open_button = QPushButton(self.tr("Open camera"), self)
        self.view = QtStillView(self)
        self.verdict_label = QLabel(self)
        self.verdict_label.setObjectName("imageCaptureVerdict")
        self.verdict_label.setWordWrap(True)
        self.take_button = QPushButton(self.tr("Take still"), self)
        self.take_button.setObjectName("imageCaptureTake")
        self.retake_button = QPushButton(self.tr("Retake"), self)
        self.keep_button = QPushButton(self.tr("Keep"), self)
        self.keep_button.setObjectName("imageCaptureKeep")
        # During a visit: ask the far end's cart for a full-resolution still.
        self.remote_button = QPushButton(self.tr("Take a picture at the cart"), self)
        self.remote_button.setObjectName("imageCaptureRemote")
        self.remote_button.setVisible(self.model.ctx.has(Capability.VISIT_STILLS))
        self._asking = False
        self._showing_received = False  # a still from the cart is on screen (no preview)

        self.site_combo = QComboBox(self)
        self.site_combo.setObjectName("imageCaptureSite")
        self.site_combo.addItem(self.tr("(not given)"), "")
        for code, display in sorted(BODY_SITES.items(), key=lambda kv: kv[1]):
            # Marked in ui.image_viewer (context BodySites); Spanish names have no suffix.
            name = QCoreApplication.translate("BodySites", display)
            self.site_combo.addItem(name.removesuffix(" structure"), code)
        self.laterality_combo = QComboBox(self)
        self.laterality_combo.setObjectName("imageCaptureLaterality")
        self.laterality_combo.addItem(self.tr("(not given)"), "")
        side_names = {
            "left": self.tr("Left"),
            "right": self.tr("Right"),
            "bilateral": self.tr("Both sides"),
        }
        for side in LATERALITIES:
            self.laterality_combo.addItem(side_names[side], side)
        self.view_combo = QComboBox(self)
        self.view_combo.setObjectName("imageCaptureView")
        self.view_combo.addItem(self.tr("(not given)"), "")
        for view in VIEWS:
            # Marked in ui.image_viewer (context StillViews); stored in English.
            self.view_combo.addItem(QCoreApplication.translate("StillViews", view), view)
        self.scale_button = QPushButton(self.tr("Mark two points"), self)
        self.scale_button.setCheckable(True)
        self.distance_spin = QDoubleSpinBox(self)
        self.distance_spin.setObjectName("imageCaptureDistance")
        self.distance_spin.setRange(0.0, 1000.0)
        self.distance_spin.setDecimals(1)
        self.distance_spin.setSuffix(" mm")
        self.distance_spin.setSpecialValueText(self.tr("distance"))
        self.scale_label = QLabel(self)
        self.scale_label.setObjectName("imageCaptureScale")
        self.status_label = QLabel(self)
        self.status_label.setObjectName("imageCaptureStatus")
        self.status_label.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.device_combo, 1)
        top.addWidget(self.open_button)
        actions = QHBoxLayout()
        actions.addWidget(self.take_button)
        actions.addWidget(self.retake_button)
        actions.addWidget(self.keep_button)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale_button)
        scale_row.addWidget(self.distance_spin)
        scale_row.addWidget(self.scale_label, 1)
        form = QFormLayout()
        form.addRow(self.tr("Site"), self.site_combo)
        form.addRow(self.tr("Side"), self.laterality_combo)
        form.addRow(self.tr("View"), self.view_combo)
        form.addRow(self.tr("Scale"), scale_row)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.verdict_label)
        layout.addLayout(actions)
        layout.addWidget(self.remote_button)
        layout.addLayout(form)
        layout.addWidget(self.status_label)

        self.open_button.clicked.connect(self._on_open)
        self.take_button.clicked.connect(self._on_take)
        self.retake_button.clicked.connect(self._on_retake)
        self.keep_button.clicked.connect(self._on_keep)
        self.remote_button.clicked.connect(self._on_remote)
        # While its camera is open, this console answers the far end's requests (the
        # cart's side: CaptureModel.open / close).
        self.model.captured_by = _os_account()
        self.scale_button.toggled.connect(self._on_mark_toggled)
        self.view.point_clicked.connect(self._on_point)
        self.distance_spin.valueChanged.connect(lambda _v: self._show_scale())
        self.refresh_devices()
        self._update_buttons()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.destroyed.connect(lambda *_: self._close_camera_later())

    # -- devices -------------------------------------------------------------------
    def refresh_devices(self) -> None:
        self.device_combo.clear()
        try:
            devices = self.model.devices()
        except ConsoleError as exc:
            self.status_label.setText(error_text(exc))
            devices = []
        for device in devices:
            largest = device.largest_mode
            size = f" ({largest.width_px}×{largest.height_px})" if largest else ""
            # Made-up devices' labels are marked in ui.i18n (context DeviceLabels).
            label = QCoreApplication.translate("DeviceLabels", device.label)
            self.device_combo.addItem(label + size, device.device_id)
        if not devices:
            self.status_label.setText(self.tr("No camera found."))

    def _on_open(self) -> None:
        device_id = self.device_combo.currentData()
        if device_id:
            self._spawn(self.open_device(str(device_id)))

    async def open_device(self, device_id: str) -> None:
        self._showing_received = False
        self.status_label.setText(self.tr("Opening the camera…"))
        self.view.show_image(None)
        self.view.placeholder = self.tr("Waiting for the camera…")
        await self.model.open(device_id)
        self.status_label.setText("")
        self._update_buttons()

    def _close_camera_later(self) -> None:
        if self.model.stream is not None:
            self._spawn(self.model.close())

    # -- the preview -----------------------------------------------------------------
    def tick(self) -> None:
        if self.remote_button.isVisible():
            self.remote_button.setEnabled(not self._asking and self.model.can_ask_remote())
        if self.model.candidate is not None or self._showing_received:
            return  # the still stays on screen until kept or retaken
        frame = self.model.preview()
        if frame is not None:
            self.view.show_image(_qimage(frame.rgb))

    # -- still, verdict, keep ---------------------------------------------------------
    def _on_take(self) -> None:
        self._spawn(self.take_still())

    async def take_still(self) -> None:
        self.take_button.setEnabled(False)
        self._showing_received = False
        self.status_label.setText(self.tr("Taking a full-resolution still…"))
        try:
            candidate = await self.model.take_still()
        finally:
            self._update_buttons()
        still = candidate.still
        assert still.rgb is not None
        self.view.points = []
        self.view.show_image(_qimage(still.rgb), (still.width_px, still.height_px))
        self.status_label.setText(
            self.tr("Still: {w} × {h} pixels").format(w=still.width_px, h=still.height_px)
        )
        self._show_verdict()
        self._update_buttons()

    def _show_verdict(self) -> None:
        candidate = self.model.candidate
        if candidate is None:
            self.verdict_label.setText("")
            self.verdict_label.setStyleSheet("")
            return
        if not candidate.problems:
            self.verdict_label.setText(self.tr("Sharp and well exposed."))
            self.verdict_label.setStyleSheet("color: #1e7d32; font-weight: bold;")
            return
        reasons = {
            "blurred": self.tr("Blurred: hold the camera still, let it focus, retake."),
            "overexposed": self.tr("Too bright: highlights are lost; dim the light."),
            "underexposed": self.tr("Too dark: add light or move closer."),
            "too_small": self.tr("Too small to be useful to a specialist."),
        }
        text = "\n".join(reasons.get(p, p) for p in candidate.problems)
        self.verdict_label.setText(text)
        self.verdict_label.setStyleSheet("color: #b45309; font-weight: bold;")

    def _on_retake(self) -> None:
        self.model.retake()
        self.view.points = []
        self.scale_button.setChecked(False)
        self._show_verdict()
        self._show_scale()
        self._update_buttons()

    def _on_keep(self) -> None:
        self._spawn(self.keep())

    async def keep(self) -> None:
        details = self.model.details
        details.body_site = str(self.site_combo.currentData()) or None
        details.laterality = str(self.laterality_combo.currentData()) or None
        details.view = str(self.view_combo.currentData()) or None
        details.scale_distance_mm = self.distance_spin.value() or None
        self.keep_button.setEnabled(False)
        try:
            await self.model.keep(captured_by=_os_account())
        finally:
            self._update_buttons()
        self.view.points = []
        self.scale_button.setChecked(False)
        self._show_verdict()
        self._show_scale()
        self.status_label.setText(self.tr("Kept with the encounter."))

    # -- during a visit: a still from the far end's cart -----------------------------------
    def _on_remote(self) -> None:
        self._spawn(self.ask_remote())

    async def ask_remote(self) -> None:
        self._asking = True
        self.remote_button.setEnabled(False)
        self.status_label.setText(self.tr("Asking the cart for a picture…"))
        try:
            await self.model.request_remote()
        finally:
            self._asking = False
        received = self.model.last_received
        assert received is not None
        still = received[0]
        loop = asyncio.get_running_loop()
        rgb, width, height = await loop.run_in_executor(None, preview_rgb, still.data)
        self._showing_received = True
        self.view.points = []
        self.view.show_image(_qimage(np.asarray(rgb)), (width, height))
        self.status_label.setText(
            self.tr("Picture from the cart: {w} × {h} pixels, kept with the encounter.").format(
                w=width, h=height
            )
        )

    # -- scale -------------------------------------------------------------------------
    def _on_mark_toggled(self, checked: bool) -> None:
        self.view.marking = checked and self.model.candidate is not None

    def _on_point(self, x: float, y: float) -> None:
        self.model.mark_scale_point(x, y)
        self.view.points = list(self.model.details.scale_points)
        self.view.update()
        if len(self.view.points) == 2:
            self.scale_button.setChecked(False)
        self._show_scale()

    def _show_scale(self) -> None:
        details = self.model.details
        details.scale_distance_mm = self.distance_spin.value() or None
        scale = details.scale()
        if scale is None:
            marked = len(details.scale_points)
            self.scale_label.setText(
                self.tr("{n} of 2 points marked").format(n=marked) if marked else ""
            )
            return
        self.scale_label.setText(self.tr("{v:.4g} mm per pixel").format(v=scale.mm_per_px))

    # -- plumbing --------------------------------------------------------------------
    def _update_buttons(self) -> None:
        has_camera = self.model.stream is not None
        candidate = self.model.candidate
        self.take_button.setEnabled(has_camera and candidate is None)
        self.retake_button.setEnabled(candidate is not None)
        self.keep_button.setEnabled(candidate is not None)
        self.scale_button.setEnabled(candidate is not None)
        if candidate is not None and candidate.problems:
            self.keep_button.setText(self.tr("Keep anyway"))
        else:
            self.keep_button.setText(self.tr("Keep"))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(self._reporting(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reporting(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except ConsoleError as exc:
            self.status_label.setText(error_text(exc).splitlines()[0])


def _os_account() -> str:
    """Who took the still until clinician sign-in exists: the OS account (as the audit)."""
    try:
        return getpass.getuser()
    except Exception:
        return ""
