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
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QTimer
from PySide6.QtGui import QFont
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

from app.errors import MESSAGES, ConsoleError
from app.records import AuscultationSite, StethoscopeFilter
from clinician_console_api import Capability, IncomingAudioTrack, PluginContext
from media.steth.capture import RingBuffer
from plugins.stethoscope.plugin import (
    DISPLAY_SECONDS,
    MAX_RECORD_S,
    TRACK_LABEL,
    StethoscopeModel,
    attach_recording,
    play,
    pump_incoming,
)
from plugins.stethoscope.plugin import error_text as plugin_error_text

TICK_MS = 33
PCG_POINTS = 1500  # min/max pairs drawn for the phonocardiogram
SPEC_NFFT = 4096
SPEC_COLUMNS = 150  # ~5 s at 30 Hz
SPEC_MAX_HZ = 2_000.0
AXIS_POINT_SIZE = 11
PLOT_MIN_HEIGHT_PX = 120
PCG_HEADROOM = 1.15  # the waveform's peak sits just under the plot's edge
PCG_DECAY = 0.97  # per tick: the scale follows a quieter sound back down within seconds
FILTER_LABELS = {
    StethoscopeFilter.BELL: QT_TRANSLATE_NOOP("QtStethoscopePanel", "Bell (20-200 Hz)"),
    StethoscopeFilter.DIAPHRAGM: QT_TRANSLATE_NOOP("QtStethoscopePanel", "Diaphragm (100-500 Hz)"),
    StethoscopeFilter.LUNG: QT_TRANSLATE_NOOP("QtStethoscopePanel", "Lung (100-1500 Hz)"),
    StethoscopeFilter.WIDE: QT_TRANSLATE_NOOP("QtStethoscopePanel", "Wide (20-2000 Hz)"),
}
SITE_LABELS = {
    "aortic": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Aortic"),
    "pulmonic": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Pulmonic"),
    "tricuspid": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Tricuspid"),
    "mitral": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Mitral"),
    "lung": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Lung"),
    "lung_left": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Left lung"),
    "lung_right": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Right lung"),
    "lung_left_upper": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Left upper lung"),
    "lung_left_lower": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Left lower lung"),
    "lung_right_upper": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Right upper lung"),
    "lung_right_middle": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Right middle lung"),
    "lung_right_lower": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Right lower lung"),
    "other": QT_TRANSLATE_NOOP("QtStethoscopePanel", "Other"),
}
CONFIDENCE_WORDS = (  # (lowest confidence, word)
    (0.7, QT_TRANSLATE_NOOP("QtStethoscopePanel", "high")),
    (0.4, QT_TRANSLATE_NOOP("QtStethoscopePanel", "medium")),
    (0.0, QT_TRANSLATE_NOOP("QtStethoscopePanel", "low")),
)


def _tr(text: str) -> str:
    return QCoreApplication.translate("QtStethoscopePanel", text)


def filter_label(mode: StethoscopeFilter) -> str:
    return _tr(str(FILTER_LABELS[mode]))


# The model's own words (plugins/stethoscope/plugin.py is Qt-free and keeps them in English).
MODEL_TEXTS = (
    QT_TRANSLATE_NOOP(
        "QtStethoscopePanel", "The stethoscope stopped delivering sound (unplugged?)."
    ),
    QT_TRANSLATE_NOOP(
        "QtStethoscopePanel",
        "Playback is not available: check that a speaker or headset is connected.",
    ),
    QT_TRANSLATE_NOOP(
        "QtStethoscopePanel", "The stethoscope could not do that. Details were written to the log."
    ),
    QT_TRANSLATE_NOOP(
        "QtStethoscopePanel",
        "The stethoscope input chosen in Settings is not connected: the default input is "
        "selected instead.",
    ),
    QT_TRANSLATE_NOOP(
        "QtStethoscopePanel",
        "The stethoscope input chosen in Settings is not connected, and no other input is.",
    ),
)


def model_text(text: str) -> str:
    """One of the model's English texts (MODEL_TEXTS) in the user's language."""
    return _tr(text)


def error_text(exc: BaseException) -> str:
    """What went wrong, in the user's language: a console error's message key through the
    catalogue (context ``messages``, as ui.i18n.message does), anything else the model's
    generic sentence."""
    if not isinstance(exc, ConsoleError):
        return model_text(plugin_error_text(exc))
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


