"""Settings › Devices: a test per device, in the real dialog with the real device checks
(media.devices.check.DeviceCheck, the one the composition root hands the window).

There is no camera or sound card on the test machines:

- the camera test runs on the console's synthetic test picture ("Test pattern", the
  picture shown when no camera is connected); a real camera's frames would come the
  same way through ``media.devices.camera.open_camera``;
- the microphone, stethoscope input and speaker tests run against a real PulseAudio
  (the ``pulse`` fixture of tests/integration/test_audio_devices.py: a null sink
  ``vsink`` and a pipe source ``vmic`` fed a 1 kHz tone through a FIFO), reached
  through PortAudio's ALSA device "pulse" as a USB stethoscope or headset would be.
  PortAudio lists devices when it starts, so the fixture points PULSE_SERVER at the
  test's daemon and restarts PortAudio (and restarts it again afterwards).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.device_check import CheckResult
from media.devices import audio, camera
from media.devices.check import DeviceCheck
from tests.integration.audio_devices_child import RATE, dominant_hz
from tests.integration.test_audio_devices import pulse
from tests.ui.conftest import Aio
from ui.settings_dialog import REASONS, WORKING, QtSettingsDialog

__all__ = ["pulse"]


def _devices() -> list[Any]:
    """What the composition root lists (app.main._list_devices)."""
    return [
        *camera.list_cameras(),
        *audio.list_microphones(),
        *audio.list_speakers(),
        *audio.list_stethoscope_inputs(),
    ]


@dataclass
class Sound:
    env: dict[str, str]
    fifo: Path


def _feed(fifo: Path, stop: threading.Event) -> None:
    """A 1 kHz tone into the pipe source, about in real time. Non-blocking: while nobody
    records, PulseAudio stops reading the pipe and the blocks are dropped (a blocking
    writer would hang there and outlive the daemon)."""
    n = np.arange(RATE // 50)
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        phase = 0
        while not stop.is_set():
            block = (np.sin(2 * np.pi * 1000 * (n + phase) / RATE) * 12000).astype("<i2")
            phase += len(n)
            try:
                os.write(fd, block.tobytes())
            except BlockingIOError:
                pass  # the source is suspended: nobody hears this block
            except BrokenPipeError:
                return  # the daemon is gone
            stop.wait(0.018)  # pacing like a microphone, not a synchronisation
    finally:
        os.close(fd)


@pytest.fixture
def sound(pulse: tuple[dict[str, str], Path]) -> Iterator[Sound]:
    import sounddevice as sd

    env, fifo = pulse
    before = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = env["PULSE_SERVER"]
    sd._terminate()
    sd._initialize()  # PortAudio lists the test daemon's devices from now on
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(fifo, stop), daemon=True)
    feeder.start()
    try:
        yield Sound(env, fifo)
    finally:
        stop.set()
        feeder.join(timeout=5)
        if before is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = before
        sd._terminate()
        sd._initialize()


class SpyCheck(DeviceCheck):
    """The real checks, remembering what the dialog asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, dict[str, Any]]] = []

    async def audio_input(self, device_id: str, on_level: Any, **kw: Any) -> CheckResult:
        self.asked.append(("audio_input", device_id, kw))
        return await super().audio_input(device_id, on_level, **kw)

    async def speaker(self, device_id: str, **kw: Any) -> CheckResult:
        self.asked.append(("speaker", device_id, kw))
        return await super().speaker(device_id, **kw)


def _dialog(qtbot: Any, tmp_path: Path, checker: Any = None) -> QtSettingsDialog:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    dialog = QtSettingsDialog(
        profile, None, devices=_devices, checker=checker if checker else DeviceCheck()
    )
    qtbot.addWidget(dialog)
    dialog.test_seconds = dict.fromkeys(dialog.test_seconds, 1.5)
    dialog.show()
    return dialog


