"""The stethoscope panel (Qt): device, gain, clipping light, filter, live views, HR, record.

``QtStethoscopePanel`` renders a :class:`~plugins.stethoscope.plugin.StethoscopeModel`.
A 30 Hz ``QTimer`` pulls new samples from the model (which reads the capture ring
buffer); drawing never touches the audio callback, so a slow frame only makes
the next pull bigger.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any

import numpy as np

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import ConsoleError
from app.records import AuscultationSite, StethoscopeFilter
from clinician_console_api import Capability, IncomingAudioTrack, PluginContext
from media.steth.capture import RingBuffer
from plugins.stethoscope.plugin import (
    DISPLAY_SECONDS,
    TRACK_LABEL,
    StethoscopeModel,
    attach_recording,
    error_text,
    play,
    pump_incoming,
)

TICK_MS = 33
PCG_POINTS = 1500  # min/max pairs drawn for the phonocardiogram
SPEC_NFFT = 4096
SPEC_COLUMNS = 150  # ~5 s at 30 Hz
SPEC_MAX_HZ = 2_000.0
FILTER_LABELS = {
    StethoscopeFilter.BELL: "Bell (20-200 Hz)",
    StethoscopeFilter.DIAPHRAGM: "Diaphragm (100-500 Hz)",
    StethoscopeFilter.LUNG: "Lung (100-1500 Hz)",
    StethoscopeFilter.WIDE: "Wide (20-2000 Hz)",
}


def make_panel(ctx: PluginContext, parent: QWidget) -> QWidget:
    """Panel factory (GUI thread)."""
    return QtStethoscopePanel(StethoscopeModel(), ctx=ctx, parent=parent)


class QtStethoscopePanel(QWidget):
    def __init__(
        self,
        model: StethoscopeModel,
        *,
        ctx: PluginContext | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("stethoscopePanel")
        self.model = model
        self._ctx = ctx
        fs = model.sample_rate_hz

        self.device_combo = QComboBox(self)
        self.device_combo.setObjectName("stethDevice")
        self.refresh_devices()
        self.open_button = QPushButton("Listen", self)
        self.gain_spin = QDoubleSpinBox(self)
        self.gain_spin.setRange(0.1, 20.0)
        self.gain_spin.setSingleStep(0.5)
        self.gain_spin.setValue(1.0)
        self.gain_spin.setSuffix("×")
        self.clip_light = QLabel("●", self)
        self.clip_light.setObjectName("stethClipLight")
        self.clip_light.setToolTip("Clipping: lower the gain when this turns red")
        self.filter_combo = QComboBox(self)
        self.filter_combo.setObjectName("stethFilter")
        for mode, label in FILTER_LABELS.items():
            self.filter_combo.addItem(label, mode.value)
        self.filter_combo.setCurrentIndex(list(FILTER_LABELS).index(model.filter.mode))
        self.hr_label = QLabel(self)
        self.hr_label.setObjectName("stethHeartRate")
        self.hr_label.setStyleSheet("font-size: 20pt; font-weight: bold;")
        self.hr_label.setVisible(False)
        self.site_combo = QComboBox(self)
        self.site_combo.setObjectName("stethSite")
        for site in AuscultationSite:
            self.site_combo.addItem(site.value.replace("_", " "), site.value)
        self.record_button = QPushButton("Record", self)
        self.record_button.setCheckable(True)
        self.play_button = QPushButton("Play", self)
        self.attach_button = QPushButton("Attach to encounter", self)
        self.send_button = QPushButton("Send to visit", self)
        self.send_button.setObjectName("stethSend")
        self.send_button.setCheckable(True)
        self.send_button.setEnabled(False)
        self.play_button.setEnabled(False)
        self.attach_button.setEnabled(False)
        # Remote stethoscopes heard in the visit: device id "remote:<n>" -> its ring.
        self._remote_rings: dict[str, RingBuffer] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self.status_label = QLabel(self)
        self.status_label.setObjectName("stethStatus")
        self.status_label.setWordWrap(True)

        pg.setConfigOptions(antialias=False)
        self.pcg_plot = pg.PlotWidget(self)
        self.pcg_plot.setObjectName("stethPcg")
        self.pcg_plot.setYRange(-1.0, 1.0)
        self.pcg_plot.setXRange(0, DISPLAY_SECONDS)
        self.pcg_plot.setLabel("bottom", "s")
        self.pcg_plot.setMouseEnabled(x=False, y=False)
        self.pcg_curve = self.pcg_plot.plot(pen=pg.mkPen("#2ecc71", width=1))
        self.spec_plot = pg.PlotWidget(self)
        self.spec_plot.setObjectName("stethSpectrogram")
        self.spec_plot.setLabel("left", "Hz")
        self.spec_plot.setMouseEnabled(x=False, y=False)
        self.spec_image = pg.ImageItem()
        self.spec_plot.addItem(self.spec_image)
        self.spec_image.setColorMap(pg.colormap.get("viridis"))
        self._spec_bins = int(SPEC_MAX_HZ / (fs / SPEC_NFFT))
        self._spec = np.full((SPEC_COLUMNS, self._spec_bins), -100.0, dtype=np.float32)
        # An image first, then its rectangle: setRect on an empty ImageItem scales by 0.
        self.spec_image.setImage(self._spec, autoLevels=False, levels=(-40.0, 40.0))
        self.spec_image.setRect(0, 0, DISPLAY_SECONDS, SPEC_MAX_HZ)
        self.spec_plot.setXRange(0, DISPLAY_SECONDS)
        self.spec_plot.setYRange(0, SPEC_MAX_HZ)
        self.spec_plot.setLabel("bottom", "s")
        self._window = np.hanning(SPEC_NFFT)
        self._spec_hop = round(fs * DISPLAY_SECONDS / SPEC_COLUMNS)
        self._spec_pending = 0

        top = QHBoxLayout()
        top.addWidget(QLabel("Input", self))
        top.addWidget(self.device_combo, 1)
        top.addWidget(self.open_button)
        top.addWidget(QLabel("Gain", self))
        top.addWidget(self.gain_spin)
        top.addWidget(self.clip_light)
        top.addWidget(self.send_button)
        mid = QGridLayout()
        mid.addWidget(QLabel("Filter", self), 0, 0)
        mid.addWidget(self.filter_combo, 0, 1)
        mid.addWidget(self.hr_label, 0, 2)
        mid.addWidget(QLabel("Site", self), 1, 0)
        mid.addWidget(self.site_combo, 1, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.record_button)
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.attach_button)
        mid.addLayout(buttons, 1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(mid)
        layout.addWidget(self.pcg_plot, 2)
        layout.addWidget(self.spec_plot, 2)
        layout.addWidget(self.status_label)
        self._set_clip(False)

        self.open_button.clicked.connect(self._on_open)
        self.gain_spin.valueChanged.connect(self.model.set_gain)
        self.filter_combo.currentIndexChanged.connect(self._on_filter)
        self.record_button.toggled.connect(self._on_record)
        self.play_button.clicked.connect(self._on_play)
        self.attach_button.clicked.connect(self._on_attach)
        self.send_button.toggled.connect(self._on_send)
        if ctx is not None and ctx.has(Capability.VISIT_TRACKS):
            tracks = ctx.visit_tracks()
            self.send_button.setEnabled(tracks.visit_active())
            unsubscribes = [
                tracks.on_visit_change(self._on_visit_change),
                tracks.subscribe_audio(TRACK_LABEL, self._on_remote_track),
            ]
            # Unsubscribe with the widget: a callback into a deleted panel would raise
            # and the host would disable the whole plugin. (Unsubscribe is idempotent.)
            for unsubscribe in unsubscribes:
                ctx.add_cleanup(unsubscribe)
                self.destroyed.connect(lambda *_, u=unsubscribe: u())
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.destroyed.connect(lambda *_: model.shutdown())

    # -- controls ----------------------------------------------------------------
    def refresh_devices(self) -> None:
        self.device_combo.clear()
        for device_id, label in self.model.devices():
            self.device_combo.addItem(label, device_id)

    def open_device(self, device: str) -> None:
        # Keep the chooser showing what is actually heard (a call from code, or a
        # remote stethoscope arriving, must not leave it naming another input).
        index = self.device_combo.findData(device)
        if index >= 0 and index != self.device_combo.currentIndex():
            blocked = self.device_combo.blockSignals(True)
            self.device_combo.setCurrentIndex(index)
            self.device_combo.blockSignals(blocked)
        if device in self._remote_rings:
            self.model.close()
            self.model.use_ring(self._remote_rings[device])
            self.status_label.setText("Listening to the remote stethoscope.")
            return
        try:
            self.model.open(device, gain=self.gain_spin.value())
        except ConsoleError as exc:
            self.status_label.setText(error_text(exc))
            return
        self.status_label.setText("")

    def _on_open(self) -> None:
        self.open_device(str(self.device_combo.currentData()))

    # -- the visit -----------------------------------------------------------------
    def _on_visit_change(self, active: bool) -> None:
        self.send_button.setEnabled(active)
        if not active and self.send_button.isChecked():
            self.send_button.setChecked(False)

    def _on_send(self, checked: bool) -> None:
        ctx = self._ctx
        if ctx is None:
            return

        async def change() -> None:
            try:
                if checked:
                    await self.model.start_sending(ctx)
                else:
                    await self.model.stop_sending()
            except ConsoleError as exc:
                self.status_label.setText(error_text(exc))
                self.send_button.blockSignals(True)
                self.send_button.setChecked(False)
                self.send_button.blockSignals(False)

        self._spawn(change())

    def _on_remote_track(self, track: IncomingAudioTrack) -> None:
        device_id = f"remote:{len(self._remote_rings) + 1}"
        ring = RingBuffer(30 * self.model.sample_rate_hz)
        self._remote_rings[device_id] = ring
        self.device_combo.addItem(f"Remote stethoscope ({track.participant_id})", device_id)
        self._spawn(pump_incoming(track, ring, sample_rate_hz=self.model.sample_rate_hz))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_filter(self, index: int) -> None:
        self.model.set_filter(str(self.filter_combo.itemData(index)))

    def _on_record(self, checked: bool) -> None:
        if checked:
            self.model.start_recording(str(self.site_combo.currentData()))
            self.record_button.setText("Stop")
            return
        self.record_button.setText("Record")
        rec = self.model.stop_recording()
        self._recording_done(rec.interrupted if rec else "")

    def _recording_done(self, interrupted: str) -> None:
        rec = self.model.last_recording
        has = rec is not None
        self.play_button.setEnabled(has)
        can_attach = has and self._ctx is not None and self._ctx.has(Capability.ENCOUNTER_ATTACH)
        self.attach_button.setEnabled(can_attach)
        if rec is not None:
            text = f"Recorded {rec.metadata.duration_s:.1f} s at {rec.metadata.site.value}"
            if interrupted:
                text += f"; stopped early: {interrupted}"
            self.status_label.setText(text)

    def _on_play(self) -> None:
        rec = self.model.last_recording
        if rec is not None:
            problem = play(rec.samples, rec.metadata.sample_rate_hz)
            if problem:
                self.status_label.setText(problem)

    def _on_attach(self) -> None:
        rec = self.model.last_recording
        if rec is None or self._ctx is None:
            return
        ctx = self._ctx

        async def attach() -> None:
            try:
                await attach_recording(ctx, rec)
            except ConsoleError as exc:
                self.status_label.setText(error_text(exc))
                return
            self.status_label.setText("Attached to the encounter.")
            self.attach_button.setEnabled(False)

        self._spawn(attach())

    def _set_clip(self, clipped: bool) -> None:
        colour = "#e74c3c" if clipped else "#555555"
        self.clip_light.setStyleSheet(f"color: {colour}; font-size: 16pt;")
        self.clip_light.setProperty("clipped", clipped)

    # -- the display tick --------------------------------------------------------
    def tick(self) -> None:
        was_recording = self.model.recording
        new = self.model.pull()
        if was_recording and not self.model.recording:  # stopped by unplug or length cap
            self.record_button.blockSignals(True)
            self.record_button.setChecked(False)
            self.record_button.setText("Record")
            self.record_button.blockSignals(False)
            self._recording_done(
                self.model.last_recording.interrupted if self.model.last_recording else ""
            )
        if self.model.status:
            self.status_label.setText(self.model.status)
        _peak, clipped = self.model.clipping()
        self._set_clip(clipped)
        self._draw(new.size)
        hr = self.model.heart_rate
        if hr is not None and hr.bpm is not None:
            self.hr_label.setText(f"♥ {hr.bpm:.0f} bpm  ({hr.confidence:.0%})")
            self.hr_label.setVisible(True)
        else:
            self.hr_label.setVisible(False)

    def _draw(self, new_samples: int) -> None:
        if new_samples == 0:
            return
        fs = self.model.sample_rate_hz
        data = self.model.display.latest(round(DISPLAY_SECONDS * fs))
        if data.size >= 2 * PCG_POINTS:
            usable = data[: data.size - data.size % PCG_POINTS].reshape(PCG_POINTS, -1)
            y = np.empty(2 * PCG_POINTS, dtype=np.float32)
            y[0::2] = usable.min(axis=1)
            y[1::2] = usable.max(axis=1)
            x = np.linspace(0, usable.size / fs, y.size)
            self.pcg_curve.setData(x, y)
        # One column per hop of new audio, so the time axis is true however late a tick is.
        self._spec_pending += new_samples
        columns = min(SPEC_COLUMNS, self._spec_pending // self._spec_hop)
        self._spec_pending -= columns * self._spec_hop
        if columns == 0 or data.size < SPEC_NFFT:
            return
        ends = data.size - self._spec_hop * np.arange(columns - 1, -1, -1)
        ends = ends[ends >= SPEC_NFFT]
        segments = np.stack([data[e - SPEC_NFFT : e] for e in ends]) * self._window
        power = np.abs(np.fft.rfft(segments, axis=1))[:, : self._spec_bins] ** 2
        self._spec = np.roll(self._spec, -len(ends), axis=0)
        self._spec[-len(ends) :] = 10 * np.log10(power + 1e-12)
        self.spec_image.setImage(self._spec, autoLevels=False, levels=(-40.0, 40.0))
