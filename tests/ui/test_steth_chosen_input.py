"""The stethoscope plugin listens to the stethoscope input chosen in Settings › Devices.

Plugin level: the built-in plugin loads from its manifest into a real PluginHost, its
panel comes from the host's panel factory, and Listen opens an input through the
plugin's own ``audio.input``. The provider is a recording fake with two inputs: which
device a plugin *opened* is what is checked, and the test machines have no sound card
(PulseAudio's ALSA devices "pulse" and "default" are one source, so a real provider
could not tell the two apart; the real provider is tested in
tests/integration/test_plugin_audio_input.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtWidgets import QWidget

import plugins.stethoscope
from clinician_console_api import AudioDevice, DeviceChoices, DeviceUnavailableError
from clinician_console_api.testing import make_host
from tests.ui.conftest import Aio

MANIFEST = Path(plugins.stethoscope.__file__).parent / "plugin.toml"
PLUGIN = "clinician-console.stethoscope"
STETHOSCOPE = AudioDevice("sd:4", "Thinklabs One: USB Audio")
BUILT_IN = AudioDevice("sd:1", "Built-in microphone", is_default=True)
DOCK = AudioDevice("sd:0", "Dock line in")  # listed first: neither chosen nor the default


class _Stream:
    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.sample_rate_hz = 48_000
        self.channels = 1
        self.overruns = 0
        self.closed = False

    async def read(self) -> Any:
        import asyncio

        if self.closed:
            raise DeviceUnavailableError(device=self.device_id, reason="closed")
        await asyncio.sleep(0.01)  # a device's pace
        return np.zeros((480, 1), dtype=np.float32)

    async def close(self) -> None:
        self.closed = True


class RecordingAudioInput:
    """``audio.input`` with the given inputs; remembers what was opened."""

    def __init__(self, devices: list[AudioDevice]) -> None:
        self.devices = devices
        self.opened: list[str] = []

    def list_devices(self) -> list[AudioDevice]:
        return list(self.devices)

    async def open(self, device_id: str, **_kwargs: Any) -> _Stream:
        self.opened.append(device_id)
        return _Stream(device_id)


@pytest.fixture
def steth(tmp_path: Path, aio: Aio):  # type: ignore[no-untyped-def]
    audio = RecordingAudioInput([DOCK, BUILT_IN, STETHOSCOPE])
    host = make_host(tmp_path / "plugins", providers={"audio.input": audio})
    host.add_manifest(MANIFEST)
    info = aio.run(host.activate(PLUGIN))
    assert info.state == "active", info.reason
    yield host, audio
    aio.run(host.deactivate_all())


_PARENTS: list[QWidget] = []  # the visit window's column stand-in, kept alive


def _panel(host: Any, qtbot: Any) -> Any:
    parent = QWidget()
    qtbot.addWidget(parent)
    _PARENTS[:] = [parent]
    (slot,) = [s for s in host.panels("visit") if s.plugin_id == PLUGIN]
    panel = slot.make(parent)
    assert panel is not None, host.get(PLUGIN).reason
    return panel


def test_listen_opens_the_input_chosen_in_settings(steth, qtbot: Any, aio: Aio) -> None:
    host, audio = steth
    host.set_device_choices(DeviceChoices(stethoscope=STETHOSCOPE.device_id))
    panel = _panel(host, qtbot)
    assert panel.device_combo.currentData() == STETHOSCOPE.device_id
    assert panel.status_label.text() == ""  # no note: the chosen input is there
    panel.open_button.click()
    aio.wait_until(lambda: audio.opened)
    assert audio.opened == [STETHOSCOPE.device_id]  # not the system's default input


def test_a_chosen_input_typed_by_name_is_found(steth, qtbot: Any, aio: Aio) -> None:
    host, audio = steth
    host.set_device_choices(DeviceChoices(stethoscope="thinklabs"))  # typed in Settings
    panel = _panel(host, qtbot)
    panel.open_button.click()
    aio.wait_until(lambda: audio.opened)
    assert audio.opened == [STETHOSCOPE.device_id]


def test_an_absent_choice_falls_back_to_the_default_input_with_a_note(
    steth, qtbot: Any, aio: Aio
) -> None:
    host, audio = steth
    host.set_device_choices(DeviceChoices(stethoscope="sd:9"))  # unplugged
    panel = _panel(host, qtbot)
    note = panel.status_label.text()
    assert "not connected" in note and "default input" in note
    assert panel.status_label.isVisibleTo(panel)
    panel.open_button.click()
    aio.wait_until(lambda: audio.opened)
    assert audio.opened == [BUILT_IN.device_id]  # the default input, not the first listed
    assert panel.status_label.text() == note  # still said while the stand-in is heard


def test_a_choice_saved_while_the_panel_is_open_is_used_at_listen(
    steth, qtbot: Any, aio: Aio
) -> None:
    host, audio = steth
    panel = _panel(host, qtbot)  # nothing chosen: the default input
    assert panel.device_combo.currentData() == BUILT_IN.device_id
    host.set_device_choices(DeviceChoices(stethoscope=STETHOSCOPE.device_id))  # Settings saved
    panel.open_button.click()
    aio.wait_until(lambda: audio.opened)
    assert audio.opened == [STETHOSCOPE.device_id]