def _choose(dialog: QtSettingsDialog, dotted: str, label: str) -> str:
    combo = dialog.fields[dotted].widget
    index = combo.findText(label)
    assert index >= 0, [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentIndex(index)
    return str(combo.itemData(index))


def _result(dialog: QtSettingsDialog, dotted: str) -> str:
    return dialog.device_tests[dotted].result.text()


def _source_outputs(sound: Sound) -> str:
    return subprocess.run(
        ["pactl", "list", "short", "source-outputs"],
        env=sound.env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_every_device_has_its_own_test_button(qtbot: Any, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path)
    for dotted in ("devices.camera", "devices.microphone", "devices.speaker"):
        assert dialog.device_tests[dotted].button.isVisible()
    assert dialog.device_tests["devices.stethoscope"].button.isVisible()
    # The stethoscope is chosen among its own inputs: the plugin's demo heart sound too.
    steth = dialog.fields["devices.stethoscope"].widget
    assert steth.findData("synthetic") >= 0


def test_camera_test_shows_the_picture(qtbot: Any, tmp_path: Path, aio: Aio) -> None:
    dialog = _dialog(qtbot, tmp_path)
    _choose(dialog, "devices.camera", "Test pattern")
    test = dialog.device_tests["devices.camera"]
    test.button.click()
    aio.wait_until(lambda: test.preview.pixmap() is not None and not test.preview.pixmap().isNull())
    assert test.preview.isVisible()
    aio.wait_until(lambda: test.last is not None, timeout=15)
    assert test.last.working
    assert _result(dialog, "devices.camera") == WORKING["devices.camera"]
    assert test.button.text() == "Test"


def test_no_camera_at_all_shows_the_test_picture_and_says_so(
    qtbot: Any, tmp_path: Path, aio: Aio
) -> None:
    if any(d.device_id != camera.TESTSRC for d in camera.list_cameras()):
        pytest.skip("this machine has a camera")  # the test machines have none
    dialog = _dialog(qtbot, tmp_path)  # Camera: "System default"
    test = dialog.device_tests["devices.camera"]
    test.button.click()
    aio.wait_until(lambda: test.last is not None, timeout=15)
    assert not test.preview.pixmap().isNull()
    assert _result(dialog, "devices.camera") == "No camera is connected: this is the test picture."


def test_a_missing_device_is_explained_in_plain_words(qtbot: Any, tmp_path: Path, aio: Aio) -> None:
    dialog = _dialog(qtbot, tmp_path)
    dialog.fields["devices.camera"].widget.setCurrentText("/dev/video7")  # unplugged
    dialog.fields["devices.microphone"].widget.setCurrentText("Thinklabs One")  # typed
    for dotted in ("devices.camera", "devices.microphone"):
        dialog.device_tests[dotted].button.click()
    aio.wait_until(
        lambda: all(dialog.device_tests[d].last for d in ("devices.camera", "devices.microphone"))
    )
    for dotted in ("devices.camera", "devices.microphone"):
        text = _result(dialog, dotted)
        assert text == REASONS[dialog.device_tests[dotted].last.reason], text
        assert text.startswith("Not found: this device is not connected.")
        assert "Error" not in text and "Exception" not in text


def test_microphone_meter_follows_the_chosen_input(
    sound: Sound, qtbot: Any, tmp_path: Path, aio: Aio
) -> None:
    checker = SpyCheck()
    dialog = _dialog(qtbot, tmp_path, checker)
    device = _choose(dialog, "devices.microphone", "pulse")
    test = dialog.device_tests["devices.microphone"]
    test.button.click()
    aio.wait_until(lambda: test.meter.value() > 50)  # the 1 kHz tone fed into the source
    aio.wait_until(lambda: test.last is not None, timeout=15)
    assert test.last.working and test.last.device == device
    assert _result(dialog, "devices.microphone") == WORKING["devices.microphone"]
    assert checker.asked[0][:2] == ("audio_input", device)
    assert checker.asked[0][2]["voice_processing"] is True


def test_stethoscope_input_is_heard_without_voice_processing(
    sound: Sound, qtbot: Any, tmp_path: Path, aio: Aio
) -> None:
    checker = SpyCheck()
    dialog = _dialog(qtbot, tmp_path, checker)
    device = _choose(dialog, "devices.stethoscope", "pulse")
    test = dialog.device_tests["devices.stethoscope"]
    test.button.click()
    aio.wait_until(lambda: test.loudest > 50)
    aio.wait_until(lambda: test.last is not None, timeout=15)
    assert test.last.working and test.last.device == device
    assert _result(dialog, "devices.stethoscope") == WORKING["devices.stethoscope"]
    assert checker.asked == [("audio_input", device, {"seconds": 1.5, "voice_processing": False})]


def test_speaker_test_plays_a_tone_on_the_chosen_output(
    sound: Sound, qtbot: Any, tmp_path: Path, aio: Aio
) -> None:
    dialog = _dialog(qtbot, tmp_path)
    _choose(dialog, "devices.speaker", "pulse")
    # What reaches the null sink: its monitor, recorded while the test plays.
    recorder = subprocess.Popen(
        ["parec", "-d", "vsink.monitor", "--format=s16le", f"--rate={RATE}", "--channels=1",
         "--raw"],
        env=sound.env, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        aio.wait_until(lambda: _source_outputs(sound) != "")  # the recorder is listening
        test = dialog.device_tests["devices.speaker"]
        test.button.click()
        aio.wait_until(lambda: test.last is not None, timeout=15)
    finally:
        recorder.terminate()
        heard = np.frombuffer(recorder.communicate(timeout=10)[0], dtype="<i2")
    assert test.last.working
    assert _result(dialog, "devices.speaker") == WORKING["devices.speaker"]
    loud = heard[np.abs(heard) > 1000]
    assert loud.size > RATE // 2, "the tone did not reach the output"
    assert abs(dominant_hz(heard) - 660) < 10


def test_closing_the_dialog_stops_the_tests_and_releases_the_inputs(
    sound: Sound, qtbot: Any, tmp_path: Path, aio: Aio
) -> None:
    dialog = _dialog(qtbot, tmp_path)
    dialog.test_seconds = dict.fromkeys(dialog.test_seconds, 600.0)  # far longer than the test
    _choose(dialog, "devices.microphone", "pulse")
    _choose(dialog, "devices.stethoscope", "pulse")
    _choose(dialog, "devices.camera", "Test pattern")
    tests = [dialog.device_tests[d] for d in ("devices.microphone", "devices.stethoscope",
                                               "devices.camera")]  # fmt: skip
    for test in tests:
        test.button.click()
    aio.wait_until(lambda: tests[0].loudest > 0 and tests[1].loudest > 0, timeout=10)
    aio.wait_until(lambda: _source_outputs(sound).count("\n") + 1 >= 2)  # both recording
    dialog.reject()  # Cancel, Esc or the window's close button
    aio.wait_until(lambda: not any(t.running for t in tests))
    aio.wait_until(lambda: _source_outputs(sound) == "", timeout=10)  # the inputs let go
    assert all(t.button.text() == "Test" for t in tests)


def test_a_hung_device_does_not_freeze_the_window(
    qtbot: Any, tmp_path: Path, aio: Aio, monkeypatch: pytest.MonkeyPatch
) -> None:
    import media.devices.check as check

    release = threading.Event()
    opening = threading.Event()
    real = check._make_capture

    def hung_driver(device_id: str) -> Any:  # a driver that takes its time to open
        opening.set()
        release.wait(30)
        return real(device_id)

    monkeypatch.setattr(check, "_make_capture", hung_driver)
    dialog = _dialog(qtbot, tmp_path)
    _choose(dialog, "devices.camera", "Test pattern")
    mic = dialog.device_tests["devices.microphone"]
    dialog.fields["devices.microphone"].widget.setCurrentIndex(
        dialog.fields["devices.microphone"].widget.findData(audio.TONE)
    )
    try:
        mic.button.click()
        aio.wait_until(opening.is_set)
        # While the microphone's driver hangs, the window goes on: another test runs
        # to the end and the form still answers clicks.
        cam = dialog.device_tests["devices.camera"]
        cam.button.click()
        aio.wait_until(lambda: cam.last is not None, timeout=15)
        assert cam.last.working
        dialog.advanced_button.click()
        assert dialog.advanced.isVisible()
        assert mic.running and _result(dialog, "devices.microphone") == "Testing…"
    finally:
        release.set()
    aio.wait_until(lambda: mic.last is not None, timeout=15)
    assert mic.last.working  # the test tone, once the driver answered


def test_closing_while_a_driver_hangs_releases_the_device_once_it_opens(
    qtbot: Any, tmp_path: Path, aio: Aio, monkeypatch: pytest.MonkeyPatch
) -> None:
    import media.devices.check as check

    release = threading.Event()
    opening = threading.Event()
    opened: list[Any] = []
    real = check._make_capture

    def hung_driver(device_id: str) -> Any:
        opening.set()
        release.wait(30)
        opened.append(real(device_id))
        return opened[-1]

    monkeypatch.setattr(check, "_make_capture", hung_driver)
    dialog = _dialog(qtbot, tmp_path)
    combo = dialog.fields["devices.stethoscope"].widget
    combo.setCurrentIndex(combo.findData("synthetic"))
    test = dialog.device_tests["devices.stethoscope"]
    test.button.click()
    aio.wait_until(opening.is_set)
    dialog.reject()
    aio.wait_until(lambda: not test.running)
    release.set()  # the driver answers after the dialog has gone
    aio.wait_until(lambda: opened, timeout=10)
    capture = opened[0]
    aio.wait_until(lambda: capture._stop.is_set() and capture._thread is None, timeout=10)