def site_label(site: AuscultationSite) -> str:
    text = SITE_LABELS.get(site.value)
    return _tr(str(text)) if text else site.value.replace("_", " ")


def confidence_word(confidence: float) -> str:
    return next(_tr(str(word)) for low, word in CONFIDENCE_WORDS if confidence >= low)


def heart_rate_text(bpm: float | None, confidence: float | None) -> str:
    """ "Heart rate 73 /min · confidence high" (or a dash while there is none)."""
    if bpm is None or confidence is None:
        return QCoreApplication.translate("QtStethoscopePanel", "Heart rate — /min")
    return (
        QCoreApplication.translate("QtStethoscopePanel", "Heart rate %1 /min · confidence %2")
        .replace("%1", f"{bpm:.0f}")
        .replace("%2", confidence_word(confidence))
    )


def recording_time_text(seconds: float) -> str:
    whole = int(seconds)
    limit = int(MAX_RECORD_S)
    return f"● {whole // 60}:{whole % 60:02d} / {limit // 60}:{limit % 60:02d}"


def _shrinkable(combo: QComboBox) -> None:
    # A long device name must not widen the whole side column.
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)


def _label(text: str, buddy: QWidget, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setBuddy(buddy)
    return label


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
        self.device_combo.setAccessibleName(self.tr("Stethoscope input"))
        _shrinkable(self.device_combo)
        self.refresh_devices()
        self.open_button = QPushButton(self.tr("Listen"), self)
        self.open_button.setObjectName("stethListen")
        self.gain_spin = QDoubleSpinBox(self)
        self.gain_spin.setObjectName("stethGain")
        self.gain_spin.setAccessibleName(self.tr("Gain"))
        self.gain_spin.setRange(0.1, 20.0)
        self.gain_spin.setSingleStep(0.5)
        self.gain_spin.setValue(1.0)
        self.gain_spin.setSuffix("×")
        self.gain_spin.setMaximumWidth(90)
        self.clip_light = QLabel("●", self)
        self.clip_light.setObjectName("stethClipLight")
        self.clip_light.setToolTip(self.tr("Clipping: lower the gain when this turns red"))
        self.clip_light.setAccessibleName(self.tr("Clipping light"))
        self.filter_combo = QComboBox(self)
        self.filter_combo.setObjectName("stethFilter")
        self.filter_combo.setAccessibleName(self.tr("Filter"))
        _shrinkable(self.filter_combo)
        for mode in FILTER_LABELS:
            self.filter_combo.addItem(filter_label(mode), mode.value)
        self.filter_combo.setCurrentIndex(list(FILTER_LABELS).index(model.filter.mode))
        self.hr_label = QLabel(self)
        self.hr_label.setObjectName("stethHeartRate")
        self.hr_label.setAccessibleName(self.tr("Heart rate"))
        # Always there, so nothing below moves when a rate appears or its width changes.
        self.hr_label.setText(heart_rate_text(None, None))
        self.hr_label.setWordWrap(True)  # a narrow column wraps it instead of clipping
        self.site_combo = QComboBox(self)
        self.site_combo.setObjectName("stethSite")
        self.site_combo.setAccessibleName(self.tr("Auscultation site"))
        _shrinkable(self.site_combo)
        for site in AuscultationSite:
            self.site_combo.addItem(site_label(site), site.value)
        self.record_button = QPushButton(self.tr("Record"), self)
        self.record_button.setObjectName("stethRecord")
        self.record_button.setCheckable(True)
        self.record_timer = QLabel("", self)
        self.record_timer.setObjectName("stethRecordTimer")
        self.record_timer.setAccessibleName(self.tr("Recording time"))
        self.record_timer.hide()
        self.play_button = QPushButton(self.tr("Play"), self)
        self.play_button.setObjectName("stethPlay")
        self.attach_button = QPushButton(self.tr("Attach"), self)
        self.attach_button.setObjectName("stethAttach")
        self.attach_button.setToolTip(self.tr("Attach the recording to this encounter"))
        self.send_button = QPushButton(self.tr("Send to visit"), self)
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
        self._applied_choice: str | None = None
        self._stand_in: tuple[str, str] | None = None  # (device, note): the default input
        self.select_chosen_input()

        pg.setConfigOptions(antialias=False)
        axis_font = QFont()
        axis_font.setPointSize(AXIS_POINT_SIZE)
        self.pcg_plot = pg.PlotWidget(self)
        self.pcg_plot.setObjectName("stethPcg")
        self.pcg_plot.setYRange(-1.0, 1.0)
        self.pcg_plot.setXRange(0, DISPLAY_SECONDS)
        self.pcg_plot.setLabel("bottom", self.tr("seconds"))
        self.pcg_plot.setMouseEnabled(x=False, y=False)
        self.pcg_plot.hideButtons()
        self.pcg_curve = self.pcg_plot.plot(pen=pg.mkPen("#0f766e", width=1))
        self._pcg_scale = 0.0  # the first sound sets it
        self.spec_plot = pg.PlotWidget(self)
        self.spec_plot.setObjectName("stethSpectrogram")
        self.spec_plot.setLabel("left", self.tr("Hz"))
        self.spec_plot.setMouseEnabled(x=False, y=False)
        self.spec_plot.hideButtons()
        for plot in (self.pcg_plot, self.spec_plot):
            plot.setBackground("#ffffff")
            plot.setMinimumHeight(PLOT_MIN_HEIGHT_PX)
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setTickFont(axis_font)
                axis.setPen("#52606d")
                axis.setTextPen("#1f2933")
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
        self.spec_plot.setLabel("bottom", self.tr("seconds"))
        self._window = np.hanning(SPEC_NFFT)
        self._spec_hop = round(fs * DISPLAY_SECONDS / SPEC_COLUMNS)
        self._spec_pending = 0

        # Two short rows of controls per line so the panel fits a 280 px side column.
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(1, 1)
        # One control per row after its label, the two source buttons on their own row:
        # narrow enough for the side column in every language.
        grid.addWidget(_label(self.tr("Input"), self.device_combo, self), 0, 0)
        grid.addWidget(self.device_combo, 0, 1)
        source_row = QHBoxLayout()
        source_row.addWidget(self.open_button)
        source_row.addWidget(self.send_button)
        source_row.addStretch(1)
        grid.addLayout(source_row, 1, 1)
        gain_row = QHBoxLayout()
        gain_row.addWidget(self.gain_spin)
        gain_row.addWidget(self.clip_light)
        gain_row.addStretch(1)
        grid.addWidget(_label(self.tr("Gain"), self.gain_spin, self), 2, 0)
        grid.addLayout(gain_row, 2, 1)
        grid.addWidget(_label(self.tr("Filter"), self.filter_combo, self), 3, 0)
        grid.addWidget(self.filter_combo, 3, 1)
        grid.addWidget(_label(self.tr("Site"), self.site_combo, self), 4, 0)
        grid.addWidget(self.site_combo, 4, 1)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        buttons.addWidget(self.record_button)
        buttons.addWidget(self.record_timer)
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.attach_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.hr_label)
        # The phonocardiogram is what a clinician reads: never smaller than the spectrogram.
        layout.addWidget(self.pcg_plot, 3)
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
        self._in_visit = False
        if ctx is not None and ctx.has(Capability.VISIT_TRACKS):
            tracks = ctx.visit_tracks()
            self._in_visit = tracks.visit_active()
            self.send_button.setEnabled(self._in_visit)
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
            # The made-up devices' labels are marked in ui.i18n (context DeviceLabels);
            # a real input's name is in no catalogue and stays as the OS gives it.
            self.device_combo.addItem(QCoreApplication.translate("DeviceLabels", label), device_id)

    def select_chosen_input(self) -> None:
        """Select the stethoscope input chosen in Settings › Devices (the default input,
        with a note saying so, when it is not connected). Done when the panel is built,
        and again at Listen when Settings changed since."""
        choice = self._ctx.device_choices().stethoscope if self._ctx is not None else ""
        if choice == self._applied_choice:
            return
        self._applied_choice = choice
        device, note = self.model.choose_input(choice)
        self._stand_in = (device, model_text(note)) if note else None
        index = self.device_combo.findData(device)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)
        self.status_label.setText(self._stand_in[1] if self._stand_in else "")

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
            self.status_label.setText(self.tr("Listening to the remote stethoscope."))
            return
        try:
            self.model.open(device, gain=self.gain_spin.value())
        except ConsoleError as exc:
            self.status_label.setText(error_text(exc))
            return
        # Listening to the default input in place of the chosen one: keep saying so.
        stand_in = self._stand_in
        self.status_label.setText(stand_in[1] if stand_in and stand_in[0] == device else "")

    def _on_open(self) -> None:
        self.select_chosen_input()
        self.open_device(str(self.device_combo.currentData()))

    # -- the visit -----------------------------------------------------------------
    def _on_visit_change(self, active: bool) -> None:
        self.send_button.setEnabled(active)
        if active:
            self._in_visit = True
            return
        if self.send_button.isChecked():
            self.send_button.setChecked(False)
        if self._in_visit:
            # The call ended: stop listening (a remote stethoscope is gone anyway, and a
            # local one must not keep capturing in an empty room). A recording is kept.
            self._in_visit = False
            self.stop_listening()

    def stop_listening(self) -> None:
        if self.model.recording:
            self.record_button.setChecked(False)
        self.model.close()
        self.status_label.setText(self.tr("Listening stopped: the visit ended."))

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
        self.device_combo.addItem(
            self.tr("Remote stethoscope (%1)").replace("%1", track.participant_id), device_id
        )
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
            self.record_button.setText(self.tr("Stop"))
            self._show_record_time()
            return
        self.record_button.setText(self.tr("Record"))
        self.record_timer.hide()
        rec = self.model.stop_recording()
        self._recording_done(rec.interrupted if rec else "")

    def _recording_done(self, interrupted: str) -> None:
        rec = self.model.last_recording
        has = rec is not None
        self.play_button.setEnabled(has)
        can_attach = has and self._ctx is not None and self._ctx.has(Capability.ENCOUNTER_ATTACH)
        self.attach_button.setEnabled(can_attach)
        if rec is not None:
            length = f"{rec.metadata.duration_s:.1f}"
            site = site_label(rec.metadata.site)
            if interrupted:
                error = self.model.status_error
                why = error_text(error) if error is not None else model_text(interrupted)
                text = self.tr("Recorded %1 s at %2; stopped early: %3").replace("%3", why)
            elif rec.metadata.duration_s >= MAX_RECORD_S - 0.5:
                text = self.tr("Recorded %1 s at %2: the longest a recording can be.")
            else:
                text = self.tr("Recorded %1 s at %2")
            self.status_label.setText(text.replace("%1", length).replace("%2", site))

    def _on_play(self) -> None:
        rec = self.model.last_recording
        if rec is not None:
            problem = play(rec.samples, rec.metadata.sample_rate_hz)
            if problem:
                self.status_label.setText(model_text(problem))

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
            self.status_label.setText(self.tr("Attached to the encounter."))
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
            self.record_button.setText(self.tr("Record"))
            self.record_button.blockSignals(False)
            self.record_timer.hide()
            self._recording_done(
                self.model.last_recording.interrupted if self.model.last_recording else ""
            )
        if self.model.status:
            error = self.model.status_error
            self.status_label.setText(
                error_text(error) if error is not None else model_text(self.model.status)
            )
        _peak, clipped = self.model.clipping()
        self._set_clip(clipped)
        self._draw(new.size)
        if self.model.recording:
            self._show_record_time()
        hr = self.model.heart_rate
        if hr is not None and hr.bpm is not None:
            self.hr_label.setText(heart_rate_text(hr.bpm, hr.confidence))
            self.hr_label.setProperty("known", True)
        else:
            self.hr_label.setText(heart_rate_text(None, None))
            self.hr_label.setProperty("known", False)

    def heart_rate_shown(self) -> bool:
        return bool(self.hr_label.property("known"))

    def _show_record_time(self) -> None:
        self.record_timer.setText(recording_time_text(self.model.recorded_s))
        self.record_timer.show()

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
            # Auto-scale: jump up at once to show a louder sound whole, ease back down
            # so a quiet heart is not drawn as a flat line.
            peak = float(np.max(np.abs(y))) * PCG_HEADROOM
            self._pcg_scale = max(peak, self._pcg_scale * PCG_DECAY, 1e-4)
            self.pcg_plot.setYRange(-self._pcg_scale, self._pcg_scale, padding=0)
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
