"""The stethoscope panel: builds, switches filters, shows/hides the heart rate; screenshot."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from app.records import StethoscopeFilter
from media.steth import synth
from media.steth.capture import RingBuffer
from plugins.stethoscope._qt import QtStethoscopePanel
from plugins.stethoscope.plugin import StethoscopeModel

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def panel(qtbot: QtBot) -> QtStethoscopePanel:
    widget = QtStethoscopePanel(StethoscopeModel(sample_rate_hz=48_000))
    qtbot.addWidget(widget)
    widget.resize(900, 640)
    widget.show()
    return widget


def test_panel_builds_with_the_synthetic_source_listed(panel: QtStethoscopePanel) -> None:
    ids = [panel.device_combo.itemData(i) for i in range(panel.device_combo.count())]
    assert "synthetic" in ids
    assert [panel.filter_combo.itemData(i) for i in range(4)] == [
        m.value for m in StethoscopeFilter
    ]
    assert not panel.heart_rate_shown()
    assert panel.hr_label.isVisible()  # a placeholder keeps the rows still


def test_filter_switching_reaches_the_model(panel: QtStethoscopePanel) -> None:
    panel.filter_combo.setCurrentIndex(0)
    assert panel.model.filter.mode is StethoscopeFilter.BELL
    panel.filter_combo.setCurrentIndex(2)
    assert panel.model.filter.mode is StethoscopeFilter.LUNG


def _feed(panel: QtStethoscopePanel, samples: np.ndarray, qtbot: QtBot) -> None:
    """Feed a remote-like ring (what RemoteStethConsumer fills) and let the panel tick."""
    ring = RingBuffer(20 * 48_000)
    panel.model.use_ring(ring)
    ring.write(samples.astype(np.float32))


def test_heart_rate_shown_for_a_heart_and_hidden_for_speech(
    panel: QtStethoscopePanel, qtbot: QtBot
) -> None:
    heart = synth.heart_sound(75, 9.0, sample_rate_hz=48_000, murmur=True, snr_db=20.0)
    _feed(panel, heart, qtbot)
    qtbot.waitUntil(panel.heart_rate_shown, timeout=10_000)
    assert (
        "Heart rate 75 /min" in panel.hr_label.text()
        or "Heart rate 74 /min" in panel.hr_label.text()
        or ("Heart rate 76 /min" in panel.hr_label.text())
    )
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(300)  # let a few spectrogram columns scroll in
    assert panel.grab().save(str(ARTIFACTS / "steth-panel.png"), "PNG")
    speech = synth.speech_like(9.0, sample_rate_hz=48_000, seed=4)
    _feed(panel, speech, qtbot)
    qtbot.waitUntil(lambda: not panel.heart_rate_shown(), timeout=10_000)


def test_clipping_light_follows_the_gain(panel: QtStethoscopePanel, qtbot: QtBot) -> None:
    panel.open_device("synthetic")
    qtbot.waitUntil(lambda: panel.model.display.written > 48_000, timeout=20_000)
    assert panel.clip_light.property("clipped") is False
    panel.gain_spin.setValue(8.0)
    qtbot.waitUntil(lambda: panel.clip_light.property("clipped") is True, timeout=5_000)


def test_record_then_play_enabled(panel: QtStethoscopePanel, qtbot: QtBot) -> None:
    _feed(panel, synth.heart_sound(60, 4.0, sample_rate_hz=48_000), qtbot)
    panel.record_button.setChecked(True)
    qtbot.waitUntil(lambda: panel.model.display.written >= 4 * 48_000, timeout=5_000)
    panel.record_button.setChecked(False)
    assert panel.play_button.isEnabled()
    assert not panel.attach_button.isEnabled()  # no plugin context with encounter.attach
    assert "Recorded 4.0 s" in panel.status_label.text()


class FakeOutgoing:
    label = "stethoscope"
    sample_rate_hz = 48_000

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.closed = False

    def write(self, block: np.ndarray) -> None:
        self.blocks.append(block)

    async def close(self) -> None:
        self.closed = True


class FakeIncoming:
    participant_id = "nurse-cart"
    label = "stethoscope"
    sample_rate_hz = 48_000

    def __init__(self, samples: np.ndarray) -> None:
        self._samples = samples.astype(np.float32)
        self._pos = 0

    async def read(self) -> np.ndarray:
        import asyncio

        from clinician_console_api import CapabilityUnavailableError

        if self._pos >= self._samples.size:
            raise CapabilityUnavailableError(capability="visit.tracks", reason="ended")
        await asyncio.sleep(0)
        block = self._samples[self._pos : self._pos + 48_000]
        self._pos += block.size
        return block.reshape(-1, 1)


class FakeVisitTracks:
    """Stands in for the visit session's ``visit.tracks`` provider, which the lead wires
    to the real media session later; the plugin side is what is under test here."""

    def __init__(self, incoming: FakeIncoming) -> None:
        self.incoming = incoming
        self.outgoing: list[tuple[str, object, FakeOutgoing]] = []

    active = True

    def visit_active(self) -> bool:
        return self.active

    def on_visit_change(self, callback):  # type: ignore[no-untyped-def]
        self.changed = callback
        return lambda: None

    async def add_audio_track(self, label, *, sample_rate_hz=48_000, channels=1, options=None):  # type: ignore[no-untyped-def]
        track = FakeOutgoing()
        self.outgoing.append((label, options, track))
        return track

    def subscribe_audio(self, label, callback):  # type: ignore[no-untyped-def]
        callback(self.incoming)
        return lambda: None


def test_sends_to_the_visit_and_shows_the_remote_stethoscope(
    qtbot: QtBot, aio: object, tmp_path: Path
) -> None:
    from clinician_console_api.testing import make_host
    from plugins.stethoscope._qt import make_panel

    remote = FakeIncoming(synth.heart_sound(110, 9.0, sample_rate_hz=48_000, snr_db=20.0))
    tracks = FakeVisitTracks(remote)
    host = make_host(tmp_path / "plugins", providers={"visit.tracks": tracks})
    manifest = Path(__file__).resolve().parents[2] / "plugins/stethoscope/plugin.toml"
    host.add_manifest(manifest)
    aio.run(host.activate("clinician-console.stethoscope"))  # type: ignore[attr-defined]
    ctx = host.context("clinician-console.stethoscope")
    panel = make_panel(ctx, None)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.send_button.isEnabled()
    # the remote stethoscope is offered as an input and fills its ring
    ids = [panel.device_combo.itemData(i) for i in range(panel.device_combo.count())]
    assert "remote:1" in ids
    panel.open_device("remote:1")  # before the pump task has run: hears it all
    aio.wait_until(panel.heart_rate_shown, timeout=10)  # type: ignore[attr-defined]
    assert (
        "Heart rate 110 /min" in panel.hr_label.text()
        or "Heart rate 109 /min" in panel.hr_label.text()
        or ("Heart rate 111 /min" in panel.hr_label.text())
    )
    # the listener's end: the remote cart's stethoscope, with this console's own filter
    panel.resize(900, 640)
    aio.wait_until(lambda: panel.grab().save(str(ARTIFACTS / "steth-panel-remote.png"), "PNG"))  # type: ignore[attr-defined]
    # sending: a labelled, unprocessed, music-mode track gets the raw local capture
    panel.open_device("synthetic")
    panel.send_button.setChecked(True)
    aio.wait_until(lambda: tracks.outgoing and len(tracks.outgoing[0][2].blocks) > 3, timeout=20)  # type: ignore[attr-defined]
    label, options, out = tracks.outgoing[0]
    assert label == "stethoscope"
    assert options.voice_processing is False and options.music is True and options.dtx is False  # type: ignore[attr-defined]
    assert all(b.shape[1] == 1 for b in out.blocks)
    panel.send_button.setChecked(False)
    aio.wait_until(lambda: out.closed)  # type: ignore[attr-defined]


def test_heart_rate_wording_and_confidence_words() -> None:
    from plugins.stethoscope._qt import heart_rate_text

    assert heart_rate_text(73.2, 0.91) == "Heart rate 73 /min · confidence high"
    assert heart_rate_text(73.2, 0.5) == "Heart rate 73 /min · confidence medium"
    assert heart_rate_text(73.2, 0.1) == "Heart rate 73 /min · confidence low"
    assert heart_rate_text(None, None) == "Heart rate — /min"


def test_phonocardiogram_scales_to_a_quiet_heart(panel: QtStethoscopePanel, qtbot: QtBot) -> None:
    quiet = synth.heart_sound(70, 6.0, sample_rate_hz=48_000) * 0.02
    peak = float(np.max(np.abs(quiet)))
    _feed(panel, quiet, qtbot)

    # Auto-scaled: the waveform fills most of the plot, not a flat line at +-1.
    def scaled() -> bool:
        _low, high = panel.pcg_plot.viewRange()[1]
        return high < 0.2 and high > 0

    qtbot.waitUntil(scaled, timeout=5_000)
    assert panel.pcg_plot.height() >= panel.spec_plot.height()
    assert peak > 0


def test_recording_shows_a_timer_with_the_limit(panel: QtStethoscopePanel, qtbot: QtBot) -> None:
    _feed(panel, synth.heart_sound(60, 3.0, sample_rate_hz=48_000), qtbot)
    panel.record_button.setChecked(True)
    qtbot.waitUntil(lambda: panel.model.display.written >= 3 * 48_000, timeout=5_000)
    qtbot.waitUntil(lambda: panel.record_timer.text().startswith("● 0:03"), timeout=5_000)
    assert panel.record_timer.isVisible() and panel.record_timer.text().endswith("/ 2:00")
    panel.record_button.setChecked(False)
    assert not panel.record_timer.isVisible()


def test_every_control_visible_in_the_side_column_width(qtbot: QtBot) -> None:
    from ui import geometry
    from ui.visit.qt_visit_window import SIDE_MIN_WIDTH_PX as SIDE_MIN

    widget = QtStethoscopePanel(StethoscopeModel(sample_rate_hz=48_000))
    qtbot.addWidget(widget)
    widget.resize(SIDE_MIN, 640)  # the visit window's side column at its narrowest
    widget.show()
    assert widget.minimumSizeHint().width() <= SIDE_MIN
    for button in (widget.open_button, widget.record_button, widget.attach_button,
                   widget.play_button, widget.send_button, widget.gain_spin):  # fmt: skip
        assert geometry._visible_in_parents(button), button.objectName()
        assert button.geometry().right() <= widget.width()


def test_listening_stops_when_the_call_ends(qtbot: QtBot, aio: object, tmp_path: Path) -> None:
    from clinician_console_api.testing import make_host
    from plugins.stethoscope._qt import make_panel

    tracks = FakeVisitTracks(FakeIncoming(np.zeros(48_000)))
    host = make_host(tmp_path / "plugins", providers={"visit.tracks": tracks})
    host.add_manifest(Path(__file__).resolve().parents[2] / "plugins/stethoscope/plugin.toml")
    aio.run(host.activate("clinician-console.stethoscope"))  # type: ignore[attr-defined]
    panel = make_panel(host.context("clinician-console.stethoscope"), None)
    qtbot.addWidget(panel)
    panel.show()
    panel.open_device("synthetic")
    assert panel.model.capture is not None
    tracks.active = False
    tracks.changed(False)
    assert panel.model.capture is None and panel.model.ring is None
    assert "visit ended" in panel.status_label.text()
