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
    assert not panel.hr_label.isVisible()


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
    qtbot.waitUntil(panel.hr_label.isVisible, timeout=10_000)
    assert (
        "75 bpm" in panel.hr_label.text()
        or "74 bpm" in panel.hr_label.text()
        or ("76 bpm" in panel.hr_label.text())
    )
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(300)  # let a few spectrogram columns scroll in
    assert panel.grab().save(str(ARTIFACTS / "steth-panel.png"), "PNG")
    speech = synth.speech_like(9.0, sample_rate_hz=48_000, seed=4)
    _feed(panel, speech, qtbot)
    qtbot.waitUntil(lambda: not panel.hr_label.isVisible(), timeout=10_000)


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

    def visit_active(self) -> bool:
        return True

    def on_visit_change(self, callback):  # type: ignore[no-untyped-def]
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
    aio.wait_until(panel.hr_label.isVisible, timeout=10)  # type: ignore[attr-defined]
    assert (
        "110 bpm" in panel.hr_label.text()
        or "109 bpm" in panel.hr_label.text()
        or ("111 bpm" in panel.hr_label.text())
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
